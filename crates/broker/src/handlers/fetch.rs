//! Fetch (key 1): whole batches from each partition, starting with the batch that holds the
//! fetch offset, within the partition and response byte limits — but at least one batch for the
//! first partition with data, however large (KIP-74).
//!
//! Long poll: when fewer than `min_bytes` are ready and no partition has an error, the request
//! waits for appends until `max_wait_ms`, without blocking other connections. Fetch sessions
//! (KIP-227) are never created: session id 0 tells clients to send full requests, which Kafka
//! allows. v13+ name topics by id.
//!
//! A fetch with a replica id is a follower's (see [`crate::replica::fetcher`]): it reads up to
//! the log end instead of the high watermark, and its fetch offsets tell the leader how far the
//! follower has come, which may move the high watermark and the ISR.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_protocol::ApiRange;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};
use tokio::time::Instant;

use super::{Client, topic_name};
use crate::replica::{Partition, ReadLimit};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::Fetch, min: 4, max: 16 };

/// First version that names topics by id instead of by name.
const TOPIC_IDS_FROM: i16 = 13;

/// The most record bytes one response carries whatever the client asks (Kafka's broker
/// `fetch.max.bytes` default, 55 MiB); KIP-74's one whole batch may still exceed it.
const FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

pub async fn handle(broker: &Broker, version: i16, request: FetchRequest, _client: &Client) -> FetchResponse {
    if request.session_id != 0 {
        let e = BrokerError::FetchSessionIdNotFound(request.session_id);
        return FetchResponse::default().with_error_code(e.error_code());
    }
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let min_bytes = request.min_bytes.max(0) as usize;
    let replica = if version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    let limit = if replica >= 0 {
        note_follower(broker, version, replica, &request);
        ReadLimit::LogEnd
    } else {
        ReadLimit::HighWatermark
    };
    let mut appends = broker.replicas.appends();
    let mut waiting = None;
    loop {
        appends.borrow_and_update();
        let (responses, reads, any_error) = read_all(broker, version, &request, limit);
        let bytes: usize = reads.iter().map(|(_, r)| r.len()).sum();
        let done = bytes >= min_bytes || any_error || Instant::now() >= deadline || broker.is_stopping();
        if !done {
            waiting.get_or_insert_with(|| broker.telemetry.fetch_waiter());
            tokio::select! {
                changed = appends.changed() => if changed.is_ok() { continue },
                _ = tokio::time::sleep_until(deadline) => continue,
                _ = broker.stopped() => continue,
            }
        }
        for (partition, records) in &reads {
            partition.counters.fetched(records);
        }
        return FetchResponse::default().with_responses(responses);
    }
}

/// The partitions a pass read records from, with the records (counted once the response goes).
type Reads = Vec<(Arc<Partition>, Bytes)>;

/// The name of a requested topic: v13+ name it by id.
fn topic_of(image: &fjord_meta::MetadataImage, version: i16, topic: &FetchTopic) -> Option<String> {
    if version >= TOPIC_IDS_FROM {
        image.topic_by_id(topic.topic_id).map(|t| t.name.clone())
    } else {
        Some(topic.topic.0.to_string())
    }
}

/// Notes a follower's fetch offsets with the leaders of its partitions here, once per request.
fn note_follower(broker: &Broker, version: i16, replica: i32, request: &FetchRequest) {
    let image = broker.image();
    let now = crate::replica::now_ms();
    let (mut qualifies, mut advanced) = (false, false);
    for topic in &request.topics {
        let name = topic_of(&image, version, topic);
        let Some(name) = name else { continue };
        for p in &topic.partitions {
            let Ok(partition) = broker.leader_partition(&name, p.partition) else { continue };
            if partition.check_leader_epoch(p.current_leader_epoch).is_err() {
                continue;
            }
            if let Ok((q, a)) = partition.follower_fetched(replica, p.fetch_offset, now) {
                qualifies |= q;
                advanced |= a;
            }
        }
    }
    if qualifies {
        broker.replicas.isr_wake.notify_one();
    }
    if advanced {
        broker.replicas.notify_append();
    }
}

/// One pass over every requested partition: (responses, what was read, whether any partition failed).
fn read_all(
    broker: &Broker,
    version: i16,
    request: &FetchRequest,
    limit: ReadLimit,
) -> (Vec<FetchableTopicResponse>, Reads, bool) {
    let image = broker.image();
    let mut budget =
        if request.max_bytes > 0 { (request.max_bytes as usize).min(FETCH_MAX_BYTES) } else { FETCH_MAX_BYTES };
    let mut total = 0usize;
    let mut reads = Vec::new();
    let mut any_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic_of(&image, version, topic);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let result = match &name {
                Some(name) => read_partition(broker, name, p, (budget, total == 0), limit),
                None => Err(BrokerError::UnknownTopicId),
            };
            let data = match result {
                Ok((partition, records, log_start, hw)) => {
                    total += records.len();
                    budget = budget.saturating_sub(records.len());
                    if !records.is_empty() {
                        reads.push((partition, records.clone()));
                    }
                    partition_data(p.partition, hw, log_start).with_records(Some(records))
                }
                Err(e) => {
                    any_error = true;
                    let (log_start, hw) = match (&name, &e) {
                        (Some(n), BrokerError::Log(_)) => {
                            broker.replicas.partition(n, p.partition).map_or((-1, -1), |p| p.offsets())
                        }
                        _ => (-1, -1),
                    };
                    partition_data(p.partition, hw, log_start).with_error_code(e.error_code())
                }
            };
            partitions.push(data);
        }
        let mut response = FetchableTopicResponse::default().with_partitions(partitions);
        if version >= TOPIC_IDS_FROM {
            response.topic_id = topic.topic_id;
        } else {
            response.topic = topic_name(name.as_deref().unwrap_or_default());
        }
        topics.push(response);
    }
    (topics, reads, any_error)
}

fn read_partition(
    broker: &Broker,
    topic: &str,
    p: &FetchPartition,
    (budget, first): (usize, bool),
    limit: ReadLimit,
) -> Result<(Arc<Partition>, Bytes, i64, i64), BrokerError> {
    let partition = broker.leader_partition(topic, p.partition)?;
    partition.check_leader_epoch(p.current_leader_epoch)?;
    let max = (p.partition_max_bytes.max(0) as usize).min(budget);
    if max == 0 && !first {
        let (log_start, hw) = partition.offsets();
        return Ok((partition, Bytes::new(), log_start, hw));
    }
    let read = partition.read(p.fetch_offset, max, first, limit)?;
    let hw = partition.high_watermark().max(read.log_start_offset);
    Ok((partition, read.records, read.log_start_offset, hw))
}

fn partition_data(index: i32, hw: i64, log_start: i64) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_high_watermark(hw)
        .with_last_stable_offset(hw)
        .with_log_start_offset(log_start)
        .with_aborted_transactions(None)
        .with_records(Some(Bytes::new()))
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &FetchResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
    r.responses.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
