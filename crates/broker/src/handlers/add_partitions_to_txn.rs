//! AddPartitionsToTxn (key 24): a transactional producer names the partitions it is about to
//! write to, before its first write to each in a transaction; the coordinator records them so
//! that EndTxn knows where to write markers. v0–3, the client's versions (v4+ is the
//! broker-to-broker verification of KIP-890, not served).
//!
//! One answer for the request: when a partition does not exist, it gets
//! UNKNOWN_TOPIC_OR_PARTITION and every other one OPERATION_NOT_ATTEMPTED, and nothing is added;
//! otherwise every partition gets the coordinator's answer. Before v2, PRODUCER_FENCED is
//! answered as INVALID_PRODUCER_EPOCH.

use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey};

use super::{Client, txn_error_code};
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::AddPartitionsToTxn, min: 0, max: 3 };

/// First version that may answer PRODUCER_FENCED.
const FENCED_FROM: i16 = 2;

pub async fn handle(
    broker: &Broker,
    version: i16,
    request: AddPartitionsToTxnRequest,
    _client: &Client,
) -> AddPartitionsToTxnResponse {
    let image = broker.image();
    let requested: Vec<(String, i32)> = request
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let exists = |(topic, index): &(String, i32)| {
        image.topic(topic).is_some_and(|t| (0..t.partitions.len() as i32).contains(index))
    };
    // The coordinator's answer, for every partition, when they all exist.
    let shared = if requested.iter().all(exists) {
        let outcome = broker
            .transactions
            .add_partitions(
                request.v3_and_below_transactional_id.as_str(),
                (request.v3_and_below_producer_id.0, request.v3_and_below_producer_epoch),
                &requested,
            )
            .await;
        Some(outcome.err().map_or(0, |e| txn_error_code(&e, version, FENCED_FROM)))
    } else {
        None
    };
    let code_of = |p: &(String, i32)| match shared {
        Some(code) => code,
        None if exists(p) => ResponseError::OperationNotAttempted.code(),
        None => ResponseError::UnknownTopicOrPartition.code(),
    };
    let results = request
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code_of(&(t.name.to_string(), *p)))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default().with_name(t.name.clone()).with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &AddPartitionsToTxnResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| &t.results_by_partition)
        .for_each(|p| see(p.partition_error_code));
}
