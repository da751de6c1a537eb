//! [`GroupCoordinator`]: the classic group protocol at work on the [`Runtime`] over
//! `__consumer_offsets` — one [`GroupShard`] per partition this broker leads, each the pure
//! [`fjord_group::Coordinator`] with the committed offsets of its groups, the requests waiting on
//! it, and its records.
//!
//! A JoinGroup or SyncGroup that must wait registers a one-shot channel under a reply id and
//! awaits it without holding anything, so a rebalance never blocks other connections. Every
//! change the coordinator asks to persist (membership, committed offsets, deletions) is a record
//! of the group's partition, written like an acks=all produce before an OffsetCommit is
//! answered. Taking over a partition replays it: groups come back Stable with their members
//! (whose sessions then restart), offsets into the cache. Before the topic exists (it is created
//! by the first JoinGroup, OffsetCommit or FindCoordinator) every group is unknown.
//!
//! Lock order: that of the runtime — a shard's write lock, then its state lock; no lock is held
//! across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fjord_group::offsets::{self, Committed, OffsetStore};
use fjord_group::{Action, Coordinator, DescribedGroup, GroupError, GroupSnapshot, GroupState, Reply, ReplyId};
use tokio::sync::{Notify, oneshot, watch};

use super::runtime::{
    CoordinatorError, Durability, InternalTopic, Pending, Replayed, Runtime, Shard, ShardState, Write,
};
use crate::BrokerError;
use crate::cluster::Proposer;
use crate::replica::{ReplicaManager, now_ms};

/// The internal topic holding committed offsets and group membership.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often offsets of groups without members are checked against `offsets.retention.minutes`.
const EXPIRY_INTERVAL_MS: i64 = 60_000;

/// The coordinator's settings.
#[derive(Debug, Clone)]
pub struct GroupsConfig {
    pub group: fjord_group::Config,
    /// `offsets.topic.num.partitions`, to create the topic with.
    pub partitions: i32,
    /// `offsets.topic.replication.factor`, already capped to the cluster's size.
    pub replication_factor: i32,
    /// `offsets.retention.minutes`, in milliseconds.
    pub retention_ms: i64,
    pub durability: Durability,
}

/// One `__consumer_offsets` partition's groups.
#[derive(Debug)]
pub struct GroupShard {
    coordinator: Coordinator,
    offsets: OffsetStore,
    waiting: HashMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
    /// While loading: the latest membership record of each group (`None`: deleted).
    snapshots: BTreeMap<String, Option<GroupSnapshot>>,
    /// Offsets committed inside transactions, by producer id, until their marker commits them
    /// (or aborts them): (group, topic, partition, offset).
    pending_txn: HashMap<i64, Vec<(String, String, i32, Committed)>>,
}

impl GroupShard {
    fn new(config: fjord_group::Config) -> Self {
        Self {
            coordinator: Coordinator::new(config),
            offsets: OffsetStore::default(),
            waiting: HashMap::new(),
            next_reply: 0,
            snapshots: BTreeMap::new(),
            pending_txn: HashMap::new(),
        }
    }

    /// Producer `producer_id`'s transaction ended: its offsets are committed, or forgotten.
    fn end_txn_offsets(&mut self, producer_id: i64, commit: bool, now_ms: i64) {
        let Some(offsets) = self.pending_txn.remove(&producer_id) else { return };
        if !commit {
            return;
        }
        for (group, topic, partition, committed) in offsets {
            self.coordinator.ensure_group(&group, now_ms);
            self.offsets.commit(&group, &topic, partition, committed);
        }
    }

    /// Whether an open transaction holds an offset of `group` for `topic`/`partition` (an
    /// OffsetFetch with `require_stable` then answers UNSTABLE_OFFSET_COMMIT).
    pub fn unstable(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending_txn.values().flatten().any(|(g, t, p, _)| g == group && t == topic && *p == partition)
    }

    pub fn coordinator(&self) -> &Coordinator {
        &self.coordinator
    }

    pub fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    /// Delivers the replies among `actions`; adds the records the rest ask to write.
    fn deliver(&mut self, actions: Vec<Action>, writes: &mut Vec<Write>) {
        for action in actions {
            match action {
                Action::Reply(id, reply) => {
                    if let Some(tx) = self.waiting.remove(&id) {
                        // The client may have gone; its answer then has nowhere to go.
                        let _ = tx.send(reply);
                    }
                }
                Action::Persist(s) => writes.push((offsets::group_key(&s.group_id), Some(offsets::group_value(&s)))),
                Action::Forget(group) => writes.push((offsets::group_key(&group), None)),
            }
        }
    }

    fn waiter(&mut self) -> (ReplyId, oneshot::Receiver<Reply>) {
        self.next_reply += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(self.next_reply, tx);
        (self.next_reply, rx)
    }

    /// Offsets of groups without members that have been Empty, and uncommitted to, since before
    /// `cutoff` (Kafka's rule since KIP-211). Returns how many went.
    fn expire_offsets(&mut self, cutoff: i64, writes: &mut Vec<Write>) -> usize {
        let groups: Vec<String> = self.offsets.groups().map(str::to_string).collect();
        let mut expired = 0;
        for g in groups {
            let Some(empty_since) = self.coordinator.empty_since(&g) else { continue };
            if empty_since >= cutoff {
                continue;
            }
            for (topic, partition) in self.offsets.expired(&g, cutoff) {
                self.offsets.delete(&g, &topic, partition);
                writes.push((offsets::offset_key(&g, &topic, partition), None));
                expired += 1;
            }
        }
        expired
    }
}

impl ShardState for GroupShard {
    fn replay(&mut self, item: Replayed<'_>) {
        match item {
            Replayed::Record { key, value, producer: None } => self.offsets.replay(key, value, &mut self.snapshots),
            Replayed::Record { key, value, producer: Some(producer_id) } => {
                if let (Some(offsets::Key::Offset { group, topic, partition }), Some(c)) =
                    (offsets::decode_key(key), value.and_then(offsets::decode_offset))
                {
                    self.pending_txn.entry(producer_id).or_default().push((group, topic, partition, c));
                }
            }
            Replayed::Marker { producer_id, commit } => {
                if let Some(offsets) = self.pending_txn.remove(&producer_id)
                    && commit
                {
                    for (group, topic, partition, committed) in offsets {
                        self.offsets.commit(&group, &topic, partition, committed);
                    }
                }
            }
        }
    }

    fn loaded(&mut self, now_ms: i64) {
        for snapshot in std::mem::take(&mut self.snapshots).into_values().flatten() {
            self.coordinator.restore(snapshot, now_ms);
        }
        let with_offsets: Vec<String> = self.offsets.groups().map(str::to_string).collect();
        for g in with_offsets {
            self.coordinator.ensure_group(&g, now_ms);
        }
    }

    fn unload(&mut self) {
        let mut names: Vec<String> = self.coordinator.groups().map(|g| g.id.clone()).collect();
        names.extend(self.offsets.groups().map(str::to_string));
        names.sort_unstable();
        names.dedup();
        let mut writes = Vec::new();
        for g in &names {
            let actions = self.coordinator.unload(g);
            self.deliver(actions, &mut writes);
            self.offsets.delete_group(g);
        }
        debug_assert!(writes.is_empty(), "unloading writes nothing");
    }
}

impl From<CoordinatorError> for GroupError {
    fn from(e: CoordinatorError) -> Self {
        match e {
            CoordinatorError::NotCoordinator(what) => GroupError::NotCoordinator(what),
            CoordinatorError::LoadInProgress(what) => GroupError::LoadInProgress(what),
            CoordinatorError::NotAvailable(_) => GroupError::CoordinatorNotAvailable,
        }
    }
}

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    runtime: Arc<Runtime<GroupShard>>,
    config: GroupsConfig,
    /// Wakes the timer task: a request may have set an earlier deadline.
    wake: Notify,
}

/// Where a group's requests go: its shard, or — before `__consumer_offsets` exists — a scratch
/// state in which every group is unknown.
enum Home {
    Shard(Arc<Shard<GroupShard>>),
    NoTopic(Box<GroupShard>),
}

impl GroupCoordinator {
    pub fn new(config: GroupsConfig, replicas: Arc<ReplicaManager>, proposer: Proposer) -> Self {
        // Compacted, in 100 MiB segments (Kafka's `offsets.topic.segment.bytes`) so the cleaner
        // gets rolled segments to work on.
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), (100 * 1024 * 1024).to_string()),
        ]);
        let topic = InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: config.partitions,
            replication_factor: config.replication_factor,
            configs,
        };
        let group = config.group.clone();
        let runtime =
            Runtime::new(topic, config.durability, replicas, proposer, move |_| GroupShard::new(group.clone()));
        Self { runtime, config, wake: Notify::new() }
    }

    /// Follows the leaders of `__consumer_offsets`: loads the partitions led here, unloads the
    /// others (their waiting requests are answered NOT_COORDINATOR).
    pub fn follow_leadership(&self) {
        self.runtime.follow();
    }

    /// Waits for the loads under way (at start, before serving).
    pub async fn wait_loaded(&self) {
        self.runtime.wait_loaded().await;
    }

    /// Creates `__consumer_offsets` on first use, as Kafka does.
    pub async fn ensure_topic(&self) -> Result<(), BrokerError> {
        self.runtime.ensure_topic().await
    }

    /// The `__consumer_offsets` partition `group` lives in.
    pub fn partition_of(&self, group: &str) -> i32 {
        self.runtime.partition_of(group)
    }

    /// The broker coordinating `group`, when its partition has a live leader.
    pub fn coordinator_of(&self, group: &str) -> Option<fjord_meta::BrokerInfo> {
        self.runtime.coordinator_of(group)
    }

    async fn home(&self, group: &str) -> Result<Home, GroupError> {
        if !self.runtime.topic_exists() {
            return Ok(Home::NoTopic(Box::new(GroupShard::new(self.config.group.clone()))));
        }
        Ok(Home::Shard(self.runtime.shard(self.runtime.partition_of(group)).await?))
    }

    /// Runs `f` on `group`'s state with the records it adds written to the group's partition;
    /// the timer task is woken, as `f` may have set a new deadline.
    async fn write<T>(
        &self,
        group: &str,
        f: impl FnOnce(&mut GroupShard, &mut Vec<Write>) -> T,
    ) -> Result<(T, Pending), GroupError> {
        let done = match self.home(group).await? {
            Home::Shard(shard) => shard.write(f).await?,
            Home::NoTopic(mut scratch) => {
                let mut writes = Vec::new();
                let value = f(&mut scratch, &mut writes);
                let durability = self.config.durability;
                let pending = if writes.is_empty() {
                    Pending::none(durability)
                } else {
                    let why = format!("{OFFSETS_TOPIC} does not exist");
                    Pending::failed(CoordinatorError::NotAvailable(why), durability)
                };
                (value, pending)
            }
        };
        self.wake.notify_one();
        Ok(done)
    }

    /// Reads `group`'s state.
    async fn read<T>(&self, group: &str, f: impl FnOnce(&GroupShard) -> T) -> Result<T, GroupError> {
        Ok(match self.home(group).await? {
            Home::Shard(shard) => shard.read(f)?,
            Home::NoTopic(scratch) => f(&scratch),
        })
    }

    pub async fn join(&self, req: fjord_group::JoinRequest) -> fjord_group::JoinOutcome {
        let member = req.member_id.clone();
        self.ensure_topic().await.map_err(|e| (unavailable(e), member.clone()))?;
        let group = req.group_id.clone();
        let reply = self.wait(&group, |c, id| c.join(id, req, now_ms())).await.map_err(|e| (e, member.clone()))?;
        match reply {
            Some(Reply::Join(outcome)) => outcome,
            _ => Err((GroupError::CoordinatorNotAvailable, member)),
        }
    }

    pub async fn sync_group(&self, req: fjord_group::SyncRequest) -> Result<fjord_group::SyncResult, GroupError> {
        let group = req.group_id.clone();
        match self.wait(&group, |c, id| c.sync(id, req, now_ms())).await? {
            Some(Reply::Sync(outcome)) => outcome,
            _ => Err(GroupError::CoordinatorNotAvailable),
        }
    }

    /// Runs a request that may have to wait for the rest of the group (JoinGroup, SyncGroup):
    /// `f` gets the reply id the coordinator answers it under, possibly much later; the answer
    /// is awaited holding nothing. `None`: the shard was given up before it answered.
    async fn wait(
        &self,
        group: &str,
        f: impl FnOnce(&mut Coordinator, ReplyId) -> Vec<Action>,
    ) -> Result<Option<Reply>, GroupError> {
        let (rx, pending) = self
            .write(group, |st, writes| {
                let (id, rx) = st.waiter();
                let actions = f(&mut st.coordinator, id);
                st.deliver(actions, writes);
                rx
            })
            .await?;
        persist(pending).await;
        Ok(rx.await.ok())
    }

    pub async fn heartbeat(&self, req: &fjord_group::HeartbeatRequest) -> Result<(), GroupError> {
        let beat = |st: &mut GroupShard| st.coordinator.heartbeat(req, now_ms());
        match self.home(&req.group_id).await? {
            Home::Shard(shard) => shard.update(beat)?,
            Home::NoTopic(mut scratch) => beat(&mut scratch),
        }
    }

    pub async fn leave(&self, group: &str, members: Vec<fjord_group::LeavingMember>) -> Reply {
        let written = self
            .write(group, |st, writes| {
                let (reply, actions) = st.coordinator.leave(group, members, now_ms());
                st.deliver(actions, writes);
                reply
            })
            .await;
        match written {
            Ok((reply, pending)) => {
                persist(pending).await;
                reply
            }
            Err(e) => Reply::Leave(Err(e)),
        }
    }

    /// OffsetCommit: checked against the group, applied to the cache and appended in one step
    /// (so the cache and the log agree on the order of commits), then made durable before the
    /// answer.
    pub async fn commit(
        &self,
        req: &fjord_group::CommitRequest,
        entries: Vec<(String, i32, Committed)>,
    ) -> Result<(), BrokerError> {
        self.ensure_topic().await.map_err(|e| BrokerError::Group(unavailable(e)))?;
        let (checked, pending) = self
            .write(&req.group_id, |st, writes| {
                st.coordinator.check_commit(req, now_ms())?;
                for (topic, partition, c) in &entries {
                    writes
                        .push((offsets::offset_key(&req.group_id, topic, *partition), Some(offsets::offset_value(c))));
                    st.offsets.commit(&req.group_id, topic, *partition, c.clone());
                }
                Ok::<(), GroupError>(())
            })
            .await?;
        checked?;
        pending.commit().await
    }

    /// TxnOffsetCommit: offsets committed inside producer `producer`'s transaction (checked
    /// against the group as KIP-447 says), written as a transactional batch of that producer and
    /// kept pending until the transaction's marker commits or aborts them.
    pub async fn txn_commit(
        &self,
        req: &fjord_group::CommitRequest,
        producer: (i64, i16),
        entries: Vec<(String, i32, Committed)>,
    ) -> Result<(), BrokerError> {
        self.ensure_topic().await.map_err(|e| BrokerError::Group(unavailable(e)))?;
        let Home::Shard(shard) = self.home(&req.group_id).await? else {
            return Err(GroupError::CoordinatorNotAvailable.into());
        };
        let group = req.group_id.clone();
        let (checked, pending) = shard
            .write_transactional(
                producer,
                |st, writes| {
                    st.coordinator.check_txn_commit(req, now_ms())?;
                    for (topic, partition, c) in &entries {
                        writes.push((offsets::offset_key(&group, topic, *partition), Some(offsets::offset_value(c))));
                    }
                    Ok::<(), GroupError>(())
                },
                |st| {
                    let pending = st.pending_txn.entry(producer.0).or_default();
                    pending.extend(entries.iter().map(|(t, p, c)| (group.clone(), t.clone(), *p, c.clone())));
                },
            )
            .await?;
        checked?;
        pending.commit().await
    }

    /// A transaction marker of `producer` for `__consumer_offsets` partition `partition`
    /// (WriteTxnMarkers, or this broker's own transaction coordinator): appended in order with
    /// the partition's other writes, then the producer's pending offsets are committed or
    /// forgotten. Durable like any coordinator write when it returns.
    pub async fn write_marker(
        &self,
        partition: i32,
        producer: (i64, i16),
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<(), BrokerError> {
        let shard = self.runtime.shard(partition).await?;
        let marker = if commit { fjord_log::txn::Marker::Commit } else { fjord_log::txn::Marker::Abort };
        let (_, pending) = shard
            .write_marker(producer, (marker, coordinator_epoch), |st| st.end_txn_offsets(producer.0, commit, now_ms()))
            .await?;
        pending.commit().await
    }

    /// DeleteGroups for one group: its membership and all its offsets go.
    pub async fn delete_group(&self, group: &str) -> Result<(), BrokerError> {
        let (deleted, pending) = self
            .write(group, |st, writes| {
                let actions = st.coordinator.delete(group)?;
                for (t, part) in st.offsets.delete_group(group) {
                    writes.push((offsets::offset_key(group, &t, part), None));
                }
                st.deliver(actions, writes);
                Ok::<(), GroupError>(())
            })
            .await?;
        deleted?;
        pending.commit().await
    }

    /// OffsetDelete: drops committed offsets, except for topics a live member subscribes to —
    /// read from each member's subscription metadata by `subscription` (the consumer protocol's
    /// encoding, which the handlers know).
    pub async fn delete_offsets(
        &self,
        group: &str,
        partitions: Vec<(String, i32)>,
        subscription: fn(&[u8]) -> Vec<String>,
    ) -> Result<Vec<(String, i32, Result<(), GroupError>)>, BrokerError> {
        let (results, pending) = self
            .write(group, |st, writes| {
                let Some(state) = st.coordinator.state(group) else {
                    return Err(GroupError::GroupIdNotFound(group.to_string()));
                };
                let subscribed = if state == GroupState::Empty {
                    Vec::new()
                } else {
                    subscribed_topics(&st.coordinator, group, subscription)
                };
                let results = partitions
                    .into_iter()
                    .map(|(t, part)| {
                        if subscribed.contains(&t) {
                            let e = GroupError::GroupSubscribedToTopic(t.clone());
                            (t, part, Err(e))
                        } else {
                            st.offsets.delete(group, &t, part);
                            writes.push((offsets::offset_key(group, &t, part), None));
                            (t, part, Ok(()))
                        }
                    })
                    .collect();
                Ok(results)
            })
            .await?;
        let results = results?;
        pending.commit().await?;
        Ok(results)
    }

    /// Forgets every group's offsets for a deleted topic, so that a topic re-created under the
    /// same name starts without them.
    pub async fn forget_topic(&self, topic: &str) {
        for shard in self.runtime.shards() {
            let written = shard
                .write(|st, writes| {
                    let groups: Vec<String> = st.offsets.groups().map(str::to_string).collect();
                    for g in groups {
                        let doomed: Vec<i32> =
                            st.offsets.all(&g).into_iter().filter(|(t, _, _)| *t == topic).map(|(_, p, _)| p).collect();
                        for part in doomed {
                            st.offsets.delete(&g, topic, part);
                            writes.push((offsets::offset_key(&g, topic, part), None));
                        }
                    }
                })
                .await;
            // A shard given up meanwhile: its next coordinator replays the topic's deletion.
            if let Ok(((), pending)) = written {
                persist(pending).await;
            }
        }
    }

    /// DescribeGroups for one group (an unknown group is Dead).
    pub async fn describe(&self, group: &str) -> Result<DescribedGroup, GroupError> {
        self.read(group, |st| st.coordinator.describe(group)).await
    }

    /// Reads `group`'s committed offsets; `f` also gets whether an open transaction holds an
    /// offset of a topic and partition.
    pub async fn offsets<T>(
        &self,
        group: &str,
        f: impl FnOnce(&OffsetStore, &dyn Fn(&str, i32) -> bool) -> T,
    ) -> Result<T, GroupError> {
        self.read(group, |st| f(&st.offsets, &|topic, partition| st.unstable(group, topic, partition))).await
    }

    /// Every group coordinated here: (id, protocol type, state).
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut all: Vec<_> =
            self.runtime.shards().iter().flat_map(|s| s.read(|st| st.coordinator.list()).unwrap_or_default()).collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Calls `f` with every loaded shard's groups and offsets (for metrics).
    pub fn for_each_shard(&self, mut f: impl FnMut(&Coordinator, &OffsetStore)) {
        for shard in self.runtime.shards() {
            let _ = shard.read(|st| f(&st.coordinator, &st.offsets));
        }
    }

    /// Runs the coordinator's timers (session and rebalance timeouts) and offset expiry until
    /// stopped.
    pub async fn run_timers(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut next_expiry = now_ms() + EXPIRY_INTERVAL_MS;
        loop {
            let now = now_ms();
            let deadline = self
                .runtime
                .shards()
                .iter()
                .filter_map(|s| s.read(|st| st.coordinator.next_deadline()).ok().flatten())
                .min();
            // At least a few milliseconds: a deadline the coordinator cannot clear must not spin.
            let wait = deadline.map_or(1_000, |d| (d - now).clamp(5, 1_000));
            tokio::select! {
                _ = stop.changed() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
            let now = now_ms();
            let expire = now >= next_expiry;
            if expire {
                next_expiry = now + EXPIRY_INTERVAL_MS;
            }
            let cutoff = now - self.config.retention_ms;
            let mut expired = 0;
            for shard in self.runtime.shards() {
                let ticked = shard
                    .write(|st, writes| {
                        let actions = st.coordinator.tick(now);
                        st.deliver(actions, writes);
                        if expire { st.expire_offsets(cutoff, writes) } else { 0 }
                    })
                    .await;
                // Made durable on their own, so a partition whose replicas are slow does not hold
                // up the timeouts of the others.
                if let Ok((n, pending)) = ticked {
                    expired += n;
                    tokio::spawn(persist(pending));
                }
            }
            if expired > 0 {
                tracing::info!(offsets = expired, "expired committed offsets");
            }
        }
    }
}

/// Makes what the coordinator asked to persist durable; a failure is logged (the group's state
/// in memory stays right, and the next change writes it again).
async fn persist(pending: Pending) {
    if let Err(e) = pending.commit().await {
        tracing::error!(error = %e, "persisting group state failed");
    }
}

fn unavailable(e: BrokerError) -> GroupError {
    tracing::warn!(error = %e, "group coordinator unavailable");
    GroupError::CoordinatorNotAvailable
}

/// Topics the members of a live consumer group subscribe to, from their subscription metadata.
fn subscribed_topics(coordinator: &Coordinator, group: &str, subscription: fn(&[u8]) -> Vec<String>) -> Vec<String> {
    let Some(g) = coordinator.group(group) else { return Vec::new() };
    let protocol = g.protocol_name.clone().unwrap_or_default();
    g.members.iter().flat_map(|m| subscription(&m.metadata_for(&protocol))).collect()
}
