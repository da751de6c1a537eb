//! [`Partition`]: one hosted partition — its log, its role in replication and its fsync state.
//!
//! Replication follows Kafka. The leader appends client batches, stamped with its leader epoch,
//! and tracks each follower's log end offset from the fetch offsets of its Fetch requests; the
//! high watermark is the smallest log end offset in the ISR (the leader's included), only ever
//! moves up, and bounds what consumers can read. A follower appends what it fetched as it is,
//! takes the leader's high watermark (capped at its own log end), and before fetching in a new
//! leader epoch truncates its divergent tail found with OffsetForLeaderEpoch.
//!
//! Thread safety and lock order: `log` (the log, a `std::sync::Mutex`) before `replication`
//! (what is known of the ISR and the followers, another); both are held only for synchronous
//! in-memory work and page-cache reads and writes, never across an `.await`. `flush_lock` (async)
//! serialises fsyncs: it is taken before `log`, which it holds only to take a
//! [`fjord_log::FlushTarget`]; the fsync itself runs on a blocking thread with no lock held, so
//! one fsync covers every append that arrived while the previous one ran (group commit). Flush
//! progress is the log's own [`Flushed`], read without a lock. Waiters for the high watermark
//! watch [`Partition::progress`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use fjord_log::{AppendOutcome, Flushed, LogConfig, PartitionDir, PartitionLog, ReadOutcome};
use fjord_meta::PartitionInfo;
use tokio::sync::watch;
use uuid::Uuid;

use super::counters::TopicCounters;
use crate::BrokerError;

/// A partition this broker hosts a replica of (and serves clients for while it leads it).
#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub dir: PartitionDir,
    /// This broker's id.
    me: i32,
    /// The leader's broker id in the latest image (-1: none).
    leader: AtomicI32,
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
    /// The topic's `min.insync.replicas`.
    min_insync: AtomicUsize,
    /// The high watermark last written to `high-watermark`.
    checkpointed: AtomicI64,
    log: Mutex<PartitionLog>,
    replication: Mutex<Replication>,
    /// Bumped whenever the high watermark, the leadership or the ISR changes.
    progress: watch::Sender<u64>,
    flush_lock: tokio::sync::Mutex<()>,
    /// How far the log is durable (the log's own record, read without its lock).
    flushed: Flushed,
    /// The topic's traffic counters.
    pub counters: TopicCounters,
}

/// The replication state from the image, and what the leader knows of its followers.
#[derive(Debug, Default)]
struct Replication {
    replicas: Vec<i32>,
    isr: Vec<i32>,
    partition_epoch: i32,
    /// Leader side: each follower's progress.
    followers: HashMap<i32, Follower>,
    /// Leader side: an ISR change was proposed and has not shown up in an image yet.
    isr_change_pending: bool,
    /// Leader side: no ISR change is proposed before this time (after one was refused).
    isr_retry_at_ms: i64,
    /// Follower side: the log must be checked against the leader's before fetching.
    needs_truncation: bool,
}

/// What a leader knows of one follower, Kafka's way: its log end offset (the fetch offset of its
/// last fetch) and the last time it was caught up with the leader's log end.
#[derive(Debug, Clone, Copy)]
struct Follower {
    log_end_offset: i64,
    last_caught_up_ms: i64,
    /// The leader's log end at the follower's previous fetch, and when that was.
    previous_fetch: (i64, i64),
}

impl Follower {
    /// A follower not heard from yet, counted as caught up at `caught_up_ms`.
    fn new(caught_up_ms: i64) -> Self {
        Self { log_end_offset: -1, last_caught_up_ms: caught_up_ms, previous_fetch: (-1, 0) }
    }
}

/// A partition's offsets and size, as metrics report them.
#[derive(Debug, Clone, Copy)]
pub struct PartitionStats {
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub size_bytes: u64,
    pub segments: usize,
    pub isr: usize,
    pub replicas: usize,
}

/// How far a read may go: consumers stop at the high watermark (read_uncommitted) or the last
/// stable offset (read_committed), followers at the log end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadLimit {
    HighWatermark,
    LastStable,
    LogEnd,
}

/// A leader's proposed ISR change: (new ISR, leader epoch, partition epoch) it is based on.
pub type IsrChange = (Vec<i32>, i32, i32);

/// Where a follower stands, for its next fetch.
#[derive(Debug, Clone, Copy)]
pub struct FollowerPosition {
    pub leader: i32,
    pub leader_epoch: i32,
    pub needs_truncation: bool,
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    pub latest_epoch: i32,
}

impl Partition {
    pub(crate) fn new(
        topic: String,
        topic_id: Uuid,
        (index, me): (i32, i32),
        dir: PartitionDir,
        info: &PartitionInfo,
        log: PartitionLog,
    ) -> Self {
        let flushed = log.flushed();
        let stored = dir.read_high_watermark().unwrap_or(log.log_start_offset());
        let high_watermark = stored.clamp(log.log_start_offset(), log.log_end_offset());
        let counters = TopicCounters::new(&topic);
        let partition = Self {
            topic,
            topic_id,
            index,
            dir,
            me,
            leader: AtomicI32::new(-1),
            leader_epoch: AtomicI32::new(-1),
            high_watermark: AtomicI64::new(high_watermark),
            min_insync: AtomicUsize::new(1),
            checkpointed: AtomicI64::new(high_watermark),
            log: Mutex::new(log),
            replication: Mutex::new(Replication::default()),
            progress: watch::channel(0).0,
            flush_lock: tokio::sync::Mutex::new(()),
            flushed,
            counters,
        };
        partition.apply(info, crate::replica::now_ms());
        partition
    }

    /// The log, locked. A panic while the lock was held leaves the log as the panicking append
    /// left it, which recovery-grade validation already tolerates, so poisoning is ignored.
    pub(crate) fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn replication(&self) -> MutexGuard<'_, Replication> {
        self.replication.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// The leader's broker id (-1: none).
    pub fn leader(&self) -> i32 {
        self.leader.load(Ordering::Acquire)
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == self.me
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The in-sync replicas in the latest image.
    pub fn isr(&self) -> Vec<i32> {
        self.replication().isr.clone()
    }

    /// A receiver that changes with the high watermark, the leadership and the ISR.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.progress.subscribe()
    }

    fn bump(&self) {
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Takes the partition's state from the image: leadership, replicas, ISR. Becoming leader
    /// starts the new leader epoch in the log and forgets what was known of followers; becoming
    /// a follower (or following a new leader epoch) asks for a truncation check before the next
    /// fetch. Returns whether this broker's role changed (leader, follower of whom, epoch).
    /// An `info` older than what the partition already follows (a lower partition epoch: every
    /// change bumps it) is ignored.
    pub(crate) fn apply(&self, info: &PartitionInfo, now_ms: i64) -> bool {
        let mut log = self.log();
        if info.partition_epoch < self.replication().partition_epoch {
            return false;
        }
        let (old_leader, old_epoch) = (self.leader(), self.leader_epoch());
        let role_changed = old_leader != info.leader || old_epoch != info.leader_epoch;
        {
            let mut st = self.replication();
            if st.partition_epoch != info.partition_epoch || role_changed {
                st.isr_change_pending = false;
            }
            st.replicas = info.replicas.clone();
            st.isr = info.isr.clone();
            st.partition_epoch = info.partition_epoch;
            if role_changed {
                st.followers.clear();
                st.needs_truncation = info.leader >= 0 && info.leader != self.me;
                if info.leader == self.me {
                    for r in info.replicas.iter().filter(|r| **r != self.me) {
                        // As Kafka: ISR members get a full lag allowance from the takeover.
                        let caught_up = if info.isr.contains(r) { now_ms } else { 0 };
                        st.followers.insert(*r, Follower::new(caught_up));
                    }
                }
            }
            self.leader.store(info.leader, Ordering::Release);
            self.leader_epoch.store(info.leader_epoch, Ordering::Release);
        }
        if role_changed && info.leader == self.me {
            if let Err(e) = log.begin_epoch(info.leader_epoch) {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "recording the new leader epoch failed");
            }
            tracing::debug!(topic = %self.topic, partition = self.index, epoch = info.leader_epoch, "leading");
        }
        drop(log);
        self.advance_high_watermark();
        self.bump();
        role_changed
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

    /// Leader side: moves the high watermark up to the smallest log end offset in the ISR.
    fn advance_high_watermark(&self) -> bool {
        if !self.is_leader() {
            return false;
        }
        let leo = self.log().log_end_offset();
        let st = self.replication();
        let mut hw = leo;
        for r in st.isr.iter().filter(|r| **r != self.me) {
            hw = hw.min(st.followers.get(r).map_or(-1, |f| f.log_end_offset));
        }
        drop(st);
        let advanced = self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw;
        if advanced {
            self.bump();
        }
        advanced
    }

    /// Leader side: follower `replica` fetched from `fetch_offset`, so it holds everything below.
    /// Returns (whether it now qualifies to join the ISR — the ISR task then proposes it,
    /// whether the high watermark moved — consumers waiting on it should look again).
    pub fn follower_fetched(&self, replica: i32, fetch_offset: i64, now_ms: i64) -> Result<(bool, bool), BrokerError> {
        let (leo, epoch_start) = {
            let log = self.log();
            (log.log_end_offset(), log.epoch_start(self.leader_epoch()).unwrap_or(0))
        };
        let qualifies = {
            let mut st = self.replication();
            if !st.replicas.contains(&replica) {
                return Err(BrokerError::NotLeaderOrFollower);
            }
            let in_isr = st.isr.contains(&replica);
            let f = st.followers.entry(replica).or_insert(Follower::new(0));
            f.log_end_offset = fetch_offset.min(leo);
            if fetch_offset >= leo {
                f.last_caught_up_ms = now_ms;
            } else if fetch_offset >= f.previous_fetch.0 {
                f.last_caught_up_ms = f.last_caught_up_ms.max(f.previous_fetch.1);
            }
            f.previous_fetch = (leo, now_ms);
            !in_isr && fetch_offset >= self.high_watermark() && fetch_offset >= epoch_start
        };
        let advanced = self.advance_high_watermark();
        Ok((qualifies, advanced))
    }

    /// Leader side: the ISR this partition should have now — followers that have not caught up
    /// for `lag` leave, replicas that reached the high watermark in this leader epoch join if
    /// they are `live` (registered and not fenced) — when it differs from the current one and no
    /// change is in flight. Marks it in flight.
    pub fn isr_change(&self, now_ms: i64, lag: Duration, live: impl Fn(i32) -> bool) -> Option<IsrChange> {
        if !self.is_leader() {
            return None;
        }
        let (hw, epoch) = (self.high_watermark(), self.leader_epoch());
        let epoch_start = self.log().epoch_start(epoch).unwrap_or(0);
        let mut st = self.replication();
        if st.isr_change_pending || now_ms < st.isr_retry_at_ms {
            return None;
        }
        let lag_ms = lag.as_millis() as i64;
        let wanted: Vec<i32> = st
            .replicas
            .iter()
            .copied()
            .filter(|r| {
                if *r == self.me {
                    return true;
                }
                let Some(f) = st.followers.get(r) else { return st.isr.contains(r) };
                if st.isr.contains(r) {
                    now_ms - f.last_caught_up_ms <= lag_ms
                } else {
                    live(*r)
                        && f.log_end_offset >= hw
                        && f.log_end_offset >= epoch_start
                        && now_ms - f.last_caught_up_ms <= lag_ms
                }
            })
            .collect();
        let mut current = st.isr.clone();
        current.sort_unstable();
        let mut sorted = wanted.clone();
        sorted.sort_unstable();
        if sorted == current {
            return None;
        }
        st.isr_change_pending = true;
        Some((wanted, epoch, st.partition_epoch))
    }

    /// Leader side: the proposed ISR change was refused or failed; it may be proposed again
    /// after `backoff` (a follower that is fenced cannot join until it is live again).
    pub fn isr_change_failed(&self, now_ms: i64, backoff: Duration) {
        let mut st = self.replication();
        st.isr_change_pending = false;
        st.isr_retry_at_ms = now_ms + backoff.as_millis() as i64;
    }

    pub(crate) fn set_min_insync(&self, min: usize) {
        self.min_insync.store(min.max(1), Ordering::Release);
    }

    /// The topic's `min.insync.replicas`.
    pub fn min_insync(&self) -> usize {
        self.min_insync.load(Ordering::Acquire)
    }

    /// Leader side: refuses an acks=all write the ISR is too small for (`min.insync.replicas`).
    pub fn check_min_isr(&self) -> Result<(), BrokerError> {
        let min = self.min_insync();
        let isr = self.replication().isr.len();
        if isr < min { Err(BrokerError::NotEnoughReplicas { isr, min }) } else { Ok(()) }
    }

    /// Leader side: waits until the high watermark passes `upto` (acks=all), for at most
    /// `timeout`. Fails when leadership moves away meanwhile, or when the ISR that confirmed the
    /// write is smaller than `min` (Kafka's NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    pub async fn wait_replicated(&self, upto: i64, timeout: Duration) -> Result<(), BrokerError> {
        self.wait_replicated_in(upto, self.leader_epoch(), timeout).await
    }

    /// [`Partition::wait_replicated`] for records appended in leader epoch `epoch`: a high
    /// watermark of a later epoch says nothing of them.
    async fn wait_replicated_in(&self, upto: i64, epoch: i32, timeout: Duration) -> Result<(), BrokerError> {
        let min = self.min_insync();
        let mut progress = self.progress();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            progress.borrow_and_update();
            if !self.is_leader() || self.leader_epoch() != epoch {
                return Err(BrokerError::NotLeaderOrFollower);
            }
            if self.high_watermark() >= upto {
                let isr = self.replication().isr.len();
                return if isr < min { Err(BrokerError::NotEnoughReplicasAfterAppend { isr, min }) } else { Ok(()) };
            }
            tokio::select! {
                changed = progress.changed() => if changed.is_err() { return Err(BrokerError::NotLeaderOrFollower) },
                _ = tokio::time::sleep_until(deadline) => return Err(BrokerError::ReplicationTimedOut(timeout.as_millis() as i64)),
            }
        }
    }

    /// Follower side: where this replica stands, when it follows a live leader.
    pub fn follower_position(&self) -> Option<FollowerPosition> {
        let leader = self.leader();
        if leader < 0 || leader == self.me {
            return None;
        }
        let log = self.log();
        let needs_truncation = self.replication().needs_truncation;
        Some(FollowerPosition {
            leader,
            leader_epoch: self.leader_epoch(),
            needs_truncation,
            log_end_offset: log.log_end_offset(),
            log_start_offset: log.log_start_offset(),
            latest_epoch: log.latest_epoch(),
        })
    }

    /// Follower side: the leader answered OffsetForLeaderEpoch for our latest epoch with
    /// (`epoch`, `end_offset`): truncates to where the two logs stop agreeing (KIP-279: the
    /// smaller of the leader's end of that epoch and our own). `epoch` -1 means the leader knows
    /// no epoch as old as ours: the log is truncated to the high watermark.
    pub fn truncate_for_epoch(&self, leader_epoch: i32, epoch: i32, end_offset: i64) -> Result<(), BrokerError> {
        // Under the log's lock, which a change of leadership also takes.
        let mut log = self.log();
        if self.leader_epoch() != leader_epoch || self.is_leader() {
            return Ok(());
        }
        let target = if epoch < 0 || end_offset < 0 {
            self.high_watermark()
        } else {
            let own = log.end_offset_for_epoch(epoch).map_or(log.log_end_offset(), |(_, end)| end);
            end_offset.min(own)
        };
        if log.truncate_to(target)? {
            tracing::warn!(topic = %self.topic, partition = self.index, offset = target, epoch, "truncated a divergent tail to follow the leader");
        }
        let leo = log.log_end_offset();
        drop(log);
        self.high_watermark.fetch_min(leo, Ordering::AcqRel);
        self.replication().needs_truncation = false;
        Ok(())
    }

    /// Follower side: the leader's log starts past our end: start ours afresh at its start —
    /// unless the leadership moved on from `leader_epoch` meanwhile.
    pub fn restart_at(&self, leader_epoch: i32, offset: i64) -> Result<(), BrokerError> {
        let mut log = self.log();
        if self.leader_epoch() != leader_epoch || self.is_leader() {
            return Ok(());
        }
        log.restart_at(offset)?;
        drop(log);
        self.high_watermark.store(offset, Ordering::Release);
        self.replication().needs_truncation = false;
        Ok(())
    }

    /// Follower side: our log must be checked against the leader's again.
    pub fn request_truncation(&self) {
        self.replication().needs_truncation = true;
    }

    /// Follower side: appends fetched batches as they are and takes the leader's high
    /// watermark, capped at our log end — unless the leadership moved on from `leader_epoch`
    /// meanwhile (checked under the log's lock). Returns the new log end offset.
    pub fn append_replicated(
        &self,
        records: &[u8],
        (leader_epoch, leader_hw): (i32, i64),
        now_ms: i64,
    ) -> Result<i64, BrokerError> {
        let mut log = self.log();
        if self.leader_epoch() != leader_epoch || self.is_leader() {
            return Ok(log.log_end_offset());
        }
        let leo = if records.is_empty() { log.log_end_offset() } else { log.append_replicated(records, now_ms)? };
        drop(log);
        let hw = leader_hw.min(leo);
        if self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw {
            self.bump();
        }
        Ok(leo)
    }

    /// Writes the high watermark to `high-watermark` when it moved since the last time, so a
    /// restarted replica starts from it rather than from its log start.
    pub fn checkpoint_high_watermark(&self) {
        let hw = self.high_watermark();
        if self.checkpointed.swap(hw, Ordering::AcqRel) == hw {
            return;
        }
        if let Err(e) = self.dir.write_high_watermark(hw) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "writing the high watermark checkpoint failed");
        }
    }

    /// Appends the batches of one produce partition.
    /// Refused unless this broker leads the partition: a follower's log takes only what its
    /// leader sent (a group coordinator that just lost its partition must not write there).
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendOutcome, BrokerError> {
        self.append_in_epoch(records, now_ms, None).map(|(outcome, _)| outcome)
    }

    /// [`Partition::append`], only while this broker leads in `epoch` (when given); returns the
    /// leader epoch the batches were stamped with.
    pub fn append_in_epoch(
        &self,
        records: &[u8],
        now_ms: i64,
        epoch: Option<i32>,
    ) -> Result<(AppendOutcome, i32), BrokerError> {
        self.leader_append(epoch, |log, current| log.append(records, current, now_ms))
    }

    /// A coordinator's append in leader epoch `epoch` only: of its own records, or of a batch it
    /// writes on a producer's behalf (the producer epoch is checked, not the sequence).
    pub fn append_as_coordinator(&self, records: &[u8], now_ms: i64, epoch: i32) -> Result<AppendOutcome, BrokerError> {
        self.leader_append(Some(epoch), |log, current| log.append_as_coordinator(records, current, now_ms))
            .map(|(outcome, _)| outcome)
    }

    /// Runs `append` on the log while this broker leads (in `epoch`, when given) — under the log's
    /// lock, which a change of leadership also takes, so no append of an old leadership lands
    /// after the new one began — then moves the high watermark.
    fn leader_append(
        &self,
        epoch: Option<i32>,
        append: impl FnOnce(&mut PartitionLog, i32) -> fjord_log::Result<AppendOutcome>,
    ) -> Result<(AppendOutcome, i32), BrokerError> {
        let mut log = self.log();
        let current = self.leader_epoch();
        if !self.is_leader() || epoch.is_some_and(|e| e != current) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let outcome = append(&mut log, current)?;
        drop(log);
        self.advance_high_watermark();
        Ok((outcome, current))
    }

    /// Leader side: the acks=all sequence for records appended up to `upto` (exclusive) — the
    /// fsync that covers them when `fsync` (`log.flush.interval.messages=1`), then every in-sync
    /// replica holding them, within `timeout`. Produce and the coordinators' writes both end here.
    /// `epoch` is the leader epoch the records were appended in.
    pub async fn commit(&self, upto: i64, epoch: i32, fsync: bool, timeout: Duration) -> Result<(), BrokerError> {
        if fsync {
            self.sync_to(upto).await?;
        }
        self.wait_replicated_in(upto, epoch, timeout).await
    }

    /// Makes everything appended up to `offset` (exclusive) durable. Appends that arrive while an
    /// fsync runs wait for the lock and then usually find themselves covered by the next one.
    pub async fn sync_to(&self, offset: i64) -> Result<(), BrokerError> {
        self.check_durable()?;
        if self.flushed.get() >= offset {
            return Ok(());
        }
        let _serial = self.flush_lock.lock().await;
        // An fsync that failed while this one waited may have dropped this append's pages; a
        // second fsync would report success all the same.
        self.check_durable()?;
        if self.flushed.get() >= offset {
            return Ok(());
        }
        let target = self.log().flush_target();
        let synced = tokio::task::spawn_blocking(move || target.sync()).await;
        match synced {
            // A truncation while the fsync ran took these records (the log follows another
            // leader now): the fsync covered something else.
            Ok(Ok(())) if self.flushed.get() < offset => Err(BrokerError::NotLeaderOrFollower),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // An fsync failure may have dropped dirty pages: nothing later may claim durability.
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "fsync failed; the log refuses further writes");
                self.log().poison();
                Err(fjord_log::LogError::Io { context: format!("fsync {}", self.dir.path().display()), source: e }
                    .into())
            }
            Err(e) => Err(BrokerError::Internal(format!("fsync task failed: {e}"))),
        }
    }

    fn check_durable(&self) -> Result<(), BrokerError> {
        if self.log().is_poisoned() {
            return Err(fjord_log::LogError::Poisoned.into());
        }
        Ok(())
    }

    /// Reads whole batches from `offset`, up to the high watermark or the log end.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        limit: ReadLimit,
    ) -> Result<ReadOutcome, BrokerError> {
        let mut log = self.log();
        let bound = match limit {
            ReadLimit::HighWatermark => self.high_watermark(),
            ReadLimit::LastStable => log.last_stable_offset(self.high_watermark()),
            ReadLimit::LogEnd => log.log_end_offset(),
        };
        Ok(log.read(offset, max_bytes, bound, min_one)?)
    }

    /// The last stable offset: read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        self.log().last_stable_offset(hw)
    }

    /// The aborted transactions overlapping `[from, to)`, as (producer id, first offset), for a
    /// read_committed fetch.
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        self.log().aborted_transactions(from, to)
    }

    /// The producers that wrote to this replica (DescribeProducers).
    pub fn producers(&self) -> Vec<fjord_log::producer::ProducerInfo> {
        self.log().producers()
    }

    /// Leader side: appends the marker that ends producer `producer`'s transaction (epoch
    /// `producer.1`), written by the coordinator of `coordinator_epoch`. Returns where the
    /// marker ends (for acks=all) and the leader epoch it was written in.
    pub fn append_marker(
        &self,
        producer: (i64, i16),
        marker: (fjord_log::txn::Marker, i32),
        now_ms: i64,
        epoch: Option<i32>,
    ) -> Result<(i64, i32), BrokerError> {
        let (outcome, epoch) =
            self.leader_append(epoch, |log, current| log.append_marker(producer, marker, current, now_ms))?;
        Ok((outcome.last_offset + 1, epoch))
    }

    /// (log start offset, high watermark).
    pub fn offsets(&self) -> (i64, i64) {
        let start = self.log().log_start_offset();
        (start, self.high_watermark().max(start))
    }

    /// Follower side: whether the leader's log start `leader_start` is past ours and within our
    /// log, so that ours should move up to it.
    pub fn log_start_behind(&self, leader_start: i64) -> bool {
        let log = self.log();
        leader_start > log.log_start_offset() && leader_start <= log.log_end_offset()
    }

    /// The log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.log().log_end_offset()
    }

    pub fn stats(&self) -> PartitionStats {
        let (isr, replicas) = {
            let st = self.replication();
            (st.isr.len(), st.replicas.len())
        };
        let high_watermark = self.high_watermark();
        let mut log = self.log();
        PartitionStats {
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
            high_watermark,
            last_stable_offset: log.last_stable_offset(high_watermark),
            size_bytes: log.size_bytes(),
            segments: log.segment_count(),
            isr,
            replicas,
        }
    }

    pub(crate) fn set_config(&self, config: LogConfig) {
        let mut log = self.log();
        if log.config() != &config {
            log.set_config(config);
        }
    }
}

#[cfg(test)]
mod tests {
    use fjord_log::testing::simple;

    use super::*;

    fn info(leader: i32, leader_epoch: i32, isr: &[i32]) -> PartitionInfo {
        PartitionInfo { index: 0, leader, leader_epoch, replicas: vec![1, 2, 3], isr: isr.to_vec(), partition_epoch: 0 }
    }

    fn partition(dir: &std::path::Path, me: i32, info: &PartitionInfo) -> Partition {
        let logs = fjord_log::LogManager::open(dir).unwrap();
        let (log, dir) = logs.open_log(("t", 0, Uuid::nil()), LogConfig::default(), None).unwrap();
        Partition::new("t".into(), Uuid::nil(), (0, me), dir, info, log)
    }

    #[test]
    fn the_high_watermark_is_the_smallest_log_end_in_the_isr() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path(), 1, &info(1, 0, &[1, 2, 3]));
        p.append(&simple(1_000, 3), 0).unwrap();
        p.append(&simple(1_000, 2), 0).unwrap();
        assert_eq!(p.high_watermark(), 0, "no follower has fetched yet");
        assert_eq!(p.follower_fetched(2, 5, 10).unwrap(), (false, false));
        assert_eq!(p.follower_fetched(3, 3, 10).unwrap(), (false, true));
        assert_eq!(p.high_watermark(), 3);
        assert_eq!(p.read(3, 1 << 20, true, ReadLimit::HighWatermark).unwrap().records.len(), 0, "3 is not committed");
        assert!(!p.read(3, 1 << 20, true, ReadLimit::LogEnd).unwrap().records.is_empty(), "followers read it");
        p.follower_fetched(3, 5, 11).unwrap();
        assert_eq!(p.high_watermark(), 5);
        assert!(!p.read(3, 1 << 20, true, ReadLimit::HighWatermark).unwrap().records.is_empty());
        assert!(p.follower_fetched(4, 5, 12).is_err(), "not a replica");
    }

    #[test]
    fn lagging_followers_leave_the_isr_and_caught_up_ones_join() {
        let dir = tempfile::tempdir().unwrap();
        // Times from the clock the partition took over with, as the ISR members' allowance starts then.
        let t = crate::replica::now_ms() + 1_000;
        let p = partition(dir.path(), 1, &info(1, 0, &[1, 2, 3]));
        let lag = Duration::from_millis(2_000);
        p.append(&simple(1_000, 5), 0).unwrap();
        p.follower_fetched(2, 5, t).unwrap();
        p.follower_fetched(3, 2, t).unwrap();
        assert_eq!(p.isr_change(t, lag, |_| true), None, "both within the allowance");
        p.follower_fetched(2, 5, t + 2_500).unwrap();
        p.follower_fetched(3, 2, t + 2_500).unwrap();
        assert_eq!(p.isr_change(t + 2_600, lag, |_| true), Some((vec![1, 2], 0, 0)), "3 never caught up");
        assert_eq!(p.isr_change(t + 2_600, lag, |_| true), None, "one change in flight at a time");
        p.isr_change_failed(t + 2_600, Duration::from_millis(500));
        assert_eq!(p.isr_change(t + 2_700, lag, |_| true), None, "backing off after a refusal");
        let t = t + 3_000;
        p.apply(&PartitionInfo { partition_epoch: 1, ..info(1, 0, &[1, 2]) }, t);
        assert!(p.check_min_isr().is_ok());
        p.set_min_insync(3);
        assert!(matches!(p.check_min_isr(), Err(BrokerError::NotEnoughReplicas { isr: 2, min: 3 })));
        p.follower_fetched(2, 5, t).unwrap();
        let (qualifies, _) = p.follower_fetched(3, 5, t).unwrap();
        assert!(qualifies, "caught up to the high watermark in this epoch");
        assert_eq!(p.isr_change(t + 200, lag, |r| r != 3), None, "not while it is fenced");
        assert_eq!(p.isr_change(t + 200, lag, |_| true), Some((vec![1, 2, 3], 0, 1)));
    }

    #[tokio::test]
    async fn acks_all_waits_for_the_isr_and_fails_when_leadership_moves() {
        let dir = tempfile::tempdir().unwrap();
        let p = std::sync::Arc::new(partition(dir.path(), 1, &info(1, 0, &[1, 2])));
        let end = p.append(&simple(1_000, 3), 0).unwrap().last_offset + 1;
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.wait_replicated(end, Duration::from_secs(30)).await }
        });
        p.follower_fetched(2, end, 1).unwrap();
        waiting.await.unwrap().unwrap();
        let timed_out = p.wait_replicated(end + 1, Duration::from_millis(10)).await;
        assert!(matches!(timed_out, Err(BrokerError::ReplicationTimedOut(10))));
        let end = p.append(&simple(1_000, 1), 0).unwrap().last_offset + 1;
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.wait_replicated(end, Duration::from_secs(30)).await }
        });
        p.apply(&info(2, 1, &[2]), 2);
        assert!(matches!(waiting.await.unwrap(), Err(BrokerError::NotLeaderOrFollower)));
        assert!(p.follower_position().unwrap().needs_truncation, "a new leader: check the log first");
    }
}
