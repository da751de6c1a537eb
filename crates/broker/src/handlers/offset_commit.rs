//! OffsetCommit (key 8): a group member (or an admin client, generation -1 on a group without
//! members) commits offsets. They are written to `__consumer_offsets` and fsynced before the
//! answer. Partitions that do not exist get UNKNOWN_TOPIC_OR_PARTITION; metadata over
//! `offset.metadata.max.bytes` (4096) OFFSET_METADATA_TOO_LARGE.

use fjord_group::CommitRequest;
use fjord_group::offsets::Committed;
use fjord_meta::MetadataImage;
use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::replica::now_ms;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::OffsetCommit, min: 2, max: 8 };

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_METADATA_BYTES: usize = 4096;

pub async fn handle(broker: &Broker, _version: i16, request: OffsetCommitRequest, _client: &Client) -> OffsetCommitResponse {
    let topics = request.topics.iter().map(|t| {
        let partitions = t.partitions.iter();
        (t.name.as_str(), partitions.map(|p| (p.partition_index, p.committed_offset, p.committed_leader_epoch, p.committed_metadata.as_ref())))
    });
    let (checked, entries) = check(&broker.image(), topics, now_ms());
    let req = CommitRequest {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let outcome = if entries.is_empty() { Ok(()) } else { broker.groups.commit(&req, entries).await };
    let codes = answer(checked, outcome.err().map_or(0, |e: BrokerError| e.error_code()));
    let topics = request
        .topics
        .iter()
        .zip(codes)
        .map(|(topic, partitions)| {
            let partitions = partitions.into_iter().map(|(index, code)| {
                OffsetCommitResponsePartition::default().with_partition_index(index).with_error_code(code)
            });
            OffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions.collect())
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Per topic, per partition: its index and the refusal decided before the commit, if any.
pub(super) type Checked = Vec<Vec<(i32, Option<i16>)>>;

/// Checks the offsets to commit, `(topic, [(partition, offset, leader epoch, metadata)])`, as
/// OffsetCommit and TxnOffsetCommit do: a partition that does not exist is refused, as is
/// metadata over `offset.metadata.max.bytes`. Returns the refusals and the offsets to commit.
pub(super) fn check<'a, P>(
    image: &MetadataImage,
    topics: impl Iterator<Item = (&'a str, P)>,
    now: i64,
) -> (Checked, Vec<(String, i32, Committed)>)
where
    P: Iterator<Item = (i32, i64, i32, Option<&'a StrBytes>)>,
{
    let mut entries = Vec::new();
    let checked = topics
        .map(|(topic, partitions)| {
            let known = image.topic(topic);
            partitions
                .map(|(index, offset, leader_epoch, metadata)| {
                    let metadata = metadata.map(|m| m.to_string()).unwrap_or_default();
                    let refused = if !known.is_some_and(|t| (0..t.partitions.len() as i32).contains(&index)) {
                        Some(ResponseError::UnknownTopicOrPartition.code())
                    } else if metadata.len() > MAX_METADATA_BYTES {
                        Some(ResponseError::OffsetMetadataTooLarge.code())
                    } else {
                        let committed = Committed { offset, leader_epoch, metadata, commit_time_ms: now };
                        entries.push((topic.to_string(), index, committed));
                        None
                    };
                    (index, refused)
                })
                .collect()
        })
        .collect();
    (checked, entries)
}

/// Each partition's error code: its refusal, or the commit's outcome `shared`.
pub(super) fn answer(checked: Checked, shared: i16) -> impl Iterator<Item = Vec<(i32, i16)>> {
    checked.into_iter().map(move |partitions| partitions.into_iter().map(|(i, r)| (i, r.unwrap_or(shared))).collect())
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &OffsetCommitResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
