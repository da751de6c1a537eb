//! EndTxn (key 26): a transactional producer commits or aborts its transaction. The answer comes
//! once the coordinator has made the decision durable (PrepareCommit or PrepareAbort); the
//! markers are written to the transaction's partitions after it, and until they are, the next
//! request for the id gets CONCURRENT_TRANSACTIONS. Ending a transaction that already ended the
//! same way is a retry and succeeds. Before v2, PRODUCER_FENCED is answered as
//! INVALID_PRODUCER_EPOCH. v5 (an epoch bump with every transaction, KIP-890) is not served.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse};

use super::{Client, txn_error_code};
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::EndTxn, min: 0, max: 4 };

/// First version that may answer PRODUCER_FENCED.
const FENCED_FROM: i16 = 2;

pub async fn handle(broker: &Broker, version: i16, request: EndTxnRequest, _client: &Client) -> EndTxnResponse {
    let producer = (request.producer_id.0, request.producer_epoch);
    let outcome = broker.transactions.end_txn(request.transactional_id.as_str(), producer, request.committed).await;
    EndTxnResponse::default().with_error_code(outcome.err().map_or(0, |e| txn_error_code(&e, version, FENCED_FROM)))
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &EndTxnResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
