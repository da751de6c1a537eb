//! ListGroups (key 16): every group with its protocol type and (v4+) state, filtered by state
//! (v4+) and type (v5+; every group here is a "classic" group).

use fjord_protocol::ApiRange;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::ListGroups, min: 0, max: 5 };

const CLASSIC: &str = "classic";

pub async fn handle(broker: &Broker, _version: i16, request: ListGroupsRequest, _client: &Client) -> ListGroupsResponse {
    let states: Vec<String> = request.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types_ok =
        request.types_filter.is_empty() || request.types_filter.iter().any(|t| t.eq_ignore_ascii_case(CLASSIC));
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| types_ok && (states.is_empty() || states.contains(&state.name().to_lowercase())))
        .map(|(id, protocol_type, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type))
                .with_group_state(StrBytes::from_static_str(state.name()))
                .with_group_type(StrBytes::from_static_str("Classic"))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &ListGroupsResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
