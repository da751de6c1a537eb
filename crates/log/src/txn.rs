//! Transactions as one partition sees them (KIP-98): transactional batches, the control records
//! (COMMIT and ABORT markers) that end them, the last stable offset and the aborted-transaction
//! index.
//!
//! A producer's transaction starts with its first transactional batch here and ends with the
//! marker the transaction coordinator has written for it. Until the marker is below the high
//! watermark the transaction is *unstable*: read_committed consumers read only up to the last
//! stable offset (LSO), the first offset of the earliest unstable transaction (or the high
//! watermark when there is none). An aborted transaction is remembered, with the range of offsets
//! it covered, so that a read_committed fetch can tell the consumer which of the batches it
//! returns to drop.
//!
//! # On disk
//! - A control batch: attributes with the transactional (bit 4) and control (bit 5) bits, the
//!   producer's id and epoch, base sequence -1, one record whose key is `version: i16 = 0,
//!   type: i16` (0 ABORT, 1 COMMIT) and whose value is `version: i16 = 0, coordinator epoch: i32`.
//! - `<base>.txnindex` beside each segment ([`crate::layout::TXN_INDEX_SUFFIX`]): the aborted
//!   transactions whose ABORT marker is in that segment, 34 bytes each, Kafka's layout:
//!   `version: i16 = 0, producer id: i64, first offset: i64, last offset: i64, last stable
//!   offset: i64` (the LSO once the transaction was aborted). Appended when the marker is
//!   appended; rewritten whole after a recovery or truncation, which rebuild the state from the
//!   batches (markers included).
//! - Open transactions (producer id, first offset) are kept in `producer.snapshot` at a clean
//!   close, and rebuilt from the batches after an unclean stop.
//!
//! Not thread-safe on its own; it lives inside the partition log.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::{BatchHeader, HEADER_LEN};
use crate::records::{self, Producer, Record};

/// The transactional bit of a batch's attributes.
pub const TRANSACTIONAL: i16 = 1 << 4;
/// The control bit of a batch's attributes.
pub const CONTROL: i16 = 1 << 5;
/// Bytes of one `.txnindex` entry.
pub const ENTRY_LEN: usize = 34;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Abort,
    Commit,
}

impl Marker {
    fn code(self) -> i16 {
        match self {
            Marker::Abort => 0,
            Marker::Commit => 1,
        }
    }
}

/// A control batch ending producer `producer_id`'s transaction (at epoch `producer_epoch`),
/// written by the coordinator of epoch `coordinator_epoch`.
pub fn control_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: Marker,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&marker.code().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record { key: Some(&key), value: Some(&value), timestamp_delta: 0 };
    let producer = Producer { id: producer_id, epoch: producer_epoch, base_sequence: -1 };
    records::build_with_attributes(timestamp, &[record], producer, TRANSACTIONAL | CONTROL)
}

/// The marker a control batch carries and the coordinator epoch that wrote it; `None` for a
/// control record of another type (or bytes that do not parse).
pub fn parse_marker(batch: &[u8]) -> Option<(Marker, i32)> {
    let h = BatchHeader::parse(batch)?;
    if !h.is_control() || batch.len() < HEADER_LEN {
        return None;
    }
    let records = records::parse(batch)?;
    let first = records.first()?;
    let key = first.key?;
    let kind = i16::from_be_bytes(key.get(2..4)?.try_into().ok()?);
    let marker = match kind {
        0 => Marker::Abort,
        1 => Marker::Commit,
        _ => return None,
    };
    let value = first.value?;
    let coordinator_epoch = i32::from_be_bytes(value.get(2..6)?.try_into().ok()?);
    Some((marker, coordinator_epoch))
}

/// An aborted transaction: its producer, the offsets it spanned, and the LSO once it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }

    /// The entries of a `.txnindex` file; `None` when it is not one (a torn tail is not: a torn
    /// last entry means the file was being appended to, and the whole file is rebuilt).
    pub fn decode_all(bytes: &[u8]) -> Option<Vec<AbortedTxn>> {
        if !bytes.len().is_multiple_of(ENTRY_LEN) {
            return None;
        }
        bytes
            .chunks_exact(ENTRY_LEN)
            .map(|e| {
                let num = |at: usize| i64::from_be_bytes(e[at..at + 8].try_into().expect("8 bytes"));
                (i16::from_be_bytes([e[0], e[1]]) == 0).then(|| AbortedTxn {
                    producer_id: num(2),
                    first_offset: num(10),
                    last_offset: num(18),
                    last_stable_offset: num(26),
                })
            })
            .collect()
    }
}

/// What a marker did to the partition's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The producer had no transaction open here (it added the partition and wrote nothing).
    Nothing,
    Committed {
        first_offset: i64,
    },
    Aborted(AbortedTxn),
}

/// The transactions of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transactions {
    /// Producer id → first offset of its open transaction.
    open: HashMap<i64, i64>,
    /// The same, ordered by first offset.
    open_by_offset: BTreeSet<(i64, i64)>,
    /// Ended transactions whose marker may not be below the high watermark yet: marker offset →
    /// first offset. They stay unstable until it is.
    ending: BTreeMap<i64, i64>,
    /// Aborted transactions, in the order of their markers.
    aborted: Vec<AbortedTxn>,
    /// Producer id → the epoch of the coordinator that last wrote a marker for it.
    coordinator_epochs: HashMap<i64, i32>,
}

impl Transactions {
    /// A transactional data batch was appended: it opens its producer's transaction here, if
    /// none is open.
    pub fn data(&mut self, h: &BatchHeader) {
        if !h.is_transactional() || h.is_control() || !h.has_producer_id() {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.open.entry(h.producer_id) {
            e.insert(h.base_offset);
            self.open_by_offset.insert((h.base_offset, h.producer_id));
        }
    }

    /// A marker for producer `producer_id` was appended at `offset`, written by the coordinator
    /// of `coordinator_epoch`. An aborted transaction's entry records the LSO the partition has
    /// once the marker is replicated.
    pub fn marker(&mut self, producer_id: i64, offset: i64, (marker, coordinator_epoch): (Marker, i32)) -> Ended {
        self.coordinator_epochs
            .entry(producer_id)
            .and_modify(|e| *e = (*e).max(coordinator_epoch))
            .or_insert(coordinator_epoch);
        let Some(first_offset) = self.open.remove(&producer_id) else { return Ended::Nothing };
        self.open_by_offset.remove(&(first_offset, producer_id));
        self.ending.insert(offset, first_offset);
        match marker {
            Marker::Commit => Ended::Committed { first_offset },
            Marker::Abort => {
                let last_stable_offset = self.first_unstable_offset(offset + 1).unwrap_or(offset + 1);
                let aborted = AbortedTxn { producer_id, first_offset, last_offset: offset, last_stable_offset };
                self.aborted.push(aborted);
                Ended::Aborted(aborted)
            }
        }
    }

    /// The highest coordinator epoch that wrote a marker for `producer_id`, if any did.
    pub fn coordinator_epoch(&self, producer_id: i64) -> Option<i32> {
        self.coordinator_epochs.get(&producer_id).copied()
    }

    /// Whether `producer_id` has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.open.contains_key(&producer_id)
    }

    /// The first offset of the earliest transaction that is open, or ended by a marker at or
    /// above `high_watermark` (not replicated yet). Ended transactions below it are forgotten.
    pub fn first_unstable_offset(&mut self, high_watermark: i64) -> Option<i64> {
        while let Some((&marker, _)) = self.ending.first_key_value() {
            if marker >= high_watermark {
                break;
            }
            self.ending.pop_first();
        }
        let open = self.open_by_offset.first().map(|(first, _)| *first);
        let ending = self.ending.values().min().copied();
        match (open, ending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The last stable offset for `high_watermark`.
    pub fn last_stable_offset(&mut self, high_watermark: i64) -> i64 {
        self.first_unstable_offset(high_watermark).map_or(high_watermark, |f| f.min(high_watermark))
    }

    /// The aborted transactions a read_committed fetch of `[from, to)` must report: those whose
    /// offsets overlap it, as (producer id, first offset).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..].iter().filter(|a| a.first_offset < to).map(|a| (a.producer_id, a.first_offset)).collect()
    }

    /// Every aborted transaction, in marker order.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    /// Takes aborted transactions read from the `.txnindex` files (at a clean open).
    pub fn restore_aborted(&mut self, aborted: Vec<AbortedTxn>) {
        self.aborted = aborted;
        self.aborted.sort_by_key(|a| a.last_offset);
    }

    /// Open transactions as (producer id, first offset), for the producer snapshot.
    pub fn open_transactions(&self) -> Vec<(i64, i64)> {
        let mut open: Vec<_> = self.open.iter().map(|(p, f)| (*p, *f)).collect();
        open.sort_unstable();
        open
    }

    /// The coordinator epoch of each producer's last marker, for the producer snapshot.
    pub fn coordinator_epochs(&self) -> Vec<(i64, i32)> {
        let mut epochs: Vec<_> = self.coordinator_epochs.iter().map(|(p, e)| (*p, *e)).collect();
        epochs.sort_unstable();
        epochs
    }

    /// Takes a producer's coordinator epoch back from the producer snapshot.
    pub fn restore_coordinator_epoch(&mut self, producer_id: i64, epoch: i32) {
        self.coordinator_epochs.insert(producer_id, epoch);
    }

    /// Takes an open transaction back from the producer snapshot.
    pub fn restore_open(&mut self, producer_id: i64, first_offset: i64) {
        self.open.insert(producer_id, first_offset);
        self.open_by_offset.insert((first_offset, producer_id));
    }

    /// The log now starts at `log_start`: what lies wholly below it is gone.
    pub fn trim_below(&mut self, log_start: i64) {
        self.aborted.retain(|a| a.last_offset >= log_start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch;

    fn stamped(mut b: Vec<u8>, offset: i64) -> BatchHeader {
        batch::stamp(&mut b, offset, 0, None);
        batch::validate(&b).unwrap()
    }

    fn txn_data(pid: i64, offset: i64, count: usize) -> BatchHeader {
        let values: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8]).collect();
        let records: Vec<Record<'_>> =
            values.iter().map(|v| Record { key: None, value: Some(v), timestamp_delta: 0 }).collect();
        let producer = Producer { id: pid, epoch: 0, base_sequence: 0 };
        stamped(records::build_with_attributes(0, &records, producer, TRANSACTIONAL), offset)
    }

    #[test]
    fn markers_are_control_batches_that_parse_back() {
        let b = control_batch(7, 3, Marker::Abort, 11, 1_000);
        let h = batch::validate(&b).unwrap();
        assert!(h.is_control() && h.is_transactional());
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.record_count), (7, 3, -1, 1));
        assert_eq!(parse_marker(&b), Some((Marker::Abort, 11)));
        assert_eq!(parse_marker(&control_batch(7, 3, Marker::Commit, 0, 0)), Some((Marker::Commit, 0)));
        assert_eq!(parse_marker(&crate::testing::simple(0, 1)), None, "a data batch");
    }

    #[test]
    fn the_lso_holds_at_the_first_open_transaction_until_its_marker_is_replicated() {
        let mut t = Transactions::default();
        t.data(&txn_data(1, 10, 5)); // producer 1: 10..=14
        t.data(&txn_data(2, 15, 5)); // producer 2: 15..=19
        t.data(&txn_data(1, 20, 1)); // producer 1 again: still its transaction from 10
        assert_eq!(t.last_stable_offset(21), 10);
        assert_eq!(t.marker(1, 21, (Marker::Commit, 0)), Ended::Committed { first_offset: 10 });
        assert_eq!(t.last_stable_offset(21), 10, "the marker is not below the high watermark yet");
        assert_eq!(t.last_stable_offset(22), 15, "producer 2 is still open");
        let Ended::Aborted(a) = t.marker(2, 22, (Marker::Abort, 0)) else { panic!("not aborted") };
        assert_eq!((a.first_offset, a.last_offset, a.last_stable_offset), (15, 22, 23));
        assert_eq!(t.last_stable_offset(23), 23);
        assert_eq!(t.last_stable_offset(30), 30, "nothing open");
        assert_eq!(t.marker(3, 31, (Marker::Abort, 0)), Ended::Nothing, "no transaction of producer 3 here");
    }

    #[test]
    fn a_fetch_reports_the_aborted_transactions_it_overlaps() {
        let mut t = Transactions::default();
        for (pid, first, marker) in [(1, 0, 5), (2, 6, 9), (3, 10, 20)] {
            t.data(&txn_data(pid, first, 1));
            t.marker(pid, marker, (Marker::Abort, 0));
        }
        assert_eq!(t.aborted_between(0, 100), vec![(1, 0), (2, 6), (3, 10)]);
        assert_eq!(t.aborted_between(6, 10), vec![(2, 6)]);
        assert_eq!(t.aborted_between(21, 30), vec![]);
        assert_eq!(t.aborted_between(15, 16), vec![(3, 10)], "the fetch starts inside the transaction");
        t.trim_below(7);
        assert_eq!(t.aborted_between(0, 100), vec![(2, 6), (3, 10)]);
    }

    #[test]
    fn index_entries_use_kafkas_layout() {
        let a = AbortedTxn { producer_id: 9, first_offset: 100, last_offset: 150, last_stable_offset: 151 };
        let mut bytes = Vec::new();
        a.encode(&mut bytes);
        a.encode(&mut bytes);
        assert_eq!(bytes.len(), 2 * ENTRY_LEN);
        assert_eq!(AbortedTxn::decode_all(&bytes), Some(vec![a, a]));
        assert_eq!(AbortedTxn::decode_all(&bytes[..40]), None, "a torn entry");
    }
}
