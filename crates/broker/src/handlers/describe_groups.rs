//! DescribeGroups (key 15): state, protocol and members (with their subscription and
//! assignment once Stable). An unknown group is reported Dead without an error, as Kafka does
//! up to v5.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::DescribeGroups, min: 0, max: 5 };

/// "Authorized operations not requested."
const NOT_REQUESTED: i32 = i32::MIN;

pub async fn handle(broker: &Broker, _version: i16, request: DescribeGroupsRequest, _client: &Client) -> DescribeGroupsResponse {
    let mut groups = Vec::with_capacity(request.groups.len());
    for id in &request.groups {
        let g = match broker.groups.describe(id.as_str()).await {
            Ok(g) => g,
            Err(e) => {
                groups.push(
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_error_code(BrokerError::from(e).error_code())
                        .with_authorized_operations(NOT_REQUESTED),
                );
                continue;
            }
        };
        groups.push(
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
                ),
        );
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DescribeGroupsResponse, see: &mut dyn FnMut(i16)) {
    r.groups.iter().for_each(|g| see(g.error_code));
}
