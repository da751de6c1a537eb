//! [`Metadata`]: one node of the metadata quorum — its Raft node, the RPC server on the
//! `CONTROLLER` listener, and the handle through which the broker proposes every change and
//! reads every image.
//!
//! A proposal goes to the Raft leader, the active controller: on the leader it is written with
//! `client_write`, elsewhere it is forwarded over the RPC. Either way the proposer returns once
//! its own state machine has applied the entry, so a broker that was told "created" sees the
//! topic in its next image. The controller also tracks broker heartbeats ([`Liveness`]) and
//! fences brokers whose session runs out.
//!
//! With no voters configured the node is a one-voter cluster of itself: the same path, with a
//! quorum of one and no listener.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::now_ms;

use openraft::{BasicNode, ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::controller::Liveness;
use crate::log_store::LogStore;
use crate::network::{HeartbeatReply, Network, Peer, ProposeReply, Request};
use crate::raft::{NodeId, Raft};
use crate::state_machine::{Published, StateMachine};
use crate::types::{BrokerInfo, Command, Outcome};
use crate::{MetaError, MetadataImage, NodeDb};

/// How a metadata node runs.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// This node's id (`node.id`).
    pub node_id: i32,
    /// The voters, id → `host:port` of their `CONTROLLER` listener; empty: a one-voter cluster.
    pub voters: BTreeMap<i32, String>,
    /// How often the broker tells the controller it is alive (`broker.heartbeat.interval.ms`).
    pub heartbeat_interval: Duration,
    /// How long the controller waits for a heartbeat before fencing (`broker.session.timeout.ms`).
    pub session_timeout: Duration,
    /// How long a proposal may wait for a controller to commit it.
    pub propose_timeout: Duration,
    /// How often the active controller gives partitions back to their preferred leaders
    /// (`leader.imbalance.check.interval.seconds`); `None`: never (`auto.leader.rebalance.enable=false`).
    pub leader_rebalance_interval: Option<Duration>,
    /// Raft entries between snapshots of the state machine.
    pub snapshot_every: u64,
    /// Raft entries kept in the log behind a snapshot (for followers slightly behind).
    pub logs_behind_snapshot: u64,
}

impl MetaConfig {
    /// A one-voter cluster with Kafka's heartbeat and session defaults.
    pub fn single(node_id: i32) -> Self {
        Self {
            node_id,
            voters: BTreeMap::new(),
            heartbeat_interval: Duration::from_millis(2000),
            session_timeout: Duration::from_millis(9000),
            propose_timeout: Duration::from_secs(10),
            leader_rebalance_interval: Some(Duration::from_secs(300)),
            snapshot_every: 1000,
            logs_behind_snapshot: 1000,
        }
    }
}

/// A node of the metadata quorum.
///
/// Lock order: `liveness`, `heartbeats` and `tasks` are each taken alone. `liveness` and `tasks`
/// are std mutexes held for in-memory work only; `heartbeats` is async and held across a
/// heartbeat's round trip by the one task that sends them.
pub struct Metadata {
    config: MetaConfig,
    raft: Raft,
    db: Arc<NodeDb>,
    published: Arc<Published>,
    /// The active controller's view of broker liveness; `Some` while this node leads.
    liveness: Mutex<Option<Liveness>>,
    /// The connection heartbeats go over.
    heartbeats: tokio::sync::Mutex<Option<Peer>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        f.debug_struct("Metadata")
            .field("node_id", &self.config.node_id)
            .field("state", &metrics.state)
            .field("leader", &metrics.current_leader)
            .field("applied", &self.image().applied_index)
            .finish()
    }
}

impl Metadata {
    /// Starts the Raft node on `db`: the state machine at its snapshot, the log replayed into
    /// it, the RPC server on `listener` (required when there are voters), and the background
    /// work (leader tracking, heartbeats, fencing). A pristine node forms the cluster with the
    /// configured voters. Returns before a leader is known: see [`Metadata::join_cluster`].
    pub async fn start(
        db: Arc<NodeDb>,
        config: MetaConfig,
        listener: Option<TcpListener>,
    ) -> Result<Arc<Self>, MetaError> {
        let published = Arc::new(Published::new());
        let sm = StateMachine::open(db.clone(), published.clone()).map_err(storage)?;
        let raft_config = openraft::Config {
            cluster_name: "fjord".into(),
            // Kafka's controller.quorum.election.timeout.ms is 1000: a follower that hears
            // nothing for 0.5–1 s (randomised) stands for election.
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            install_snapshot_timeout: 2000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.logs_behind_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Storage(format!("invalid Raft settings: {e}")))?;
        let id = config.node_id as NodeId;
        let raft = Raft::new(id, Arc::new(raft_config), Network, LogStore::new(db.clone()), sm)
            .await
            .map_err(|e| MetaError::Storage(format!("cannot start the Raft node: {e}")))?;

        let members: BTreeMap<NodeId, BasicNode> = if config.voters.is_empty() {
            BTreeMap::from([(id, BasicNode::default())])
        } else {
            config.voters.iter().map(|(v, addr)| (*v as NodeId, BasicNode::new(addr))).collect()
        };
        let initialized = raft.is_initialized().await.map_err(|e| MetaError::Storage(e.to_string()))?;
        if !initialized {
            tracing::info!(voters = ?members.keys().collect::<Vec<_>>(), "forming the metadata quorum");
            // Every voter forms the cluster with the same membership, which Raft allows; a node
            // that hears from a leader first is simply told it is already formed.
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "the quorum was formed elsewhere");
            }
        }

        let (stop, stop_rx) = watch::channel(false);
        let meta = Arc::new(Self {
            config,
            raft,
            db,
            published,
            liveness: Mutex::new(None),
            heartbeats: tokio::sync::Mutex::new(None),
            stop,
            tasks: Mutex::new(JoinSet::new()),
        });
        {
            let mut tasks = meta.tasks.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(listener) = listener {
                tasks.spawn(crate::server::serve(listener, meta.clone(), stop_rx.clone()));
            }
            tasks.spawn(follow_leader(meta.clone(), stop_rx.clone()));
            tasks.spawn(send_heartbeats(meta.clone(), stop_rx.clone()));
            tasks.spawn(watch_liveness(meta.clone(), stop_rx));
        }
        Ok(meta)
    }

    /// Waits for the quorum, then makes sure the cluster has an id (this node's stored one, if
    /// it had one before Raft), carries over the metadata of a pre-Raft data directory, and
    /// registers `me`. Retries until it succeeds or `stop` is set.
    pub async fn join_cluster(&self, me: BrokerInfo) -> Result<(), MetaError> {
        let mut stop = self.stop.subscribe();
        let mut attempt = 0u32;
        loop {
            match self.join_once(&me).await {
                Ok(()) => return Ok(()),
                Err(MetaError::Unavailable(why)) => {
                    attempt += 1;
                    tracing::warn!(attempt, reason = %why, "waiting for the metadata quorum");
                }
                Err(e) => return Err(e),
            }
            if *stop.borrow() {
                return Err(MetaError::Unavailable("shutting down".into()));
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    async fn join_once(&self, me: &BrokerInfo) -> Result<(), MetaError> {
        if self.image().cluster_id.is_empty() {
            let cluster_id = match self.db.node_value("cluster.id")? {
                Some(id) => id,
                None => new_cluster_id(),
            };
            self.propose(Command::InitCluster { cluster_id }).await?;
        }
        if let Some(old) = self.db.legacy_image()? {
            tracing::info!(topics = old.topics.len(), "carrying the pre-Raft metadata into the quorum");
            self.propose(Command::Import(Box::new(old))).await?;
            self.db.drop_legacy()?;
        }
        // Registered at every start, even unchanged: the registration commits after everything
        // the cluster decided while this node was away, and the proposer returns once it has
        // applied it, so the broker never opens its logs (or leads) on a stale image.
        self.propose(Command::RegisterBroker(me.clone())).await?;
        let mut metrics = self.raft.metrics();
        let timeout = self.config.propose_timeout;
        match tokio::time::timeout(timeout, metrics.wait_for(|m| m.current_leader.is_some())).await {
            Ok(Ok(m)) => {
                let leader = m.current_leader.map_or(-1, |l| l as i32);
                drop(m);
                self.published.set_controller(leader);
                Ok(())
            }
            _ => Err(MetaError::Unavailable("no controller is elected".into())),
        }
    }

    /// Commits `command` through the controller and waits until this node has applied it.
    /// Fails with [`MetaError::Unavailable`] when no controller commits it within the propose
    /// timeout (no quorum), and with the state machine's refusal when it refused.
    pub async fn propose(&self, command: Command) -> Result<Outcome, MetaError> {
        let deadline = Instant::now() + self.config.propose_timeout;
        let mut metrics = self.raft.metrics();
        let mut why: String;
        loop {
            let leader = metrics.borrow_and_update().current_leader;
            let reply = match leader {
                Some(l) if l == self.config.node_id as NodeId => self.propose_here(command.clone()).await,
                Some(l) => self.forward(l, &command, deadline).await,
                None => ProposeReply::NotController { leader: None },
            };
            match reply {
                ProposeReply::Committed { index, result } => {
                    self.wait_applied(index, deadline).await?;
                    return result;
                }
                ProposeReply::NotController { leader: Some(l) } => why = format!("node {l} is the controller now"),
                ProposeReply::NotController { leader: None } => why = "no controller is elected".into(),
                ProposeReply::Failed(e) => why = e,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MetaError::Unavailable(why));
            }
            // A new leader, or a short pause before asking the same one again.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), metrics.changed()).await;
        }
    }

    /// Commits `command` on this node, which believes it is the leader.
    pub(crate) async fn propose_here(&self, command: Command) -> ProposeReply {
        match tokio::time::timeout(self.config.propose_timeout, self.raft.client_write(command)).await {
            Err(_) => ProposeReply::Failed(format!(
                "the controller did not commit within {:?} (no quorum?)",
                self.config.propose_timeout
            )),
            Ok(Ok(written)) => ProposeReply::Committed { index: written.log_id.index, result: written.data },
            Ok(Err(e)) => match e.forward_to_leader::<BasicNode>() {
                Some(forward) => ProposeReply::NotController { leader: forward.leader_id },
                None => ProposeReply::Failed(e.to_string()),
            },
        }
    }

    /// Sends `command` to controller `leader`.
    async fn forward(&self, leader: NodeId, command: &Command, deadline: Instant) -> ProposeReply {
        let Some(addr) = self.address_of(leader) else {
            return ProposeReply::Failed(format!("controller {leader} has no address in the membership"));
        };
        let mut peer = Peer::new(leader, addr);
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        match peer.call::<ProposeReply>(&Request::Propose(command.clone()), left).await {
            Ok(reply) => reply,
            Err(e) => ProposeReply::Failed(format!("controller {leader} unreachable: {e}")),
        }
    }

    fn address_of(&self, node: NodeId) -> Option<String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.membership_config.membership().get_node(&node).map(|n| n.addr.clone())
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<(), MetaError> {
        let mut images = self.subscribe();
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        match tokio::time::timeout(left, images.wait_for(|image| image.applied_index >= index)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(MetaError::Unavailable(format!("entry {index} was committed but not applied here in time"))),
        }
    }

    /// Records a heartbeat from `broker`, if this node is the controller.
    pub(crate) fn heartbeat_here(&self, broker: i32) -> HeartbeatReply {
        let mut liveness = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
        match liveness.as_mut() {
            Some(live) => {
                live.heard(broker, now_ms());
                HeartbeatReply::Accepted
            }
            None => HeartbeatReply::NotController { leader: self.raft.metrics().borrow().current_leader },
        }
    }

    /// The Raft node, for the RPC server.
    pub(crate) fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.published.images.borrow().clone()
    }

    /// A receiver that sees every new image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.published.images.subscribe()
    }

    /// Whether this node is the active controller.
    pub fn is_controller(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Stops the background work, the RPC server and the Raft node.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        tasks.shutdown().await;
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "the Raft node did not stop cleanly");
        }
    }
}

fn storage(e: openraft::StorageError<NodeId>) -> MetaError {
    MetaError::Storage(e.to_string())
}

/// Stamps the leader on the published image, and starts or drops the controller's liveness
/// view as this node gains or loses the leadership.
async fn follow_leader(meta: Arc<Metadata>, mut stop: watch::Receiver<bool>) {
    let mut metrics = meta.raft.metrics();
    let mut leading = false;
    loop {
        let (leader, state) = {
            let m = metrics.borrow_and_update();
            (m.current_leader, m.state)
        };
        meta.published.set_controller(leader.map_or(-1, |l| l as i32));
        let now_leading = state == ServerState::Leader;
        if now_leading != leading {
            leading = now_leading;
            let session = meta.config.session_timeout.as_millis() as i64;
            *meta.liveness.lock().unwrap_or_else(|p| p.into_inner()) =
                leading.then(|| Liveness::new(session, now_ms()));
            if leading {
                tracing::info!(node_id = meta.config.node_id, "this node is the active controller");
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}

/// Tells the controller, every `broker.heartbeat.interval.ms`, that this broker is alive.
async fn send_heartbeats(meta: Arc<Metadata>, mut stop: watch::Receiver<bool>) {
    let me = meta.config.node_id;
    let mut tick = tokio::time::interval(meta.config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let Some(leader) = meta.raft.metrics().borrow().current_leader else { continue };
        if leader == me as NodeId {
            meta.heartbeat_here(me);
            continue;
        }
        let Some(addr) = meta.address_of(leader) else { continue };
        let mut peer = meta.heartbeats.lock().await;
        if peer.as_ref().is_none_or(|p| p.target() != leader) {
            *peer = Some(Peer::new(leader, addr));
        }
        let timeout = meta.config.heartbeat_interval;
        if let Some(p) = peer.as_mut()
            && let Err(e) = p.call::<HeartbeatReply>(&Request::Heartbeat { broker: me }, timeout).await
        {
            tracing::debug!(controller = leader, error = %e, "heartbeat failed");
        }
    }
}

/// On the active controller: fences brokers whose session ran out, unfences those that
/// heartbeat again, and every `leader.imbalance.check.interval.seconds` gives partitions back
/// to their preferred leaders.
async fn watch_liveness(meta: Arc<Metadata>, mut stop: watch::Receiver<bool>) {
    let period = (meta.config.heartbeat_interval / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_rebalance = meta.config.leader_rebalance_interval.map(|i| Instant::now() + i);
    let mut previous = meta.image();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let image = meta.image();
        let changes = match meta.liveness.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(live) => {
                // A broker that (re)registered since the last look is alive now, even if its
                // first heartbeat has not arrived: without this, a stale view fences it again.
                let now = now_ms();
                for b in image.brokers.values().filter(|b| !b.fenced && previous.brokers.get(&b.id) != Some(*b)) {
                    live.heard(b.id, now);
                }
                live.changes(&image, now)
            }
            None => continue,
        };
        previous = image.clone();
        if let (Some(due), Some(interval)) = (next_rebalance, meta.config.leader_rebalance_interval)
            && Instant::now() >= due
        {
            next_rebalance = Some(Instant::now() + interval);
            if changes.is_empty() && image.has_preferred_imbalance() {
                tracing::info!("moving leadership back to preferred replicas");
                if let ProposeReply::Failed(e) = meta.propose_here(Command::ElectPreferredLeaders).await {
                    tracing::warn!(error = %e, "could not elect preferred leaders");
                }
            }
        }
        for command in changes {
            tracing::warn!(?command, "broker liveness changed");
            if let ProposeReply::Failed(e) = meta.propose_here(command).await {
                tracing::warn!(error = %e, "could not commit a liveness change");
            }
        }
    }
}

/// A Kafka-style cluster id: a random UUID in URL-safe base64 without padding (22 characters).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| {
            let end = 6 * (i + 1);
            let sextet = if end <= 128 { value >> (128 - end) } else { value << (end - 128) };
            ALPHABET[(sextet & 63) as usize] as char
        })
        .collect()
}
