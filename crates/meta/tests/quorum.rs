//! Three metadata nodes in one process, talking Raft over real loopback TCP on ephemeral ports,
//! each with its own RocksDB in a temporary directory: election, forwarding, failover, a
//! minority refusing changes, catching up from a snapshot, and restarting everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_meta::{BrokerInfo, Command, MetaConfig, MetaError, Metadata, MetadataImage, NodeDb};
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(30);

struct Cluster {
    dirs: HashMap<i32, tempfile::TempDir>,
    addrs: BTreeMap<i32, String>,
    nodes: HashMap<i32, Arc<Metadata>>,
    snapshot_every: u64,
}

impl Cluster {
    /// Three nodes, ids 1..=3, with a snapshot every `snapshot_every` entries.
    async fn start(snapshot_every: u64) -> Self {
        let mut listeners = HashMap::new();
        let mut addrs = BTreeMap::new();
        for id in 1..=3 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.insert(id, listener.local_addr().unwrap().to_string());
            listeners.insert(id, listener);
        }
        let dirs = (1..=3).map(|id| (id, tempfile::tempdir().unwrap())).collect();
        let mut cluster = Self { dirs, addrs, nodes: HashMap::new(), snapshot_every };
        for (id, listener) in listeners {
            cluster.launch(id, listener).await;
        }
        cluster
    }

    fn config(&self, id: i32) -> MetaConfig {
        MetaConfig {
            voters: self.addrs.clone(),
            heartbeat_interval: Duration::from_millis(100),
            session_timeout: Duration::from_millis(1500),
            propose_timeout: Duration::from_secs(3),
            snapshot_every: self.snapshot_every,
            logs_behind_snapshot: 0,
            ..MetaConfig::single(id)
        }
    }

    async fn launch(&mut self, id: i32, listener: TcpListener) {
        // A stopped node's last RocksDB handle goes with its Raft tasks, a moment after shutdown.
        let path = self.dirs[&id].path().to_path_buf();
        let db = Arc::new(wait_for("the RocksDB lock", || NodeDb::open(&path).ok()).await);
        let node = Metadata::start(db, self.config(id), Some(listener)).await.unwrap();
        self.nodes.insert(id, node);
    }

    /// Starts node `id` again on its data and its address.
    async fn restart(&mut self, id: i32) {
        let listener = TcpListener::bind(&self.addrs[&id]).await.unwrap();
        self.launch(id, listener).await;
    }

    /// Stops node `id` (its RocksDB closes when the last handle goes).
    async fn stop(&mut self, id: i32) {
        let node = self.nodes.remove(&id).unwrap();
        node.shutdown().await;
        drop(node);
    }

    async fn controller(&self) -> i32 {
        wait_for("a controller", || self.nodes.iter().find(|(_, n)| n.is_controller()).map(|(id, _)| *id)).await
    }

    fn node(&self, id: i32) -> &Metadata {
        &self.nodes[&id]
    }

    /// Waits until every running node's image satisfies `check`.
    async fn converge(&self, what: &str, check: impl Fn(&MetadataImage) -> bool) {
        wait_for(what, || self.nodes.values().all(|n| check(&n.image())).then_some(())).await;
    }

    async fn shutdown(mut self) {
        let ids: Vec<i32> = self.nodes.keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

/// Polls `probe` until it yields a value, failing the test after [`DEADLINE`].
async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Proposes `command` on `node` until a controller commits it (proposals fail while an
/// election is under way), failing the test after [`DEADLINE`].
async fn propose_eventually(node: &Metadata, command: Command) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match node.propose(command.clone()).await {
            Ok(_) => return,
            Err(MetaError::Unavailable(why)) if Instant::now() < deadline => {
                eprintln!("retrying after: {why}");
            }
            Err(e) => panic!("proposal failed: {e}"),
        }
    }
}

fn broker(id: i32) -> BrokerInfo {
    BrokerInfo { id, host: "127.0.0.1".into(), port: 9000 + id as u16, rack: None, fenced: false, stopped: false }
}

fn topic(name: &str, partitions: i32) -> Command {
    Command::CreateTopic {
        name: name.into(),
        id: uuid::Uuid::new_v4(),
        partitions,
        replication_factor: 1,
        configs: BTreeMap::new(),
        assignment: None,
    }
}

async fn join_all(cluster: &Cluster) {
    for (id, node) in &cluster.nodes {
        node.join_cluster(broker(*id)).await.unwrap();
    }
    cluster.converge("three live brokers", |i| i.live_brokers().count() == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_forward_and_fail_over() {
    let mut cluster = Cluster::start(1000).await;
    let first = cluster.controller().await;
    join_all(&cluster).await;
    let cluster_id = cluster.node(1).image().cluster_id.clone();
    assert_eq!(cluster_id.len(), 22);
    cluster.converge("one cluster id", |i| i.cluster_id == cluster_id).await;

    // Through a follower: forwarded to the controller, and applied where it was proposed.
    let follower = (1..=3).find(|id| *id != first).unwrap();
    cluster.node(follower).propose(topic("orders", 12)).await.unwrap();
    assert!(cluster.node(follower).image().topic("orders").is_some(), "applied here before the answer");
    cluster.converge("the topic everywhere", |i| i.topic("orders").is_some_and(|t| t.partitions.len() == 12)).await;
    let leaders: Vec<i32> =
        cluster.node(1).image().topic("orders").unwrap().partitions.iter().map(|p| p.leader).collect();
    for id in 1..=3 {
        assert_eq!(leaders.iter().filter(|l| **l == id).count(), 4, "broker {id} leads a third: {leaders:?}");
    }
    let refused = cluster.node(follower).propose(topic("orders", 1)).await;
    assert!(matches!(refused, Err(MetaError::TopicExists(_))), "the controller's refusal comes back: {refused:?}");
    // Every node names the same controller (read afresh: an election may have moved it).
    let current = cluster.controller().await;
    cluster.converge("the controller id", |i| i.controller_id == current).await;

    // The controller goes; the other two elect one of themselves and keep taking changes.
    cluster.stop(first).await;
    let second = cluster.controller().await;
    assert_ne!(second, first);
    let survivor = (1..=3).find(|id| *id != first && *id != second).unwrap();
    propose_eventually(cluster.node(survivor), topic("after-failover", 3)).await;
    let current = cluster.controller().await;
    cluster.converge("the new controller id", |i| i.controller_id == current).await;

    // The stopped node's heartbeats are missed: it is fenced, and leads nothing.
    cluster.converge("the old controller fenced", |i| !i.is_live(first)).await;
    let image = cluster.node(survivor).image();
    assert!(image.topic("orders").unwrap().partitions.iter().all(|p| p.leader != first));
    assert!(image.topic("orders").unwrap().partitions.iter().filter(|p| p.leader == -1).count() == 4);

    // It comes back, catches up from the log, and is unfenced with its partitions.
    cluster.restart(first).await;
    cluster.converge("the returning node caught up", |i| i.topic("after-failover").is_some() && i.is_live(first)).await;
    let image = cluster.node(first).image();
    assert!(image.topic("orders").unwrap().partitions.iter().all(|p| p.leader >= 1));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_cannot_change_metadata() {
    let mut cluster = Cluster::start(1000).await;
    cluster.controller().await;
    join_all(&cluster).await;
    cluster.stop(2).await;
    cluster.stop(3).await;
    let started = Instant::now();
    let refused = cluster.node(1).propose(topic("lonely", 1)).await;
    assert!(matches!(refused, Err(MetaError::Unavailable(_))), "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "the refusal is bounded by the propose timeout");
    assert!(cluster.node(1).image().topic("lonely").is_none());

    // With a majority back, the same change goes through.
    cluster.restart(2).await;
    propose_eventually(cluster.node(1), topic("lonely", 1)).await;
    cluster.converge("the change on both live nodes", |i| i.topic("lonely").is_some()).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_far_behind_catches_up_from_a_snapshot_and_all_restart() {
    let mut cluster = Cluster::start(5).await;
    cluster.controller().await;
    join_all(&cluster).await;
    cluster.stop(3).await;
    for n in 0..30 {
        propose_eventually(cluster.node(1), topic(&format!("t{n}"), 1)).await;
    }
    // Node 3's entries were purged behind the snapshots: it can only catch up from one.
    cluster.restart(3).await;
    cluster.converge("node 3 caught up", |i| i.topics.len() == 30).await;

    let before = cluster.node(1).image();
    for id in [1, 2, 3] {
        cluster.stop(id).await;
    }
    for id in [3, 1, 2] {
        cluster.restart(id).await;
    }
    cluster
        .converge("the same topics after restarting everything", |i| {
            i.topics.len() == 30 && i.cluster_id == before.cluster_id && i.next_producer_id == before.next_producer_id
        })
        .await;
    propose_eventually(cluster.node(2), topic("after-restart", 1)).await;
    cluster.converge("a change after the restart", |i| i.topic("after-restart").is_some()).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_single_node_is_a_cluster_of_itself() {
    let dir = tempfile::tempdir().unwrap();
    let open = || async {
        let db = Arc::new(NodeDb::open(dir.path()).unwrap());
        Metadata::start(db, MetaConfig::single(1), None).await.unwrap()
    };
    let node = open().await;
    node.join_cluster(broker(1)).await.unwrap();
    node.propose(topic("t", 3)).await.unwrap();
    let Ok(fjord_meta::Outcome::ProducerIds { first }) = node.propose(Command::AllocateProducerIds { count: 10 }).await
    else {
        panic!("no producer ids")
    };
    assert_eq!(first, 0);
    let cluster_id = node.image().cluster_id.clone();
    node.shutdown().await;
    drop(node);

    let node = open().await;
    node.join_cluster(broker(1)).await.unwrap();
    let image = node.image();
    assert_eq!(image.cluster_id, cluster_id);
    assert_eq!(image.topic("t").unwrap().partitions.len(), 3);
    assert_eq!(image.controller_id, 1);
    let Ok(fjord_meta::Outcome::ProducerIds { first }) = node.propose(Command::AllocateProducerIds { count: 10 }).await
    else {
        panic!("no producer ids")
    };
    assert_eq!(first, 10, "ids are never handed out twice");
    node.shutdown().await;
}

#[tokio::test]
async fn a_pre_raft_data_directory_is_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What the one-node metadata before Raft left: a command log and the node's cluster id.
        let db = NodeDb::open(dir.path()).unwrap();
        db.set_node_value("cluster.id", "old-cluster-id-0123456").unwrap();
        db.append_command(1, &Command::RegisterBroker(broker(1))).unwrap();
        db.append_command(2, &topic("kept", 2)).unwrap();
        db.append_command(3, &Command::AllocateProducerIds { count: 1000 }).unwrap();
    }
    let db = Arc::new(NodeDb::open(dir.path()).unwrap());
    let node = Metadata::start(db.clone(), MetaConfig::single(1), None).await.unwrap();
    node.join_cluster(broker(1)).await.unwrap();
    let image = node.image();
    assert_eq!(image.cluster_id, "old-cluster-id-0123456");
    assert_eq!(image.topic("kept").unwrap().partitions.len(), 2);
    assert_eq!(image.next_producer_id, 1000);
    assert!(db.commands_after(0).unwrap().is_empty(), "the old log is dropped once carried over");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_on_the_controller_port_close_only_that_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cluster = Cluster::start(1000).await;
    cluster.controller().await;
    join_all(&cluster).await;
    let addr = &cluster.addrs[&1];
    // Not JSON; then a length far over the frame limit; then a frame cut short.
    for bytes in [&b"\0\0\0\x05hello"[..], &[0xff, 0xff, 0xff, 0xff][..], &b"\0\0\x10\0{\"Vote\""[..]] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the node closes the connection without answering");
    }
    // The quorum, node 1 included, carries on.
    propose_eventually(cluster.node(1), topic("still-serving", 1)).await;
    cluster.converge("the change everywhere", |i| i.topic("still-serving").is_some()).await;
    cluster.shutdown().await;
}
