//! DeleteGroups (key 42): removes groups without members, with all their committed offsets.
//! A group with members: NON_EMPTY_GROUP; an unknown one: GROUP_ID_NOT_FOUND.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse};

use super::Client;
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::DeleteGroups, min: 0, max: 2 };

pub async fn handle(broker: &Broker, _version: i16, request: DeleteGroupsRequest, _client: &Client) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group in request.groups_names {
        let outcome = broker.groups.delete_group(group.as_str()).await;
        if outcome.is_ok() {
            tracing::info!(group = %group.as_str(), "deleted group");
        }
        let code = outcome.err().map_or(0, |e| e.error_code());
        results.push(DeletableGroupResult::default().with_group_id(group).with_error_code(code));
    }
    DeleteGroupsResponse::default().with_results(results)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DeleteGroupsResponse, see: &mut dyn FnMut(i16)) {
    r.results.iter().for_each(|g| see(g.error_code));
}
