//! `consume`: reads `--records` records, from the beginning of every partition (assign) or as a
//! member of `--group` (subscribe), and reports throughput.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::report::{Counts, Progress, Summary};
use crate::{ConsumeArgs, client_config};

pub fn run(args: &ConsumeArgs) -> Result<Summary> {
    let topic = &args.common.topic;
    let mut config = client_config(&args.common)?;
    config
        .set("group.id", args.group.as_deref().unwrap_or("fjord-bench-consume"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "262144");
    let consumer: BaseConsumer = config.create().context("consumer")?;
    if args.group.is_some() {
        consumer.subscribe(&[topic]).context("subscribe")?;
    } else {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).context("metadata")?;
        let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len());
        if partitions == 0 {
            bail!("topic {topic} has no partitions");
        }
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            assignment.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment).context("assign")?;
    }
    let counts = Arc::new(Counts::default());
    let progress = Progress::start("consume", counts.clone());
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut started = None;
    while counts.records.load(Ordering::Relaxed) < args.records {
        if started.is_some_and(|s: Instant| s.elapsed() > timeout) {
            bail!("only {} of {} records within {timeout:?}", counts.records.load(Ordering::Relaxed), args.records);
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = message.context("consume")?;
        // The clock starts with the first record: connecting and joining are not throughput.
        started.get_or_insert_with(Instant::now);
        counts.add(1, message.payload_len() as u64);
    }
    let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    drop(progress);
    Ok(Summary {
        workload: "consume",
        records: counts.records.load(Ordering::Relaxed),
        bytes: counts.bytes.load(Ordering::Relaxed),
        errors: 0,
        seconds,
        latency: None,
        json: args.common.json,
        settings: serde_json::json!({ "group": args.group }),
    })
}
