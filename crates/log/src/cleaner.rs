//! The log cleaner: compaction for `cleanup.policy=compact`, as Kafka's cleaner does it, batch by
//! batch and record by record.
//!
//! # What a pass keeps
//! A pass reads every segment but the active one twice. The first read maps each key to the
//! offset of its latest record. The second rewrites each segment that has something to drop,
//! keeping a record when it has no key, or when it is the latest of its key — unless it is a
//! tombstone (null value) whose batch's max timestamp is `delete.retention.ms` old, which goes
//! too. A batch keeps its header (base offset, last offset delta, timestamps, producer fields,
//! attributes; see [`records::rebuild`]) and its surviving records byte for byte, so offsets never
//! move: reads of a removed offset get the next batch, and the log start and end stay put. A batch
//! left with no record is dropped, and so is a segment left empty, except the first, which keeps
//! the log's base offset. The active segment is never read or written.
//!
//! Batches whose records the cleaner cannot see — compressed (the log has no codecs),
//! transactional or control batches, records that do not parse as their header says — are kept
//! whole and their keys stay out of the map. Older records of a key they hold may then survive,
//! which is harmless; but a tombstone after such a batch could be the only thing hiding a record
//! in it, so it is never removed.
//!
//! # On disk
//! A segment is rewritten into `<base>.log.cleaned`, which is fsynced; then the segment's index
//! files are removed and the directory fsynced, the `.cleaned` file renamed over `<base>.log`
//! and the directory fsynced again, and the segment is reopened from the new file with fresh
//! indexes. A crash before the rename leaves the old `.log` intact beside a `.cleaned` file, which
//! [`crate::PartitionLog::open`] deletes ([`crate::layout::is_cleaned_leftover`]); a crash after it leaves the new
//! `.log`, without stale indexes. Segments are cleaned oldest first, so a crash between two
//! never leaves a tombstone removed while an older record of its key survives.
//!
//! Thread safety: a pass runs inside [`crate::PartitionLog::compact`], under `&mut` — the caller's
//! lock — so nothing else reads or writes the log meanwhile.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::batch::BatchHeader;
use crate::layout::{
    CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, segment_file_name, sync_dir_checked as sync_dir,
};
use crate::records::{self, StoredRecord};
use crate::segment::{self, Segment};
use crate::{LogConfig, LogError, Result};

/// What one compaction pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// Segments whose contents changed, those deleted as empty included.
    pub segments_rewritten: usize,
    /// Of those, the segments left empty and deleted.
    pub segments_removed: usize,
    /// Records left out of the rewritten segments.
    pub records_removed: u64,
    /// The size of the rewritten segments before the pass.
    pub bytes_before: u64,
    /// Their size after it (0 for a deleted one).
    pub bytes_after: u64,
}

/// Where the last complete pass left the log: until a segment rolls or is deleted, or a kept
/// tombstone comes of age, another pass would find nothing to drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    first_base: i64,
    active_base: i64,
    /// When the first tombstone the pass kept may be removed (`i64::MAX`: none will).
    next_expiry: i64,
}

impl Checkpoint {
    /// Whether a pass at `now_ms` over `segments` would find nothing to do.
    pub(crate) fn still_clean(&self, segments: &[Segment], now_ms: i64) -> bool {
        let bases = segments.first().zip(segments.last()).map(|(f, l)| (f.base_offset(), l.base_offset()));
        bases == Some((self.first_base, self.active_base)) && now_ms < self.next_expiry
    }
}

/// A failed pass. `poison` when it failed after swapping a segment file: the directory may no
/// longer match what the log holds in memory.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: LogError,
    pub(crate) poison: bool,
}

impl Failure {
    fn before_swap(error: LogError) -> Self {
        Self { error, poison: false }
    }

    fn after_swap(error: LogError) -> Self {
        Self { error, poison: true }
    }
}

/// Refuses a batch for a compacted topic when one of its records has no key, as Kafka does.
/// Compressed batches pass unchecked: the log has no codecs to open them.
pub(crate) fn require_keys(batch: &[u8], h: &BatchHeader) -> Result<()> {
    if h.compression() != 0 {
        return Ok(());
    }
    let parsed = records::parse(batch).filter(|r| r.len() == h.record_count as usize);
    let Some(records) = parsed else {
        return Err(LogError::CorruptMessage("the batch's records do not parse as its header says".into()));
    };
    match records.iter().find(|r| r.key.is_none()) {
        Some(r) => Err(LogError::InvalidRecord(format!(
            "Compacted topic cannot accept message without key (the record at offset delta {} has none)",
            r.offset.wrapping_sub(h.base_offset)
        ))),
        None => Ok(()),
    }
}

/// One pass over `segments` (the last is active and left alone). Returns what it did and where
/// it left the log.
pub(crate) fn compact(
    dir: &Path,
    segments: &mut Vec<Segment>,
    config: &LogConfig,
    now_ms: i64,
) -> std::result::Result<(CompactionOutcome, Checkpoint), Failure> {
    let cleanable = segments.len().saturating_sub(1);
    let map = OffsetMap::build(&segments[..cleanable]).map_err(Failure::before_swap)?;
    let judge = Judge { map: &map, now_ms, retention_ms: config.delete_retention_ms };
    let droppable = judge.droppable();
    let mut outcome = CompactionOutcome::default();
    let mut at = 0;
    for drop_count in droppable {
        if drop_count == 0 {
            at += 1;
            continue;
        }
        let old_size = segments[at].size();
        let cleaned = write_cleaned(dir, &segments[at], &judge).map_err(Failure::before_swap)?;
        outcome.segments_rewritten += 1;
        outcome.records_removed += cleaned.removed;
        outcome.bytes_before += old_size;
        if cleaned.size == 0 && at > 0 {
            segment::remove_if_exists(&cleaned.path).map_err(Failure::before_swap)?;
            // Gone from memory before its files are: a failure from here on poisons the log.
            segments.remove(at).delete().and_then(|()| sync_dir(dir)).map_err(Failure::after_swap)?;
            outcome.segments_removed += 1;
            continue;
        }
        segments[at] = swap(dir, segments[at].base_offset(), &cleaned.path, config)?;
        outcome.bytes_after += segments[at].size();
        at += 1;
    }
    let checkpoint = Checkpoint {
        first_base: segments[0].base_offset(),
        active_base: segments.last().map_or(0, Segment::base_offset),
        next_expiry: judge.next_expiry(),
    };
    if outcome.segments_rewritten > 0 {
        tracing::debug!(dir = %dir.display(), ?outcome, "compacted");
    }
    Ok((outcome, checkpoint))
}

/// The latest record of a key in the cleanable segments.
#[derive(Clone, Copy, Debug)]
struct Latest {
    offset: i64,
    /// Index of its segment.
    segment: usize,
    /// For a tombstone, its batch's max timestamp.
    tombstone_at: Option<i64>,
}

/// What the first read of a pass learns.
#[derive(Debug, Default)]
struct OffsetMap {
    latest: HashMap<Vec<u8>, Latest>,
    /// Keyed records of readable batches, per segment.
    keyed: Vec<u64>,
    /// The base offset of the first batch whose records cannot be seen (`i64::MAX`: none).
    first_opaque: i64,
}

impl OffsetMap {
    fn build(segments: &[Segment]) -> Result<Self> {
        let mut map = Self { first_opaque: i64::MAX, ..Self::default() };
        for (i, segment) in segments.iter().enumerate() {
            let mut keyed = 0;
            segment.for_each_batch(|h, bytes| {
                let Some(records) = readable(h, bytes) else {
                    map.first_opaque = map.first_opaque.min(h.base_offset);
                    return Ok(());
                };
                for r in records {
                    let Some(key) = r.view.key else { continue };
                    keyed += 1;
                    let latest = Latest {
                        offset: r.view.offset,
                        segment: i,
                        tombstone_at: r.view.value.is_none().then_some(h.max_timestamp),
                    };
                    match map.latest.get_mut(key) {
                        Some(slot) => *slot = latest,
                        None => {
                            map.latest.insert(key.to_vec(), latest);
                        }
                    }
                }
                Ok(())
            })?;
            map.keyed.push(keyed);
        }
        Ok(map)
    }
}

/// The records of a batch the cleaner may filter; `None` for one it must keep whole.
fn readable<'a>(h: &BatchHeader, bytes: &'a [u8]) -> Option<Vec<StoredRecord<'a>>> {
    if h.compression() != 0 || h.is_control() || h.is_transactional() {
        return None;
    }
    records::parse_stored(bytes).filter(|r| r.len() == h.record_count as usize)
}

/// The keep-or-drop rule of one pass.
#[derive(Debug)]
struct Judge<'a> {
    map: &'a OffsetMap,
    now_ms: i64,
    retention_ms: i64,
}

impl Judge<'_> {
    /// Whether the latest record of a key goes: a tombstone old enough, with no unreadable batch
    /// before it that might hold an older record of its key.
    fn expired(&self, latest: &Latest) -> bool {
        latest.tombstone_at.is_some_and(|at| self.now_ms.saturating_sub(at) >= self.retention_ms)
            && latest.offset < self.map.first_opaque
    }

    /// Whether a record of a readable batch in a cleanable segment stays.
    fn keep(&self, record: &StoredRecord<'_>) -> bool {
        let Some(key) = record.view.key else { return true };
        // Every such record was mapped; one that somehow was not is kept.
        self.map.latest.get(key).is_none_or(|l| l.offset == record.view.offset && !self.expired(l))
    }

    /// How many records each cleanable segment would lose: its keyed records but the latest of
    /// their keys that stay.
    fn droppable(&self) -> Vec<u64> {
        let mut drops = self.map.keyed.clone();
        for latest in self.map.latest.values() {
            if !self.expired(latest) {
                drops[latest.segment] = drops[latest.segment].saturating_sub(1);
            }
        }
        drops
    }

    /// When the first tombstone this pass keeps may go (`i64::MAX` if none may).
    fn next_expiry(&self) -> i64 {
        let waiting = self.map.latest.values().filter(|l| l.offset < self.map.first_opaque && !self.expired(l));
        waiting.filter_map(|l| l.tombstone_at).map(|at| at.saturating_add(self.retention_ms)).min().unwrap_or(i64::MAX)
    }
}

/// A segment's cleaned copy, written and fsynced.
#[derive(Debug)]
struct Cleaned {
    path: PathBuf,
    size: u64,
    removed: u64,
}

/// Writes the batches and records of `segment` that `judge` keeps into `<base>.log.cleaned`, and
/// fsyncs it.
fn write_cleaned(dir: &Path, segment: &Segment, judge: &Judge<'_>) -> Result<Cleaned> {
    let name = format!("{}.{CLEANED_SUFFIX}", segment_file_name(segment.base_offset(), LOG_SUFFIX));
    let path = dir.join(name);
    let context = format!("write {}", path.display());
    let file = File::create(&path).map_err(LogError::io(context.clone()))?;
    let mut out = BufWriter::new(file);
    let (mut size, mut removed) = (0u64, 0u64);
    let mut write = |bytes: &[u8]| {
        size += bytes.len() as u64;
        out.write_all(bytes).map_err(LogError::io(context.clone()))
    };
    let written = segment.for_each_batch(|h, bytes| {
        let Some(records) = readable(h, bytes) else { return write(bytes) };
        let kept: Vec<StoredRecord<'_>> = records.iter().copied().filter(|r| judge.keep(r)).collect();
        removed += (records.len() - kept.len()) as u64;
        if kept.len() == records.len() {
            write(bytes)
        } else if kept.is_empty() {
            Ok(())
        } else {
            write(&records::rebuild(h, &kept))
        }
    });
    let synced = written.and_then(|()| {
        let file = out.into_inner().map_err(|e| LogError::Io { context: context.clone(), source: e.into_error() })?;
        file.sync_all().map_err(LogError::io(format!("fsync {}", path.display())))
    });
    if let Err(e) = synced {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(Cleaned { path, size, removed })
}

/// Puts the cleaned file in place of segment `base`'s log and reopens the segment from it.
fn swap(dir: &Path, base: i64, cleaned: &Path, config: &LogConfig) -> std::result::Result<Segment, Failure> {
    let log = dir.join(segment_file_name(base, LOG_SUFFIX));
    let unindex = || -> Result<()> {
        // The old indexes must not outlive the rename: they would describe the wrong file.
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            segment::remove_if_exists(&dir.join(segment_file_name(base, suffix)))?;
        }
        sync_dir(dir)?;
        fs::rename(cleaned, &log).map_err(LogError::io(format!("rename {} to {}", cleaned.display(), log.display())))
    };
    if let Err(e) = unindex() {
        let _ = fs::remove_file(cleaned);
        return Err(Failure::before_swap(e));
    }
    let reopen = || -> Result<Segment> {
        sync_dir(dir)?;
        let (mut segment, cut) = Segment::open(dir, base, config.index_interval_bytes as u64, false)?;
        if cut > 0 {
            return Err(LogError::CorruptMessage(format!(
                "the cleaned {} lost {cut} bytes on reopening",
                log.display()
            )));
        }
        segment.write_indexes()?;
        Ok(segment)
    };
    reopen().map_err(Failure::after_swap)
}
