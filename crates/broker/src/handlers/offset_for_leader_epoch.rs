//! OffsetForLeaderEpoch (key 23): where a leader epoch ends in the leader's log — the start of
//! the next higher epoch, or the log end for the current one (KIP-101). Followers ask it before
//! fetching in a new epoch, to find the divergent tail they must truncate (KIP-279); consumers
//! ask it after a leader change, to detect that records they read were truncated (KIP-320).
//! Only the leader answers; the requester's current leader epoch is checked as for Fetch.

use fjord_protocol::ApiRange;
use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::OffsetForLeaderEpoch, min: 2, max: 4 };

pub async fn handle(broker: &Broker, _version: i16, request: OffsetForLeaderEpochRequest, _client: &Client) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.topic.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default().with_partition(p.partition);
                    match end_offset(broker, name, p) {
                        Ok(Some((epoch, offset))) => answer.with_leader_epoch(epoch).with_end_offset(offset),
                        Ok(None) => answer.with_leader_epoch(-1).with_end_offset(-1),
                        Err(e) => answer.with_error_code(e.error_code()).with_leader_epoch(-1).with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(topic.topic.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

fn end_offset(broker: &Broker, topic: &str, p: &OffsetForLeaderPartition) -> Result<Option<(i32, i64)>, BrokerError> {
    let partition = broker.leader_partition(topic, p.partition)?;
    partition.check_leader_epoch(p.current_leader_epoch)?;
    Ok(partition.log().end_offset_for_epoch(p.leader_epoch))
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &OffsetForLeaderEpochResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
