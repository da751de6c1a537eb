//! What operators see: Prometheus metrics, the HTTP endpoint and the broker's lifecycle state.
//!
//! Counters and histograms move where the work happens, through handles registered once (no
//! lookup or allocation per request). Gauges that describe state — partition offsets and sizes,
//! groups and lag, the cluster view, the process — are read when `/metrics` is scraped
//! ([`collect`]), so the data path never pays for them and a deleted partition's gauges lapse.
//!
//! # Layout
//! - [`catalog`]: every metric's name, kind, labels and help (docs/operations.md mirrors it).
//! - [`http`]: the endpoint: `/metrics`, `/health`, `/ready`.
//! - here: the recorder, [`Lifecycle`], [`Telemetry`] (per-broker handles), [`collect`].

pub mod catalog;
pub mod http;

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fjord_group::GroupState;
use fjord_meta::MetadataImage;
use fjord_protocol::ApiRange;
use metrics::{Counter, Histogram, counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::coordinator::GroupCoordinator;
use crate::replica::ReplicaManager;
use catalog::*;

/// Histogram buckets for durations, in seconds: 50 µs to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// State gauges not refreshed for this long are dropped (those of deleted partitions and groups):
/// every scrape refreshes the live ones before rendering.
const STALE_GAUGE: Duration = Duration::from_secs(60);

/// The process-wide Prometheus recorder, installed on first use. A process that already has
/// another recorder (a test harness, an embedding program) gets a handle that renders nothing.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("buckets are not empty")
            .idle_timeout(MetricKindMask::GAUGE, Some(STALE_GAUGE))
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            catalog::describe();
        }
        handle
    })
}

/// Where the broker is in its life, as `/ready` reports it.
#[derive(Debug)]
pub struct Lifecycle {
    state: AtomicU8,
    started: Instant,
    started_at: SystemTime,
    /// Microseconds from start to serving; 0 until then.
    startup_us: AtomicU64,
}

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const STOPPING: u8 = 2;

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(STARTING),
            started: Instant::now(),
            started_at: SystemTime::now(),
            startup_us: AtomicU64::new(0),
        }
    }
}

impl Lifecycle {
    /// Logs recovered, listener bound: clients are served from now on.
    pub fn serving(&self) {
        if self.state.compare_exchange(STARTING, SERVING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.startup_us.store(self.started.elapsed().as_micros() as u64, Ordering::Release);
        }
    }

    /// Shutdown began: readiness goes first, so load balancers stop sending work.
    pub fn stopping(&self) {
        self.state.store(STOPPING, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.state.load(Ordering::Acquire) == SERVING
    }

    /// `starting`, `ready` or `stopping`.
    pub fn describe(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            STARTING => "starting",
            SERVING => "ready",
            _ => "stopping",
        }
    }
}

/// The highest API key and version the request handle table covers.
const MAX_KEY: usize = 128;
const MAX_VERSION: usize = 32;

/// A broker's metric handles and live counts.
#[derive(Debug)]
pub struct Telemetry {
    /// (requests, duration) per `key * MAX_VERSION + version`, for every served version.
    requests: Vec<Option<(Counter, Histogram)>>,
    /// The API's name as Kafka writes it in metrics (`Produce`), per key.
    names: Vec<Option<String>>,
    connections_open: AtomicI64,
    connections_accepted: Counter,
    connections_closed: Counter,
    produce_waiters: AtomicI64,
    fetch_waiters: AtomicI64,
}

impl Telemetry {
    /// Registers the handles of every API and version in `apis`.
    pub fn new(apis: &[ApiRange]) -> Self {
        prometheus();
        let mut requests: Vec<Option<(Counter, Histogram)>> = vec![None; MAX_KEY * MAX_VERSION];
        let mut names = vec![None; MAX_KEY];
        for api in apis {
            let name = format!("{:?}", api.key);
            names[api.key as usize] = Some(name.clone());
            let duration = metrics::histogram!(REQUEST_DURATION, "api" => name.clone());
            for version in api.min..=api.max {
                let slot = (api.key as usize) * MAX_VERSION + version as usize;
                let count = counter!(REQUESTS, "api" => name.clone(), "version" => version.to_string());
                requests[slot] = Some((count, duration.clone()));
            }
        }
        Self {
            requests,
            names,
            connections_open: AtomicI64::new(0),
            connections_accepted: counter!(CONNECTIONS_ACCEPTED),
            connections_closed: counter!(CONNECTIONS_CLOSED),
            produce_waiters: AtomicI64::new(0),
            fetch_waiters: AtomicI64::new(0),
        }
    }

    /// Counts one answered request of API `key` and the error codes its response carries (one
    /// per failed entry, as Kafka counts `ErrorsPerSec`).
    pub fn request(&self, key: i16, version: i16, elapsed: Duration, errors: &[i16]) {
        let key = key.max(0) as usize;
        let slot = key * MAX_VERSION + version.max(0) as usize;
        if let Some(Some((count, duration))) = self.requests.get(slot) {
            count.increment(1);
            duration.record(elapsed.as_secs_f64());
        }
        let Some(Some(name)) = self.names.get(key) else { return };
        for &code in errors.iter().filter(|c| **c != 0) {
            counter!(REQUEST_ERRORS, "api" => name.clone(), "version" => version.to_string(), "error" => error_name(code))
                .increment(1);
        }
    }

    /// A connection was accepted; the guard counts it closed when dropped.
    pub fn connection(&self) -> Gauged<'_> {
        self.connections_accepted.increment(1);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        Gauged { count: &self.connections_open, closed: Some(&self.connections_closed) }
    }

    /// A Produce waits for its fsync while the guard lives.
    pub fn produce_waiter(&self) -> Gauged<'_> {
        self.produce_waiters.fetch_add(1, Ordering::Relaxed);
        Gauged { count: &self.produce_waiters, closed: None }
    }

    /// A Fetch waits for data while the guard lives.
    pub fn fetch_waiter(&self) -> Gauged<'_> {
        self.fetch_waiters.fetch_add(1, Ordering::Relaxed);
        Gauged { count: &self.fetch_waiters, closed: None }
    }
}

/// Keeps a live count up while it exists.
#[derive(Debug)]
pub struct Gauged<'a> {
    count: &'a AtomicI64,
    closed: Option<&'a Counter>,
}

impl Drop for Gauged<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
        if let Some(c) = self.closed {
            c.increment(1);
        }
    }
}

/// Kafka's name of an error code (`UNKNOWN_TOPIC_OR_PARTITION`), as its metrics label errors.
pub fn error_name(code: i16) -> String {
    use kafka_protocol::error::ParseResponseErrorCode;
    let Some(error) = code.err() else { return "NONE".into() };
    let debug = format!("{error:?}");
    if debug.starts_with("Unknown(") {
        return format!("UNKNOWN_{code}");
    }
    let mut out = String::with_capacity(debug.len() + 8);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// What a scrape reads the broker's state from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub telemetry: Arc<Telemetry>,
    pub replicas: Arc<ReplicaManager>,
    pub groups: Arc<GroupCoordinator>,
    pub transactions: Arc<crate::coordinator::TransactionCoordinator>,
    pub images: tokio::sync::watch::Receiver<Arc<MetadataImage>>,
}

/// Refreshes the state gauges from the broker, just before a scrape renders them.
pub fn collect(sources: &Sources, lifecycle: &Lifecycle) {
    let t = &sources.telemetry;
    gauge!(READY).set(if lifecycle.is_ready() { 1.0 } else { 0.0 });
    gauge!(LAST_SHUTDOWN_CLEAN).set(if sources.replicas.clean_start() { 1.0 } else { 0.0 });
    gauge!(CONNECTIONS_OPEN).set(t.connections_open.load(Ordering::Relaxed) as f64);
    gauge!(PRODUCE_WAITERS).set(t.produce_waiters.load(Ordering::Relaxed) as f64);
    gauge!(FETCH_WAITERS).set(t.fetch_waiters.load(Ordering::Relaxed) as f64);

    let hosted = sources.replicas.all();
    gauge!(PARTITIONS_HOSTED).set(hosted.len() as f64);
    for p in &hosted {
        let labels = [("topic", p.topic.clone()), ("partition", p.index.to_string())];
        let s = p.stats();
        gauge!(PARTITION_LOG_END_OFFSET, &labels).set(s.log_end_offset as f64);
        gauge!(PARTITION_LOG_START_OFFSET, &labels).set(s.log_start_offset as f64);
        gauge!(PARTITION_HIGH_WATERMARK, &labels).set(s.high_watermark as f64);
        gauge!(PARTITION_SIZE, &labels).set(s.size_bytes as f64);
        gauge!(PARTITION_SEGMENTS, &labels).set(s.segments as f64);
        gauge!(PARTITION_ISR, &labels).set(s.isr as f64);
        gauge!(PARTITION_LEADER, &labels).set(if p.is_leader() { 1.0 } else { 0.0 });
        gauge!(PARTITION_LAST_STABLE_OFFSET, &labels).set(s.last_stable_offset as f64);
    }

    let image = sources.images.borrow().clone();
    let (mut total, mut under, mut offline) = (0usize, 0usize, 0usize);
    for topic in image.topics.values() {
        for p in &topic.partitions {
            total += 1;
            under += usize::from(p.isr.len() < p.replicas.len());
            offline += usize::from(!image.is_live(p.leader));
        }
    }
    gauge!(CLUSTER_PARTITIONS).set(total as f64);
    gauge!(UNDER_REPLICATED).set(under as f64);
    gauge!(OFFLINE).set(offline as f64);
    gauge!(CLUSTER_BROKERS).set(image.live_brokers().count() as f64);
    gauge!(CONTROLLER_ID).set(f64::from(image.controller_id));
    gauge!(METADATA_APPLIED).set(image.applied_index as f64);

    collect_groups(sources);
    collect_transactions(sources);
    collect_process(lifecycle);
}

fn collect_groups(sources: &Sources) {
    let states =
        [GroupState::Empty, GroupState::PreparingRebalance, GroupState::CompletingRebalance, GroupState::Stable];
    let mut by_state = [0usize; 4];
    sources.groups.for_each_shard(|coordinator, offsets| {
        for g in coordinator.groups() {
            if let Some(i) = states.iter().position(|s| *s == g.state) {
                by_state[i] += 1;
            }
            let label = [("group", g.id.clone())];
            gauge!(GROUP_MEMBERS, &label).set(g.members.len() as f64);
            gauge!(GROUP_GENERATION, &label).set(f64::from(g.generation));
            counter!(GROUP_REBALANCES, &label).absolute(g.rebalances);
        }
        for group in offsets.groups() {
            for (topic, partition, committed) in offsets.all(group) {
                let labels =
                    [("group", group.to_string()), ("topic", topic.to_string()), ("partition", partition.to_string())];
                gauge!(GROUP_COMMITTED_OFFSET, &labels).set(committed.offset as f64);
                if let Some(p) = sources.replicas.partition(topic, partition) {
                    let lag = (p.offsets().1 - committed.offset).max(0);
                    gauge!(GROUP_LAG, &labels).set(lag as f64);
                }
            }
        }
    });
    for (state, n) in states.iter().zip(by_state) {
        gauge!(GROUPS, "state" => state.name()).set(n as f64);
    }
}

fn collect_transactions(sources: &Sources) {
    use fjord_txn::TxnState;
    let states = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
    ];
    let mut by_state = [0usize; 6];
    sources.transactions.for_each_shard(|coordinator| {
        for (_, m) in coordinator.list() {
            if let Some(i) = states.iter().position(|s| *s == m.state) {
                by_state[i] += 1;
            }
        }
    });
    for (state, n) in states.iter().zip(by_state) {
        gauge!(TRANSACTIONS, "state" => state.name()).set(n as f64);
    }
}

/// Process-level gauges. Every gauge is set again at each scrape: gauges left unset for a minute
/// are dropped as stale.
fn collect_process(lifecycle: &Lifecycle) {
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let startup_us = lifecycle.startup_us.load(Ordering::Acquire);
    if startup_us > 0 {
        gauge!(STARTUP_DURATION).set(startup_us as f64 / 1e6);
    }
    gauge!(PROCESS_UPTIME).set(lifecycle.started.elapsed().as_secs_f64());
    let start = lifecycle.started_at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    gauge!(PROCESS_START_TIME).set(start);
    if let Some(rss) = resident_bytes() {
        gauge!(PROCESS_RSS).set(rss as f64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge!(PROCESS_OPEN_FDS).set(fds.count() as f64);
    }
}

/// VmRSS from /proc/self/status (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(21), "INVALID_REQUIRED_ACKS");
        assert_eq!(error_name(0), "NONE");
    }
}
