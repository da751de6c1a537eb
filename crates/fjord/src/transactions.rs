//! `fjord transactions`: transactions for operators (KIP-664), over the Kafka protocol as Kafka's
//! `kafka-transactions.sh` works —
//!
//! - `list [--state S]... [--min-duration-ms N]`: every transactional id of the cluster
//!   (ListTransactions to every broker);
//! - `describe ID`: its coordinator's view (DescribeTransactions);
//! - `producers --topic T --partition P`: the producers that wrote to a partition, with the first
//!   offset of each one's open transaction (DescribeProducers to the leader);
//! - `abort --topic T --partition P (--start-offset O | --producer-id ID --producer-epoch E
//!   --coordinator-epoch C)`: writes an abort marker for a hanging transaction (WriteTxnMarkers
//!   to the leader), the producer found by its transaction's first offset or named.

use anyhow::{Context, Result, bail};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::{Client, Cluster, check, name};

/// FindCoordinator's key type of a transactional id.
const TRANSACTION: i8 = 1;

/// Which producer's transaction `abort` ends.
#[derive(Debug, Clone, clap::Args)]
pub struct AbortTarget {
    /// The first offset of the transaction in the partition (as `producers` shows it).
    #[arg(long, conflicts_with_all = ["producer_id", "producer_epoch", "coordinator_epoch"])]
    pub start_offset: Option<i64>,
    #[arg(long, requires_all = ["producer_epoch", "coordinator_epoch"])]
    pub producer_id: Option<i64>,
    #[arg(long)]
    pub producer_epoch: Option<i16>,
    #[arg(long)]
    pub coordinator_epoch: Option<i32>,
}

pub fn list(bootstrap: &str, states: &[String], min_duration_ms: Option<i64>) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let ids: Vec<i32> = cluster.addrs.keys().copied().collect();
    let request = ListTransactionsRequest::default()
        .with_state_filters(states.iter().map(|s| StrBytes::from_string(s.clone())).collect())
        .with_duration_filter(min_duration_ms.unwrap_or(-1));
    let mut rows = Vec::new();
    for id in ids {
        let response: ListTransactionsResponse = cluster.broker(id)?.send(ApiKey::ListTransactions, 1, &request)?;
        check(response.error_code, &format!("ListTransactions on broker {id}"))?;
        if let Some(unknown) = response.unknown_state_filters.first() {
            bail!("unknown transaction state {:?}", unknown.as_str());
        }
        for t in response.transaction_states {
            rows.push((t.transactional_id.to_string(), t.producer_id.0, t.transaction_state.to_string(), id));
        }
    }
    rows.sort();
    println!("{:<40} {:>12} {:<16} COORDINATOR", "TRANSACTIONAL ID", "PRODUCER ID", "STATE");
    for (id, producer, state, coordinator) in rows {
        println!("{id:<40} {producer:>12} {state:<16} {coordinator}");
    }
    Ok(())
}

pub fn describe(bootstrap: &str, id: &str) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let request = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
    let response: DescribeTransactionsResponse =
        cluster.coordinator(TRANSACTION, id)?.send(ApiKey::DescribeTransactions, 0, &request)?;
    let t = response.transaction_states.into_iter().next().context("no answer for the id")?;
    check(t.error_code, &format!("DescribeTransactions {id}"))?;
    println!("transactional id: {id}");
    println!("state:            {}", t.transaction_state.as_str());
    println!("producer:         id {} epoch {}", t.producer_id.0, t.producer_epoch);
    println!("timeout:          {} ms", t.transaction_timeout_ms);
    if t.transaction_start_time_ms >= 0 {
        println!("started at:       {} ms since the epoch", t.transaction_start_time_ms);
    }
    for topic in &t.topics {
        for p in &topic.partitions {
            println!("partition:        {}-{p}", topic.topic.as_str());
        }
    }
    Ok(())
}

/// The producers of `topic`/`partition`, from its leader.
fn describe_producers(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
) -> Result<Vec<kafka_protocol::messages::describe_producers_response::ProducerState>> {
    let request = DescribeProducersRequest::default()
        .with_topics(vec![TopicRequest::default().with_name(name(topic)).with_partition_indexes(vec![partition])]);
    let response: DescribeProducersResponse =
        leader(cluster, topic, partition)?.send(ApiKey::DescribeProducers, 0, &request)?;
    let p = response.topics.into_iter().flat_map(|t| t.partitions).next().context("no answer for the partition")?;
    check(p.error_code, &format!("DescribeProducers {topic}-{partition}"))?;
    Ok(p.active_producers)
}

fn leader<'a>(cluster: &'a mut Cluster, topic: &str, partition: i32) -> Result<&'a mut Client> {
    let leader =
        *cluster.leaders(topic)?.get(&partition).with_context(|| format!("{topic} has no partition {partition}"))?;
    if leader < 0 {
        bail!("{topic}-{partition} has no leader");
    }
    cluster.broker(leader)
}

pub fn producers(bootstrap: &str, topic: &str, partition: i32) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let producers = describe_producers(&mut cluster, topic, partition)?;
    println!(
        "{:>12} {:>6} {:>14} {:>15} {:>18} TRANSACTION START OFFSET",
        "PRODUCER ID", "EPOCH", "LAST SEQUENCE", "LAST TIMESTAMP", "COORDINATOR EPOCH"
    );
    for p in producers {
        let start = if p.current_txn_start_offset >= 0 { p.current_txn_start_offset.to_string() } else { "-".into() };
        println!(
            "{:>12} {:>6} {:>14} {:>15} {:>18} {start}",
            p.producer_id.0, p.producer_epoch, p.last_sequence, p.last_timestamp, p.coordinator_epoch
        );
    }
    Ok(())
}

pub fn abort(bootstrap: &str, topic: &str, partition: i32, target: &AbortTarget) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let (producer_id, producer_epoch, coordinator_epoch) = match target {
        AbortTarget { start_offset: Some(offset), .. } => {
            let producers = describe_producers(&mut cluster, topic, partition)?;
            let p = producers
                .iter()
                .find(|p| p.current_txn_start_offset == *offset)
                .with_context(|| format!("no open transaction of {topic}-{partition} starts at offset {offset}"))?;
            (p.producer_id.0, p.producer_epoch as i16, p.coordinator_epoch.max(0))
        }
        AbortTarget { producer_id: Some(id), producer_epoch: Some(epoch), coordinator_epoch: Some(c), .. } => {
            (*id, *epoch, *c)
        }
        _ => bail!("give --start-offset, or --producer-id, --producer-epoch and --coordinator-epoch"),
    };
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![
            WritableTxnMarkerTopic::default().with_name(name(topic)).with_partition_indexes(vec![partition]),
        ]);
    let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let response: WriteTxnMarkersResponse =
        leader(&mut cluster, topic, partition)?.send(ApiKey::WriteTxnMarkers, 1, &request)?;
    for p in response.markers.iter().flat_map(|m| &m.topics).flat_map(|t| &t.partitions) {
        check(p.error_code, &format!("WriteTxnMarkers {topic}-{}", p.partition_index))?;
    }
    println!("aborted the transaction of producer {producer_id} (epoch {producer_epoch}) in {topic}-{partition}");
    Ok(())
}
