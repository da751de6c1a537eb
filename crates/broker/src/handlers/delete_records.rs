//! DeleteRecords (key 21): advances partitions' log start offsets, making every record before the
//! given offset unreadable; whole segments below it are deleted, and the new start is stored
//! durably before the answer. -1 means the high watermark (delete everything); an offset past the
//! high watermark, or any other negative one, is OFFSET_OUT_OF_RANGE. An offset at or below the
//! current start changes nothing.
//!
//! Topics compacted and not deleted refuse it with POLICY_VIOLATION, as in Kafka.
//!
//! Not supported: waiting for followers' low watermarks (`timeout_ms`), which only matters once
//! partitions have followers.

use fjord_log::LogError;
use fjord_protocol::ApiRange;
use kafka_protocol::messages::delete_records_request::DeleteRecordsPartition;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::DeleteRecords, min: 0, max: 2 };

/// The offset that stands for the high watermark.
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(broker: &Broker, _version: i16, request: DeleteRecordsRequest, _client: &Client) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            partitions.push(match delete(broker, name, p).await {
                Ok(low_watermark) => result.with_low_watermark(low_watermark),
                Err(e) => result.with_error_code(e.error_code()).with_low_watermark(-1),
            });
        }
        topics.push(DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions));
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

/// Deletes the records of one partition before the requested offset: the new log start offset.
async fn delete(broker: &Broker, topic: &str, p: &DeleteRecordsPartition) -> Result<i64, BrokerError> {
    let partition = broker.leader_partition(topic, p.partition_index)?;
    let config = partition.log().config().clone();
    if config.compact && !config.delete_retention {
        return Err(BrokerError::PolicyViolation(format!(
            "Records of partitions of topic '{topic}' can be deleted only if the topic has a delete cleanup policy"
        )));
    }
    let (_, high_watermark) = partition.offsets();
    let offset = if p.offset == HIGH_WATERMARK { high_watermark } else { p.offset };
    if !(0..=high_watermark).contains(&offset) {
        return Err(LogError::InvalidOffset(offset).into());
    }
    // Deleting segments and persisting the new start are disk work: off the async workers.
    let replicas = broker.replicas.clone();
    let start = tokio::task::spawn_blocking(move || replicas.delete_records(&partition, offset))
        .await
        .map_err(|e| BrokerError::Internal(format!("the deletion task failed: {e}")))??;
    tracing::info!(topic, partition = p.partition_index, log_start_offset = start, "deleted records");
    Ok(start)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DeleteRecordsResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
