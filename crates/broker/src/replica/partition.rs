//! [`Partition`]: one hosted partition — its log, its leader epoch and its fsync state.
//!
//! Thread safety: the log sits behind a `std::sync::Mutex` that is held only for synchronous
//! appends and reads, never across an `.await`. Fsyncs run outside that lock on a blocking thread,
//! serialised by an async mutex so that one fsync covers every append that arrived while the
//! previous one ran (group commit).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use fjord_log::{AppendOutcome, LogConfig, PartitionLog, ReadOutcome};
use uuid::Uuid;

use crate::BrokerError;
use crate::telemetry::TopicCounters;

/// A partition this broker hosts a replica of (and serves clients for while it leads it).
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub dir: PathBuf,
    /// The leader's broker id in the latest image (-1: none).
    leader: AtomicI32,
    leader_epoch: AtomicI32,
    log: Mutex<PartitionLog>,
    flush_lock: tokio::sync::Mutex<()>,
    flushed_upto: AtomicI64,
    /// The topic's traffic counters.
    pub counters: TopicCounters,
}

/// A partition's offsets and size, as metrics report them.
#[derive(Debug, Clone, Copy)]
pub struct PartitionStats {
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
    pub segments: usize,
}

impl Partition {
    pub(crate) fn new(
        topic: String,
        topic_id: Uuid,
        index: i32,
        dir: PathBuf,
        (leader, leader_epoch): (i32, i32),
        log: PartitionLog,
    ) -> Self {
        let flushed = log.log_end_offset();
        let counters = TopicCounters::new(&topic);
        Self {
            topic,
            topic_id,
            index,
            dir,
            leader: AtomicI32::new(leader),
            leader_epoch: AtomicI32::new(leader_epoch),
            log: Mutex::new(log),
            flush_lock: tokio::sync::Mutex::new(()),
            flushed_upto: AtomicI64::new(flushed),
            counters,
        }
    }

    /// The log, locked. A panic while the lock was held leaves the log as the panicking append
    /// left it, which recovery-grade validation already tolerates, so poisoning is ignored.
    pub(crate) fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// The leader's broker id (-1: none).
    pub fn leader(&self) -> i32 {
        self.leader.load(Ordering::Acquire)
    }

    pub(crate) fn set_leadership(&self, leader: i32, epoch: i32) {
        self.leader.store(leader, Ordering::Release);
        self.leader_epoch.store(epoch, Ordering::Release);
    }

    /// Checks a client's view of the leader epoch (-1: the client does not know it).
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), BrokerError> {
        let current = self.leader_epoch();
        if requested < 0 || requested == current {
            Ok(())
        } else if requested > current {
            Err(BrokerError::UnknownLeaderEpoch { requested, current })
        } else {
            Err(BrokerError::FencedLeaderEpoch { requested, current })
        }
    }

    /// Appends the batches of one produce partition.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendOutcome, BrokerError> {
        let epoch = self.leader_epoch();
        Ok(self.log().append(records, epoch, now_ms)?)
    }

    /// Makes everything appended up to `offset` (exclusive) durable. Appends that arrive while an
    /// fsync runs wait for the lock and then usually find themselves covered by the next one.
    pub async fn sync_to(&self, offset: i64) -> Result<(), BrokerError> {
        self.check_durable()?;
        if self.flushed_upto.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let _serial = self.flush_lock.lock().await;
        // An fsync that failed while this one waited may have dropped this append's pages; a
        // second fsync would report success all the same.
        self.check_durable()?;
        if self.flushed_upto.load(Ordering::Acquire) >= offset {
            return Ok(());
        }
        let target = self.log().flush_target();
        let upto = target.upto;
        let synced = tokio::task::spawn_blocking(move || target.sync()).await;
        match synced {
            Ok(Ok(())) => {
                self.log().mark_flushed(upto);
                self.flushed_upto.fetch_max(upto, Ordering::AcqRel);
                Ok(())
            }
            Ok(Err(e)) => {
                // An fsync failure may have dropped dirty pages: nothing later may claim durability.
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "fsync failed; the log refuses further writes");
                self.log().poison();
                Err(BrokerError::Storage(format!("fsync failed: {e}")))
            }
            Err(e) => Err(BrokerError::Storage(format!("fsync task failed: {e}"))),
        }
    }

    fn check_durable(&self) -> Result<(), BrokerError> {
        if self.log().is_poisoned() {
            return Err(fjord_log::LogError::Poisoned.into());
        }
        Ok(())
    }

    /// Reads whole batches from `offset`, below the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadOutcome, BrokerError> {
        let log = self.log();
        let hw = log.log_end_offset();
        Ok(log.read(offset, max_bytes, hw, min_one)?)
    }

    /// (log start offset, high watermark). With one replica the high watermark is the log end.
    pub fn offsets(&self) -> (i64, i64) {
        let log = self.log();
        (log.log_start_offset(), log.log_end_offset())
    }

    pub fn stats(&self) -> PartitionStats {
        let log = self.log();
        PartitionStats {
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
            high_watermark: log.log_end_offset(),
            size_bytes: log.size_bytes(),
            segments: log.segment_count(),
        }
    }

    pub(crate) fn set_config(&self, config: LogConfig) {
        let mut log = self.log();
        if log.config() != &config {
            log.set_config(config);
        }
    }
}
