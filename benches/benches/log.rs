//! The log on the hot path: appending uncompressed batches of 100 records × 100 bytes to a
//! partition log (CRC-32C check, offset stamping, index upkeep, page-cache write, no fsync), and
//! reading a range back in 1 MiB fetches.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fjord_log::records::{Producer, Record, build};
use fjord_log::{LogConfig, OpenOptions, PartitionLog};

const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;
const BATCHES: usize = 2_000;

fn batch() -> Vec<u8> {
    let value = vec![0x5a_u8; VALUE_BYTES];
    let records: Vec<Record<'_>> =
        (0..RECORDS_PER_BATCH).map(|i| Record { key: None, value: Some(&value), timestamp_delta: i as i64 }).collect();
    build(1_700_000_000_000, &records, Producer::default())
}

fn open(dir: &std::path::Path) -> PartitionLog {
    PartitionLog::open(dir, LogConfig::default(), OpenOptions::default()).expect("open log")
}

fn log(c: &mut Criterion) {
    let batch = batch();
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Bytes((batch.len() * BATCHES) as u64));
    group.sample_size(20);
    group.bench_function("append_2000_batches", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temporary directory");
                let log = open(dir.path());
                (dir, log, vec![batch.clone(); BATCHES])
            },
            |(dir, mut log, mut batches)| {
                for bytes in &mut batches {
                    log.append(bytes, 0, 0).expect("append");
                }
                (dir, log)
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut filled = open(dir.path());
    for _ in 0..BATCHES {
        filled.append(&batch.clone(), 0, 0).expect("append");
    }
    let end = filled.log_end_offset();
    group.bench_function("read_all_in_1MiB_fetches", |b| {
        b.iter(|| {
            let mut offset = 0;
            while offset < end {
                let out = filled.read(offset, 1 << 20, end, true).expect("read");
                offset = next_offset(&out.records).unwrap_or(end);
            }
        })
    });
    group.finish();
}

/// The offset after the last whole batch in `records`.
fn next_offset(records: &[u8]) -> Option<i64> {
    let mut pos = 0;
    let mut next = None;
    while let Some(h) = fjord_log::batch::BatchHeader::parse(&records[pos..]) {
        if pos + h.size() > records.len() {
            break;
        }
        next = Some(h.last_offset() + 1);
        pos += h.size();
    }
    next
}

criterion_group!(benches, log);
criterion_main!(benches);
