//! `fjord-bench`: a load generator for any Kafka-compatible broker, built on librdkafka (the
//! `rdkafka` crate) so it measures what real clients see.
//!
//! - `produce`: records of a fixed size, as fast as possible or at a fixed rate; latency is from
//!   the moment a record was due to be sent (its slot in the schedule at a fixed rate, so a
//!   stalled broker cannot hide behind a stalled generator: coordinated omission) to its
//!   delivery report. With `--transactional-id`, in transactions committed every
//!   `--txn-interval-ms`.
//! - `consume`: reads a number of records, from the beginning of every partition or in a group.
//! - `e2e`: a producer stamps each record with the time it was due; a consumer measures when it
//!   sees it.
//!
//! Progress goes to stderr once a second when stderr is a terminal; a human summary goes to
//! stdout, and with `--json` the last line is one JSON object (`records_per_sec`, `mb_per_sec`
//! with MB = 10^6 bytes of record value, `p50_ms`, `p99_ms`, `p999_ms`, `max_ms`, ...).

mod consume;
mod produce;
mod report;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

#[derive(Debug, Parser)]
#[command(name = "fjord-bench", version, about = "Load generator for Kafka-compatible brokers (librdkafka)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce records and measure throughput and delivery latency.
    Produce(ProduceArgs),
    /// Consume records and measure throughput.
    Consume(ConsumeArgs),
    /// Produce at a fixed rate while consuming; measure end-to-end latency.
    E2e(ProduceArgs),
}

#[derive(Debug, Clone, Args)]
struct Common {
    /// The broker to bootstrap from.
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    bootstrap: String,
    #[arg(long, default_value = "fjord-bench")]
    topic: String,
    /// Print a JSON object as the last line.
    #[arg(long)]
    json: bool,
    /// More librdkafka properties, key=value (repeatable).
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    common: Common,
    /// Partitions of the topic, created if missing.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    /// Records to send (default: run for --duration).
    #[arg(long, conflicts_with = "duration")]
    records: Option<u64>,
    /// Seconds to send for.
    #[arg(long)]
    duration: Option<f64>,
    /// 0, 1 or all.
    #[arg(long, default_value = "1")]
    acks: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// Largest batch librdkafka builds, in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    batch_size: u64,
    /// none, gzip, snappy or lz4.
    #[arg(long, default_value = "none")]
    compression: String,
    /// Records per second (default: as fast as the broker takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// The idempotent producer.
    #[arg(long)]
    idempotence: bool,
    /// Produce in transactions with this transactional id (implies idempotence and acks=all).
    #[arg(long, value_name = "ID")]
    transactional_id: Option<String>,
    /// With --transactional-id: commit a transaction every this many milliseconds (as
    /// kafka-producer-perf-test's --transaction-duration-ms).
    #[arg(long, default_value_t = 100, requires = "transactional_id")]
    txn_interval_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    common: Common,
    /// Consume in this group (subscribe); default: assign every partition from the beginning.
    #[arg(long)]
    group: Option<String>,
    /// Records to read before stopping.
    #[arg(long)]
    records: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let done = match cli.command {
        Command::Produce(args) => produce::run(&args, false),
        Command::E2e(args) => produce::run(&args, true),
        Command::Consume(args) => consume::run(&args),
    };
    match done {
        Ok(summary) => {
            summary.print();
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fjord-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// librdkafka settings shared by producers and consumers.
fn client_config(common: &Common) -> Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &common.bootstrap);
    for p in &common.properties {
        let (k, v) = p.split_once('=').with_context(|| format!("-X {p}: expected key=value"))?;
        config.set(k, v);
    }
    Ok(config)
}

/// Creates `topic` with `partitions` unless it exists.
fn ensure_topic(common: &Common, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(common)?.create().context("admin client")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let topic = NewTopic::new(&common.topic, partitions, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime.block_on(admin.create_topics([&topic], &options)).context("CreateTopics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}
