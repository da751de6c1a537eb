//! Every metric the broker exports: name, kind, labels and help text. `docs/operations.md` lists
//! the same set (a test keeps the two in step), and [`describe`] hands the help texts to the
//! exporter so that `/metrics` carries them as `# HELP` lines.
//!
//! Names follow Prometheus conventions: the `fjord_` prefix, the unit in the name (`_seconds`,
//! `_bytes`), `_total` on counters.

/// How a metric behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

pub const REQUESTS: &str = "fjord_requests_total";
pub const REQUEST_ERRORS: &str = "fjord_request_errors_total";
pub const REQUEST_DURATION: &str = "fjord_request_duration_seconds";
pub const CONNECTIONS_OPEN: &str = "fjord_connections_open";
pub const CONNECTIONS_ACCEPTED: &str = "fjord_connections_accepted_total";
pub const CONNECTIONS_CLOSED: &str = "fjord_connections_closed_total";
pub const PRODUCE_WAITERS: &str = "fjord_produce_waiters";
pub const FETCH_WAITERS: &str = "fjord_fetch_waiters";
pub const TOPIC_BYTES_IN: &str = "fjord_topic_bytes_in_total";
pub const TOPIC_RECORDS_IN: &str = "fjord_topic_records_in_total";
pub const TOPIC_BYTES_OUT: &str = "fjord_topic_bytes_out_total";
pub const TOPIC_RECORDS_OUT: &str = "fjord_topic_records_out_total";
pub const PARTITION_LOG_END_OFFSET: &str = "fjord_partition_log_end_offset";
pub const PARTITION_LOG_START_OFFSET: &str = "fjord_partition_log_start_offset";
pub const PARTITION_HIGH_WATERMARK: &str = "fjord_partition_high_watermark";
pub const PARTITION_SIZE: &str = "fjord_partition_size_bytes";
pub const PARTITION_SEGMENTS: &str = "fjord_partition_segments";
pub const PARTITION_ISR: &str = "fjord_partition_in_sync_replicas";
pub const PARTITION_LEADER: &str = "fjord_partition_leader";
pub const LOG_FSYNCS: &str = fjord_log::observe::FSYNCS;
pub const LOG_FSYNC_DURATION: &str = fjord_log::observe::FSYNC_DURATION;
pub const PARTITIONS_HOSTED: &str = "fjord_partitions_hosted";
pub const CLUSTER_PARTITIONS: &str = "fjord_cluster_partitions";
pub const UNDER_REPLICATED: &str = "fjord_cluster_under_replicated_partitions";
pub const OFFLINE: &str = "fjord_cluster_offline_partitions";
pub const CLUSTER_BROKERS: &str = "fjord_cluster_brokers";
pub const CONTROLLER_ID: &str = "fjord_metadata_controller_id";
pub const METADATA_APPLIED: &str = "fjord_metadata_applied_index";
pub const GROUPS: &str = "fjord_groups";
pub const GROUP_MEMBERS: &str = "fjord_group_members";
pub const GROUP_GENERATION: &str = "fjord_group_generation";
pub const GROUP_REBALANCES: &str = "fjord_group_rebalances_total";
pub const GROUP_COMMITTED_OFFSET: &str = "fjord_group_committed_offset";
pub const GROUP_LAG: &str = "fjord_group_lag";
pub const TRANSACTIONS: &str = "fjord_transactions";
pub const TRANSACTIONS_ENDED: &str = "fjord_transactions_ended_total";
pub const PARTITION_LAST_STABLE_OFFSET: &str = "fjord_partition_last_stable_offset";
pub const COORDINATOR_LOAD_DURATION: &str = "fjord_coordinator_load_duration_seconds";
pub const READY: &str = "fjord_ready";
pub const LAST_SHUTDOWN_CLEAN: &str = "fjord_last_shutdown_clean";
pub const STARTUP_DURATION: &str = "fjord_startup_duration_seconds";
pub const PROCESS_RSS: &str = "fjord_process_resident_memory_bytes";
pub const PROCESS_OPEN_FDS: &str = "fjord_process_open_fds";
pub const PROCESS_UPTIME: &str = "fjord_process_uptime_seconds";
pub const PROCESS_START_TIME: &str = "fjord_process_start_time_seconds";
pub const BUILD_INFO: &str = "fjord_build_info";

const TOPIC: &[&str] = &["topic"];
const PARTITION: &[&str] = &["topic", "partition"];
const GROUP: &[&str] = &["group"];
const GROUP_PARTITION: &[&str] = &["group", "topic", "partition"];

macro_rules! def {
    ($name:expr, $kind:ident, $labels:expr, $help:expr) => {
        MetricDef { name: $name, kind: Kind::$kind, labels: $labels, help: $help }
    };
}

/// Every metric, in the order docs/operations.md lists them.
pub const METRICS: &[MetricDef] = &[
    def!(REQUESTS, Counter, &["api", "version"], "Requests received, by API and version."),
    def!(
        REQUEST_ERRORS,
        Counter,
        &["api", "version", "error"],
        "Error codes in responses, by API, version and Kafka error name (one per failed partition, topic or group)."
    ),
    def!(REQUEST_DURATION, Histogram, &["api"], "Time from a decoded request to its encoded response."),
    def!(CONNECTIONS_OPEN, Gauge, &[], "Client connections open now."),
    def!(CONNECTIONS_ACCEPTED, Counter, &[], "Client connections accepted."),
    def!(CONNECTIONS_CLOSED, Counter, &[], "Client connections closed."),
    def!(PRODUCE_WAITERS, Gauge, &[], "Produce requests (acks=all) waiting for their fsync."),
    def!(FETCH_WAITERS, Gauge, &[], "Fetch requests parked in a long poll, waiting for data."),
    def!(TOPIC_BYTES_IN, Counter, TOPIC, "Record batch bytes appended by producers (retried duplicates excluded)."),
    def!(TOPIC_RECORDS_IN, Counter, TOPIC, "Records appended by producers (retried duplicates excluded)."),
    def!(TOPIC_BYTES_OUT, Counter, TOPIC, "Record batch bytes sent to fetchers."),
    def!(TOPIC_RECORDS_OUT, Counter, TOPIC, "Records in the batches sent to fetchers."),
    def!(PARTITION_LOG_END_OFFSET, Gauge, PARTITION, "Offset the next appended record gets."),
    def!(PARTITION_LOG_START_OFFSET, Gauge, PARTITION, "First offset still readable."),
    def!(PARTITION_HIGH_WATERMARK, Gauge, PARTITION, "Offset below which consumers may read."),
    def!(PARTITION_SIZE, Gauge, PARTITION, "Bytes of the partition's segment files."),
    def!(PARTITION_SEGMENTS, Gauge, PARTITION, "Segments in the partition's log."),
    def!(PARTITION_ISR, Gauge, PARTITION, "Replicas in the partition's ISR, as this broker's image has it."),
    def!(PARTITION_LEADER, Gauge, PARTITION, "1 while this broker leads the partition, else 0 (it follows)."),
    def!(
        PARTITION_LAST_STABLE_OFFSET,
        Gauge,
        PARTITION,
        "Offset below which read_committed consumers may read: the first open transaction's, else the high watermark."
    ),
    def!(LOG_FSYNCS, Counter, &[], "Fsyncs of partition logs (group commits for acks=all and segment rolls)."),
    def!(LOG_FSYNC_DURATION, Histogram, &[], "Duration of one log fsync."),
    def!(PARTITIONS_HOSTED, Gauge, &[], "Partitions whose log this broker holds."),
    def!(CLUSTER_PARTITIONS, Gauge, &[], "Partitions in the cluster's metadata."),
    def!(UNDER_REPLICATED, Gauge, &[], "Partitions whose in-sync replicas are fewer than their replicas."),
    def!(OFFLINE, Gauge, &[], "Partitions without a live leader."),
    def!(CLUSTER_BROKERS, Gauge, &[], "Live (registered, unfenced) brokers in the cluster's metadata."),
    def!(CONTROLLER_ID, Gauge, &[], "Node id of the active controller."),
    def!(METADATA_APPLIED, Gauge, &[], "Index of the last metadata change applied on this node."),
    def!(
        GROUPS,
        Gauge,
        &["state"],
        "Consumer groups by state (Empty, PreparingRebalance, CompletingRebalance, Stable)."
    ),
    def!(GROUP_MEMBERS, Gauge, GROUP, "Members of a consumer group."),
    def!(GROUP_GENERATION, Gauge, GROUP, "Generation id of a consumer group."),
    def!(GROUP_REBALANCES, Counter, GROUP, "Rebalances the group completed since this broker became its coordinator."),
    def!(GROUP_COMMITTED_OFFSET, Gauge, GROUP_PARTITION, "Offset a group committed for a partition."),
    def!(GROUP_LAG, Gauge, GROUP_PARTITION, "High watermark minus committed offset, for partitions this broker holds."),
    def!(
        TRANSACTIONS,
        Gauge,
        &["state"],
        "Transactional ids this broker coordinates, by state (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)."
    ),
    def!(
        TRANSACTIONS_ENDED,
        Counter,
        &["result"],
        "Transactions this broker's coordinator completed, by result (commit, abort; timed-out and fenced ones abort)."
    ),
    def!(
        COORDINATOR_LOAD_DURATION,
        Histogram,
        &["topic"],
        "Time a coordinator took to load one partition of its internal topic when it became its leader."
    ),
    def!(READY, Gauge, &[], "1 while the broker serves clients (what /ready reports), 0 before and while stopping."),
    def!(
        LAST_SHUTDOWN_CLEAN,
        Gauge,
        &[],
        "1 if the previous stop left the clean-shutdown marker (no log recovery was needed)."
    ),
    def!(STARTUP_DURATION, Gauge, &[], "Time from process start to serving, log recovery included."),
    def!(PROCESS_RSS, Gauge, &[], "Resident memory of the broker process."),
    def!(PROCESS_OPEN_FDS, Gauge, &[], "Open file descriptors of the broker process."),
    def!(PROCESS_UPTIME, Gauge, &[], "Seconds since the broker process started."),
    def!(PROCESS_START_TIME, Gauge, &[], "Start time of the broker process, in seconds since the Unix epoch."),
    def!(BUILD_INFO, Gauge, &["version"], "Always 1; the label carries the broker's version."),
];

/// Hands every help text to the installed recorder.
pub fn describe() {
    for m in METRICS {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, metrics::Unit::Seconds, m.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in METRICS {
            assert!(seen.insert(m.name), "{} listed twice", m.name);
            assert!(m.name.starts_with("fjord_"), "{}", m.name);
            assert_eq!(m.kind == Kind::Counter, m.name.ends_with("_total"), "{}: _total is for counters", m.name);
            if m.kind == Kind::Histogram {
                assert!(m.name.ends_with("_seconds"), "{}: histograms here measure time", m.name);
            }
        }
    }

    #[test]
    fn every_metric_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md")).unwrap();
        for m in METRICS {
            let labels = if m.labels.is_empty() { "—".to_string() } else { m.labels.join(", ") };
            let row = format!("| `{}` | {} | {} |", m.name, m.kind.name(), labels);
            assert!(doc.contains(&row), "docs/operations.md lacks the row starting {row}");
        }
    }
}
