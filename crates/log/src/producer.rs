//! Idempotent-producer state: for each producer id, its epoch and the sequence numbers and
//! offsets of its last five batches — what Kafka keeps to drop retried duplicates and to refuse
//! gaps (KIP-98, and the five in-flight requests a producer may have).
//!
//! Rebuilt from the batch headers when a log is recovered; saved to `producer.snapshot` on a
//! clean close and read back on the next open. The snapshot is text, one cached batch a line:
//! `producer_id epoch first_sequence last_sequence first_offset last_offset timestamp`; from
//! version 2 also `txn producer_id first_offset` for each open transaction and
//! `coordinator producer_id epoch` for the coordinator epoch of each producer's last marker (see
//! [`crate::txn`]). A version 1 snapshot has neither (it predates transactions).
//!
//! Not thread-safe on its own; it lives inside the partition log.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::batch::BatchHeader;
use crate::layout::{PRODUCER_SNAPSHOT, write_atomically_checked};
use crate::txn::Transactions;
use crate::{LogError, Result};

/// Batches remembered per producer.
pub const CACHED_BATCHES: usize = 5;
const SNAPSHOT_HEADER: &str = "fjord producer state v2";
const SNAPSHOT_HEADER_V1: &str = "fjord producer state v1";

/// Where one batch of a producer landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

impl Entry {
    fn record(&mut self, meta: BatchMeta) {
        if self.batches.len() == CACHED_BATCHES {
            self.batches.pop_front();
        }
        self.batches.push_back(meta);
    }
}

/// One producer as DescribeProducers reports it; -1 for what it does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerInfo {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// The epoch of the coordinator that wrote its last marker here.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction here.
    pub txn_start_offset: i64,
}

/// What a batch from an idempotent producer is, given the state before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// In sequence: append it.
    Append,
    /// A retry of a batch already in the log: answer with where it went, append nothing.
    Duplicate(BatchMeta),
}

/// The state of every producer that wrote to one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStates {
    producers: HashMap<i64, Entry>,
}

impl ProducerStates {
    /// Judges the batches of one append in order, as if each earlier one had been appended.
    /// Batches without a producer id are always appended.
    pub fn check(&self, batches: &[BatchHeader]) -> Result<Verdict> {
        let mut staged: HashMap<i64, Entry> = HashMap::new();
        for h in batches.iter().filter(|h| h.has_producer_id()) {
            let current = staged.get(&h.producer_id).or_else(|| self.producers.get(&h.producer_id));
            if let Verdict::Duplicate(meta) = judge(current, h)? {
                return Ok(Verdict::Duplicate(meta));
            }
            let mut next = current
                .cloned()
                .filter(|e| e.epoch == h.producer_epoch)
                .unwrap_or(Entry { epoch: h.producer_epoch, batches: VecDeque::new() });
            next.record(meta_of(h));
            staged.insert(h.producer_id, next);
        }
        Ok(Verdict::Append)
    }

    /// Records a batch that is now in the log (with its offsets assigned).
    pub fn record(&mut self, h: &BatchHeader) {
        if !h.has_producer_id() || h.is_control() {
            return;
        }
        let entry =
            self.producers.entry(h.producer_id).or_insert(Entry { epoch: h.producer_epoch, batches: VecDeque::new() });
        if h.producer_epoch != entry.epoch {
            *entry = Entry { epoch: h.producer_epoch, batches: VecDeque::new() };
        }
        entry.record(meta_of(h));
    }

    /// A marker of `epoch` was written for `producer_id`: a newer epoch (the coordinator fenced
    /// the producer, or bumped its epoch) starts afresh, so that batches of the old one are refused.
    pub fn fence(&mut self, producer_id: i64, epoch: i16) {
        let entry = self.producers.entry(producer_id).or_insert(Entry { epoch, batches: VecDeque::new() });
        if epoch > entry.epoch {
            *entry = Entry { epoch, batches: VecDeque::new() };
        }
    }

    /// The epoch `producer_id` writes with here, if it wrote here.
    pub fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Every producer: (id, epoch, the last sequence and timestamp of its last batch here, or
    /// -1 when it only had markers written), by id.
    pub fn all(&self) -> Vec<(i64, i16, i32, i64)> {
        let mut all: Vec<_> = self
            .producers
            .iter()
            .map(|(id, e)| {
                let last = e.batches.back();
                (*id, e.epoch, last.map_or(-1, |b| b.last_sequence), last.map_or(-1, |b| b.timestamp))
            })
            .collect();
        all.sort_unstable();
        all
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Writes the snapshot file into `dir`, with the open transactions of `txns`.
    pub fn save(&self, dir: &Path, txns: &Transactions) -> Result<()> {
        let mut text = String::from(SNAPSHOT_HEADER);
        text.push('\n');
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[&id];
            for b in &e.batches {
                text.push_str(&format!(
                    "{id} {} {} {} {} {} {}\n",
                    e.epoch, b.first_sequence, b.last_sequence, b.first_offset, b.last_offset, b.timestamp
                ));
            }
        }
        for (id, first_offset) in txns.open_transactions() {
            text.push_str(&format!("txn {id} {first_offset}\n"));
        }
        for (id, epoch) in txns.coordinator_epochs() {
            text.push_str(&format!("coordinator {id} {epoch}\n"));
        }
        write_atomically_checked(&dir.join(PRODUCER_SNAPSHOT), text.as_bytes())
    }

    /// Reads the snapshot file from `dir`, with the open transactions it names; `None` when it
    /// is missing or does not parse.
    pub fn load(dir: &Path) -> Option<(Self, Transactions)> {
        let text = std::fs::read_to_string(dir.join(PRODUCER_SNAPSHOT)).ok()?;
        let mut lines = text.lines();
        if !matches!(lines.next()?, SNAPSHOT_HEADER | SNAPSHOT_HEADER_V1) {
            return None;
        }
        let mut states = Self::default();
        let mut txns = Transactions::default();
        for line in lines {
            if let Some(rest) = line.strip_prefix("txn ") {
                let (id, first) = rest.split_once(' ')?;
                txns.restore_open(id.parse().ok()?, first.parse().ok()?);
                continue;
            }
            if let Some(rest) = line.strip_prefix("coordinator ") {
                let (id, epoch) = rest.split_once(' ')?;
                txns.restore_coordinator_epoch(id.parse().ok()?, epoch.parse().ok()?);
                continue;
            }
            let f: Vec<i64> = line.split(' ').map(|v| v.parse().ok()).collect::<Option<_>>()?;
            let [id, epoch, first_sequence, last_sequence, first_offset, last_offset, timestamp] = f[..] else {
                return None;
            };
            let meta = BatchMeta {
                first_sequence: i32::try_from(first_sequence).ok()?,
                last_sequence: i32::try_from(last_sequence).ok()?,
                first_offset,
                last_offset,
                timestamp,
            };
            let epoch = i16::try_from(epoch).ok()?;
            states.producers.entry(id).or_insert(Entry { epoch, batches: VecDeque::new() }).record(meta);
        }
        Some((states, txns))
    }

    /// Forgets the snapshot file, so that a crash before the next clean close rebuilds instead.
    pub fn discard_snapshot(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(PRODUCER_SNAPSHOT));
    }
}

fn meta_of(h: &BatchHeader) -> BatchMeta {
    BatchMeta {
        first_sequence: h.base_sequence,
        last_sequence: h.last_sequence(),
        first_offset: h.base_offset,
        last_offset: h.last_offset(),
        timestamp: h.max_timestamp,
    }
}

/// Kafka's rules, in its order: a retry of a cached batch is a duplicate; an older epoch is
/// fenced; a new epoch must start at sequence 0 (unless the producer is unknown here, e.g. its
/// state aged out); within an epoch each batch must follow the last one.
fn judge(current: Option<&Entry>, h: &BatchHeader) -> Result<Verdict> {
    let Some(entry) = current else { return Ok(Verdict::Append) };
    if h.producer_epoch == entry.epoch {
        let last_sequence = h.last_sequence();
        if let Some(dup) =
            entry.batches.iter().find(|b| b.first_sequence == h.base_sequence && b.last_sequence == last_sequence)
        {
            return Ok(Verdict::Duplicate(*dup));
        }
    }
    if h.producer_epoch < entry.epoch {
        return Err(LogError::InvalidProducerEpoch {
            producer_id: h.producer_id,
            current: entry.epoch,
            got: h.producer_epoch,
        });
    }
    if h.producer_epoch > entry.epoch {
        if h.base_sequence != 0 {
            return Err(LogError::OutOfOrderSequence { producer_id: h.producer_id, expected: 0, got: h.base_sequence });
        }
        return Ok(Verdict::Append);
    }
    let last = entry.batches.back().map_or(-1, |b| b.last_sequence);
    let expected = if last == i32::MAX { 0 } else { last + 1 };
    if h.base_sequence != expected {
        return Err(LogError::OutOfOrderSequence { producer_id: h.producer_id, expected, got: h.base_sequence });
    }
    Ok(Verdict::Append)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Producer, Record, build};

    fn batch(id: i64, epoch: i16, seq: i32, count: usize, base_offset: i64) -> BatchHeader {
        let records: Vec<Record<'_>> =
            (0..count).map(|_| Record { key: None, value: Some(b"v"), timestamp_delta: 0 }).collect();
        let mut h = BatchHeader::parse(&build(1, &records, Producer { id, epoch, base_sequence: seq })).unwrap();
        h.base_offset = base_offset;
        h
    }

    #[test]
    fn sequences_duplicates_and_epochs_follow_kafka() {
        let mut states = ProducerStates::default();
        let first = batch(7, 0, 0, 3, 0);
        assert_eq!(states.check(&[first]).unwrap(), Verdict::Append);
        states.record(&first);
        let retry = batch(7, 0, 0, 3, 99);
        assert_eq!(
            states.check(&[retry]).unwrap(),
            Verdict::Duplicate(BatchMeta {
                first_sequence: 0,
                last_sequence: 2,
                first_offset: 0,
                last_offset: 2,
                timestamp: 1
            })
        );
        let gap = batch(7, 0, 5, 1, 3);
        assert!(matches!(states.check(&[gap]), Err(LogError::OutOfOrderSequence { expected: 3, got: 5, .. })));
        let next = batch(7, 0, 3, 1, 3);
        assert_eq!(states.check(&[next]).unwrap(), Verdict::Append);
        states.record(&next);
        let bumped_midway = batch(7, 1, 4, 1, 4);
        assert!(matches!(states.check(&[bumped_midway]), Err(LogError::OutOfOrderSequence { expected: 0, .. })));
        let bumped = batch(7, 1, 0, 1, 4);
        states.record(&bumped);
        let zombie = batch(7, 0, 4, 1, 5);
        assert!(matches!(states.check(&[zombie]), Err(LogError::InvalidProducerEpoch { current: 1, got: 0, .. })));
        assert_eq!(
            states.check(&[batch(8, 0, 17, 1, 5)]).unwrap(),
            Verdict::Append,
            "unknown producers start anywhere"
        );
    }

    #[test]
    fn several_batches_of_one_request_are_checked_in_order() {
        let states = ProducerStates::default();
        assert_eq!(states.check(&[batch(1, 0, 0, 2, 0), batch(1, 0, 2, 2, 2)]).unwrap(), Verdict::Append);
        assert!(states.check(&[batch(1, 0, 0, 2, 0), batch(1, 0, 3, 2, 2)]).is_err());
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.record(&batch(1, 0, i, 1, i64::from(i)));
        }
        assert!(matches!(states.check(&[batch(1, 0, 2, 1, 0)]).unwrap(), Verdict::Duplicate(_)));
        assert!(states.check(&[batch(1, 0, 1, 1, 0)]).is_err(), "too old to recognise");
    }

    #[test]
    fn snapshots_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.record(&batch(i64::from(i % 3), 2, i, 1, i64::from(i)));
        }
        let mut txns = Transactions::default();
        txns.restore_open(1, 4);
        txns.restore_coordinator_epoch(1, 3);
        states.save(dir.path(), &txns).unwrap();
        assert_eq!(ProducerStates::load(dir.path()), Some((states, txns)));
        std::fs::write(dir.path().join(PRODUCER_SNAPSHOT), "garbage").unwrap();
        assert_eq!(ProducerStates::load(dir.path()), None);
        // A snapshot written before transactions existed reads as having none.
        std::fs::write(dir.path().join(PRODUCER_SNAPSHOT), "fjord producer state v1\n1 2 0 0 5 5 9\n").unwrap();
        let (old, txns) = ProducerStates::load(dir.path()).unwrap();
        assert_eq!((old.epoch_of(1), txns), (Some(2), Transactions::default()));
    }
}
