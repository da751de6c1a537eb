//! Retention and time-based rolls run in the background, on `log.retention.check.interval.ms`:
//! old segments go, the log start offset moves, and clients see it through ListOffsets and Fetch.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use fjord_log::testing::simple;
use fjord_tests::raw::{create_topic, fetch, list_offset, now_ms, produce};
use fjord_tests::{Broker, wait_for};

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const WAIT: Duration = Duration::from_secs(30);

/// (number of segments, bytes of record data) in a partition directory.
fn segments(dir: &Path) -> Result<(usize, u64)> {
    let mut count = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".log") {
            count += 1;
            bytes += entry.metadata()?.len();
        }
    }
    Ok((count, bytes))
}

#[test]
fn retention_bytes_keeps_the_newest_segments() -> Result<()> {
    let broker = Broker::start_with(&["log.retention.check.interval.ms=50"])?;
    let mut client = broker.connect()?;
    let configs = [("segment.bytes", "1024"), ("retention.bytes", "2048")];
    assert_eq!(create_topic(&mut client, "sized", &configs)?, 0);
    for _ in 0..40 {
        assert_eq!(produce(&mut client, "sized", simple(now_ms(), 10))?.0, 0);
    }
    assert_eq!(list_offset(&mut client, "sized", LATEST)?, (0, 400));
    let dir = broker.data.join("sized-0");
    let start = wait_for(WAIT, || {
        let (_, start) = list_offset(&mut client, "sized", EARLIEST)?;
        Ok((start > 0 && segments(&dir)?.1 < 2048 + 1024).then_some(start))
    })?;
    assert!(start < 400, "the newest records stay");
    assert_eq!(fetch(&mut client, "sized", 0)?.0, OFFSET_OUT_OF_RANGE, "deleted records are gone");
    let (error, high_watermark, records) = fetch(&mut client, "sized", start)?;
    assert_eq!((error, high_watermark), (0, 400));
    assert!(!records.is_empty());
    Ok(())
}

#[test]
fn retention_ms_deletes_old_records_and_keeps_new_ones() -> Result<()> {
    let broker = Broker::start_with(&["log.retention.check.interval.ms=50"])?;
    let mut client = broker.connect()?;
    assert_eq!(create_topic(&mut client, "aged", &[("retention.ms", "60000")])?, 0);
    let ten_minutes_ago = now_ms() - 600_000;
    assert_eq!(produce(&mut client, "aged", simple(ten_minutes_ago, 5))?, (0, 0));
    wait_for(WAIT, || Ok((list_offset(&mut client, "aged", EARLIEST)?.1 == 5).then_some(())))?;
    assert_eq!(produce(&mut client, "aged", simple(now_ms(), 3))?, (0, 5));
    assert_eq!(list_offset(&mut client, "aged", EARLIEST)?, (0, 5), "current records are kept");
    assert_eq!(list_offset(&mut client, "aged", LATEST)?, (0, 8));
    Ok(())
}

#[test]
fn segment_ms_rolls_the_active_segment() -> Result<()> {
    let broker = Broker::start_with(&["log.retention.check.interval.ms=50"])?;
    let mut client = broker.connect()?;
    assert_eq!(create_topic(&mut client, "rolled", &[("segment.ms", "1")])?, 0);
    assert_eq!(produce(&mut client, "rolled", simple(now_ms(), 2))?, (0, 0));
    let dir = broker.data.join("rolled-0");
    wait_for(WAIT, || Ok((segments(&dir)?.0 >= 2).then_some(())))?;
    assert_eq!(produce(&mut client, "rolled", simple(now_ms(), 1))?, (0, 2));
    assert_eq!(fetch(&mut client, "rolled", 0)?.1, 3, "rolled data still reads");
    Ok(())
}

/// A record read back: offset, key, value (`None`: a tombstone).
type Stored = (i64, Vec<u8>, Option<Vec<u8>>);

/// Every record from the log start up to the high watermark.
fn read_all(client: &mut fjord_tests::RawClient, topic: &str) -> Result<Vec<Stored>> {
    let mut out = Vec::new();
    let mut offset = list_offset(client, topic, EARLIEST)?.1;
    let end = list_offset(client, topic, LATEST)?.1;
    while offset < end {
        let (error, _, records) = fetch(client, topic, offset)?;
        anyhow::ensure!(error == 0, "fetch error {error}");
        let mut pos = 0;
        while let Some(h) = fjord_log::batch::BatchHeader::parse(&records[pos..]) {
            for r in fjord_log::records::parse(&records[pos..pos + h.size()]).unwrap_or_default() {
                out.push((r.offset, r.key.unwrap_or_default().to_vec(), r.value.map(<[u8]>::to_vec)));
            }
            offset = h.last_offset() + 1;
            pos += h.size();
        }
    }
    Ok(out)
}

#[test]
fn compacted_topics_keep_the_latest_record_of_each_key() -> Result<()> {
    use fjord_log::records::{Producer, Record, build};
    let broker = Broker::start_with(&["log.retention.check.interval.ms=50"])?;
    let mut client = broker.connect()?;
    let configs = [("cleanup.policy", "compact"), ("segment.bytes", "1024")];
    assert_eq!(create_topic(&mut client, "table", &configs)?, 0);
    // 20 rounds over 5 keys; key k2 is deleted (a tombstone) in the last round.
    for round in 0..20 {
        for k in 0..5 {
            let key = format!("k{k}");
            let value = format!("v{round}");
            let tombstone = round == 19 && k == 2;
            let record = Record {
                key: Some(key.as_bytes()),
                value: (!tombstone).then_some(value.as_bytes()),
                timestamp_delta: 0,
            };
            assert_eq!(produce(&mut client, "table", build(now_ms(), &[record], Producer::default()))?.0, 0);
        }
    }
    let keyless = simple(now_ms(), 1);
    assert_eq!(produce(&mut client, "table", keyless)?.0, 87, "INVALID_RECORD: a compacted topic needs keys");
    assert_eq!(fjord_tests::raw::delete_records(&mut client, "table", 10)?, 44, "POLICY_VIOLATION");

    let records = wait_for(WAIT, || {
        let all = read_all(&mut client, "table")?;
        Ok((all.len() < 100).then_some(all))
    })?;
    assert!(records.windows(2).all(|w| w[0].0 < w[1].0), "offsets stay in order");
    assert_eq!(records.first().map(|r| r.0), Some(list_offset(&mut client, "table", EARLIEST)?.1.max(records[0].0)));
    for k in 0..5 {
        let key = format!("k{k}").into_bytes();
        let last = records.iter().rev().find(|r| r.1 == key).expect("every key keeps its latest record");
        let want = if k == 2 { None } else { Some(b"v19".to_vec()) };
        assert_eq!(last.2, want, "the latest value of k{k}");
    }
    assert_eq!(list_offset(&mut client, "table", LATEST)?, (0, 100), "offsets do not move");
    Ok(())
}
