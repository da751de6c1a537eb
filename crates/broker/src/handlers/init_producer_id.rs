//! InitProducerId (key 22): gives an idempotent producer a producer id and epoch 0. Ids come from
//! blocks reserved through the metadata log, so they are never handed out twice, even across
//! restarts.
//!
//! As in Kafka, a producer without a transactional id always gets a fresh id, also when it names
//! its current id and epoch (v3+, KIP-360): only a half-given pair (one of them -1) is refused.
//! Transactions are not supported yet: a transactional id is refused, with producer id and epoch -1.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::InitProducerId, min: 0, max: 5 };

/// "No producer id" and "no epoch" on the wire.
const NO_PRODUCER_ID: i64 = -1;
const NO_EPOCH: i16 = -1;

pub async fn handle(broker: &Broker, _version: i16, request: InitProducerIdRequest, _client: &Client) -> InitProducerIdResponse {
    match init(broker, &request).await {
        Ok(id) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(e.error_code())
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_EPOCH),
    }
}

async fn init(broker: &Broker, request: &InitProducerIdRequest) -> Result<i64, BrokerError> {
    match request.transactional_id.as_ref().map(|t| t.0.as_str()) {
        None => {}
        Some("") => return Err(BrokerError::InvalidRequest("an empty transactional id is not allowed".into())),
        Some(_) => return Err(BrokerError::TransactionsUnsupported),
    }
    // Absent before v3, where the fields decode to their -1 defaults.
    let known_id = request.producer_id.0 != NO_PRODUCER_ID;
    let known_epoch = request.producer_epoch != NO_EPOCH;
    if known_id != known_epoch {
        return Err(BrokerError::InvalidRequest(
            "producer id and producer epoch must both be given, or both be -1".into(),
        ));
    }
    let id = broker.next_producer_id().await?;
    tracing::debug!(producer_id = id, "new producer id");
    Ok(id)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &InitProducerIdResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::handlers::configs::tests::start;

    #[tokio::test]
    async fn hands_out_distinct_ids() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        let idempotent = || InitProducerIdRequest::default().with_transactional_id(None);
        let first = handle(broker, 4, idempotent(), &Client::test()).await;
        assert_eq!((first.error_code, first.producer_epoch), (0, 0));
        let bump = idempotent().with_producer_id(first.producer_id).with_producer_epoch(0);
        let second = handle(broker, 4, bump, &Client::test()).await;
        assert_eq!(second.error_code, 0);
        assert_ne!(second.producer_id, first.producer_id);

        let half = idempotent().with_producer_id(first.producer_id);
        let refused = handle(broker, 4, half, &Client::test()).await;
        assert_eq!(refused.error_code, ResponseError::InvalidRequest.code());

        let txn = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t"))));
        let refused = handle(broker, 4, txn, &Client::test()).await;
        assert_ne!(refused.error_code, 0);
        assert_eq!((refused.producer_id.0, refused.producer_epoch), (-1, -1));
    }
}
