//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use fjord_group::HeartbeatRequest as Beat;
use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::Heartbeat, min: 0, max: 4 };

pub async fn handle(broker: &Broker, _version: i16, request: HeartbeatRequest, _client: &Client) -> HeartbeatResponse {
    let beat = Beat {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    match broker.groups.heartbeat(&beat).await {
        Ok(()) => HeartbeatResponse::default(),
        Err(e) => HeartbeatResponse::default().with_error_code(BrokerError::from(e).error_code()),
    }
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &HeartbeatResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
