//! WriteTxnMarkers (key 27): a transaction coordinator on another broker has this broker write
//! a transaction's commit or abort marker to the partitions it leads, each replicated to its
//! in-sync replicas before it is answered. A marker for `__consumer_offsets` also commits or
//! drops the transaction's offsets in the group coordinator. A marker of an older producer epoch
//! is INVALID_PRODUCER_EPOCH; of an older coordinator epoch TRANSACTION_COORDINATOR_FENCED;
//! a partition led elsewhere NOT_LEADER_OR_FOLLOWER, which the coordinator retries. The
//! partitions of a marker are written at once. v1 only: v0
//! is not flexible and no broker sends it.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ApiKey, WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::Client;
use crate::Broker;
use crate::coordinator::transactions::write_local_markers;

pub const API: ApiRange = ApiRange { key: ApiKey::WriteTxnMarkers, min: 1, max: 1 };

pub async fn handle(broker: &Broker, _version: i16, request: WriteTxnMarkersRequest, _client: &Client) -> WriteTxnMarkersResponse {
    let mut results = Vec::with_capacity(request.markers.len());
    for marker in &request.markers {
        // Partitions led elsewhere are answered at once; the others are written together.
        let mut codes: Vec<Vec<i16>> = Vec::with_capacity(marker.topics.len());
        let mut here = Vec::new();
        for (t, topic) in marker.topics.iter().enumerate() {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for (p, &index) in topic.partition_indexes.iter().enumerate() {
                match broker.leader_partition(topic.name.as_str(), index) {
                    Ok(_) => {
                        here.push((t, p));
                        partitions.push(0);
                    }
                    Err(e) => partitions.push(e.error_code()),
                }
            }
            codes.push(partitions);
        }
        let on = (broker.replicas.clone(), broker.groups.clone(), broker.transactions.durability());
        let targets =
            here.iter().map(|&(t, p)| (marker.topics[t].name.to_string(), marker.topics[t].partition_indexes[p])).collect();
        let producer = (marker.producer_id.0, marker.producer_epoch);
        let written =
            write_local_markers(on, targets, producer, (marker.transaction_result, marker.coordinator_epoch)).await;
        for (&(t, p), (_, result)) in here.iter().zip(written) {
            codes[t][p] = result.err().map_or(0, |e| e.error_code());
        }
        let topics = marker
            .topics
            .iter()
            .zip(codes)
            .map(|(topic, codes)| {
                let partitions = topic
                    .partition_indexes
                    .iter()
                    .zip(codes)
                    .map(|(&index, code)| {
                        WritableTxnMarkerPartitionResult::default().with_partition_index(index).with_error_code(code)
                    })
                    .collect();
                WritableTxnMarkerTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions)
            })
            .collect();
        results.push(WritableTxnMarkerResult::default().with_producer_id(marker.producer_id).with_topics(topics));
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &WriteTxnMarkersResponse, see: &mut dyn FnMut(i16)) {
    r.markers.iter().flat_map(|m| &m.topics).flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
