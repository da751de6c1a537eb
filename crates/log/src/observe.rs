//! What the log reports to the metrics recorder: its fsyncs, which bound acks=all latency.

use std::time::Instant;

pub const FSYNCS: &str = "fjord_log_fsyncs_total";
pub const FSYNC_DURATION: &str = "fjord_log_fsync_duration_seconds";

/// Runs one fsync and records its count and duration.
pub(crate) fn fsync<T>(sync: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    let started = Instant::now();
    let done = sync();
    metrics::counter!(FSYNCS).increment(1);
    metrics::histogram!(FSYNC_DURATION).record(started.elapsed().as_secs_f64());
    done
}
