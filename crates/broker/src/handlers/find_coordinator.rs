//! FindCoordinator (key 10): a group's coordinator is the leader of its `__consumer_offsets`
//! partition, `hash(group) % partitions`; a transactional id's the leader of its
//! `__transaction_state` partition, the same way. The first request of each kind creates its
//! topic, as in Kafka. v4+ asks for several keys at once. Share-group keys (v6) are not served.

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
const TRANSACTION_KEY: i8 = 1;

pub async fn handle(broker: &Broker, version: i16, request: FindCoordinatorRequest, _client: &Client) -> FindCoordinatorResponse {
    let keys: Vec<StrBytes> =
        if version >= BATCHED_FROM { request.coordinator_keys.clone() } else { vec![request.key.clone()] };
    let key_type = request.key_type;
    let unavailable = |e: crate::BrokerError| (ResponseError::CoordinatorNotAvailable, e.to_string());
    let ready = match key_type {
        GROUP_KEY => broker.groups.ensure_topic().await.map_err(unavailable),
        TRANSACTION_KEY => broker.transactions.ensure_topic().await.map_err(unavailable),
        other => Err((ResponseError::InvalidRequest, format!("coordinator key type {other} is not served"))),
    };
    let coordinators: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| {
            let found = ready.clone().and_then(|()| {
                let (found, topic) = if key_type == GROUP_KEY {
                    (broker.groups.coordinator_of(key.as_str()), crate::coordinator::OFFSETS_TOPIC)
                } else {
                    (broker.transactions.coordinator_of(key.as_str()), crate::coordinator::TRANSACTION_TOPIC)
                };
                found.ok_or_else(|| {
                    (ResponseError::CoordinatorNotAvailable, format!("the key's {topic} partition has no live leader"))
                })
            });
            let c = Coordinator::default().with_key(key);
            match found {
                Ok(b) => c
                    .with_node_id(broker_id(b.id))
                    .with_host(StrBytes::from_string(b.host))
                    .with_port(i32::from(b.port)),
                Err((error, why)) => c
                    .with_error_code(error.code())
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
