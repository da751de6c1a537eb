//! `produce` and `e2e`: a threaded librdkafka producer on a schedule, and for `e2e` a consumer
//! that reads the same records back as they arrive.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::report::{Counts, Progress, Summary, histogram};
use crate::{ProduceArgs, client_config, ensure_topic};

/// Bytes at the start of an e2e record's value: microseconds since the Unix epoch when it was due.
const STAMP: usize = 8;

/// Records delivery reports: counts, and latency from each record's due time.
struct Reports {
    counts: Arc<Counts>,
    latency: Arc<Mutex<Histogram<u64>>>,
    /// `e2e` measures at the consumer instead.
    measure: bool,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, due: Box<Instant>) {
        match result {
            Ok(message) => {
                self.counts.add(1, message.payload_len() as u64);
                if self.measure {
                    record(&self.latency, &self.counts, due.elapsed());
                }
            }
            Err(_) => {
                self.counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Adds one latency sample; refreshes the progress line's p99 now and then.
fn record(latency: &Mutex<Histogram<u64>>, counts: &Counts, elapsed: Duration) {
    let mut h = latency.lock().unwrap_or_else(|p| p.into_inner());
    h.saturating_record(elapsed.as_micros().max(1) as u64);
    if h.len().is_multiple_of(4096) {
        counts.p99_us.store(h.value_at_quantile(0.99), Ordering::Relaxed);
    }
}

pub fn run(args: &ProduceArgs, e2e: bool) -> Result<Summary> {
    if args.records.is_none() && args.duration.is_none() {
        bail!("give --records N or --duration S");
    }
    if e2e && args.record_size < STAMP {
        bail!("e2e records need at least {STAMP} bytes");
    }
    ensure_topic(&args.common, args.partitions)?;
    let produced = Arc::new(Counts::default());
    let latency = Arc::new(Mutex::new(histogram()));
    let mut config = client_config(&args.common)?;
    config
        .set("acks", &args.acks)
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_size.to_string())
        .set("compression.type", &args.compression)
        .set("enable.idempotence", args.idempotence.to_string())
        .set("queue.buffering.max.kbytes", "65536")
        .set("queue.buffering.max.messages", "1000000");
    let reports = Reports { counts: produced.clone(), latency: latency.clone(), measure: !e2e };
    if let Some(id) = &args.transactional_id {
        config.set("transactional.id", id).set("acks", "all").set("enable.idempotence", "true");
    }
    let producer: ThreadedProducer<Reports> = config.create_with_context(reports).context("producer")?;
    let txn_interval = Duration::from_millis(args.txn_interval_ms);
    let mut transactions = 0u64;
    let mut txn_started = Instant::now();
    if args.transactional_id.is_some() {
        producer.init_transactions(Duration::from_secs(60)).context("init_transactions")?;
        producer.begin_transaction().context("begin_transaction")?;
    }

    let consumer = if e2e { Some(EndToEnd::start(args, latency.clone())?) } else { None };
    let shown = consumer.as_ref().map_or_else(|| produced.clone(), |c| c.counts.clone());
    let progress = Progress::start(if e2e { "e2e" } else { "produce" }, shown);

    let mut payload = vec![0x5a_u8; args.record_size];
    let interval = args.rate.map(|r| Duration::from_secs_f64(1.0 / r.max(f64::MIN_POSITIVE)));
    let limit = args.duration.map(Duration::from_secs_f64);
    let (start, epoch) = (Instant::now(), SystemTime::now());
    let mut sent = 0u64;
    loop {
        if args.records.is_some_and(|n| sent >= n) || limit.is_some_and(|l| start.elapsed() >= l) {
            break;
        }
        let due = match interval {
            Some(every) => {
                let due = start + every.mul_f64(sent as f64);
                let now = Instant::now();
                if due > now + Duration::from_micros(200) {
                    std::thread::sleep(due - now);
                }
                due
            }
            None => Instant::now(),
        };
        if e2e {
            let stamp = epoch.duration_since(UNIX_EPOCH).unwrap_or_default() + (due - start);
            payload[..STAMP].copy_from_slice(&(stamp.as_micros() as u64).to_be_bytes());
        }
        let mut record =
            BaseRecord::<(), [u8], Box<Instant>>::with_opaque_to(&args.common.topic, Box::new(due)).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err((e, _)) => bail!("produce failed: {e}"),
            }
        }
        sent += 1;
        if args.transactional_id.is_some() && txn_started.elapsed() >= txn_interval {
            producer.commit_transaction(Duration::from_secs(60)).context("commit_transaction")?;
            producer.begin_transaction().context("begin_transaction")?;
            transactions += 1;
            txn_started = Instant::now();
        }
    }
    if args.transactional_id.is_some() {
        producer.commit_transaction(Duration::from_secs(60)).context("commit_transaction")?;
        transactions += 1;
    }
    producer.flush(Duration::from_secs(120)).context("flush")?;
    let produce_seconds = start.elapsed().as_secs_f64();

    let settings = serde_json::json!({
        "partitions": args.partitions, "record_size": args.record_size, "acks": args.acks,
        "linger_ms": args.linger_ms, "batch_size": args.batch_size, "compression": args.compression,
        "rate": args.rate, "idempotence": args.idempotence || args.transactional_id.is_some(), "sent": sent,
        "transactional": args.transactional_id.is_some(), "txn_interval_ms": args.txn_interval_ms,
        "transactions": transactions,
    });
    let (records, bytes, errors, seconds) = match consumer {
        Some(consumer) => {
            // Records whose produce failed never arrive.
            let (records, bytes, seconds) = consumer.finish(sent - produced.errors.load(Ordering::Relaxed))?;
            (records, bytes, produced.errors.load(Ordering::Relaxed), seconds)
        }
        None => (
            produced.records.load(Ordering::Relaxed),
            produced.bytes.load(Ordering::Relaxed),
            produced.errors.load(Ordering::Relaxed),
            produce_seconds,
        ),
    };
    drop(progress);
    Ok(Summary {
        workload: if e2e { "e2e" } else { "produce" },
        records,
        bytes,
        errors,
        seconds,
        latency: Some(Summary::shared(&latency)),
        json: args.common.json,
        settings,
    })
}

/// The consuming half of `e2e`: reads from the end of every partition as it was before the
/// producer started, and measures each record's age against its stamp.
struct EndToEnd {
    counts: Arc<Counts>,
    stop_at: Arc<std::sync::atomic::AtomicU64>,
    thread: std::thread::JoinHandle<Result<f64>>,
}

impl EndToEnd {
    fn start(args: &ProduceArgs, latency: Arc<Mutex<Histogram<u64>>>) -> Result<Self> {
        let mut config = client_config(&args.common)?;
        config.set("group.id", "fjord-bench-e2e").set("enable.auto.commit", "false").set("fetch.wait.max.ms", "100");
        let consumer: BaseConsumer = config.create().context("consumer")?;
        let topic = args.common.topic.clone();
        let timeout = Duration::from_secs(30);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout).context("metadata")?;
        let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len()) as i32;
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            let (_, high) = consumer.fetch_watermarks(&topic, p, timeout).context("watermarks")?;
            assignment.add_partition_offset(&topic, p, Offset::Offset(high))?;
        }
        consumer.assign(&assignment)?;
        let counts = Arc::new(Counts::default());
        let stop_at = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
        let (c, stop) = (counts.clone(), stop_at.clone());
        let thread = std::thread::spawn(move || -> Result<f64> {
            let started = Instant::now();
            let mut last_progress = Instant::now();
            while c.records.load(Ordering::Relaxed) < stop.load(Ordering::Relaxed) {
                if last_progress.elapsed() > Duration::from_secs(60) {
                    bail!("no record for 60 s after {} records", c.records.load(Ordering::Relaxed));
                }
                let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
                let message = message.context("consume")?;
                let payload = message.payload().unwrap_or_default();
                let Some(stamp) = payload.get(..STAMP) else { continue };
                let due_us = u64::from_be_bytes(stamp.try_into().unwrap_or_default());
                let now_us = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64;
                record(&latency, &c, Duration::from_micros(now_us.saturating_sub(due_us)));
                c.add(1, payload.len() as u64);
                last_progress = Instant::now();
            }
            Ok(started.elapsed().as_secs_f64())
        });
        Ok(Self { counts, stop_at, thread })
    }

    /// Waits until the consumer has seen all `sent` records: (records, bytes, seconds).
    fn finish(self, sent: u64) -> Result<(u64, u64, f64)> {
        self.stop_at.store(sent, Ordering::Relaxed);
        let seconds = self.thread.join().map_err(|_| anyhow::anyhow!("consumer thread panicked"))??;
        Ok((self.counts.records.load(Ordering::Relaxed), self.counts.bytes.load(Ordering::Relaxed), seconds))
    }
}
