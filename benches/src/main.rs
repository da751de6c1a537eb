//! `fjord-bench`: figures for the storage path, printed, never asserted.
//!
//! `log` — appends batches of 100 records of 100 bytes to a partition log in a temporary
//! directory (page cache, no fsync), then reads everything back in 1 MiB fetches; prints the
//! median of several rounds in MB/s and batches/s. Load benchmarks against a running broker
//! come with issue #4.

use std::time::Instant;

use fjord_log::records::{Producer, Record, build};
use fjord_log::{LogConfig, OpenOptions, PartitionLog};

const ROUNDS: usize = 5;
const BATCHES: usize = 20_000;
const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;

fn main() {
    let value = vec![0x5a_u8; VALUE_BYTES];
    let records: Vec<Record<'_>> =
        (0..RECORDS_PER_BATCH).map(|i| Record { key: None, value: Some(&value), timestamp_delta: i as i64 }).collect();
    let batch = build(1_700_000_000_000, &records, Producer::default());
    let mut appends = Vec::new();
    let mut reads = Vec::new();
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut log = PartitionLog::open(dir.path(), LogConfig::default(), OpenOptions::default()).expect("open log");
        let started = Instant::now();
        for _ in 0..BATCHES {
            let mut bytes = batch.clone();
            log.append(&mut bytes, 0, 0).expect("append");
        }
        appends.push(started.elapsed().as_secs_f64());
        let end = log.log_end_offset();
        let started = Instant::now();
        let mut offset = 0;
        let mut read_bytes = 0;
        while offset < end {
            let out = log.read(offset, 1 << 20, end, true).expect("read");
            read_bytes += out.records.len();
            offset += (out.records.len() / batch.len() * RECORDS_PER_BATCH) as i64;
        }
        reads.push(started.elapsed().as_secs_f64());
        assert_eq!(read_bytes, batch.len() * BATCHES);
    }
    let total_mb = (batch.len() * BATCHES) as f64 / 1e6;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (append, read) = (median(&mut appends), median(&mut reads));
    println!(
        "log append: {:.0} MB/s, {:.0} batches/s ({} records/batch, median of {ROUNDS})",
        total_mb / append,
        BATCHES as f64 / append,
        RECORDS_PER_BATCH
    );
    println!("log read:   {:.0} MB/s (1 MiB fetches, median of {ROUNDS})", total_mb / read);
}
