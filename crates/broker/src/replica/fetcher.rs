//! The follower side of replication, Kafka's way: one fetcher task per leader broker, each with
//! one connection, fetching every partition this broker follows from that leader in one Fetch
//! request (replica id set, leader epoch given, `replica.fetch.wait.max.ms` long poll).
//!
//! A partition that starts following (or sees a new leader epoch) first asks the leader with
//! OffsetForLeaderEpoch where its latest epoch ends there, and truncates its log to that point
//! (KIP-101/279) before fetching. Errors that metadata will resolve (a leader that has not
//! caught up with the image yet, a fenced epoch) back off briefly; a lost connection is re-made.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::PeerClient;
use super::{FollowerPosition, Partition, now_ms};
use crate::Broker;
use crate::handlers::topic_name;

/// Fetch and OffsetForLeaderEpoch versions a follower speaks (both flexible, names not ids).
const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Beyond the long poll, how long a leader may take to answer before the connection is dropped.
const ANSWER_MARGIN: Duration = Duration::from_secs(10);
/// The most record bytes one fetch response may carry (Kafka's `replica.fetch.response.max.bytes`).
const RESPONSE_MAX_BYTES: i32 = 10 * 1024 * 1024;
/// Pause after a round in which no partition got anywhere, or after a lost connection.
const BACKOFF: Duration = Duration::from_millis(100);

/// Keeps one fetcher task per leader this broker follows some partition of.
pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut roles = broker.replicas.roles();
    let mut tasks: HashMap<i32, JoinHandle<()>> = HashMap::new();
    loop {
        roles.borrow_and_update();
        let mut leaders: Vec<i32> =
            broker.replicas.all().iter().filter_map(|p| p.follower_position().map(|f| f.leader)).collect();
        leaders.sort_unstable();
        leaders.dedup();
        tasks.retain(|leader, task| {
            let keep = leaders.contains(leader) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for leader in leaders {
            tasks.entry(leader).or_insert_with(|| tokio::spawn(follow(broker.clone(), leader, stop.clone())));
        }
        tokio::select! {
            _ = stop.changed() => break,
            changed = roles.changed() => if changed.is_err() { break },
        }
    }
    for task in tasks.into_values() {
        task.abort();
    }
}

/// The partitions this broker follows from `leader`, with where each stands.
fn followed(broker: &Broker, leader: i32) -> Vec<(Arc<Partition>, FollowerPosition)> {
    broker
        .replicas
        .all()
        .into_iter()
        .filter_map(|p| {
            let position = p.follower_position()?;
            (position.leader == leader).then_some((p, position))
        })
        .collect()
}

/// Replicates every partition followed from `leader` until there is none left or shutdown.
async fn follow(broker: Arc<Broker>, leader: i32, mut stop: watch::Receiver<bool>) {
    let me = broker.config.node_id;
    let mut roles = broker.replicas.roles();
    let mut client: Option<PeerClient> = None;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let partitions = followed(&broker, leader);
        if partitions.is_empty() {
            return;
        }
        if client.is_none() {
            let image = broker.image();
            let address = image.brokers.get(&leader).map(|b| format!("{}:{}", b.host, b.port));
            match address {
                Some(addr) => match PeerClient::connect(&addr, format!("fjord-replica-{me}"), CONNECT_TIMEOUT).await {
                    Ok(c) => {
                        if failures > 0 {
                            tracing::info!(leader, "replica fetcher connected again");
                        }
                        failures = 0;
                        client = Some(c);
                    }
                    Err(e) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(50) {
                            tracing::warn!(leader, %addr, error = %e, "replica fetcher cannot reach the leader");
                        }
                    }
                },
                None => failures += 1,
            }
        }
        let progressed = match client.as_mut() {
            Some(c) => match round(&broker, c, &partitions).await {
                Ok(progressed) => progressed,
                Err(e) => {
                    tracing::debug!(leader, error = %e, "replica fetch failed; reconnecting");
                    client = None;
                    false
                }
            },
            None => false,
        };
        if !progressed {
            roles.borrow_and_update();
            tokio::select! {
                _ = stop.changed() => return,
                _ = roles.changed() => {}
                _ = tokio::time::sleep(BACKOFF) => {}
            }
        }
    }
}

/// One round: truncation checks for partitions that need one, then one fetch for the rest.
/// Returns whether any partition got somewhere (false: the caller backs off).
async fn round(
    broker: &Broker,
    client: &mut PeerClient,
    partitions: &[(Arc<Partition>, FollowerPosition)],
) -> std::io::Result<bool> {
    let me = broker.config.node_id;
    let mut progressed = false;
    let truncating: Vec<_> = partitions.iter().filter(|(_, pos)| pos.needs_truncation).collect();
    if !truncating.is_empty() {
        progressed |= truncate(broker, client, &truncating).await?;
    }
    let fetching: Vec<(Arc<Partition>, FollowerPosition)> = partitions
        .iter()
        .filter_map(|(p, _)| p.follower_position().filter(|pos| !pos.needs_truncation).map(|pos| (p.clone(), pos)))
        .collect();
    if fetching.is_empty() {
        return Ok(progressed);
    }
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for (p, pos) in &fetching {
        topics.entry(p.topic.as_str()).or_default().push(
            FetchPartition::default()
                .with_partition(p.index)
                .with_current_leader_epoch(pos.leader_epoch)
                .with_fetch_offset(pos.log_end_offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(pos.log_start_offset)
                .with_partition_max_bytes(broker.config.replica_fetch_max_bytes),
        );
    }
    let wait = broker.config.replica_fetch_wait_max_ms;
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(me))
        .with_max_wait_ms(wait)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_MAX_BYTES)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    FetchTopic::default().with_topic(topic_name(name)).with_partitions(partitions)
                })
                .collect(),
        );
    let timeout = Duration::from_millis(wait as u64) + ANSWER_MARGIN;
    let response = client.call(&request, FETCH_VERSION, timeout).await?;
    if response.error_code != 0 {
        return Err(std::io::Error::other(format!("fetch refused with error {}", response.error_code)));
    }
    let by_key: HashMap<(&str, i32), &(Arc<Partition>, FollowerPosition)> =
        fetching.iter().map(|entry| ((entry.0.topic.as_str(), entry.0.index), entry)).collect();
    let now = now_ms();
    for topic in &response.responses {
        for data in &topic.partitions {
            let Some((p, pos)) = by_key.get(&(topic.topic.0.as_str(), data.partition_index)) else { continue };
            if p.leader_epoch() != pos.leader_epoch {
                continue; // The image moved on while the fetch was out.
            }
            match ResponseError::try_from_code(data.error_code) {
                None => {
                    let records = data.records.as_deref().unwrap_or_default();
                    match p.append_replicated(records, (pos.leader_epoch, data.high_watermark), now) {
                        Ok(_) => {
                            progressed = true;
                            if let Err(e) = broker.replicas.follow_log_start(p, data.log_start_offset) {
                                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "following the leader's log start failed");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "appending replicated records failed; checking the log against the leader's");
                            p.request_truncation();
                        }
                    }
                }
                Some(ResponseError::OffsetOutOfRange) if pos.log_end_offset < data.log_start_offset => {
                    tracing::warn!(topic = %p.topic, partition = p.index, leader_log_start = data.log_start_offset, "fell behind the leader's log start; starting the log there");
                    if let Err(e) = p.restart_at(data.log_start_offset) {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "restarting the log failed");
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => p.request_truncation(),
                Some(e) => {
                    tracing::debug!(topic = %p.topic, partition = p.index, error = ?e, "replica fetch refused");
                }
            }
        }
    }
    Ok(progressed)
}

/// Asks the leader where our latest epoch ends and truncates what diverges.
async fn truncate(
    broker: &Broker,
    client: &mut PeerClient,
    partitions: &[&(Arc<Partition>, FollowerPosition)],
) -> std::io::Result<bool> {
    let mut progressed = false;
    let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for (p, pos) in partitions {
        if pos.latest_epoch < 0 {
            // Nothing was ever written here under an epoch: only the high watermark is known good.
            progressed |= settle(p, p.truncate_for_epoch(pos.leader_epoch, -1, -1));
            continue;
        }
        topics.entry(p.topic.as_str()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(p.index)
                .with_current_leader_epoch(pos.leader_epoch)
                .with_leader_epoch(pos.latest_epoch),
        );
    }
    if topics.is_empty() {
        return Ok(progressed);
    }
    let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(broker.config.node_id)).with_topics(
        topics
            .into_iter()
            .map(|(name, partitions)| {
                OffsetForLeaderTopic::default().with_topic(topic_name(name)).with_partitions(partitions)
            })
            .collect(),
    );
    let response = client.call(&request, EPOCH_VERSION, CONNECT_TIMEOUT + ANSWER_MARGIN).await?;
    for topic in &response.topics {
        for r in &topic.partitions {
            let found = partitions.iter().find(|(p, _)| p.topic == topic.topic.0.as_str() && p.index == r.partition);
            let Some((p, pos)) = found else { continue };
            if r.error_code != 0 {
                tracing::debug!(topic = %p.topic, partition = p.index, error = r.error_code, "OffsetForLeaderEpoch refused");
                continue;
            }
            progressed |= settle(p, p.truncate_for_epoch(pos.leader_epoch, r.leader_epoch, r.end_offset));
        }
    }
    Ok(progressed)
}

fn settle(p: &Partition, result: Result<(), crate::BrokerError>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "truncating the log failed");
            false
        }
    }
}
