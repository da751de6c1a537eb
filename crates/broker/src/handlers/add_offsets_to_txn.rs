//! AddOffsetsToTxn (key 25): a transactional producer is about to commit a group's offsets in
//! its transaction (TxnOffsetCommit, to the group's coordinator); its transaction coordinator
//! adds the group's `__consumer_offsets` partition to the transaction, so that the markers
//! commit or drop those offsets. Before v2, PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};

use super::{Client, txn_error_code};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::AddOffsetsToTxn, min: 0, max: 4 };

/// First version that may answer PRODUCER_FENCED.
const FENCED_FROM: i16 = 2;

pub async fn handle(broker: &Broker, version: i16, request: AddOffsetsToTxnRequest, _client: &Client) -> AddOffsetsToTxnResponse {
    let outcome = if request.group_id.is_empty() {
        Err(BrokerError::Group(fjord_group::GroupError::InvalidGroupId))
    } else {
        let partition = broker.transactions.offsets_partition(request.group_id.as_str());
        broker
            .transactions
            .add_partitions(request.transactional_id.as_str(), (request.producer_id.0, request.producer_epoch), &[partition])
            .await
    };
    AddOffsetsToTxnResponse::default().with_error_code(outcome.err().map_or(0, |e| txn_error_code(&e, version, FENCED_FROM)))
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &AddOffsetsToTxnResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
