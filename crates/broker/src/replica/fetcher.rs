//! The follower side of replication, Kafka's way: one fetcher task per leader broker, each with
//! one connection, fetching every partition this broker follows from that leader in one Fetch
//! request (replica id set, leader epoch given, `replica.fetch.wait.max.ms` long poll).
//!
//! A partition that starts following (or sees a new leader epoch) first asks the leader with
//! OffsetForLeaderEpoch where its latest epoch ends there, and truncates its log to that point
//! (KIP-101/279) before fetching. Errors that metadata will resolve (a leader that has not
//! caught up with the image yet, a fenced epoch) back off briefly; a lost connection is re-made.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fjord_meta::MetadataImage;
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{EpochQuery, FetchFrom, PeerClient};
use super::{FollowerPosition, Partition, ReplicaManager, now_ms};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Beyond the long poll, how long a leader may take to answer before the connection is dropped.
const ANSWER_MARGIN: Duration = Duration::from_secs(10);
/// Pause after a round in which no partition got anywhere, or after a lost connection.
const BACKOFF: Duration = Duration::from_millis(100);

/// What a fetcher needs to know of its broker's configuration.
#[derive(Debug, Clone, Copy)]
pub struct FetcherConfig {
    /// This broker's id, sent as the replica id.
    pub node_id: i32,
    /// `replica.fetch.max.bytes`: record bytes per partition per fetch.
    pub max_bytes: i32,
    /// `replica.fetch.wait.max.ms`: the long poll.
    pub wait_max_ms: i32,
}

/// The follower side of this broker: the partitions it hosts, the metadata (for the leaders'
/// addresses) and its settings.
#[derive(Debug, Clone)]
pub struct Fetchers {
    config: FetcherConfig,
    replicas: Arc<ReplicaManager>,
    images: watch::Receiver<Arc<MetadataImage>>,
}

impl Fetchers {
    pub fn new(
        config: FetcherConfig,
        replicas: Arc<ReplicaManager>,
        images: watch::Receiver<Arc<MetadataImage>>,
    ) -> Self {
        Self { config, replicas, images }
    }

    /// Keeps one fetcher task per leader this broker follows some partition of, until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut roles = self.replicas.roles();
        let mut tasks: HashMap<i32, JoinHandle<()>> = HashMap::new();
        loop {
            roles.borrow_and_update();
            let mut leaders: Vec<i32> =
                self.replicas.all().iter().filter_map(|p| p.follower_position().map(|f| f.leader)).collect();
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
                tasks.entry(leader).or_insert_with(|| tokio::spawn(self.clone().follow(leader, stop.clone())));
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
    fn followed(&self, leader: i32) -> Vec<(Arc<Partition>, FollowerPosition)> {
        self.replicas
            .all()
            .into_iter()
            .filter_map(|p| {
                let position = p.follower_position()?;
                (position.leader == leader).then_some((p, position))
            })
            .collect()
    }

    /// Replicates every partition followed from `leader` until there is none left or shutdown.
    async fn follow(self, leader: i32, mut stop: watch::Receiver<bool>) {
        let me = self.config.node_id;
        let mut roles = self.replicas.roles();
        let mut client: Option<PeerClient> = None;
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let partitions = self.followed(leader);
            if partitions.is_empty() {
                return;
            }
            if client.is_none() {
                let address = self.images.borrow().brokers.get(&leader).map(|b| format!("{}:{}", b.host, b.port));
                match address {
                    Some(addr) => {
                        match PeerClient::connect(&addr, format!("fjord-replica-{me}"), CONNECT_TIMEOUT).await {
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
                        }
                    }
                    None => failures += 1,
                }
            }
            let progressed = match client.as_mut() {
                Some(c) => match self.round(c, &partitions).await {
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
        &self,
        client: &mut PeerClient,
        partitions: &[(Arc<Partition>, FollowerPosition)],
    ) -> std::io::Result<bool> {
        let mut progressed = false;
        let truncating: Vec<_> = partitions.iter().filter(|(_, pos)| pos.needs_truncation).collect();
        if !truncating.is_empty() {
            progressed |= self.truncate(client, &truncating).await?;
        }
        let fetching: Vec<(Arc<Partition>, FollowerPosition)> = partitions
            .iter()
            .filter_map(|(p, _)| p.follower_position().filter(|pos| !pos.needs_truncation).map(|pos| (p.clone(), pos)))
            .collect();
        if fetching.is_empty() {
            return Ok(progressed);
        }
        let from: Vec<FetchFrom> = fetching
            .iter()
            .map(|(p, pos)| FetchFrom {
                topic: p.topic.clone(),
                partition: p.index,
                leader_epoch: pos.leader_epoch,
                fetch_offset: pos.log_end_offset,
                log_start_offset: pos.log_start_offset,
            })
            .collect();
        let wait = self.config.wait_max_ms;
        let timeout = Duration::from_millis(wait as u64) + ANSWER_MARGIN;
        let answers = client.fetch(self.config.node_id, (wait, self.config.max_bytes), &from, timeout).await?;
        let by_key: HashMap<(&str, i32), &(Arc<Partition>, FollowerPosition)> =
            fetching.iter().map(|entry| ((entry.0.topic.as_str(), entry.0.index), entry)).collect();
        let now = now_ms();
        let mut appended = Vec::new();
        for data in &answers {
            let Some((p, pos)) = by_key.get(&(data.topic.as_str(), data.partition)) else { continue };
            if p.leader_epoch() != pos.leader_epoch {
                continue; // The image moved on while the fetch was out.
            }
            match data.error {
                None => match p.append_replicated(&data.records, (pos.leader_epoch, data.high_watermark), now) {
                    Ok(_) => {
                        progressed = true;
                        appended.push((p.clone(), data.log_start_offset));
                    }
                    Err(e) => {
                        tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "appending replicated records failed; checking the log against the leader's");
                        p.request_truncation();
                    }
                },
                Some(ResponseError::OffsetOutOfRange) if pos.log_end_offset < data.log_start_offset => {
                    tracing::warn!(topic = %p.topic, partition = p.index, leader_log_start = data.log_start_offset, "fell behind the leader's log start; starting the log there");
                    let (p, epoch, start) = (p.clone(), pos.leader_epoch, data.log_start_offset);
                    blocking(move || p.restart_at(epoch, start), "restarting the log failed").await;
                }
                Some(ResponseError::OffsetOutOfRange) => p.request_truncation(),
                Some(e) => {
                    tracing::debug!(topic = %p.topic, partition = p.index, error = ?e, "replica fetch refused");
                }
            }
        }
        let moved: Vec<_> = appended.into_iter().filter(|(p, start)| p.log_start_behind(*start)).collect();
        if !moved.is_empty() {
            // Persisting a log start offset is a synced RocksDB write: off the async workers.
            let replicas = self.replicas.clone();
            blocking(
                move || moved.iter().try_for_each(|(p, start)| replicas.follow_log_start(p, *start)),
                "following the leader's log start failed",
            )
            .await;
        }
        Ok(progressed)
    }

    /// Asks the leader where our latest epoch ends and truncates what diverges.
    async fn truncate(
        &self,
        client: &mut PeerClient,
        partitions: &[&(Arc<Partition>, FollowerPosition)],
    ) -> std::io::Result<bool> {
        let mut cuts: Vec<(Arc<Partition>, i32, i32, i64)> = Vec::new();
        let mut queries = Vec::new();
        for (p, pos) in partitions {
            if pos.latest_epoch < 0 {
                // Nothing was ever written here under an epoch: only the high watermark is known good.
                cuts.push((p.clone(), pos.leader_epoch, -1, -1));
                continue;
            }
            queries.push(EpochQuery {
                topic: p.topic.clone(),
                partition: p.index,
                current_leader_epoch: pos.leader_epoch,
                epoch: pos.latest_epoch,
            });
        }
        if !queries.is_empty() {
            let ends = client.epoch_ends(self.config.node_id, &queries, CONNECT_TIMEOUT + ANSWER_MARGIN).await?;
            for r in ends {
                let found = partitions.iter().find(|(p, _)| p.topic == r.topic && p.index == r.partition);
                let Some((p, pos)) = found else { continue };
                if r.error_code != 0 {
                    tracing::debug!(topic = %p.topic, partition = p.index, error = r.error_code, "OffsetForLeaderEpoch refused");
                    continue;
                }
                cuts.push((p.clone(), pos.leader_epoch, r.epoch, r.end_offset));
            }
        }
        if cuts.is_empty() {
            return Ok(false);
        }
        // Truncation deletes segments and fsyncs: off the async workers.
        let settled = tokio::task::spawn_blocking(move || {
            let mut progressed = false;
            for (p, leader_epoch, epoch, end) in cuts {
                match p.truncate_for_epoch(leader_epoch, epoch, end) {
                    Ok(()) => progressed = true,
                    Err(e) => {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "truncating the log failed")
                    }
                }
            }
            progressed
        })
        .await;
        Ok(settled.unwrap_or(false))
    }
}

/// Runs disk work on a blocking thread; a failure is logged with `what`.
async fn blocking(f: impl FnOnce() -> Result<(), crate::BrokerError> + Send + 'static, what: &'static str) {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "{what}"),
        Err(e) => tracing::error!(error = %e, "{what}: the task failed"),
    }
}
