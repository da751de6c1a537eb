//! Test and benchmark support: valid batches without a Kafka client.

pub use crate::records::{Producer, Record, build, build_with_attributes};

/// A batch of `count` records with values `value-<i>`, one millisecond apart.
pub fn simple(base_timestamp: i64, count: usize) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..count).map(|i| format!("value-{i}").into_bytes()).collect();
    let records: Vec<Record<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record { key: None, value: Some(v), timestamp_delta: i as i64 })
        .collect();
    build(base_timestamp, &records, Producer::default())
}
