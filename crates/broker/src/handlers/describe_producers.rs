//! DescribeProducers (key 61): the producers that wrote to partitions this broker leads
//! (KIP-664) — id, epoch, last sequence and timestamp, the coordinator epoch of their last
//! marker and the first offset of their open transaction — which is how an operator finds the
//! producer of a hanging transaction. A partition led elsewhere is NOT_LEADER_OR_FOLLOWER.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::{Client, message};
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::DescribeProducers, min: 0, max: 0 };

pub async fn handle(broker: &Broker, _version: i16, request: DescribeProducersRequest, _client: &Client) -> DescribeProducersResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    match broker.leader_partition(topic.name.as_str(), index) {
                        Ok(partition) => response.with_active_producers(
                            partition
                                .producers()
                                .into_iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(p.producer_id))
                                        .with_producer_epoch(i32::from(p.epoch))
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(p.coordinator_epoch)
                                        .with_current_txn_start_offset(p.txn_start_offset)
                                })
                                .collect(),
                        ),
                        Err(e) => response.with_error_code(e.error_code()).with_error_message(message(e.to_string())),
                    }
                })
                .collect();
            TopicResponse::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DescribeProducersResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
