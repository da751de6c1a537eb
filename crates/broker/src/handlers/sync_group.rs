//! SyncGroup (key 14): the leader hands out the assignment it computed; every member gets its
//! own (followers wait for the leader). v5+ checks the protocol type and name.

use fjord_group::SyncRequest;
use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::SyncGroup, min: 0, max: 5 };

pub async fn handle(broker: &Broker, _version: i16, request: SyncGroupRequest, _client: &Client) -> SyncGroupResponse {
    let req = SyncRequest {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: request.protocol_type.as_ref().map(|s| s.to_string()),
        protocol_name: request.protocol_name.as_ref().map(|s| s.to_string()),
        assignments: request.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect(),
    };
    match broker.groups.sync_group(req).await {
        Ok(s) => SyncGroupResponse::default()
            .with_protocol_type(s.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(s.protocol_name.map(StrBytes::from_string))
            .with_assignment(s.assignment),
        Err(e) => SyncGroupResponse::default().with_error_code(BrokerError::from(e).error_code()),
    }
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &SyncGroupResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
