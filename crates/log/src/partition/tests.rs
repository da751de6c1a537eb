use super::*;
use crate::batch::testing::{Producer, Record, build, simple};

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
    assert!(matches!(log.append(&mut two, 5, 0), Err(LogError::InvalidRecord(_))), "one batch per append, as Kafka");
    let out = log.append(&mut simple(100, 3), 5, 0).unwrap();
    assert_eq!((out.base_offset, out.last_offset, out.record_count, out.duplicate), (0, 2, 3, false));
    assert_eq!(log.append(&mut simple(200, 2), 5, 0).unwrap().base_offset, 3);
    let out = log.append(&mut simple(300, 1), 5, 0).unwrap();
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
fn bad_batches_are_refused_and_leave_the_log_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { max_message_bytes: 200, ..config() }, false);
    let mut corrupt = simple(0, 2);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(log.append(&mut corrupt, 0, 0), Err(LogError::CorruptMessage(_))));
    let mut big = simple(0, 20);
    assert!(matches!(log.append(&mut big, 0, 0), Err(LogError::MessageTooLarge { max: 200, .. })));
    let mut good_then_torn = simple(0, 1);
    good_then_torn.extend_from_slice(&simple(0, 1)[..30]);
    assert!(log.append(&mut good_then_torn, 0, 0).is_err());
    let mut old_format = simple(0, 1);
    old_format[16] = 1;
    assert!(matches!(log.append(&mut old_format, 0, 0), Err(LogError::UnsupportedMessageFormat { magic: 1 })));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn log_append_time_stamps_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { timestamp_type: TimestampType::LogAppendTime, ..config() }, false);
    let out = log.append(&mut simple(5, 2), 0, 77_000).unwrap();
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
        log.append(&mut simple(i * 1_000, 2), 0, i * 1_000).unwrap();
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
        log.append(&mut simple(10_000 + i * 100, 3), 0, 0).unwrap();
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
        log.append(&mut simple(i, 2), 0, 0).unwrap();
    }
    let active = dir.path().join(segment::file_name(log.active().base_offset(), segment::LOG_SUFFIX));
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
    assert_eq!(log.append(&mut simple(0, 1), 0, 0).unwrap().base_offset, 40);
    let all = log.read(0, 1 << 20, 41, true).unwrap();
    assert_eq!(values(&all.records).len() as i64, log.segments[1].base_offset(), "a read stays within one segment");
}

#[test]
fn producer_state_drops_retries_and_survives_both_kinds_of_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    assert_eq!(log.append(&mut idempotent(9, 0, 0, 2), 0, 0).unwrap().base_offset, 0);
    assert_eq!(log.append(&mut idempotent(9, 0, 2, 2), 0, 0).unwrap().base_offset, 2);
    let retry = log.append(&mut idempotent(9, 0, 0, 2), 0, 0).unwrap();
    assert_eq!((retry.base_offset, retry.last_offset, retry.duplicate), (0, 1, true));
    assert_eq!(log.log_end_offset(), 4);
    assert!(matches!(
        log.append(&mut idempotent(9, 0, 7, 1), 0, 0),
        Err(LogError::OutOfOrderSequence { expected: 4, .. })
    ));

    drop(log); // crash: state rebuilt from the log
    let mut log = open(dir.path(), config(), false);
    assert!(log.append(&mut idempotent(9, 0, 2, 2), 0, 0).unwrap().duplicate);
    assert_eq!(log.append(&mut idempotent(9, 0, 4, 1), 0, 0).unwrap().base_offset, 4);
    log.close().unwrap();
    drop(log);

    let mut log = open(dir.path(), config(), true); // clean: state from the snapshot
    assert!(log.append(&mut idempotent(9, 0, 4, 1), 0, 0).unwrap().duplicate);
    assert!(matches!(log.append(&mut idempotent(9, -1, 5, 1), 0, 0), Err(LogError::InvalidProducerEpoch { .. })));
    assert!(!dir.path().join(crate::producer::SNAPSHOT_FILE).exists(), "a running log has no snapshot to trust");
}

#[test]
fn retention_deletes_whole_old_segments_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { segment_bytes: 400, retention_ms: 10_000, ..config() };
    let mut log = open(dir.path(), cfg.clone(), false);
    for i in 0..20 {
        log.append(&mut simple(i * 1_000, 2), 0, 0).unwrap();
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
    log.append(&mut simple(0, 3), 0, 0).unwrap();
    let out = log.apply_retention(1_000).unwrap();
    assert_eq!((out.segments_deleted, out.log_start_offset, log.log_end_offset()), (1, 3, 3));
    assert_eq!(log.append(&mut simple(2_000, 1), 0, 0).unwrap().base_offset, 3);
}

#[test]
fn delete_records_moves_the_start_and_is_remembered_by_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_bytes: 300, ..config() }, false);
    for i in 0..10 {
        log.append(&mut simple(i, 2), 0, 0).unwrap();
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
    log.append(&mut simple(0, 1), 0, 0).unwrap();
    let target = log.flush_target();
    assert_eq!(target.upto, 1);
    target.sync().unwrap();
    log.mark_flushed(target.upto);
    assert_eq!(log.flush_target().upto, 1);
    log.poison();
    assert!(matches!(log.append(&mut simple(0, 1), 0, 0), Err(LogError::Poisoned)));
    assert!(log.read(0, 100, 1, true).is_ok(), "reads of what is there go on");
}

#[test]
fn old_timestamps_roll_by_their_own_span_not_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { segment_ms: 60_000, ..config() }, false);
    let now = 1_800_000_000_000;
    let month_ago = now - 30 * 24 * 3600 * 1000;
    for i in 0..10 {
        log.append(&mut simple(month_ago + i * 1_000, 1), 0, now).unwrap();
    }
    assert_eq!(log.segment_count(), 1, "a backfill of old records does not roll on every append");
    log.append(&mut simple(month_ago + 61_000, 1), 0, now).unwrap();
    assert_eq!(log.segment_count(), 2, "61 s of record time past the first batch");
    assert!(!log.roll_if_due(now + 59_000).unwrap());
    assert!(log.roll_if_due(now + 60_000).unwrap(), "the clock rolls a segment that took appends for segment.ms");
}

#[test]
fn a_start_offset_past_the_recovered_end_restarts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(), false);
    log.append(&mut simple(0, 5), 0, 0).unwrap();
    drop(log);
    let opts = OpenOptions { clean_shutdown: false, log_start_offset: Some(9) };
    let mut log = PartitionLog::open(dir.path(), config(), opts).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.size_bytes()), (9, 9, 0));
    assert_eq!(log.append(&mut simple(0, 1), 0, 0).unwrap().base_offset, 9);
    assert_eq!(log.read(9, 1 << 20, 10, true).unwrap().records.len(), simple(0, 1).len());
}

#[test]
fn a_retired_log_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { retention_ms: 1, ..config() }, false);
    log.append(&mut simple(0, 2), 0, 0).unwrap();
    log.retire();
    assert!(matches!(log.append(&mut simple(0, 1), 0, 0), Err(LogError::Retired)));
    assert!(log.roll().is_err());
    assert_eq!(log.apply_retention(1 << 40).unwrap().segments_deleted, 0);
    assert!(log.delete_records_before(1).is_err());
    log.close().unwrap();
    assert_eq!(log.segment_count(), 1);
}
