//! The replica manager: the partitions this broker hosts, kept in step with the metadata image.
//!
//! # Layout
//! - [`partition`]: one hosted partition, its log, its replication state and its group-commit fsync.
//! - [`fetcher`]: the follower side — one fetcher per leader, truncation, fetching.
//! - [`isr`]: the leader side — ISR changes through Raft, high-watermark checkpoints.
//! - `counters`: the per-topic traffic counters a partition moves.
//! - [`client`]: the Kafka-protocol connection a follower keeps to a leader.
//! - [`ReplicaManager`] (here): opening, creating and deleting partition directories as the
//!   metadata image changes, lookups for handlers, retention, and the clean-shutdown marker.
//!
//! What lies on disk, and how, is [`fjord_log::LogManager`]'s business; this module decides which
//! partitions this broker hosts.
//!
//! Lock order: `reconcile_lock` (async; held while a reconciliation runs on a blocking thread),
//! then `partitions` (a `RwLock` held only to look up, insert or remove entries, never across
//! I/O), then a partition's own locks (see [`partition`]).

pub mod client;
mod counters;
pub mod fetcher;
pub mod isr;
mod partition;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use fjord_log::LogManager;
use fjord_meta::{MetadataImage, NodeDb, PartitionInfo};
use tokio::sync::watch;
use uuid::Uuid;

pub use partition::{FollowerPosition, IsrChange, Partition, PartitionStats, ReadLimit};

use crate::BrokerError;
use crate::topic_config::TopicDefaults;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The partitions hosted by this broker.
#[derive(Debug)]
pub struct ReplicaManager {
    logs: LogManager,
    node_id: i32,
    defaults: TopicDefaults,
    db: Arc<NodeDb>,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// Serialises reconciliations and the final close; owned by the blocking work it guards, so a
    /// caller that stops waiting does not release it early.
    reconcile_lock: Arc<tokio::sync::Mutex<()>>,
    /// The applied index of the newest image reconciled: older ones are skipped.
    applied: AtomicU64,
    appended: watch::Sender<u64>,
    /// Bumped when this broker starts or stops leading or following some partition.
    roles: watch::Sender<u64>,
    /// Woken when a follower may have caught up enough to join an ISR.
    pub isr_wake: tokio::sync::Notify,
}

impl ReplicaManager {
    /// Opens the data directory: notes whether the last stop was clean (and removes the marker, so
    /// a crash from here on is detected), then opens every partition the image places here.
    pub fn open(
        dir: &Path,
        node_id: i32,
        defaults: TopicDefaults,
        db: Arc<NodeDb>,
        image: &MetadataImage,
    ) -> Result<Self, BrokerError> {
        let logs = LogManager::open(dir)?;
        tracing::info!(dir = %dir.display(), "opening data directory");
        let manager = Self {
            logs,
            node_id,
            defaults,
            db,
            partitions: RwLock::new(HashMap::new()),
            reconcile_lock: Arc::new(tokio::sync::Mutex::new(())),
            applied: AtomicU64::new(0),
            appended: watch::channel(0).0,
            roles: watch::channel(0).0,
            isr_wake: tokio::sync::Notify::new(),
        };
        manager.remove_strays(image)?;
        manager.reconcile_with(image, true)?;
        Ok(manager)
    }

    /// Whether the previous stop left the clean-shutdown marker.
    pub fn clean_start(&self) -> bool {
        self.logs.clean_start()
    }

    /// Topic config defaults of this broker.
    pub fn defaults(&self) -> &TopicDefaults {
        &self.defaults
    }

    /// The hosted partition `topic`/`index`.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).get(&(topic.to_string(), index)).cloned()
    }

    /// Every hosted partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Wakes fetch long-polls: called after every append.
    pub fn notify_append(&self) {
        self.appended.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that changes after appends.
    pub fn appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// A receiver that changes when this broker's role for some partition changes.
    pub fn roles(&self) -> watch::Receiver<u64> {
        self.roles.subscribe()
    }

    /// This broker's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// Brings the hosted partitions in line with `image`: opens or creates the partitions with a
    /// replica on this node, deletes those whose topic is gone (or was re-created with another
    /// id) or that no longer have a replica here, applies topic config changes and records who
    /// leads each. A partition whose leader is fenced stays, data and all. Idempotent; serialised.
    /// The directory work runs on a blocking thread.
    pub async fn reconcile(self: &Arc<Self>, image: Arc<MetadataImage>) -> Result<(), BrokerError> {
        let serial = self.reconcile_lock.clone().lock_owned().await;
        let manager = self.clone();
        tokio::task::spawn_blocking(move || {
            let _serial = serial;
            manager.reconcile_with(&image, false)
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("applying metadata to the partitions failed: {e}")))?
    }

    /// [`ReplicaManager::reconcile`] on this thread; at startup it logs how far opening the logs
    /// has come.
    fn reconcile_with(&self, image: &MetadataImage, startup: bool) -> Result<(), BrokerError> {
        // Callers take their image before they queue for the lock: one that was overtaken by a
        // newer image must not undo what that one did (leadership, ISR, deletions).
        if self.applied.fetch_max(image.applied_index, Ordering::AcqRel) > image.applied_index {
            return Ok(());
        }
        let mut wanted: HashMap<(String, i32), (Uuid, &PartitionInfo)> = HashMap::new();
        for topic in image.topics.values() {
            for p in &topic.partitions {
                if p.replicas.contains(&self.node_id) {
                    wanted.insert((topic.name.clone(), p.index), (topic.id, p));
                }
            }
        }
        let mut roles_changed = false;
        let existing = self.all();
        for p in existing {
            match wanted.get(&(p.topic.clone(), p.index)) {
                Some((id, _)) if *id == p.topic_id => {}
                _ => {
                    self.remove(&p)?;
                    roles_changed = true;
                }
            }
        }
        let mut progress = startup.then(|| Progress::new(&self.logs, &wanted));
        let now = now_ms();
        for ((name, index), (id, info)) in wanted {
            let topic = &image.topics[&name];
            let config = self.defaults.log_config(&topic.configs);
            let min_insync = self.defaults.value(&topic.configs, "min.insync.replicas").parse().unwrap_or(1);
            if let Some(p) = self.partition(&name, index) {
                p.set_config(config);
                p.set_min_insync(min_insync);
                roles_changed |= p.apply(info, now);
                continue;
            }
            roles_changed = true;
            let log_start_offset = self.db.log_start_offset(id, index)?;
            let (log, dir) = self.logs.open_log((&name, index, id), config, log_start_offset)?;
            let partition = Arc::new(Partition::new(name.clone(), id, (index, self.node_id), dir, info, log));
            partition.set_min_insync(min_insync);
            if let Some(progress) = &mut progress {
                progress.opened(partition.dir.size_bytes());
            }
            self.partitions.write().unwrap_or_else(|p| p.into_inner()).insert((name, index), partition);
        }
        if let Some(progress) = progress {
            progress.done();
        }
        if roles_changed {
            self.roles.send_modify(|v| *v = v.wrapping_add(1));
        }
        Ok(())
    }

    /// Deletes a partition. Its log is retired first, under its lock, so a request still holding
    /// the partition cannot write into the directory a re-created topic of the same name gets.
    fn remove(&self, p: &Arc<Partition>) -> Result<(), BrokerError> {
        self.partitions.write().unwrap_or_else(|e| e.into_inner()).remove(&(p.topic.clone(), p.index));
        tracing::info!(topic = %p.topic, partition = p.index, "deleting partition");
        p.log().retire();
        self.logs.delete(&p.topic, p.index, &p.topic_id)?;
        self.db.delete_partition_state(p.topic_id, p.index)?;
        Ok(())
    }

    /// Deletes partition directories whose topic the metadata no longer has (deleted while the
    /// broker was down, or half-created before a crash).
    fn remove_strays(&self, image: &MetadataImage) -> Result<(), BrokerError> {
        for stored in self.logs.scan()? {
            let Some(id) = stored.topic_id else {
                // Never delete data on a guess: a torn metadata file is left for an operator.
                tracing::warn!(dir = %stored.path.display(), "unreadable partition metadata; leaving the directory alone");
                continue;
            };
            if image.topic_by_id(id).is_none() {
                tracing::warn!(dir = %stored.path.display(), "deleting partition of a topic that no longer exists");
                self.logs.delete_stray(&stored)?;
            }
        }
        Ok(())
    }

    /// Advances a partition's log start offset durably (DeleteRecords). It is persisted under
    /// the log's lock, so that concurrent advances are stored in order and never move it back.
    pub fn delete_records(&self, p: &Partition, offset: i64) -> Result<i64, BrokerError> {
        let mut log = p.log();
        let start = log.delete_records_before(offset)?;
        self.db.set_log_start_offset(p.topic_id, p.index, start)?;
        Ok(start)
    }

    /// A follower takes the leader's log start offset (records deleted there go here too),
    /// persisted as DeleteRecords persists it.
    pub fn follow_log_start(&self, p: &Partition, leader_start: i64) -> Result<(), BrokerError> {
        if p.log_start_behind(leader_start) {
            self.delete_records(p, leader_start)?;
        }
        Ok(())
    }

    /// One retention and segment-age pass over every partition.
    pub fn enforce_retention(&self) {
        let now = now_ms();
        for p in self.all() {
            let mut log = p.log();
            if let Err(e) = log.roll_if_due(now) {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "segment roll failed");
            }
            match log.apply_retention(now) {
                Ok(r) if r.segments_deleted > 0 => {
                    tracing::info!(topic = %p.topic, partition = p.index, deleted = r.segments_deleted, log_start_offset = r.log_start_offset, "retention deleted segments");
                    // Under the log's lock, like DeleteRecords, so the stored offset only moves up.
                    if let Err(e) = self.db.set_log_start_offset(p.topic_id, p.index, r.log_start_offset) {
                        tracing::warn!(error = %e, "persisting the log start offset failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed"),
            }
            match log.compact(now) {
                Ok(c) if c.segments_rewritten > 0 => {
                    tracing::info!(topic = %p.topic, partition = p.index, segments = c.segments_rewritten, removed_segments = c.segments_removed, records_removed = c.records_removed, bytes_before = c.bytes_before, bytes_after = c.bytes_after, "compaction cleaned segments");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "compaction failed"),
            }
        }
    }

    /// Closes every log (indexes written, data fsynced) and leaves the clean-shutdown marker —
    /// unless a log failed to close, whose error is returned (the next start recovers them).
    /// Runs on a blocking thread, after any reconciliation under way.
    pub fn shutdown(&self) -> Result<(), fjord_log::LogError> {
        let _serial = self.reconcile_lock.blocking_lock();
        let mut failed = None;
        for p in self.all() {
            p.checkpoint_high_watermark();
            if let Err(e) = p.log().close() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "closing the log failed");
                failed.get_or_insert(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => self.logs.mark_clean_shutdown(),
        }
    }
}

/// Startup progress through opening (and, after a crash, recovering) the partition logs: a line
/// at the start, one at most every [`Progress::EVERY`], and one at the end.
struct Progress {
    started: std::time::Instant,
    last_report: std::time::Instant,
    total: usize,
    total_bytes: u64,
    done: usize,
    done_bytes: u64,
    recovering: bool,
}

impl Progress {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    fn new<V>(logs: &LogManager, wanted: &HashMap<(String, i32), V>) -> Self {
        let clean = logs.clean_start();
        let total_bytes = wanted.keys().map(|(name, index)| logs.partition_dir(name, *index).size_bytes()).sum();
        let now = std::time::Instant::now();
        if wanted.is_empty() {
            tracing::info!("no partition logs to open");
        } else if clean {
            tracing::info!(
                partitions = wanted.len(),
                bytes = total_bytes,
                "previous shutdown was clean; opening logs without recovery"
            );
        } else {
            tracing::warn!(
                partitions = wanted.len(),
                bytes = total_bytes,
                "previous shutdown was not clean; recovering logs"
            );
        }
        Self {
            started: now,
            last_report: now,
            total: wanted.len(),
            total_bytes,
            done: 0,
            done_bytes: 0,
            recovering: !clean,
        }
    }

    /// A partition of `bytes` is open; reports how far along this is when a report is due.
    fn opened(&mut self, bytes: u64) {
        self.done += 1;
        self.done_bytes += bytes;
        if self.last_report.elapsed() >= Self::EVERY {
            self.last_report = std::time::Instant::now();
            tracing::info!(
                partitions_done = self.done,
                partitions = self.total,
                bytes_done = self.done_bytes,
                bytes = self.total_bytes,
                "opening logs"
            );
        }
    }

    fn done(self) {
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        tracing::info!(
            partitions = self.total,
            bytes = self.total_bytes,
            recovered = self.recovering,
            elapsed_ms,
            "logs open"
        );
    }
}
