//! TxnOffsetCommit (key 28): a transactional producer commits a group's offsets inside its
//! transaction (consume–transform–produce), at the group's coordinator, after AddOffsetsToTxn.
//! The offsets are written to `__consumer_offsets` as part of the producer's transaction and
//! take effect when its commit marker arrives there; an abort drops them. Until then an
//! OffsetFetch that requires stable offsets gets UNSTABLE_OFFSET_COMMIT for them. From v3 the
//! member's generation is checked as OffsetCommit checks it (KIP-447), so a zombie member cannot
//! commit. Partitions are checked as OffsetCommit checks them. Before v2,
//! COORDINATOR_LOAD_IN_PROGRESS is answered as COORDINATOR_NOT_AVAILABLE, which those clients retry.

use fjord_group::CommitRequest;
use fjord_protocol::ApiRange;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::Client;
use super::offset_commit::{answer, check};
use crate::replica::now_ms;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::TxnOffsetCommit, min: 0, max: 4 };

/// First version whose clients retry COORDINATOR_LOAD_IN_PROGRESS.
const LOAD_IN_PROGRESS_FROM: i16 = 2;

pub async fn handle(broker: &Broker, version: i16, request: TxnOffsetCommitRequest, _client: &Client) -> TxnOffsetCommitResponse {
    let topics = request.topics.iter().map(|t| {
        let partitions = t.partitions.iter();
        (t.name.as_str(), partitions.map(|p| (p.partition_index, p.committed_offset, p.committed_leader_epoch, p.committed_metadata.as_ref())))
    });
    let (checked, entries) = check(&broker.image(), topics, now_ms());
    // Before v3 the request names no member: the commit is checked against no generation.
    let req = CommitRequest {
        group_id: request.group_id.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let producer = (request.producer_id.0, request.producer_epoch);
    let outcome = if entries.is_empty() {
        Ok(())
    } else if request.transactional_id.is_empty() {
        Err(BrokerError::InvalidRequest("a transactional id is required".into()))
    } else {
        broker.groups.txn_commit(&req, producer, entries).await
    };
    let mut shared = outcome.err().map_or(0, |e: BrokerError| e.error_code());
    if shared == ResponseError::CoordinatorLoadInProgress.code() && version < LOAD_IN_PROGRESS_FROM {
        shared = ResponseError::CoordinatorNotAvailable.code();
    }
    let topics = request
        .topics
        .iter()
        .zip(answer(checked, shared))
        .map(|(topic, partitions)| {
            let partitions = partitions.into_iter().map(|(index, code)| {
                TxnOffsetCommitResponsePartition::default().with_partition_index(index).with_error_code(code)
            });
            TxnOffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions.collect())
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &TxnOffsetCommitResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
