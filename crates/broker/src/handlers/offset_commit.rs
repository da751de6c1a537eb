//! OffsetCommit (key 8): a group member (or an admin client, generation -1 on a group without
//! members) commits offsets. They are written to `__consumer_offsets` and fsynced before the
//! answer. Partitions that do not exist get UNKNOWN_TOPIC_OR_PARTITION; metadata over
//! `offset.metadata.max.bytes` (4096) OFFSET_METADATA_TOO_LARGE.

use fjord_group::CommitRequest;
use fjord_group::offsets::Committed;
use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};

use super::Client;
use crate::replica::now_ms;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::OffsetCommit, min: 2, max: 8 };

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_METADATA_BYTES: usize = 4096;

pub async fn handle(broker: &Broker, _version: i16, request: OffsetCommitRequest, _client: &Client) -> OffsetCommitResponse {
    let image = broker.image();
    let now = now_ms();
    // Per partition: a refusal decided here, or an offset to commit.
    let mut results: Vec<Vec<(i32, Result<(), i16>)>> = Vec::with_capacity(request.topics.len());
    let mut entries = Vec::new();
    for topic in &request.topics {
        let known = image.topic(topic.name.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
            let result = if !known.is_some_and(|t| (0..t.partitions.len() as i32).contains(&p.partition_index)) {
                Err(ResponseError::UnknownTopicOrPartition.code())
            } else if metadata.len() > MAX_METADATA_BYTES {
                Err(ResponseError::OffsetMetadataTooLarge.code())
            } else {
                let committed = Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                    commit_time_ms: now,
                };
                entries.push((topic.name.to_string(), p.partition_index, committed));
                Ok(())
            };
            partitions.push((p.partition_index, result));
        }
        results.push(partitions);
    }
    let req = CommitRequest {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let outcome = if entries.is_empty() { Ok(()) } else { broker.groups.commit(&req, entries).await };
    let shared = outcome.err().map_or(0, |e: BrokerError| e.error_code());
    let topics = request
        .topics
        .iter()
        .zip(results)
        .map(|(topic, partitions)| {
            OffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, r)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(r.err().unwrap_or(shared))
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &OffsetCommitResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
