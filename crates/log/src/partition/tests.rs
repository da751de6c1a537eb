use super::*;
use crate::testing::{Producer, Record, build, simple};

fn config() -> LogConfig {
    LogConfig { index_interval_bytes: 128, ..LogConfig::default() }
}

fn open(dir: &Path, config: LogConfig, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, config, OpenOptions { clean_shutdown: clean, log_start_offset: None }).unwrap()
}

fn values(records: &Bytes) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(h) = BatchHeader::parse(&records[pos..]) {
        out.extend(crate::records::record_timestamps(&records[pos..pos + h.size()]).unwrap());
        pos += h.size();
    }
    out
}

fn idempotent(id: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    let records: Vec<Record<'_>> =
        (0..count).map(|_| Record { key: Some(b"k"), value: None, timestamp_delta: 0 }).collect();
    build(1_000, &records, Producer { id, epoch, base_sequence: seq })
}

#[test]
fn appends_assign_offsets_and_reads_return_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    let mut two = simple(100, 3);
    two.extend_from_slice(&simple(200, 2));
    assert!(matches!(log.append(&two, 5, 0), Err(LogError::InvalidRecord(_))), "one batch per append, as Kafka");
    let out = log.append(&simple(100, 3), 5, 0).unwrap();
    assert_eq!((out.base_offset, out.last_offset, out.record_count, out.duplicate), (0, 2, 3, false));
    assert_eq!(log.append(&simple(200, 2), 5, 0).unwrap().base_offset, 3);
    let out = log.append(&simple(300, 1), 5, 0).unwrap();
    assert_eq!(out.base_offset, 5);
    let read = log.read(0, 1 << 20, log.log_end_offset(), true).unwrap();
    assert_eq!(values(&read.records).iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!((read.log_start_offset, read.log_end_offset), (0, 6));
    assert_eq!(BatchHeader::parse(&read.records).unwrap().leader_epoch, 5);
    assert_eq!(values(&log.read(4, 1 << 20, 6, true).unwrap().records)[0].0, 3, "from the batch holding offset 4");
    assert!(log.read(6, 100, 6, true).unwrap().records.is_empty());
    assert!(matches!(log.read(7, 100, 7, true), Err(LogError::OffsetOutOfRange { offset: 7, start: 0, end: 6 })));
    assert!(log.read(3, 1 << 20, 3, true).unwrap().records.is_empty(), "nothing at or past max_offset");
}

#[test]
fn large_batches_are_written_from_the_callers_buffer_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    for base_timestamp in [100, 10_000] {
        // Past the size gathered into one write: header and body go to the file apart.
        let big = simple(base_timestamp, 2_000);
        assert!(big.len() > 16 * 1024);
        let before = big.clone();
        log.append(&big, 7, 0).unwrap();
        assert_eq!(big, before, "the caller's bytes are not stamped");
    }
    let read = log.read(0, 1 << 20, log.log_end_offset(), true).unwrap();
    assert_eq!(values(&read.records).iter().map(|r| r.0).collect::<Vec<_>>(), (0..4_000).collect::<Vec<i64>>());
    let mut pos = 0;
    while let Some(h) = BatchHeader::parse(&read.records[pos..]) {
        crate::batch::validate(&read.records[pos..pos + h.size()]).expect("every stored batch keeps a valid CRC");
        assert_eq!((h.base_offset, h.leader_epoch), (pos as i64 / h.size() as i64 * 2_000, 7));
        pos += h.size();
    }
    assert_eq!(pos, read.records.len());
}

#[test]
fn bad_batches_are_refused_and_leave_the_log_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { max_message_bytes: 200, ..config() }, false);
    let mut corrupt = simple(0, 2);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(log.append(&corrupt, 0, 0), Err(LogError::CorruptMessage(_))));
    let big = simple(0, 20);
    assert!(matches!(log.append(&big, 0, 0), Err(LogError::MessageTooLarge { max: 200, .. })));
    let mut good_then_torn = simple(0, 1);
    good_then_torn.extend_from_slice(&simple(0, 1)[..30]);
    assert!(log.append(&good_then_torn, 0, 0).is_err());
    let mut old_format = simple(0, 1);
    old_format[16] = 1;
    assert!(matches!(log.append(&old_format, 0, 0), Err(LogError::UnsupportedMessageFormat { magic: 1 })));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn log_append_time_stamps_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { timestamp_type: TimestampType::LogAppendTime, ..config() }, false);
    let out = log.append(&simple(5, 2), 0, 77_000).unwrap();
    assert_eq!(out.log_append_time, 77_000);
    let read = log.read(0, 1 << 20, 2, true).unwrap();
    batch::validate(&read.records).unwrap();
    assert_eq!(values(&read.records), vec![(0, 77_000), (1, 77_000)]);
}

#[test]
fn segments_roll_on_size_and_age_and_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let small = LogConfig { segment_bytes: 1_000, segment_ms: 60_000, ..config() };
    let mut log = open(dir.path(), small.clone(), false);
    for i in 0..40 {
        log.append(&simple(i * 1_000, 2), 0, i * 1_000).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 3, "rolled on size: {segments} segments");
    assert!(!log.roll_if_due(1_000).unwrap());
    assert!(log.roll_if_due(10_000_000).unwrap(), "the active segment is older than segment.ms");
    assert_eq!(log.segment_count(), segments + 1);
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), small, true);
    assert_eq!((log.segment_count(), log.log_end_offset()), (segments + 1, 80));
    let mut offset = 0;
    let mut seen = Vec::new();
    while offset < 80 {
        let read = log.read(offset, 300, 80, true).unwrap();
        let got = values(&read.records);
        seen.extend(got.iter().map(|r| r.0));
        offset = got.last().unwrap().0 + 1;
    }
    assert_eq!(seen, (0..80).collect::<Vec<_>>());
}

#[test]
fn timestamps_are_found_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_bytes: 500, ..config() }, false);
    for i in 0..30 {
        log.append(&simple(10_000 + i * 100, 3), 0, 0).unwrap();
    }
    assert!(log.segment_count() > 2);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 10_000)));
    assert_eq!(log.offset_for_timestamp(12_001).unwrap(), Some((61, 12_001)));
    assert_eq!(log.offset_for_timestamp(12_003).unwrap(), Some((63, 12_100)));
    assert_eq!(log.offset_for_timestamp(99_999).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((89, 12_902)));
    log.delete_records_before(62).unwrap();
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((62, 12_002)), "never below the log start");
}

#[test]
fn unclean_restart_cuts_the_torn_tail_and_keeps_every_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_bytes: 600, ..config() }, false);
    for i in 0..20 {
        log.append(&simple(i, 2), 0, 0).unwrap();
    }
    let active =
        dir.path().join(crate::layout::segment_file_name(log.active().base_offset(), crate::layout::LOG_SUFFIX));
    let size = log.active().size();
    drop(log); // no close: a crash
    let torn = simple(0, 3);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&active).unwrap();
        f.write_all_at(&torn[..torn.len() - 3], size).unwrap();
    }
    let mut log = open(dir.path(), LogConfig { segment_bytes: 600, ..config() }, false);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(std::fs::metadata(&active).unwrap().len(), size);
    assert_eq!(log.append(&simple(0, 1), 0, 0).unwrap().base_offset, 40);
    let all = log.read(0, 1 << 20, 41, true).unwrap();
    assert_eq!(values(&all.records).len() as i64, log.segments[1].base_offset(), "a read stays within one segment");
}

#[test]
fn producer_state_drops_retries_and_survives_both_kinds_of_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    assert_eq!(log.append(&idempotent(9, 0, 0, 2), 0, 0).unwrap().base_offset, 0);
    assert_eq!(log.append(&idempotent(9, 0, 2, 2), 0, 0).unwrap().base_offset, 2);
    let retry = log.append(&idempotent(9, 0, 0, 2), 0, 0).unwrap();
    assert_eq!((retry.base_offset, retry.last_offset, retry.duplicate), (0, 1, true));
    assert_eq!(log.log_end_offset(), 4);
    assert!(matches!(log.append(&idempotent(9, 0, 7, 1), 0, 0), Err(LogError::OutOfOrderSequence { expected: 4, .. })));

    drop(log); // crash: state rebuilt from the log
    let mut log = open(dir.path(), config(), false);
    assert!(log.append(&idempotent(9, 0, 2, 2), 0, 0).unwrap().duplicate);
    assert_eq!(log.append(&idempotent(9, 0, 4, 1), 0, 0).unwrap().base_offset, 4);
    log.close().unwrap();
    drop(log);

    let mut log = open(dir.path(), config(), true); // clean: state from the snapshot
    assert!(log.append(&idempotent(9, 0, 4, 1), 0, 0).unwrap().duplicate);
    assert!(matches!(log.append(&idempotent(9, -1, 5, 1), 0, 0), Err(LogError::InvalidProducerEpoch { .. })));
    assert!(!dir.path().join(crate::layout::PRODUCER_SNAPSHOT).exists(), "a running log has no snapshot to trust");
}

#[test]
fn retention_deletes_whole_old_segments_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { segment_bytes: 400, retention_ms: 10_000, ..config() };
    let mut log = open(dir.path(), cfg.clone(), false);
    for i in 0..20 {
        log.append(&simple(i * 1_000, 2), 0, 0).unwrap();
    }
    let before = log.segment_count();
    let out = log.apply_retention(25_000).unwrap();
    assert!(out.segments_deleted > 0 && out.segments_deleted < before);
    assert_eq!(out.log_start_offset, log.segments[0].base_offset());
    assert!(log.segments[0].max_timestamp() >= 15_000);
    assert!(matches!(log.read(0, 100, 40, true), Err(LogError::OffsetOutOfRange { .. })));

    log.set_config(LogConfig { retention_ms: -1, retention_bytes: 300, ..cfg.clone() });
    assert_eq!(log.apply_retention(25_000).unwrap().segments_deleted, 1);
    assert_eq!(
        (log.segment_count(), log.log_start_offset()),
        (1, log.active().base_offset()),
        "the active segment stays"
    );

    log.set_config(LogConfig { retention_ms: 1, delete_retention: false, ..cfg });
    assert_eq!(log.apply_retention(1 << 40).unwrap().segments_deleted, 0, "compact-only topics keep their data");
}

#[test]
fn everything_expired_leaves_an_empty_log_at_the_end_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { retention_ms: 10, ..config() }, false);
    log.append(&simple(0, 3), 0, 0).unwrap();
    let out = log.apply_retention(1_000).unwrap();
    assert_eq!((out.segments_deleted, out.log_start_offset, log.log_end_offset()), (1, 3, 3));
    assert_eq!(log.append(&simple(2_000, 1), 0, 0).unwrap().base_offset, 3);
}

#[test]
fn delete_records_moves_the_start_and_is_remembered_by_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_bytes: 300, ..config() }, false);
    for i in 0..10 {
        log.append(&simple(i, 2), 0, 0).unwrap();
    }
    assert!(matches!(log.delete_records_before(21), Err(LogError::InvalidOffset(21))));
    let segments = log.segment_count();
    assert_eq!(log.delete_records_before(13).unwrap(), 13);
    assert!(log.segment_count() < segments);
    assert_eq!(log.delete_records_before(5).unwrap(), 13, "never moves back");
    let read = log.read(13, 1 << 20, 20, true).unwrap();
    assert_eq!(read.log_start_offset, 13);
    log.close().unwrap();
    drop(log);
    let log =
        PartitionLog::open(dir.path(), config(), OpenOptions { clean_shutdown: true, log_start_offset: Some(13) })
            .unwrap();
    assert_eq!(log.log_start_offset(), 13);
}

#[test]
fn a_poisoned_log_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    log.append(&simple(0, 1), 0, 0).unwrap();
    let target = log.flush_target();
    assert_eq!(target.upto, 1);
    target.sync().unwrap();
    assert_eq!(log.flushed().get(), 1);
    assert_eq!(log.flush_target().upto, 1);
    log.poison();
    assert!(matches!(log.append(&simple(0, 1), 0, 0), Err(LogError::Poisoned)));
    assert!(log.read(0, 100, 1, true).is_ok(), "reads of what is there go on");
}

#[test]
fn old_timestamps_roll_by_their_own_span_not_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_ms: 60_000, ..config() }, false);
    let now = 1_800_000_000_000;
    let month_ago = now - 30 * 24 * 3600 * 1000;
    for i in 0..10 {
        log.append(&simple(month_ago + i * 1_000, 1), 0, now).unwrap();
    }
    assert_eq!(log.segment_count(), 1, "a backfill of old records does not roll on every append");
    log.append(&simple(month_ago + 61_000, 1), 0, now).unwrap();
    assert_eq!(log.segment_count(), 2, "61 s of record time past the first batch");
    assert!(!log.roll_if_due(now + 59_000).unwrap());
    assert!(log.roll_if_due(now + 60_000).unwrap(), "the clock rolls a segment that took appends for segment.ms");
}

#[test]
fn a_start_offset_past_the_recovered_end_restarts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    log.append(&simple(0, 5), 0, 0).unwrap();
    drop(log);
    let opts = OpenOptions { clean_shutdown: false, log_start_offset: Some(9) };
    let mut log = PartitionLog::open(dir.path(), config(), opts).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.size_bytes()), (9, 9, 0));
    assert_eq!(log.append(&simple(0, 1), 0, 0).unwrap().base_offset, 9);
    assert_eq!(log.read(9, 1 << 20, 10, true).unwrap().records.len(), simple(0, 1).len());
}

#[test]
fn a_retired_log_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { retention_ms: 1, ..config() }, false);
    log.append(&simple(0, 2), 0, 0).unwrap();
    log.retire();
    assert!(matches!(log.append(&simple(0, 1), 0, 0), Err(LogError::Retired)));
    assert!(log.roll().is_err());
    assert_eq!(log.apply_retention(1 << 40).unwrap().segments_deleted, 0);
    assert!(log.delete_records_before(1).is_err());
    log.close().unwrap();
    assert_eq!(log.segment_count(), 1);
}

fn compacted() -> LogConfig {
    LogConfig { compact: true, delete_retention: false, delete_retention_ms: 1_000, ..config() }
}

/// A batch of keyed records, one millisecond apart; a `None` value is a tombstone.
fn keyed(base_timestamp: i64, records: &[(&str, Option<&str>)]) -> Vec<u8> {
    keyed_from(base_timestamp, records, Producer::default())
}

fn keyed_from(base_timestamp: i64, records: &[(&str, Option<&str>)], producer: Producer) -> Vec<u8> {
    let records: Vec<Record<'_>> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record { key: Some(k.as_bytes()), value: v.map(str::as_bytes), timestamp_delta: i as i64 })
        .collect();
    build(base_timestamp, &records, producer)
}

/// The batch marked as gzip-compressed, CRC recomputed (the log never opens it, so it need not be).
fn compressed(mut batch: Vec<u8>) -> Vec<u8> {
    batch[22] |= 1;
    let crc = batch::compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// (offset, key, value) of a record.
type Row = (i64, Option<String>, Option<String>);

fn row(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Row {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    (offset, key.map(text), value.map(text))
}

/// Every readable record from the log start on, read batch after batch as a consumer does;
/// offsets must increase. Compressed batches are skipped over.
fn read_all(log: &PartitionLog) -> Vec<Row> {
    let (mut offset, end) = (log.log_start_offset(), log.log_end_offset());
    let mut out: Vec<Row> = Vec::new();
    while offset < end {
        let read = log.read(offset, 1 << 20, end, true).unwrap();
        let mut pos = 0;
        let mut next = offset;
        while let Some(h) = BatchHeader::parse(&read.records[pos..]) {
            assert!(h.last_offset() >= offset, "batch {} ends before the offset {offset} read", h.base_offset);
            for r in crate::records::parse(&read.records[pos..pos + h.size()]).unwrap_or_default() {
                assert!(out.last().is_none_or(|last| last.0 < r.offset), "offsets increase");
                out.push(row(r.offset, r.key, r.value));
            }
            next = h.last_offset() + 1;
            pos += h.size();
        }
        assert!(next > offset, "a read at {offset} made no progress");
        offset = next;
    }
    out
}

fn leftovers(dir: &Path) -> Vec<String> {
    let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap());
    names.filter(|n| n.ends_with(".cleaned")).collect()
}

#[test]
fn compaction_keeps_the_latest_record_of_each_key_and_offsets_stay_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    let mut all: Vec<Row> = Vec::new();
    for i in 0..26 {
        let keys: Vec<String> = (0..3).map(|j| format!("k{}", (i * 3 + j) % 7)).collect();
        let values: Vec<String> = (0..3).map(|j| format!("v{i}.{j}")).collect();
        let records: Vec<(&str, Option<&str>)> =
            keys.iter().zip(&values).map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
        let out = log.append(&keyed(1_000 + i, &records), 0, 0).unwrap();
        all.extend(
            (0..3).map(|j| {
                row(out.base_offset + j, Some(keys[j as usize].as_bytes()), Some(values[j as usize].as_bytes()))
            }),
        );
        if i % 4 == 3 {
            log.roll().unwrap();
        }
    }
    let (start, end, active) = (log.log_start_offset(), log.log_end_offset(), log.active().base_offset());
    let mut latest = std::collections::HashMap::new();
    for r in all.iter().filter(|r| r.0 < active) {
        latest.insert(r.1.clone(), r.0);
    }
    let expected: Vec<Row> = all.iter().filter(|r| r.0 >= active || latest[&r.1] == r.0).cloned().collect();
    let size = log.size_bytes();

    let out = log.compact(10_000).unwrap();
    assert!(out.segments_rewritten > 0);
    assert_eq!(out.records_removed as usize, all.len() - expected.len());
    assert!(out.bytes_after < out.bytes_before);
    assert_eq!(size - log.size_bytes(), out.bytes_before - out.bytes_after);
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.segments[0].base_offset()), (start, end, 0));
    assert_eq!(read_all(&log), expected);
    for offset in start..end {
        let read = log.read(offset, 1, end, true).unwrap();
        let first = crate::records::parse(&read.records[..BatchHeader::parse(&read.records).unwrap().size()]).unwrap();
        let got = first.into_iter().find(|r| r.offset >= offset).map(|r| row(r.offset, r.key, r.value));
        assert_eq!(got.as_ref(), expected.iter().find(|r| r.0 >= offset), "read at {offset}");
    }
    assert!(leftovers(dir.path()).is_empty());

    assert_eq!(log.compact(10_000).unwrap(), CompactionOutcome::default(), "nothing new since the last pass");
    log.set_config(compacted());
    assert_eq!(log.compact(10_000).unwrap().segments_rewritten, 0, "a second full pass finds nothing to drop");
    assert_eq!(log.append(&keyed(0, &[("k1", Some("after"))]), 0, 0).unwrap().base_offset, end);
}

#[test]
fn tombstones_outlive_delete_retention_ms_and_no_longer() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    log.append(&keyed(1_000, &[("a", Some("1")), ("b", Some("1"))]), 0, 0).unwrap();
    log.append(&keyed(2_000, &[("a", None)]), 0, 0).unwrap();
    log.roll().unwrap();
    log.append(&keyed(5_000, &[("c", Some("1"))]), 0, 0).unwrap();

    assert_eq!(log.compact(2_999).unwrap().records_removed, 1, "the value the tombstone hides");
    let tombstone = row(2, Some(b"a"), None);
    assert_eq!(read_all(&log), vec![row(1, Some(b"b"), Some(b"1")), tombstone, row(3, Some(b"c"), Some(b"1"))]);
    assert_eq!(log.compact(2_999).unwrap(), CompactionOutcome::default());

    let out = log.compact(3_000).unwrap();
    assert_eq!((out.segments_rewritten, out.records_removed), (1, 1), "delete.retention.ms has passed");
    assert_eq!(read_all(&log), vec![row(1, Some(b"b"), Some(b"1")), row(3, Some(b"c"), Some(b"1"))]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 4));
    assert_eq!(values(&log.read(2, 1 << 20, 4, true).unwrap().records), vec![(3, 5_000)], "offset 2 is gone");
}

#[test]
fn the_active_segment_is_never_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    log.append(&keyed(0, &[("k", Some("old"))]), 0, 0).unwrap();
    log.roll().unwrap();
    log.append(&keyed(0, &[("k", Some("new")), ("k", Some("newer")), ("t", None)]), 0, 0).unwrap();
    let active = dir.path().join(crate::layout::segment_file_name(1, crate::layout::LOG_SUFFIX));
    let bytes = std::fs::read(&active).unwrap();
    assert_eq!(log.compact(1 << 40).unwrap(), CompactionOutcome::default());
    assert_eq!(std::fs::read(&active).unwrap(), bytes);
    assert_eq!(read_all(&log).len(), 4, "only the active segment supersedes the old value");
}

#[test]
fn compaction_leaves_delete_only_poisoned_and_retired_logs_alone() {
    for state in ["delete", "poisoned", "retired"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = if state == "delete" { config() } else { compacted() };
        let mut log = open(dir.path(), cfg, false);
        log.append(&keyed(0, &[("k", Some("1")), ("k", Some("2"))]), 0, 0).unwrap();
        log.roll().unwrap();
        match state {
            "poisoned" => log.poison(),
            "retired" => log.retire(),
            _ => {}
        }
        assert_eq!(log.compact(1 << 40).unwrap(), CompactionOutcome::default(), "{state}");
        assert_eq!(read_all(&log).len(), 2, "{state}");
    }
}

#[test]
fn keyless_records_are_refused_on_compacted_topics_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    match log.append(&simple(0, 2), 0, 0) {
        Err(LogError::InvalidRecord(why)) => {
            assert!(why.starts_with("Compacted topic cannot accept message without key"), "{why}")
        }
        other => panic!("a keyless batch was not refused: {other:?}"),
    }
    let mixed = [
        Record { key: Some(b"k"), value: Some(b"v"), timestamp_delta: 0 },
        Record { key: None, value: Some(b"v"), timestamp_delta: 1 },
    ];
    let refused = log.append(&build(0, &mixed, Producer::default()), 0, 0);
    assert!(matches!(refused, Err(LogError::InvalidRecord(_))), "one keyless record refuses the batch");
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.append(&keyed(0, &[("k", Some("v"))]), 0, 0).unwrap().base_offset, 0);
    let out = log.append(&compressed(simple(0, 2)), 0, 0).unwrap();
    assert_eq!(out.base_offset, 1, "a compressed batch cannot be opened, so it is taken as it is");

    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    assert_eq!(log.append(&simple(0, 2), 0, 0).unwrap().last_offset, 1, "delete topics take keyless records");
}

#[test]
fn compressed_batches_are_kept_whole_and_guard_older_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    log.append(&keyed(500, &[("c", Some("1"))]), 0, 0).unwrap();
    log.append(&compressed(keyed(1_000, &[("a", Some("old")), ("b", Some("old"))])), 0, 0).unwrap();
    log.append(&keyed(2_000, &[("a", Some("new")), ("c", Some("2"))]), 0, 0).unwrap();
    log.append(&keyed(3_000, &[("b", None)]), 0, 0).unwrap();
    log.roll().unwrap();
    log.append(&keyed(9_000, &[("z", Some("1"))]), 0, 0).unwrap();
    let stored = log.read(1, 1 << 20, 3, true).unwrap().records;

    let out = log.compact(1 << 40).unwrap();
    assert_eq!((out.segments_rewritten, out.records_removed), (1, 1), "only c=1 goes");
    assert_eq!(
        log.read(1, 1 << 20, 3, true).unwrap().records,
        stored,
        "the compressed batch is byte for byte the same"
    );
    assert_eq!(
        read_all(&log),
        vec![
            row(3, Some(b"a"), Some(b"new")),
            row(4, Some(b"c"), Some(b"2")),
            row(5, Some(b"b"), None),
            row(6, Some(b"z"), Some(b"1")),
        ],
        "the tombstone of b stays: the compressed batch may hold an older b"
    );
}

#[test]
fn a_segment_left_empty_is_deleted_unless_it_is_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    log.append(&keyed(0, &[("a", Some("1")), ("b", Some("1"))]), 0, 0).unwrap();
    log.roll().unwrap();
    log.append(&keyed(0, &[("c", Some("1"))]), 0, 0).unwrap();
    log.roll().unwrap();
    log.append(&keyed(0, &[("a", Some("2")), ("b", Some("2")), ("c", Some("2"))]), 0, 0).unwrap();
    log.roll().unwrap();
    log.append(&keyed(0, &[("d", Some("1"))]), 0, 0).unwrap();

    let out = log.compact(0).unwrap();
    assert_eq!((out.segments_rewritten, out.segments_removed, out.records_removed), (2, 1, 3));
    let bases: Vec<i64> = log.segments.iter().map(Segment::base_offset).collect();
    assert_eq!(bases, vec![0, 3, 6]);
    assert_eq!((log.segments[0].size(), log.log_start_offset(), log.log_end_offset()), (0, 0, 7));
    assert!(!dir.path().join(crate::layout::segment_file_name(2, crate::layout::LOG_SUFFIX)).exists());
    let expected = vec![
        row(3, Some(b"a"), Some(b"2")),
        row(4, Some(b"b"), Some(b"2")),
        row(5, Some(b"c"), Some(b"2")),
        row(6, Some(b"d"), Some(b"1")),
    ];
    assert_eq!(read_all(&log), expected);
    assert_eq!(values(&log.read(2, 1 << 20, 7, true).unwrap().records)[0].0, 3, "the removed range reads on");
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), compacted(), true);
    assert_eq!((log.segment_count(), log.log_start_offset(), log.log_end_offset()), (3, 0, 7));
    assert_eq!(read_all(&log), expected);
}

#[test]
fn compaction_survives_a_clean_restart_a_crash_and_lost_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    for i in 0..40 {
        let key = format!("k{}", i % 6);
        let value = format!("v{i}");
        log.append(&keyed(i, &[(key.as_str(), Some(value.as_str())), ("same", Some(value.as_str()))]), 0, 0).unwrap();
        if i % 10 == 9 {
            log.roll().unwrap();
        }
    }
    log.append(&keyed(40, &[("tail", Some("1"))]), 0, 0).unwrap();
    assert!(log.compact(100).unwrap().records_removed > 0);
    let (after, end, segments) = (read_all(&log), log.log_end_offset(), log.segment_count());
    log.close().unwrap();
    drop(log);

    let log = open(dir.path(), compacted(), true);
    assert_eq!((read_all(&log), log.log_end_offset(), log.segment_count()), (after.clone(), end, segments));
    for s in &log.segments {
        assert!(
            dir.path().join(crate::layout::segment_file_name(s.base_offset(), crate::layout::INDEX_SUFFIX)).exists()
        );
    }
    drop(log); // a crash

    let log = open(dir.path(), compacted(), false);
    assert_eq!((read_all(&log), log.log_end_offset()), (after.clone(), end));
    let first = log.segments[1].base_offset();
    let size = log.size_bytes();
    drop(log);
    for suffix in [crate::layout::INDEX_SUFFIX, crate::layout::TIME_INDEX_SUFFIX] {
        std::fs::remove_file(dir.path().join(crate::layout::segment_file_name(first, suffix))).unwrap();
    }
    let mut log = open(dir.path(), compacted(), true);
    assert_eq!((read_all(&log), log.size_bytes()), (after, size), "rebuilt indexes, nothing cut");
    assert_eq!(log.compact(100).unwrap().records_removed, 0);
    assert_eq!(log.append(&keyed(41, &[("k0", Some("x"))]), 0, 0).unwrap().base_offset, end);
}

#[test]
fn a_leftover_cleaned_file_is_deleted_on_open_and_the_log_is_intact() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), compacted(), false);
        log.append(&keyed(0, &[("a", Some("1")), ("a", Some("2"))]), 0, 0).unwrap();
        log.roll().unwrap();
        log.append(&keyed(0, &[("b", Some("1"))]), 0, 0).unwrap();
        let before = read_all(&log);
        if clean {
            log.close().unwrap();
        }
        drop(log);
        // A crash while the first segment was being rewritten, before the rename.
        let cleaned =
            dir.path().join(format!("{}.cleaned", crate::layout::segment_file_name(0, crate::layout::LOG_SUFFIX)));
        std::fs::write(&cleaned, &keyed(0, &[("a", Some("2"))])[..40]).unwrap();
        let mut log = open(dir.path(), compacted(), clean);
        assert!(!cleaned.exists(), "clean: {clean}");
        assert_eq!(read_all(&log), before);
        assert_eq!(log.compact(0).unwrap().records_removed, 1);
        assert!(leftovers(dir.path()).is_empty());
    }
}

#[test]
fn thinned_batches_keep_their_producer_fields_and_span() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted(), false);
    let producer = |base_sequence| Producer { id: 7, epoch: 0, base_sequence };
    log.append(&keyed_from(100, &[("a", Some("1")), ("b", Some("1"))], producer(0)), 3, 0).unwrap();
    log.append(&keyed_from(200, &[("a", Some("2"))], producer(2)), 3, 0).unwrap();
    log.roll().unwrap();
    assert_eq!(log.compact(0).unwrap().records_removed, 1);
    let read = log.read(0, 1 << 20, 3, true).unwrap().records;
    let h = BatchHeader::parse(&read).unwrap();
    assert_eq!(
        (h.base_offset, h.last_offset_delta, h.record_count, h.leader_epoch, h.producer_id, h.base_sequence),
        (0, 1, 1, 3, 7, 0)
    );
    assert_eq!((h.base_timestamp, h.max_timestamp), (100, 101));
    assert_eq!(values(&read), vec![(1, 101), (2, 200)]);
    drop(log); // a crash: producer state comes back from the batch headers
    let mut log = open(dir.path(), compacted(), false);
    assert!(log.append(&keyed_from(200, &[("a", Some("2"))], producer(2)), 3, 0).unwrap().duplicate);
    assert_eq!(log.append(&keyed_from(300, &[("a", Some("3"))], producer(3)), 3, 0).unwrap().base_offset, 3);
}

/// Everything `log` holds, as stored.
fn all_bytes(log: &PartitionLog) -> Bytes {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 30, log.log_end_offset(), true).unwrap().records;
        let mut pos = 0;
        while let Some(h) = BatchHeader::parse(&read[pos..]) {
            offset = h.last_offset() + 1;
            pos += h.size();
        }
        out.extend_from_slice(&read);
    }
    Bytes::from(out)
}

#[test]
fn a_follower_copies_the_leaders_batches_byte_for_byte() {
    let (ld, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let small = LogConfig { segment_bytes: 600, ..config() };
    let mut leader = open(ld.path(), small.clone(), false);
    leader.begin_epoch(0).unwrap();
    for i in 0..6 {
        leader.append(&idempotent(9, 0, i * 2, 2), 0, 0).unwrap();
    }
    leader.begin_epoch(3).unwrap();
    for i in 6..10 {
        leader.append(&idempotent(9, 0, i * 2, 2), 3, 0).unwrap();
    }
    let mut follower = open(fd.path(), small, false);
    let fetched = all_bytes(&leader);
    let half = BatchHeader::parse(&fetched).unwrap().size() * 3 + 10;
    assert_eq!(follower.append_replicated(&fetched[..half], 0).unwrap(), 6, "a partial batch waits");
    assert_eq!(follower.append_replicated(&fetched, 0).unwrap(), 20, "what it holds is skipped");
    assert_eq!(all_bytes(&follower), fetched);
    assert!(follower.segment_count() > 1, "followers roll too");
    assert_eq!(follower.end_offset_for_epoch(0), Some((0, 12)));
    assert_eq!(follower.end_offset_for_epoch(3), Some((3, 20)));
    assert_eq!(follower.latest_epoch(), 3);
    // Its producer state came along: the leader's last batch retried is a duplicate there.
    assert!(follower.append(&idempotent(9, 0, 18, 2), 4, 0).unwrap().duplicate);
    let mut bad = fetched.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let od = tempfile::tempdir().unwrap();
    let mut other = open(od.path(), config(), false);
    assert!(matches!(other.append_replicated(&bad, 0), Err(LogError::CorruptMessage(_))));
    assert_eq!(other.log_end_offset(), 18, "the batches before the corrupt one are in");
}

#[test]
fn truncation_cuts_the_divergent_tail_and_its_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let small = LogConfig { segment_bytes: 250, ..config() };
    let mut log = open(dir.path(), small.clone(), false);
    for i in 0..5 {
        log.append(&idempotent(4, 0, i * 2, 2), 1, 0).unwrap();
    }
    for i in 5..10 {
        log.append(&idempotent(4, 0, i * 2, 2), 2, 0).unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 2);
    assert!(!log.truncate_to(20).unwrap(), "nothing past the end");
    assert!(log.truncate_to(11).unwrap());
    assert_eq!(log.log_end_offset(), 10, "whole batches: the one holding 11 goes too");
    assert!(log.segment_count() < segments);
    assert_eq!(log.latest_epoch(), 1, "epoch 2 started at 10 and is gone");
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 10)));
    // The producer may resend sequence 10 now: it is no longer a duplicate.
    let resent = log.append(&idempotent(4, 0, 10, 2), 3, 0).unwrap();
    assert_eq!((resent.base_offset, resent.duplicate), (10, false));
    log.close().unwrap();
    let mut reopened = open(dir.path(), small.clone(), true);
    assert_eq!((reopened.log_end_offset(), reopened.latest_epoch()), (12, 3));
    assert_eq!(reopened.end_offset_for_epoch(2), Some((1, 10)), "epoch 2 answers for epoch 1");
    reopened.restart_at(40).unwrap();
    assert_eq!((reopened.log_start_offset(), reopened.log_end_offset(), reopened.latest_epoch()), (40, 40, -1));
    drop(reopened);
    // After a crash the cache comes from the batch headers.
    let again = open(dir.path(), small, false);
    assert_eq!((again.log_end_offset(), again.latest_epoch()), (40, -1));
}

#[test]
fn the_epoch_cache_is_rebuilt_after_a_crash_and_follows_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    for epoch in [0, 0, 2, 2, 5] {
        log.append(&simple(100, 2), epoch, 0).unwrap();
    }
    drop(log);
    let mut log = open(dir.path(), config(), false);
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 4)));
    assert_eq!(log.end_offset_for_epoch(4), Some((2, 8)));
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 10)));
    log.delete_records_before(5).unwrap();
    assert_eq!(log.epoch_start(2), Some(5));
    assert_eq!(log.epoch_start(0), None);
}
