//! InitProducerId (key 22): gives a producer its producer id and epoch. Ids come from blocks
//! reserved through the metadata log, so they are never handed out twice, even across restarts.
//!
//! As in Kafka, a producer without a transactional id always gets a fresh id and epoch 0, also
//! when it names its current id and epoch (v3+, KIP-360): only a half-given pair (one of them -1)
//! is refused. A transactional producer is answered by its id's transaction coordinator: the
//! id's producer id with the next epoch, which fences the producers before it; an open
//! transaction of theirs is aborted first (CONCURRENT_TRANSACTIONS until it is). Before v4,
//! PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{Client, txn_error_code};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::InitProducerId, min: 0, max: 5 };

/// "No producer id" and "no epoch" on the wire.
const NO_PRODUCER_ID: i64 = -1;
const NO_EPOCH: i16 = -1;
/// First version that may answer PRODUCER_FENCED.
const FENCED_FROM: i16 = 4;

pub async fn handle(broker: &Broker, version: i16, request: InitProducerIdRequest, _client: &Client) -> InitProducerIdResponse {
    match init(broker, &request).await {
        Ok((id, epoch)) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(epoch),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(txn_error_code(&e, version, FENCED_FROM))
            .with_producer_id(ProducerId(NO_PRODUCER_ID))
            .with_producer_epoch(NO_EPOCH),
    }
}

async fn init(broker: &Broker, request: &InitProducerIdRequest) -> Result<(i64, i16), BrokerError> {
    // Absent before v3, where the fields decode to their -1 defaults.
    let known_id = request.producer_id.0 != NO_PRODUCER_ID;
    let known_epoch = request.producer_epoch != NO_EPOCH;
    if known_id != known_epoch {
        return Err(BrokerError::InvalidRequest(
            "producer id and producer epoch must both be given, or both be -1".into(),
        ));
    }
    if let Some(id) = &request.transactional_id {
        let expected = known_id.then_some((request.producer_id.0, request.producer_epoch));
        let (producer_id, epoch) =
            broker.transactions.init_producer_id(id.as_str(), request.transaction_timeout_ms, expected).await?;
        tracing::debug!(transactional_id = %id.as_str(), producer_id, epoch, "transactional producer initialised");
        return Ok((producer_id, epoch));
    }
    let id = broker.producer_ids.next().await?;
    tracing::debug!(producer_id = id, "new producer id");
    Ok((id, 0))
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
    }

    #[tokio::test]
    async fn a_transactional_id_keeps_its_producer_id_and_bumps_its_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(dir.path(), &[]).await;
        let broker = &running.broker;
        let txn = |timeout_ms| {
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("t"))))
                .with_transaction_timeout_ms(timeout_ms)
        };
        let first = handle(broker, 4, txn(60_000), &Client::test()).await;
        assert_eq!((first.error_code, first.producer_epoch), (0, 0));
        let second = handle(broker, 4, txn(60_000), &Client::test()).await;
        assert_eq!((second.error_code, second.producer_id, second.producer_epoch), (0, first.producer_id, 1));

        // KIP-360: a producer naming an epoch that is no longer current is fenced; v3 hears it as
        // INVALID_PRODUCER_EPOCH.
        let stale = txn(60_000).with_producer_id(first.producer_id).with_producer_epoch(0);
        let fenced = handle(broker, 4, stale.clone(), &Client::test()).await;
        assert_eq!(fenced.error_code, ResponseError::ProducerFenced.code());
        let fenced = handle(broker, 3, stale, &Client::test()).await;
        assert_eq!(fenced.error_code, ResponseError::InvalidProducerEpoch.code());

        for bad in [0, -1, i32::MAX] {
            let refused = handle(broker, 4, txn(bad), &Client::test()).await;
            assert_eq!(refused.error_code, ResponseError::InvalidTransactionTimeout.code(), "timeout {bad}");
            assert_eq!((refused.producer_id.0, refused.producer_epoch), (-1, -1));
        }
        let empty = txn(60_000).with_transactional_id(Some(TransactionalId(StrBytes::default())));
        assert_eq!(handle(broker, 4, empty, &Client::test()).await.error_code, ResponseError::InvalidRequest.code());
    }
}
