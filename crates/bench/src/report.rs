//! What a run measured, its live progress, and how it is printed.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies in microseconds, from 1 µs to 10 minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Counts shared between the sending or receiving side and the progress line.
#[derive(Debug, Default)]
pub struct Counts {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    /// Latest p99 in microseconds, for the progress line.
    pub p99_us: AtomicU64,
}

impl Counts {
    pub fn add(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A progress line on stderr every second, when stderr is a terminal.
#[derive(Debug)]
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(label: &'static str, counts: Arc<Counts>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Self { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let (mut last_records, mut last_bytes) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let records = counts.records.load(Ordering::Relaxed);
                let bytes = counts.bytes.load(Ordering::Relaxed);
                let p99 = counts.p99_us.load(Ordering::Relaxed) as f64 / 1000.0;
                eprint!(
                    "\r{label} {:>6.1} s  {:>10} records  {:>9.1} rec/s  {:>8.1} MB/s  p99 {p99:.2} ms  errors {}   ",
                    started.elapsed().as_secs_f64(),
                    records,
                    (records - last_records) as f64,
                    (bytes - last_bytes) as f64 / 1e6,
                    counts.errors.load(Ordering::Relaxed),
                );
                (last_records, last_bytes) = (records, bytes);
            }
            eprintln!();
        });
        Self { stop, thread: Some(thread) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Summary {
    pub workload: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub errors: u64,
    pub seconds: f64,
    /// `None` when the workload measures no latency (consume).
    pub latency: Option<Histogram<u64>>,
    pub json: bool,
    pub settings: serde_json::Value,
}

impl Summary {
    pub fn shared(latency: &Mutex<Histogram<u64>>) -> Histogram<u64> {
        latency.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.latency.as_ref().filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    pub fn print(&self) {
        let secs = self.seconds.max(f64::EPSILON);
        let records_per_sec = self.records as f64 / secs;
        let mb_per_sec = self.bytes as f64 / 1e6 / secs;
        println!(
            "{}: {} records, {:.1} MB in {:.2} s: {:.0} records/s, {:.1} MB/s, {} errors",
            self.workload,
            self.records,
            self.bytes as f64 / 1e6,
            self.seconds,
            records_per_sec,
            mb_per_sec,
            self.errors
        );
        let max = self.latency.as_ref().filter(|h| !h.is_empty()).map(|h| h.max() as f64 / 1000.0);
        if let (Some(p50), Some(p99), Some(p999), Some(max)) =
            (self.quantile_ms(0.5), self.quantile_ms(0.99), self.quantile_ms(0.999), max)
        {
            println!("latency: p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms, max {max:.2} ms");
        }
        if self.json {
            let out = serde_json::json!({
                "workload": self.workload,
                "records": self.records,
                "bytes": self.bytes,
                "errors": self.errors,
                "seconds": self.seconds,
                "records_per_sec": records_per_sec,
                "mb_per_sec": mb_per_sec,
                "p50_ms": self.quantile_ms(0.5),
                "p99_ms": self.quantile_ms(0.99),
                "p999_ms": self.quantile_ms(0.999),
                "max_ms": max,
                "settings": self.settings,
            });
            println!("{out}");
        }
    }
}
