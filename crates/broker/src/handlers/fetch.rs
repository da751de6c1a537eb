//! Fetch (key 1): whole batches from each partition, starting with the batch that holds the
//! fetch offset, within the partition and response byte limits — but at least one batch for the
//! first partition with data, however large (KIP-74).
//!
//! Long poll: when fewer than `min_bytes` are ready and no partition has an error, the request
//! waits for appends until `max_wait_ms`, without blocking other connections. Fetch sessions
//! (KIP-227) are never created: session id 0 tells clients to send full requests, which Kafka
//! allows. v13+ name topics by id.
//!
//! `isolation_level` 1 (read_committed) reads up to the last stable offset and answers the
//! aborted transactions the returned batches overlap, so the consumer can drop their records;
//! every response carries the partition's last stable offset.
//!
//! A fetch with a replica id is a follower's (see [`crate::replica::fetcher`]): it reads up to
//! the log end instead of the high watermark, and its fetch offsets tell the leader how far the
//! follower has come, which may move the high watermark and the ISR.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_protocol::ApiRange;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ProducerId};
use tokio::time::Instant;

use super::{Client, topic_name};
use crate::replica::{Partition, ReadLimit};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::Fetch, min: 4, max: 16 };

/// read_committed (isolation level 1): records up to the last stable offset, with the aborted
/// transactions among them.
const READ_COMMITTED: i8 = 1;

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
    } else if request.isolation_level == READ_COMMITTED {
        ReadLimit::LastStable
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
                Ok(read) => {
                    total += read.records.len();
                    budget = budget.saturating_sub(read.records.len());
                    let data = partition_data(p.partition, read.offsets)
                        .with_aborted_transactions(read.aborted)
                        .with_records(Some(read.records.clone()));
                    if !read.records.is_empty() {
                        reads.push((read.partition, read.records));
                    }
                    data
                }
                Err(e) => {
                    any_error = true;
                    let offsets = match (&name, &e) {
                        (Some(n), BrokerError::Log(_)) => broker.replicas.partition(n, p.partition).map(|p| {
                            let (log_start, hw) = p.offsets();
                            (hw, p.last_stable_offset(), log_start)
                        }),
                        _ => None,
                    };
                    partition_data(p.partition, offsets.unwrap_or((-1, -1, -1))).with_error_code(e.error_code())
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

/// What one partition's read returned.
struct Read {
    partition: Arc<Partition>,
    records: Bytes,
    /// (high watermark, last stable offset, log start offset).
    offsets: (i64, i64, i64),
    /// For read_committed: the aborted transactions the records overlap.
    aborted: Option<Vec<AbortedTransaction>>,
}

fn read_partition(
    broker: &Broker,
    topic: &str,
    p: &FetchPartition,
    (budget, first): (usize, bool),
    limit: ReadLimit,
) -> Result<Read, BrokerError> {
    let partition = broker.leader_partition(topic, p.partition)?;
    partition.check_leader_epoch(p.current_leader_epoch)?;
    let max = (p.partition_max_bytes.max(0) as usize).min(budget);
    let (records, log_start) = if max == 0 && !first {
        (Bytes::new(), partition.offsets().0)
    } else {
        let read = partition.read(p.fetch_offset, max, first, limit)?;
        (read.records, read.log_start_offset)
    };
    let hw = partition.high_watermark().max(log_start);
    let lso = partition.last_stable_offset().max(log_start);
    let aborted = (limit == ReadLimit::LastStable).then(|| {
        let end = end_of(&records).unwrap_or(p.fetch_offset);
        partition
            .aborted_transactions(p.fetch_offset, end)
            .into_iter()
            .map(|(producer, first)| {
                AbortedTransaction::default().with_producer_id(ProducerId(producer)).with_first_offset(first)
            })
            .collect()
    });
    Ok(Read { partition, records, offsets: (hw, lso, log_start), aborted })
}

/// The offset after the last batch of `records`.
fn end_of(records: &[u8]) -> Option<i64> {
    let mut pos = 0;
    let mut end = None;
    while let Some(h) = fjord_log::batch::BatchHeader::parse(&records[pos..]) {
        end = Some(h.last_offset() + 1);
        pos += h.size();
        if h.size() == 0 || pos >= records.len() {
            break;
        }
    }
    end
}

fn partition_data(index: i32, (hw, lso, log_start): (i64, i64, i64)) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_high_watermark(hw)
        .with_last_stable_offset(lso)
        .with_log_start_offset(log_start)
        .with_aborted_transactions(None)
        .with_records(Some(Bytes::new()))
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &FetchResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
    r.responses.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
