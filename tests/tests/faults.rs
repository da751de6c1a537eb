//! Faults a broker must survive: a torn write left by a crash, and a disk that fills up. Each
//! time the broker keeps serving, and nothing it acknowledged is lost.

use std::io::Write;

use anyhow::Result;
use fjord_log::testing::simple;
use fjord_tests::Broker;
use fjord_tests::raw::{create_topic, fetch, now_ms, produce};

const KAFKA_STORAGE_ERROR: i16 = 56;

#[test]
fn a_torn_tail_after_sigkill_is_cut_and_the_rest_served() -> Result<()> {
    let mut broker = Broker::start()?;
    let mut client = broker.connect()?;
    assert_eq!(create_topic(&mut client, "torn", &[])?, 0);
    let batch_len = simple(now_ms(), 4).len();
    for i in 0..3 {
        assert_eq!(produce(&mut client, "torn", simple(now_ms(), 4))?, (0, i * 4));
    }
    broker.kill()?;
    // The half of a batch that a crash cut off mid-write.
    let segment = broker.data.join("torn-0").join("00000000000000000000.log");
    let half = simple(now_ms(), 4);
    std::fs::OpenOptions::new().append(true).open(&segment)?.write_all(&half[..half.len() / 2])?;

    broker.restart()?;
    let mut client = broker.connect()?;
    let (error, high_watermark, records) = fetch(&mut client, "torn", 0)?;
    assert_eq!((error, high_watermark, records.len()), (0, 12, 3 * batch_len));
    assert_eq!(std::fs::metadata(&segment)?.len(), (3 * batch_len) as u64, "the torn tail is cut off");
    assert_eq!(produce(&mut client, "torn", simple(now_ms(), 1))?, (0, 12), "offsets continue");
    Ok(())
}

#[test]
fn a_full_disk_fails_writes_with_storage_errors_and_loses_nothing() -> Result<()> {
    let broker = Broker::start_with_file_limit(256 * 1024, &[])?;
    let mut client = broker.connect()?;
    assert_eq!(create_topic(&mut client, "full", &[])?, 0);
    let batch_len = simple(now_ms(), 100).len();
    let mut acked = 0;
    let refused = loop {
        let (error, base_offset) = produce(&mut client, "full", simple(now_ms(), 100))?;
        if error != 0 {
            break error;
        }
        assert_eq!(base_offset, acked * 100);
        acked += 1;
        assert!(acked < 1_000, "the file limit never hit");
    };
    assert_eq!(refused, KAFKA_STORAGE_ERROR);
    assert!(acked > 10);
    assert_eq!(produce(&mut client, "full", simple(now_ms(), 100))?.0, KAFKA_STORAGE_ERROR, "still full");

    // Everything acknowledged reads back whole; the failed writes left nothing behind.
    let mut other = broker.connect()?;
    let (error, high_watermark, records) = fetch(&mut other, "full", 0)?;
    assert_eq!((error, high_watermark), (0, acked * 100));
    assert_eq!(records.len(), acked as usize * batch_len);
    // Other partitions still take writes while they have room.
    assert_eq!(create_topic(&mut other, "roomy", &[])?, 0);
    assert_eq!(produce(&mut other, "roomy", simple(now_ms(), 1))?, (0, 0));
    Ok(())
}
