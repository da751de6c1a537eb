//! The transactional side of [`PartitionLog`]: appending a transaction marker, the last stable
//! offset, the aborted transactions a read_committed fetch reports, and the `.txnindex` files
//! (see [`crate::txn`] for the formats).

use std::fs::OpenOptions;
use std::io::Write;

use super::PartitionLog;
use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::producer::ProducerInfo;
use crate::segment::Segment;
use crate::txn::{AbortedTxn, Ended, Marker};
use crate::{AppendOutcome, LogError, Result};

impl PartitionLog {
    /// Appends the marker that ends producer `producer_id`'s transaction (a partition leader
    /// answering WriteTxnMarkers): a control batch of the producer's `epoch`, stamped with
    /// `leader_epoch`. Refused when the producer already writes with a newer epoch
    /// (`InvalidProducerEpoch`) or a newer coordinator wrote its last marker
    /// (`CoordinatorFenced`). A marker for a producer with no transaction open here is appended
    /// all the same, as Kafka does.
    pub fn append_marker(
        &mut self,
        (producer_id, epoch): (i64, i16),
        (marker, coordinator_epoch): (Marker, i32),
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendOutcome> {
        self.check_writable()?;
        if let Some(current) = self.producers.epoch_of(producer_id)
            && epoch < current
        {
            return Err(LogError::InvalidProducerEpoch { producer_id, current, got: epoch });
        }
        if let Some(current) = self.txns.coordinator_epoch(producer_id)
            && coordinator_epoch < current
        {
            return Err(LogError::CoordinatorFenced { producer_id, current, got: coordinator_epoch });
        }
        let mut bytes = crate::txn::control_batch(producer_id, epoch, marker, coordinator_epoch, now_ms);
        let base_offset = self.log_end_offset();
        batch::stamp(&mut bytes, base_offset, leader_epoch, None);
        let h = BatchHeader::parse(&bytes).expect("a built batch parses");
        if self.should_roll(bytes.len() as u64, base_offset, h.max_timestamp, now_ms) {
            self.roll()?;
        }
        let (head, body) = bytes.split_at(HEADER_LEN);
        let header: [u8; HEADER_LEN] = head.try_into().expect("a whole header");
        let interval = self.config.index_interval_bytes as u64;
        self.active_mut().append_batch(&header, body, &h, interval)?;
        self.active_since_ms.get_or_insert(now_ms);
        self.ended(&h, (marker, coordinator_epoch))?;
        self.note_epoch(leader_epoch, base_offset)?;
        Ok(AppendOutcome {
            base_offset,
            last_offset: base_offset,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count: 1,
            bytes: bytes.len(),
        })
    }

    /// A marker batch `h` is in the log now: its producer's epoch is the marker's from here on,
    /// its transaction ends, and an aborted one goes into the active segment's `.txnindex`.
    pub(super) fn ended(&mut self, h: &BatchHeader, marker: (Marker, i32)) -> Result<()> {
        self.producers.fence(h.producer_id, h.producer_epoch);
        if let Ended::Aborted(aborted) = self.txns.marker(h.producer_id, h.base_offset, marker) {
            let path = self.active().txn_index_path();
            let mut entry = Vec::with_capacity(crate::txn::ENTRY_LEN);
            aborted.encode(&mut entry);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(&entry))
                .map_err(LogError::io(format!("append to {}", path.display())))?;
        }
        Ok(())
    }

    /// The last stable offset for `high_watermark`: read_committed consumers read below it.
    pub fn last_stable_offset(&mut self, high_watermark: i64) -> i64 {
        self.txns.last_stable_offset(high_watermark)
    }

    /// The aborted transactions overlapping `[from, to)`, as (producer id, first offset).
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        self.txns.aborted_between(from, to)
    }

    /// The producers that wrote here (DescribeProducers), by id.
    pub fn producers(&self) -> Vec<ProducerInfo> {
        let open: std::collections::HashMap<i64, i64> = self.txns.open_transactions().into_iter().collect();
        self.producers
            .all()
            .into_iter()
            .map(|(producer_id, epoch, last_sequence, last_timestamp)| ProducerInfo {
                producer_id,
                epoch,
                last_sequence,
                last_timestamp,
                coordinator_epoch: self.txns.coordinator_epoch(producer_id).unwrap_or(-1),
                txn_start_offset: open.get(&producer_id).copied().unwrap_or(-1),
            })
            .collect()
    }

    /// Whether `producer_id` has a transaction open in this partition.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.txns.is_open(producer_id)
    }

    /// Rewrites every segment's `.txnindex` from the aborted transactions in memory (after a
    /// recovery or a truncation rebuilt them from the batches).
    pub(super) fn write_txn_indexes(&self) -> Result<()> {
        let aborted = self.txns.aborted();
        for (i, s) in self.segments.iter().enumerate() {
            let end = self.segments.get(i + 1).map_or(i64::MAX, Segment::base_offset);
            let mut bytes = Vec::new();
            for a in aborted.iter().filter(|a| (s.base_offset()..end).contains(&a.last_offset)) {
                a.encode(&mut bytes);
            }
            let path = s.txn_index_path();
            if bytes.is_empty() {
                crate::segment::remove_if_exists(&path)?;
            } else {
                crate::layout::write_atomically_checked(&path, &bytes)?;
            }
        }
        Ok(())
    }
}

/// The aborted transactions of every segment's `.txnindex` (at a clean open); `None` when a
/// file is damaged, so the log rebuilds them from its batches.
pub(super) fn load_indexes(segments: &[Segment]) -> Option<Vec<AbortedTxn>> {
    let mut all = Vec::new();
    for s in segments {
        match std::fs::read(s.txn_index_path()) {
            Ok(bytes) => all.extend(AbortedTxn::decode_all(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
    }
    Some(all)
}

/// Makes a segment's `.txnindex` durable, if it has one (at a roll and a close).
pub(super) fn sync_index(segment: &Segment) -> Result<()> {
    let path = segment.txn_index_path();
    match std::fs::File::open(&path) {
        Ok(f) => f.sync_all().map_err(LogError::io(format!("fsync {}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::Io { context: format!("open {}", path.display()), source: e }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::testing::{Producer, Record, build_with_attributes};
    use crate::txn::TRANSACTIONAL;
    use crate::{LogConfig, OpenOptions};

    fn open(dir: &Path, clean: bool) -> PartitionLog {
        let config = LogConfig { index_interval_bytes: 128, ..LogConfig::default() };
        PartitionLog::open(dir, config, OpenOptions { clean_shutdown: clean, log_start_offset: None }).unwrap()
    }

    /// `count` records of producer `id` in a transaction, from sequence `seq`.
    fn txn(id: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
        let records: Vec<Record<'_>> =
            (0..count).map(|_| Record { key: Some(b"k"), value: Some(b"v"), timestamp_delta: 0 }).collect();
        build_with_attributes(1_000, &records, Producer { id, epoch, base_sequence: seq }, TRANSACTIONAL)
    }

    /// Producer 1 commits 0..=2 (marker 3); producer 2 writes 4..=5 and aborts (marker 7);
    /// producer 3 writes 6 and stays open.
    fn three_transactions(log: &mut PartitionLog) {
        log.append(&txn(1, 0, 0, 3), 0, 0).unwrap();
        log.append_marker((1, 0), (Marker::Commit, 0), 0, 0).unwrap();
        log.append(&txn(2, 0, 0, 2), 0, 0).unwrap();
        log.append(&txn(3, 0, 0, 1), 0, 0).unwrap();
        assert_eq!(log.append_marker((2, 0), (Marker::Abort, 0), 0, 0).unwrap().base_offset, 7);
    }

    #[test]
    fn markers_end_transactions_and_move_the_last_stable_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        log.append(&txn(1, 0, 0, 3), 0, 0).unwrap();
        assert_eq!(log.last_stable_offset(3), 0, "an open transaction holds the LSO at its start");
        log.append_marker((1, 0), (Marker::Commit, 0), 0, 0).unwrap();
        assert_eq!(log.last_stable_offset(3), 0, "its marker is not replicated yet");
        assert_eq!(log.last_stable_offset(4), 4);
        log.append(&txn(2, 0, 0, 2), 0, 0).unwrap();
        log.append(&txn(3, 0, 0, 1), 0, 0).unwrap();
        log.append_marker((2, 0), (Marker::Abort, 0), 0, 0).unwrap();
        assert_eq!(log.last_stable_offset(8), 6, "producer 3 is open from 6");
        assert_eq!(log.aborted_transactions(0, 8), vec![(2, 4)]);
        assert!(log.aborted_transactions(0, 4).is_empty(), "the fetch ends before it");
        assert!(log.has_open_transaction(3) && !log.has_open_transaction(2));
        let read = log.read(7, 1 << 20, 8, true).unwrap();
        let marker = BatchHeader::parse(&read.records).unwrap();
        assert!(marker.is_control() && marker.producer_id == 2);
    }

    #[test]
    fn transactions_survive_a_clean_restart_and_are_rebuilt_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        three_transactions(&mut log);
        let index = log.active().txn_index_path();
        assert_eq!(std::fs::metadata(&index).unwrap().len(), crate::txn::ENTRY_LEN as u64);
        log.close().unwrap();
        drop(log);
        for clean in [true, false] {
            let mut log = open(dir.path(), clean);
            assert_eq!(log.last_stable_offset(8), 6, "clean: {clean}");
            assert_eq!(log.aborted_transactions(0, 8), vec![(2, 4)], "clean: {clean}");
            assert!(log.has_open_transaction(3), "clean: {clean}");
            log.close().unwrap();
        }
        std::fs::write(&index, b"torn").unwrap();
        let log = open(dir.path(), true);
        assert_eq!(log.aborted_transactions(0, 8), vec![(2, 4)], "a damaged index is rebuilt");
        assert_eq!(std::fs::metadata(&index).unwrap().len(), crate::txn::ENTRY_LEN as u64);
    }

    #[test]
    fn truncating_a_marker_reopens_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        three_transactions(&mut log);
        log.truncate_to(7).unwrap();
        assert!(log.has_open_transaction(2), "the abort marker is gone");
        assert!(log.aborted_transactions(0, 8).is_empty());
        assert_eq!(log.last_stable_offset(7), 4);
        assert!(!log.active().txn_index_path().exists());
    }

    #[test]
    fn markers_fence_older_producer_epochs_and_coordinators() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        log.append(&txn(1, 0, 0, 1), 0, 0).unwrap();
        // The coordinator fences the producer: it aborts with the next epoch.
        log.append_marker((1, 1), (Marker::Abort, 5), 0, 0).unwrap();
        assert!(matches!(log.append(&txn(1, 0, 1, 1), 0, 0), Err(LogError::InvalidProducerEpoch { .. })));
        assert!(matches!(
            log.append_marker((1, 0), (Marker::Commit, 5), 0, 0),
            Err(LogError::InvalidProducerEpoch { .. })
        ));
        assert!(matches!(
            log.append_marker((1, 1), (Marker::Commit, 4), 0, 0),
            Err(LogError::CoordinatorFenced { current: 5, got: 4, .. })
        ));
        log.append(&txn(1, 1, 0, 1), 0, 0).expect("the new epoch starts at sequence 0");
    }

    #[test]
    fn clients_write_no_markers_and_no_plain_batches_inside_their_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), false);
        let marker = crate::txn::control_batch(1, 0, Marker::Commit, 0, 0);
        assert!(matches!(log.append(&marker, 0, 0), Err(LogError::InvalidRecord(_))));
        log.append(&txn(1, 0, 0, 1), 0, 0).unwrap();
        let plain = crate::testing::build(
            0,
            &[Record { key: None, value: None, timestamp_delta: 0 }],
            Producer { id: 1, epoch: 0, base_sequence: 1 },
        );
        assert!(matches!(log.append(&plain, 0, 0), Err(LogError::InvalidTxnState(_))));
        // A coordinator writes on the producer's behalf without its sequences (offsets in a
        // transaction), but an older epoch is still fenced.
        log.append_as_coordinator(&txn(1, 0, 0, 1), 0, 0).expect("no sequence check");
        log.append_marker((1, 1), (Marker::Abort, 0), 0, 0).unwrap();
        assert!(matches!(
            log.append_as_coordinator(&txn(1, 0, 0, 1), 0, 0),
            Err(LogError::InvalidProducerEpoch { .. })
        ));
    }
}
