//! The runtime on a real single-node metadata quorum and real partition logs, without a broker.

use std::sync::atomic::{AtomicUsize, Ordering};

use fjord_meta::{MetaConfig, Metadata, NodeDb, PartitionInfo};

use super::*;
use crate::BrokerConfig;

const TOPIC: &str = "__test_state";

/// What a test shard saw: every record replayed, when it was loaded, how often it was unloaded.
#[derive(Debug, Default)]
struct Tally {
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    loaded_at: Option<i64>,
    unloads: Arc<AtomicUsize>,
}

impl ShardState for Tally {
    fn replay(&mut self, item: Replayed<'_>) {
        if let Replayed::Record { key, value, .. } = item {
            self.records.push((key.to_vec(), value.map(<[u8]>::to_vec)));
        }
    }

    fn loaded(&mut self, now_ms: i64) {
        self.loaded_at = Some(now_ms);
    }

    fn unload(&mut self) {
        self.unloads.fetch_add(1, Ordering::SeqCst);
    }
}

struct Node {
    _dir: tempfile::TempDir,
    meta: Arc<Metadata>,
    replicas: Arc<ReplicaManager>,
    proposer: Proposer,
}

async fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(NodeDb::open(&dir.path().join("meta")).unwrap());
    let meta = Metadata::start(db.clone(), MetaConfig::single(1), None).await.unwrap();
    let me = BrokerInfo { id: 1, host: "127.0.0.1".into(), port: 9092, rack: None, fenced: false, stopped: false };
    meta.join_cluster(me).await.unwrap();
    let defaults = BrokerConfig::embedded_default().topic_defaults().unwrap();
    let replicas = Arc::new(ReplicaManager::open(dir.path(), 1, defaults, db, &meta.image()).unwrap());
    let proposer = Proposer::new(meta.clone(), replicas.clone());
    Node { _dir: dir, meta, replicas, proposer }
}

fn new_runtime(node: &Node, unloads: &Arc<AtomicUsize>) -> Arc<Runtime<Tally>> {
    let topic = InternalTopic { name: TOPIC, partitions: 3, replication_factor: 1, configs: BTreeMap::new() };
    let durability = Durability { fsync: true, timeout: Duration::from_secs(5) };
    let unloads = unloads.clone();
    Runtime::new(topic, durability, node.replicas.clone(), node.proposer.clone(), move |_| Tally {
        unloads: unloads.clone(),
        ..Tally::default()
    })
}

fn write(key: &str, value: Option<&str>) -> Write {
    (Bytes::from(key.to_string()), value.map(|v| Bytes::from(v.to_string())))
}

fn records(pairs: &[(&str, Option<&str>)]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))).collect()
}

#[test]
fn keys_land_where_kafka_puts_them() {
    // Kafka: Utils.abs(key.hashCode()) % 50, with Java's String.hashCode.
    assert_eq!(partition_for("", 50), 0);
    assert_eq!(partition_for("my-group", 50), 12, "hashCode -1906497762");
    assert_eq!(partition_for("consumer-group-with-a-long-name", 50), 48, "a negative hash");
    assert_eq!(partition_for("polygenelubricants", 50), 0, "hashCode == Integer.MIN_VALUE");
    for g in ["a", "consumer-group-with-a-long-name", "ü-groupe"] {
        assert!((0..50).contains(&partition_for(g, 50)));
    }
}

#[tokio::test]
async fn a_takeover_replays_what_was_written_in_order() {
    let node = node().await;
    let unloads = Arc::new(AtomicUsize::new(0));
    let runtime = new_runtime(&node, &unloads);
    assert!(!runtime.topic_exists());
    assert!(matches!(runtime.shard(1).await, Err(CoordinatorError::NotCoordinator(_))), "no partition yet");
    runtime.ensure_topic().await.unwrap();
    runtime.ensure_topic().await.unwrap();
    assert_eq!(runtime.partitions(), 3);
    assert_eq!(runtime.coordinator_of("k").map(|b| b.id), Some(1));

    let shard = runtime.shard(1).await.expect("an empty partition loads within the wait");
    assert!(shard.read(|t| t.loaded_at.is_some() && t.records.is_empty()).unwrap());
    let (answer, pending) = shard
        .write(|_, w| {
            w.push(write("a", Some("1")));
            w.push(write("b", None));
            7
        })
        .await
        .unwrap();
    assert_eq!(answer, 7);
    pending.commit().await.unwrap();
    let ((), pending) = shard.write(|_, _| {}).await.unwrap();
    pending.commit().await.expect("nothing to write commits at once");
    let ((), pending) = shard.write(|_, w| w.push(write("a", Some("2")))).await.unwrap();
    pending.commit().await.unwrap();

    // Another runtime over the same partitions is what a new coordinator sees at takeover.
    let other = new_runtime(&node, &unloads);
    let taken = other.shard(1).await.unwrap();
    assert_eq!(taken.read(|t| t.records.clone()).unwrap(), records(&[("a", Some("1")), ("b", None), ("a", Some("2"))]));
    assert!(other.shard(0).await.unwrap().read(|t| t.records.is_empty()).unwrap(), "each partition has its own state");
    node.meta.shutdown().await;
}

#[tokio::test]
async fn losing_leadership_unloads_and_a_new_epoch_reloads() {
    let node = node().await;
    let unloads = Arc::new(AtomicUsize::new(0));
    let runtime = new_runtime(&node, &unloads);
    runtime.ensure_topic().await.unwrap();
    runtime.follow();
    runtime.wait_loaded().await;
    assert_eq!(runtime.shards().len(), 3, "every partition led here is taken over");
    let shard = runtime.shard(2).await.unwrap();
    let ((), pending) = shard.write(|_, w| w.push(write("k", Some("v")))).await.unwrap();
    pending.commit().await.unwrap();

    let partition = node.replicas.partition(TOPIC, 2).unwrap();
    let info = |leader, leader_epoch| PartitionInfo {
        index: 2,
        leader,
        leader_epoch,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        partition_epoch: leader_epoch,
    };
    partition.apply(&info(2, 1), now_ms());
    let ((), pending) = shard.write(|_, w| w.push(write("late", Some("x")))).await.unwrap();
    let refused = pending.commit().await;
    assert!(
        matches!(refused, Err(BrokerError::Coordinator(CoordinatorError::NotCoordinator(_)))),
        "a write after the leadership moved: {refused:?}"
    );
    runtime.follow();
    assert_eq!(unloads.load(Ordering::SeqCst), 1);
    assert!(matches!(runtime.shard(2).await, Err(CoordinatorError::NotCoordinator(_))));
    assert_eq!(runtime.shards().len(), 2);

    partition.apply(&info(1, 2), now_ms());
    let back = runtime.shard(2).await.expect("leading again, in a new epoch: reloaded");
    assert!(!Arc::ptr_eq(&back, &shard));
    assert_eq!(
        back.read(|t| t.records.clone()).unwrap(),
        records(&[("k", Some("v"))]),
        "the refused write is not there"
    );
    let stale = shard.write(|_, w| w.push(write("stale", Some("x")))).await;
    assert!(matches!(stale, Err(CoordinatorError::NotCoordinator(_))), "the shard given up refuses every use");
    assert!(shard.read(|_| ()).is_err());
    node.meta.shutdown().await;
}
