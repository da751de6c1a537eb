//! DescribeGroups (key 15): state, protocol and members (with their subscription and
//! assignment once Stable). An unknown group is reported Dead without an error, as Kafka does
//! up to v5.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::DescribeGroups, min: 0, max: 5 };

/// "Authorized operations not requested."
const NOT_REQUESTED: i32 = i32::MIN;

pub fn handle(broker: &Broker, _version: i16, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .iter()
        .map(|id| {
            if let Err(e) = crate::groups::check_coordinator(broker, id.as_str()) {
                return DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_error_code(BrokerError::from(e).error_code())
                    .with_authorized_operations(NOT_REQUESTED);
            }
            let g = broker.groups.read(|c, _| c.describe(id.as_str()));
            DescribedGroup::default()
                .with_group_id(id.clone())
                .with_group_state(StrBytes::from_static_str(g.state.name()))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_protocol_data(StrBytes::from_string(g.protocol))
                .with_authorized_operations(NOT_REQUESTED)
                .with_members(
                    g.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.member_id))
                                .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                                .with_client_id(StrBytes::from_string(m.client_id))
                                .with_client_host(StrBytes::from_string(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
