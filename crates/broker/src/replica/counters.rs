//! [`TopicCounters`]: the metric handles a partition's traffic moves — bytes and records in and
//! out of its topic — registered once, so the data path never looks a metric up.

use metrics::{Counter, counter};

use crate::telemetry::catalog::{TOPIC_BYTES_IN, TOPIC_BYTES_OUT, TOPIC_RECORDS_IN, TOPIC_RECORDS_OUT};

/// The handles a partition's traffic moves (shared by the partitions of one topic).
#[derive(Debug, Clone)]
pub struct TopicCounters {
    bytes_in: Counter,
    records_in: Counter,
    bytes_out: Counter,
    records_out: Counter,
}

impl TopicCounters {
    pub fn new(topic: &str) -> Self {
        let label = || ("topic", topic.to_string());
        Self {
            bytes_in: counter!(TOPIC_BYTES_IN, &[label()]),
            records_in: counter!(TOPIC_RECORDS_IN, &[label()]),
            bytes_out: counter!(TOPIC_BYTES_OUT, &[label()]),
            records_out: counter!(TOPIC_RECORDS_OUT, &[label()]),
        }
    }

    pub fn appended(&self, bytes: usize, records: i64) {
        self.bytes_in.increment(bytes as u64);
        self.records_in.increment(records.max(0) as u64);
    }

    /// Counts the batches of a fetch response: bytes, and records from each batch header.
    pub fn fetched(&self, batches: &[u8]) {
        self.bytes_out.increment(batches.len() as u64);
        self.records_out.increment(fjord_log::batch::count_records(batches));
    }
}
