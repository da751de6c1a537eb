//! [`PartitionLog`]: the segments of one partition, oldest first, the last one active.
//!
//! On disk a partition is a directory of segments (see [`crate::segment`]) plus
//! `producer.snapshot` after a clean close. Its log start offset may sit inside the first
//! segment (DeleteRecords); the caller persists it and hands it back on open.
//!
//! Durability: appends are written to the page cache; [`PartitionLog::flush_target`] hands out
//! what an fsync needs so it can run without the log's lock (group commit), and a failed fsync
//! [`poisons`](PartitionLog::poison) the log. A rolled segment is fsynced with its indexes
//! before its successor exists, so recovery only ever needs to check the active segment.
//!
//! Compaction ([`PartitionLog::compact`], in [`crate::cleaner`]) rewrites segments other than the
//! active one in place of their files; a `<base>.log.cleaned` file found at open is what a crash
//! mid-rewrite left, and is deleted.
//!
//! Thread safety: `&mut self` for every change; callers wrap the log in a mutex.

use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::cleaner::{self, Checkpoint, CompactionOutcome};
use crate::epochs::LeaderEpochs;
use crate::producer::{ProducerStates, Verdict};
use crate::segment::{self, Segment};
use crate::txn::Transactions;
use crate::{LogConfig, LogError, Result, TimestampType};

/// How to open a log.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    /// The log was closed cleanly: indexes and producer snapshot on disk can be trusted.
    pub clean_shutdown: bool,
    /// The log start offset persisted by the caller, if any.
    pub log_start_offset: Option<i64>,
}

/// Where an append went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on LogAppendTime topics; -1 for CreateTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch was a producer's retry of one already stored; nothing new was written.
    pub duplicate: bool,
    pub record_count: i64,
    pub bytes: usize,
}

/// What a read returned: whole batches, and the offsets bounding the log at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub log_start_offset: i64,
}

/// Who wrote a batch being appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A producer, through Produce: sequences are checked.
    Client,
    /// A coordinator, on a producer's behalf: only the producer epoch is checked.
    Coordinator,
}

/// What one fsync needs, taken under the log's lock and run outside it.
#[derive(Debug)]
pub struct FlushTarget {
    /// Everything below this offset is durable once [`FlushTarget::sync`] returns.
    pub upto: i64,
    file: Option<File>,
    progress: Flushed,
    /// The progress's generation when the target was taken.
    generation: u64,
}

impl FlushTarget {
    /// Runs the fsync; on success the log's [`Flushed`] offset moves up to [`FlushTarget::upto`]
    /// (unless the log was truncated meanwhile: what was fsynced is then partly gone).
    pub fn sync(&self) -> std::io::Result<()> {
        if let Some(f) = &self.file {
            crate::observe::fsync(|| f.sync_data())?;
        }
        self.progress.advance(self.generation, self.upto);
        Ok(())
    }
}

/// How far a log is durable: the one record of flush progress, kept by the log and readable
/// without its lock (group commit checks it before queueing for an fsync).
///
/// Thread safety: reads are one atomic load; the two writers (a finished fsync, a truncation)
/// serialise on a small mutex that is never held across I/O, so an fsync that finishes after a
/// truncation cannot claim offsets the truncation removed.
#[derive(Debug, Clone)]
pub struct Flushed(std::sync::Arc<FlushedInner>);

#[derive(Debug)]
struct FlushedInner {
    upto: std::sync::atomic::AtomicI64,
    /// Bumped by every truncation.
    generation: std::sync::Mutex<u64>,
}

impl Flushed {
    fn new(upto: i64) -> Self {
        Self(std::sync::Arc::new(FlushedInner {
            upto: std::sync::atomic::AtomicI64::new(upto),
            generation: std::sync::Mutex::new(0),
        }))
    }

    /// Everything below this offset is durable.
    pub fn get(&self) -> i64 {
        self.0.upto.load(std::sync::atomic::Ordering::Acquire)
    }

    fn generation(&self) -> u64 {
        *self.0.generation.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn advance(&self, generation: u64, upto: i64) {
        let current = self.0.generation.lock().unwrap_or_else(|p| p.into_inner());
        if *current == generation {
            self.0.upto.fetch_max(upto, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// The log now ends at `end`: nothing past it is durable, and fsyncs under way do not count.
    fn truncated(&self, end: i64) {
        let mut current = self.0.generation.lock().unwrap_or_else(|p| p.into_inner());
        *current += 1;
        self.0.upto.fetch_min(end, std::sync::atomic::Ordering::AcqRel);
    }

    /// Everything up to `end` was made durable by the log itself (a clean close).
    fn covered(&self, end: i64) {
        let _writers = self.0.generation.lock().unwrap_or_else(|p| p.into_inner());
        self.0.upto.fetch_max(end, std::sync::atomic::Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Never empty; the last is the active segment.
    segments: Vec<Segment>,
    log_start_offset: i64,
    producers: ProducerStates,
    /// Where each leader epoch starts (KIP-101).
    epochs: LeaderEpochs,
    /// Open and aborted transactions (see [`crate::txn`]).
    txns: Transactions,
    flushed: Flushed,
    /// Wall-clock time of the first append to the active segment since it was created or opened
    /// (Kafka's segment creation time): the age `segment.ms` measures in the background.
    active_since_ms: Option<i64>,
    poisoned: bool,
    /// The partition is being deleted: nothing may write to its directory any more.
    retired: bool,
    /// Where the last compaction pass left the log, to skip passes that would do nothing.
    cleaned: Option<Checkpoint>,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. After an unclean shutdown the active segment is
    /// recovered — torn tail cut, indexes rebuilt — and the producer state rebuilt from the log.
    /// A compaction's `.cleaned` file left by a crash is deleted: the segment it was to replace
    /// is still whole.
    pub fn open(dir: &Path, config: LogConfig, opts: OpenOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(LogError::io(format!("create {}", dir.display())))?;
        let mut bases = Vec::new();
        let mut leftovers = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(LogError::io(format!("list {}", dir.display())))? {
            let entry = entry.map_err(LogError::io(format!("list {}", dir.display())))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(base) = crate::layout::parse_segment_log_name(name) {
                bases.push(base);
            } else if crate::layout::is_cleaned_leftover(name) {
                leftovers.push(entry.path());
            }
        }
        for path in leftovers {
            tracing::warn!(file = %path.display(), "deleting what an interrupted compaction left");
            segment::remove_if_exists(&path)?;
        }
        bases.sort_unstable();
        let interval = config.index_interval_bytes as u64;
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let active = i + 1 == bases.len();
            let (segment, cut) = Segment::open(dir, base, interval, active && !opts.clean_shutdown)?;
            if cut > 0 {
                tracing::warn!(dir = %dir.display(), segment = base, bytes = cut, "truncated a torn or corrupt tail");
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, opts.log_start_offset.unwrap_or(0).max(0))?);
        }
        let first_base = segments[0].base_offset();
        let mut log_start_offset = opts.log_start_offset.unwrap_or(first_base).max(first_base);
        let end = segments.last().map_or(0, Segment::next_offset);
        if log_start_offset > end {
            // The start offset was persisted after records that a crash then took with it: as
            // Kafka does, start the log afresh at the start offset.
            tracing::warn!(dir = %dir.display(), log_start_offset, log_end_offset = end, "log ends before its start offset; starting it at the start offset");
            for s in segments.drain(..) {
                s.delete()?;
            }
            segments.push(Segment::create(dir, log_start_offset)?);
            ProducerStates::discard_snapshot(dir);
        }
        log_start_offset = log_start_offset.max(segments[0].base_offset());
        let snapshot = opts.clean_shutdown.then(|| ProducerStates::load(dir)).flatten();
        let checkpoint = opts.clean_shutdown.then(|| LeaderEpochs::load(dir)).flatten();
        let indexes = opts.clean_shutdown.then(|| txns::load_indexes(&segments)).flatten();
        let (rebuilt, (producers, mut epochs, txns)) = match (snapshot, checkpoint, indexes) {
            (Some((states, mut txns)), Some(epochs), Some(aborted)) => {
                txns.restore_aborted(aborted);
                (false, (states, epochs, txns))
            }
            _ => (true, scan_headers(&segments)?),
        };
        ProducerStates::discard_snapshot(dir);
        let end = segments.last().map_or(0, Segment::next_offset);
        epochs.truncate_from_end(end);
        epochs.truncate_from_start(log_start_offset);
        let mut log = Self {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            producers,
            epochs,
            txns,
            flushed: Flushed::new(0),
            active_since_ms: None,
            poisoned: false,
            retired: false,
            cleaned: None,
        };
        log.flushed = Flushed::new(log.log_end_offset());
        log.txns.trim_below(log.log_start_offset);
        if rebuilt {
            log.write_txn_indexes()?;
        }
        Ok(log)
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.last_mut().expect("a log always has an active segment")
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies new settings; they govern the next append, roll, retention and compaction pass.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
        self.cleaned = None;
    }

    /// Appends a produce request's record set for this partition — exactly one batch, as Kafka
    /// requires since Produce v3: validates it (framing, magic, CRC, size, producer sequence),
    /// assigns offsets and the leader epoch in place, and writes the bytes as they are.
    ///
    /// On a compacted topic every record must have a key (`InvalidRecord` otherwise, as Kafka).
    /// Only uncompressed batches can be checked: the log has no codecs, so a compressed batch is
    /// accepted unopened, keyless records and all (the cleaner then keeps them).
    ///
    /// A client may not write control records (`InvalidRecord`), nor a non-transactional batch
    /// while its transaction is open here (`InvalidTxnState`).
    pub fn append(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendOutcome> {
        self.append_from(records, leader_epoch, now_ms, Origin::Client)
    }

    /// [`PartitionLog::append`] of a batch a coordinator wrote on a producer's behalf (a
    /// transactional offset commit): its producer epoch is checked, its sequence is not.
    pub fn append_as_coordinator(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendOutcome> {
        self.append_from(records, leader_epoch, now_ms, Origin::Coordinator)
    }

    fn append_from(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64, origin: Origin) -> Result<AppendOutcome> {
        self.check_writable()?;
        let batches = batch::split(records)?;
        let [(_, h)] = batches[..] else {
            return Err(LogError::InvalidRecord(format!(
                "a produce request must carry exactly one record batch per partition, not {}",
                batches.len()
            )));
        };
        if h.size() > self.config.max_message_bytes {
            return Err(LogError::MessageTooLarge { size: h.size(), max: self.config.max_message_bytes });
        }
        if self.config.compact {
            cleaner::require_keys(records, &h)?;
        }
        if h.is_control() {
            return Err(LogError::InvalidRecord("control records are written by transaction coordinators only".into()));
        }
        if h.has_producer_id() && !h.is_transactional() && self.txns.is_open(h.producer_id) {
            return Err(LogError::InvalidTxnState(format!(
                "producer {} wrote a non-transactional batch while its transaction is open",
                h.producer_id
            )));
        }
        let verdict = match origin {
            Origin::Client => self.producers.check(&[h])?,
            Origin::Coordinator => match self.producers.epoch_of(h.producer_id) {
                Some(current) if h.producer_epoch < current => {
                    return Err(LogError::InvalidProducerEpoch {
                        producer_id: h.producer_id,
                        current,
                        got: h.producer_epoch,
                    });
                }
                _ => Verdict::Append,
            },
        };
        if let Verdict::Duplicate(meta) = verdict {
            return Ok(AppendOutcome {
                base_offset: meta.first_offset,
                last_offset: meta.last_offset,
                log_append_time: if self.config.timestamp_type == TimestampType::LogAppendTime {
                    meta.timestamp
                } else {
                    -1
                },
                log_start_offset: self.log_start_offset,
                duplicate: true,
                record_count: 0,
                bytes: 0,
            });
        }
        let append_time = (self.config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let base_offset = self.log_end_offset();
        // The records stay in the caller's buffer: only a copy of the header is stamped.
        let (head, body) = records.split_at(HEADER_LEN);
        let mut header: [u8; HEADER_LEN] = head.try_into().expect("a validated batch has a whole header");
        batch::stamp_header(&mut header, body, base_offset, leader_epoch, append_time);
        let h = BatchHeader::parse(&header).expect("a stamped header parses");
        let last_offset = h.last_offset();
        if self.should_roll(records.len() as u64, last_offset, h.max_timestamp, now_ms) {
            self.roll()?;
        }
        let interval = self.config.index_interval_bytes as u64;
        self.active_mut().append_batch(&header, body, &h, interval)?;
        self.active_since_ms.get_or_insert(now_ms);
        match origin {
            Origin::Client => self.producers.record(&h),
            Origin::Coordinator if h.has_producer_id() => self.producers.fence(h.producer_id, h.producer_epoch),
            Origin::Coordinator => {}
        }
        self.txns.data(&h);
        self.note_epoch(leader_epoch, base_offset)?;
        Ok(AppendOutcome {
            base_offset,
            last_offset,
            log_append_time: append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count: i64::from(h.record_count),
            bytes: records.len(),
        })
    }

    /// Kafka's rule: roll when the batch would overflow `segment.bytes` or the relative offset
    /// range, or when its timestamp is `segment.ms` past the segment's first batch (the segment's
    /// age by the clock when the batches carry no timestamps).
    fn should_roll(&self, incoming: u64, last_offset: i64, max_timestamp: i64, now_ms: i64) -> bool {
        let active = self.active();
        if active.is_empty() {
            return false;
        }
        let waited = match active.first_timestamp() {
            Some(first) if first >= 0 && max_timestamp >= 0 => max_timestamp.saturating_sub(first),
            _ => self.active_since_ms.map_or(0, |since| now_ms - since),
        };
        active.size() + incoming > self.config.segment_bytes
            || !active.can_hold(last_offset)
            || waited >= self.config.segment_ms
    }

    fn check_writable(&self) -> Result<()> {
        if self.retired {
            Err(LogError::Retired)
        } else if self.poisoned {
            Err(LogError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Closes the active segment — data and indexes made durable — and starts a new one at the
    /// log end offset.
    pub fn roll(&mut self) -> Result<()> {
        self.check_writable()?;
        let next = self.log_end_offset();
        if let Err(e) = self.active().flush() {
            // The page cache may have dropped what the failed fsync covered.
            self.poisoned = true;
            return Err(e);
        }
        self.active_mut().write_indexes()?;
        txns::sync_index(self.active())?;
        let segment = Segment::create(&self.dir, next)?;
        crate::layout::sync_dir_checked(&self.dir)?;
        self.segments.push(segment);
        self.active_since_ms = None;
        tracing::debug!(dir = %self.dir.display(), base_offset = next, "rolled a new segment");
        Ok(())
    }

    /// Rolls the active segment once it has taken appends for `segment.ms` by the clock, so
    /// that retention can reach its data.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<bool> {
        let due = self.active_since_ms.is_some_and(|since| now_ms - since >= self.config.segment_ms);
        if self.check_writable().is_err() || self.active().is_empty() || !due {
            return Ok(false);
        }
        self.roll()?;
        Ok(true)
    }

    /// Whole batches starting with the one holding `offset`, up to `max_bytes` (at least one
    /// batch with `min_one`) and only batches that start below `max_offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<ReadOutcome> {
        let (start, end) = (self.log_start_offset, self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange { offset, start, end });
        }
        let at = self.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let mut records = Bytes::new();
        for segment in &self.segments[at..] {
            if let Some(found) = segment.read(offset, max_bytes, max_offset, min_one)? {
                records = found;
                break;
            }
        }
        Ok(ReadOutcome { records, log_start_offset: start, log_end_offset: end })
    }

    /// The first record with a timestamp at or after `timestamp`: (offset, timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        for segment in self.segments.iter().filter(|s| s.next_offset() > self.log_start_offset) {
            if let Some(found) = segment.find_timestamp(timestamp, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the earliest of equals): (offset, timestamp).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let live = self.segments.iter().filter(|s| s.next_offset() > self.log_start_offset);
        let mut best: Option<&Segment> = None;
        for s in live {
            if s.max_timestamp() >= 0 && best.is_none_or(|b| s.max_timestamp() > b.max_timestamp()) {
                best = Some(s);
            }
        }
        match best {
            Some(s) => s.find_max_timestamp(self.log_start_offset),
            None => Ok(None),
        }
    }

    /// Moves the log start offset up to `offset` (DeleteRecords) and deletes the segments that
    /// lie wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        self.check_writable()?;
        if offset < 0 || offset > self.log_end_offset() {
            return Err(LogError::InvalidOffset(offset));
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            self.epochs.truncate_from_start(offset);
            self.txns.trim_below(offset);
            self.delete_segments_below_start()?;
        }
        Ok(self.log_start_offset)
    }

    /// Deletes whole segments that end at or before the log start offset (never the active one).
    fn delete_segments_below_start(&mut self) -> Result<usize> {
        let mut deleted = 0;
        while self.segments.len() > 1 && self.segments[1].base_offset() <= self.log_start_offset {
            self.segments.remove(0).delete()?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Deletes the oldest segments beyond `retention.ms` (by their newest timestamp) and
    /// `retention.bytes` (whole segments, keeping the total within the bound). An expired active
    /// segment is rolled first, as Kafka does. Does nothing unless `cleanup.policy` has `delete`.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<RetentionOutcome> {
        let mut deleted = 0;
        if self.config.delete_retention && self.check_writable().is_ok() {
            let expired = |s: &Segment, ms: i64| ms >= 0 && s.max_timestamp() >= 0 && now_ms - s.max_timestamp() > ms;
            if expired(self.active(), self.config.retention_ms) && !self.active().is_empty() {
                self.roll()?;
            }
            let retention_ms = self.config.retention_ms;
            while self.segments.len() > 1 && expired(&self.segments[0], retention_ms) {
                self.drop_oldest()?;
                deleted += 1;
            }
            if self.config.retention_bytes >= 0 {
                let bound = self.config.retention_bytes as u64;
                let mut size = self.size_bytes();
                while self.segments.len() > 1 && size - self.segments[0].size() >= bound {
                    size -= self.segments[0].size();
                    self.drop_oldest()?;
                    deleted += 1;
                }
            }
        }
        Ok(RetentionOutcome { segments_deleted: deleted, log_start_offset: self.log_start_offset })
    }

    /// Compacts the segments before the active one, as Kafka's log cleaner does (see
    /// [`crate::cleaner`]): only the latest record of each key stays, and tombstones only for
    /// `delete.retention.ms`. Offsets do not move; the log start and end stay where they are.
    /// Does nothing unless `cleanup.policy` has `compact`, on a poisoned or retired log, or when
    /// nothing can have changed since the last pass: no segment rolled or deleted, no kept
    /// tombstone come of age, no new settings. A failure after a segment's file was replaced
    /// poisons the log.
    pub fn compact(&mut self, now_ms: i64) -> Result<CompactionOutcome> {
        let idle = !self.config.compact || self.check_writable().is_err() || self.segments.len() < 2;
        if idle || self.cleaned.is_some_and(|c| c.still_clean(&self.segments, now_ms)) {
            return Ok(CompactionOutcome::default());
        }
        self.cleaned = None;
        match cleaner::compact(&self.dir, &mut self.segments, &self.config, now_ms) {
            Ok((outcome, checkpoint)) => {
                self.cleaned = Some(checkpoint);
                Ok(outcome)
            }
            Err(failure) => {
                self.poisoned |= failure.poison;
                Err(failure.error)
            }
        }
    }

    fn drop_oldest(&mut self) -> Result<()> {
        let oldest = self.segments.remove(0);
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset());
        self.epochs.truncate_from_start(self.log_start_offset);
        self.txns.trim_below(self.log_start_offset);
        oldest.delete()
    }

    /// Appends batches exactly as the leader stored them (a follower's fetch): offsets, leader
    /// epochs and timestamps are kept. Each whole batch is checked (framing, magic, CRC) and
    /// must lie past the log end; batches the log already holds are skipped and a partial batch
    /// at the end (a fetch size limit) is left for the next fetch. Producer state and the epoch
    /// cache follow the batches. Returns the new log end offset.
    pub fn append_replicated(&mut self, records: &[u8], now_ms: i64) -> Result<i64> {
        self.check_writable()?;
        let mut pos = 0;
        while let Some(h) = BatchHeader::parse(&records[pos..]) {
            if h.batch_length <= 0 || pos + h.size() > records.len() {
                break;
            }
            let bytes = &records[pos..pos + h.size()];
            pos += h.size();
            if h.magic != 2 {
                return Err(LogError::UnsupportedMessageFormat { magic: h.magic });
            }
            if batch::compute_crc(bytes) != h.crc {
                return Err(LogError::CorruptMessage(format!(
                    "replicated batch at offset {} fails its CRC",
                    h.base_offset
                )));
            }
            if h.last_offset() < self.log_end_offset() {
                continue;
            }
            if h.base_offset < self.log_end_offset() {
                return Err(LogError::CorruptMessage(format!(
                    "replicated batch {}..={} overlaps the log end {}",
                    h.base_offset,
                    h.last_offset(),
                    self.log_end_offset()
                )));
            }
            if self.should_roll(bytes.len() as u64, h.last_offset(), h.max_timestamp, now_ms) {
                self.roll()?;
            }
            let (head, body) = bytes.split_at(HEADER_LEN);
            let header: [u8; HEADER_LEN] = head.try_into().expect("a whole batch has a whole header");
            let interval = self.config.index_interval_bytes as u64;
            self.active_mut().append_batch(&header, body, &h, interval)?;
            self.active_since_ms.get_or_insert(now_ms);
            self.producers.record(&h);
            match h.is_control().then(|| crate::txn::parse_marker(bytes)).flatten() {
                Some(marker) => self.ended(&h, marker)?,
                None => self.txns.data(&h),
            }
            self.note_epoch(h.leader_epoch, h.base_offset)?;
        }
        Ok(self.log_end_offset())
    }

    /// Starts leader epoch `epoch` at the log end (a replica becoming leader), so that
    /// OffsetForLeaderEpoch answers for the old epoch before the new one writes anything.
    pub fn begin_epoch(&mut self, epoch: i32) -> Result<()> {
        let end = self.log_end_offset();
        self.note_epoch(epoch, end)
    }

    fn note_epoch(&mut self, epoch: i32, start: i64) -> Result<()> {
        if self.epochs.assign(epoch, start) {
            self.epochs.save(&self.dir)?;
        }
        Ok(())
    }

    /// The latest leader epoch the log has seen (-1: none).
    pub fn latest_epoch(&self) -> i32 {
        self.epochs.latest().unwrap_or(-1)
    }

    /// Where epoch `epoch` starts in this log, if it has records or began here.
    pub fn epoch_start(&self, epoch: i32) -> Option<i64> {
        self.epochs.start_of(epoch)
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and where it ends
    /// ([`LeaderEpochs::end_offset_for`]); `None` when the log knows no such epoch.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// Removes every record at `offset` and after (a follower's divergent tail, KIP-101): whole
    /// batches, so the log may end a little before `offset`. Producer state is rebuilt from what
    /// stays and the epoch cache cut. Below the log start the log starts afresh at `offset`.
    /// Returns whether anything was removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<bool> {
        self.check_writable()?;
        if offset >= self.log_end_offset() {
            return Ok(false);
        }
        if offset <= self.log_start_offset {
            self.restart_at(offset.max(0))?;
            return Ok(true);
        }
        while self.segments.len() > 1 && self.active().base_offset() >= offset {
            self.segments.pop().expect("more than one segment").delete()?;
        }
        let interval = self.config.index_interval_bytes as u64;
        let removed = self.active_mut().truncate_to(offset, interval)?;
        crate::layout::sync_dir_checked(&self.dir)?;
        tracing::info!(dir = %self.dir.display(), offset, bytes_in_active_segment = removed, log_end_offset = self.log_end_offset(), "truncated the log");
        self.after_truncation()?;
        Ok(true)
    }

    /// Empties the log and starts it at `offset` (a follower that fell behind the leader's log
    /// start, or whose whole log diverged).
    pub fn restart_at(&mut self, offset: i64) -> Result<()> {
        self.check_writable()?;
        for s in self.segments.drain(..) {
            s.delete()?;
        }
        self.segments.push(Segment::create(&self.dir, offset)?);
        crate::layout::sync_dir_checked(&self.dir)?;
        self.log_start_offset = offset;
        self.epochs = LeaderEpochs::default();
        tracing::info!(dir = %self.dir.display(), offset, "emptied the log to start it afresh");
        self.after_truncation()
    }

    fn after_truncation(&mut self) -> Result<()> {
        let (producers, _, txns) = scan_headers(&self.segments)?;
        self.producers = producers;
        self.txns = txns;
        self.txns.trim_below(self.log_start_offset);
        self.write_txn_indexes()?;
        let end = self.log_end_offset();
        self.epochs.truncate_from_end(end);
        self.epochs.truncate_from_start(self.log_start_offset);
        self.epochs.save(&self.dir)?;
        self.flushed.truncated(end);
        self.active_since_ms = None;
        self.cleaned = None;
        Ok(())
    }

    /// What an fsync covering every append so far needs.
    pub fn flush_target(&self) -> FlushTarget {
        let upto = self.log_end_offset();
        let file = if upto > self.flushed.get() { self.active().handle().ok() } else { None };
        FlushTarget { upto, file, progress: self.flushed.clone(), generation: self.flushed.generation() }
    }

    /// How far the log is durable, readable without the log's lock.
    pub fn flushed(&self) -> Flushed {
        self.flushed.clone()
    }

    /// Refuses every later write: an fsync failed and the page cache may have lost data.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Stops every later write, roll and retention pass, before the partition's directory is
    /// deleted: a request still holding the partition must not touch a directory that a
    /// re-created topic of the same name may own next.
    pub fn retire(&mut self) {
        self.retired = true;
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Makes everything durable and writes the indexes and producer snapshot, so the next open
    /// need not recover.
    pub fn close(&mut self) -> Result<()> {
        if self.retired {
            return Ok(());
        }
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let active = self.active_mut();
        active.flush()?;
        active.write_indexes()?;
        self.producers.save(&self.dir, &self.txns)?;
        self.epochs.save(&self.dir)?;
        for s in &self.segments {
            txns::sync_index(s)?;
        }
        self.flushed.covered(self.log_end_offset());
        Ok(())
    }
}

/// Producer state, the leader epoch cache and the transactions, rebuilt from every batch header
/// (and every marker).
fn scan_headers(segments: &[Segment]) -> Result<(ProducerStates, LeaderEpochs, Transactions)> {
    let mut states = ProducerStates::default();
    let mut epochs = LeaderEpochs::default();
    let mut txns = Transactions::default();
    for s in segments {
        s.for_each_header(|h, control| {
            states.record(h);
            match control.and_then(crate::txn::parse_marker) {
                Some(marker) => {
                    states.fence(h.producer_id, h.producer_epoch);
                    txns.marker(h.producer_id, h.base_offset, marker);
                }
                None => txns.data(h),
            }
            epochs.assign(h.leader_epoch, h.base_offset);
        })?;
    }
    Ok((states, epochs, txns))
}

mod txns;

#[cfg(test)]
mod tests;
