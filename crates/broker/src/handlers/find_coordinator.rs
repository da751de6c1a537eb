//! FindCoordinator (key 10): a group's coordinator is the leader of its `__consumer_offsets`
//! partition, `hash(group) % partitions`. The first group request creates the topic, as in
//! Kafka. v4+ asks for several keys at once.
//! Transaction coordinators are refused: transactions are not supported yet.

use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Client, broker_id, message};
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::FindCoordinator, min: 0, max: 4 };

/// First version that takes a list of keys.
const BATCHED_FROM: i16 = 4;
const GROUP_KEY: i8 = 0;

pub async fn handle(broker: &Broker, version: i16, request: FindCoordinatorRequest, _client: &Client) -> FindCoordinatorResponse {
    let keys: Vec<StrBytes> =
        if version >= BATCHED_FROM { request.coordinator_keys.clone() } else { vec![request.key.clone()] };
    let ready = if request.key_type == GROUP_KEY {
        broker.groups.ensure_topic().await.map_err(|e| e.to_string())
    } else {
        Err("transaction coordinators are not available: transactions are not supported".to_string())
    };
    let coordinators: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| {
            let found = ready.clone().and_then(|()| {
                broker.groups.coordinator_of(key.as_str())
                    .ok_or_else(|| "the group's __consumer_offsets partition has no live leader".to_string())
            });
            let c = Coordinator::default().with_key(key);
            match found {
                Ok(b) => c
                    .with_node_id(broker_id(b.id))
                    .with_host(StrBytes::from_string(b.host))
                    .with_port(i32::from(b.port)),
                Err(why) => c
                    .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                    .with_error_message(message(why))
                    .with_node_id(broker_id(-1))
                    .with_host(StrBytes::default())
                    .with_port(-1),
            }
        })
        .collect();
    if version >= BATCHED_FROM {
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = coordinators.into_iter().next().unwrap_or_default();
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(c.error_message)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &FindCoordinatorResponse, see: &mut dyn FnMut(i16)) {
    // v0–3 answer at the top level, v4+ per key; the other place holds zero.
    see(r.error_code);
    r.coordinators.iter().for_each(|c| see(c.error_code));
}
