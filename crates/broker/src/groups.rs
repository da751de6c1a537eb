//! [`Groups`]: the group coordinator of this broker at work — the pure
//! [`fjord_group::Coordinator`] behind a lock, the requests waiting on it, its timers, and its
//! state kept in the internal topic `__consumer_offsets`.
//!
//! A JoinGroup or SyncGroup that must wait registers a one-shot channel under a reply id and
//! awaits it without holding anything, so a rebalance never blocks other connections. Every
//! change the coordinator asks to persist (group membership, committed offsets, deletions) is
//! appended to partition `hash(group) % offsets.topic.num.partitions` of `__consumer_offsets`
//! and, like an acks=all write, fsynced before an OffsetCommit is answered. At start the topic is
//! replayed into the coordinator (groups come back Stable with their members) and the offset
//! cache.
//!
//! Thread safety: one `std::sync::Mutex` around the coordinator and caches, never held across
//! an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use fjord_group::offsets::{self, Committed, OffsetStore};
use fjord_group::{Action, Coordinator, GroupError, GroupState, Reply, ReplyId};
use fjord_log::batch::BatchHeader;
use fjord_log::records::{self, Producer, Record};
use fjord_meta::{Command, MetaError};
use tokio::sync::{Notify, oneshot, watch};
use uuid::Uuid;

use crate::replica::{Partition, now_ms};
use crate::{Broker, BrokerError};

/// The internal topic holding committed offsets and group membership.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How long a group write waits for the in-sync replicas (Kafka's `offsets.commit.timeout.ms`).
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often offsets of groups without members are checked against `offsets.retention.minutes`.
const EXPIRY_INTERVAL_MS: i64 = 60_000;

/// A record for `__consumer_offsets`: partition, key, value (`None`: a tombstone).
type Write = (i32, Bytes, Option<Bytes>);

#[derive(Debug)]
pub struct Groups {
    state: Mutex<State>,
    wake: Notify,
    /// `offsets.topic.num.partitions`, for creating the topic; once it exists, its real count rules.
    partitions: i32,
    /// The `__consumer_offsets` partitions whose groups are loaded, with the leader epoch they
    /// were loaded in. Held while loading, so loads never interleave.
    loaded: Mutex<HashMap<i32, i32>>,
}

#[derive(Debug)]
struct State {
    coordinator: Coordinator,
    offsets: OffsetStore,
    waiting: HashMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
}

impl State {
    /// Delivers the replies among `actions`; adds the records the rest ask to write.
    fn deliver(&mut self, actions: Vec<Action>, partitions: i32, writes: &mut Vec<Write>) {
        for action in actions {
            match action {
                Action::Reply(id, reply) => {
                    if let Some(tx) = self.waiting.remove(&id) {
                        // The client may have gone; its answer then has nowhere to go.
                        let _ = tx.send(reply);
                    }
                }
                Action::Persist(s) => writes.push((
                    partition_for(&s.group_id, partitions),
                    offsets::group_key(&s.group_id),
                    Some(offsets::group_value(&s)),
                )),
                Action::Forget(group) => {
                    writes.push((partition_for(&group, partitions), offsets::group_key(&group), None))
                }
            }
        }
    }

    fn waiter(&mut self) -> (ReplyId, oneshot::Receiver<Reply>) {
        self.next_reply += 1;
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(self.next_reply, tx);
        (self.next_reply, rx)
    }
}

/// Kafka's placement of a group: `Utils.abs(groupId.hashCode()) % partitions`, with Java's
/// `String.hashCode` — so a group lands where Kafka would put it.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// Records appended to `__consumer_offsets` that an fsync must still cover: partition, end offset.
type Pending = Vec<(Arc<Partition>, i64)>;

impl Groups {
    pub fn new(config: fjord_group::Config, partitions: i32) -> Self {
        Self {
            state: Mutex::new(State {
                coordinator: Coordinator::new(config),
                offsets: OffsetStore::default(),
                waiting: HashMap::new(),
                next_reply: 0,
            }),
            wake: Notify::new(),
            partitions,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` against the coordinator and caches (it may add records to write), delivers what
    /// the coordinator answered, and appends every record — all under the lock, so the log holds
    /// changes in the order they were made. Returns `f`'s value and what still needs an fsync.
    /// The timer task is woken: the request may have set a new deadline.
    fn run<T>(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut State, &mut Vec<Write>) -> (T, Vec<Action>),
    ) -> (T, Result<Pending, BrokerError>) {
        let done = self.apply(broker, f);
        self.wake.notify_one();
        done
    }

    /// [`Groups::run`] without waking the timer task (which is the caller).
    fn apply<T>(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut State, &mut Vec<Write>) -> (T, Vec<Action>),
    ) -> (T, Result<Pending, BrokerError>) {
        let mut state = self.lock();
        let mut writes = Vec::new();
        let (value, actions) = f(&mut state, &mut writes);
        state.deliver(actions, offsets_partitions(broker), &mut writes);
        let pending = append(broker, writes);
        (value, pending)
    }

    /// Reads a value out of the coordinator and caches.
    pub fn read<T>(&self, f: impl FnOnce(&Coordinator, &OffsetStore) -> T) -> T {
        let state = self.lock();
        f(&state.coordinator, &state.offsets)
    }
}

/// The partition count of `__consumer_offsets`: the topic's own once it exists.
fn offsets_partitions(broker: &Broker) -> i32 {
    broker.image().topic(OFFSETS_TOPIC).map_or(broker.groups.partitions, |t| t.partitions.len() as i32)
}

/// Whether this broker coordinates `group`: it leads the group's `__consumer_offsets`
/// partition. Before the topic exists every broker may answer (the first request creates it).
/// Its groups are loaded from the partition first, if they are not yet (a broker that just
/// became the partition's leader); a load that fails answers COORDINATOR_LOAD_IN_PROGRESS.
pub fn check_coordinator(broker: &Broker, group: &str) -> Result<(), GroupError> {
    let image = broker.image();
    let Some(topic) = image.topic(OFFSETS_TOPIC) else { return Ok(()) };
    let p = partition_for(group, topic.partitions.len() as i32);
    let Some(partition) = broker.replicas.partition(OFFSETS_TOPIC, p).filter(|p| p.is_leader()) else {
        return Err(GroupError::NotCoordinator(group.to_string()));
    };
    ensure_loaded(broker, &partition).map_err(|e| {
        tracing::warn!(partition = p, error = %e, "loading consumer groups failed");
        GroupError::LoadInProgress(group.to_string())
    })
}

/// Takes over the groups of the `__consumer_offsets` partitions this broker now leads and lets
/// go of those it no longer leads (their waiting requests are answered NOT_COORDINATOR). Run at
/// start and after every metadata change; the coordinator moves with the partition leader.
pub fn follow_leadership(broker: &Broker) {
    let hosted: Vec<Arc<Partition>> = broker.replicas.all().into_iter().filter(|p| p.topic == OFFSETS_TOPIC).collect();
    let lost: Vec<i32> = {
        let loaded = broker.groups.loaded.lock().unwrap_or_else(|p| p.into_inner());
        loaded.keys().copied().filter(|i| !hosted.iter().any(|p| p.index == *i && p.is_leader())).collect()
    };
    if !lost.is_empty() {
        let mut loaded = broker.groups.loaded.lock().unwrap_or_else(|p| p.into_inner());
        for index in &lost {
            loaded.remove(index);
        }
        let groups = unload(broker, &lost);
        if groups > 0 {
            tracing::info!(partitions = ?lost, groups, "no longer coordinating the groups of these __consumer_offsets partitions");
        }
    }
    for p in hosted.iter().filter(|p| p.is_leader()) {
        if let Err(e) = ensure_loaded(broker, p) {
            tracing::warn!(partition = p.index, error = %e, "loading consumer groups failed; retried on the next request");
        }
    }
}

/// Drops the groups of `partitions` from the coordinator and the offset cache. Returns how many.
fn unload(broker: &Broker, partitions: &[i32]) -> usize {
    let n = offsets_partitions(broker);
    let (count, pending) = broker.groups.run(broker, |st, _| {
        let mut names: Vec<String> = st.coordinator.groups().map(|g| g.id.clone()).collect();
        names.extend(st.offsets.groups().map(str::to_string));
        names.sort_unstable();
        names.dedup();
        names.retain(|g| partitions.contains(&partition_for(g, n)));
        let mut actions = Vec::new();
        for g in &names {
            actions.extend(st.coordinator.unload(g));
            st.offsets.delete_group(g);
        }
        (names.len(), actions)
    });
    debug_assert!(pending.as_ref().is_ok_and(Vec::is_empty), "unloading writes nothing");
    count
}

/// Loads the groups of `__consumer_offsets` partition `partition` (which this broker leads)
/// unless they are loaded for its current leader epoch: replays the partition's log and
/// replaces whatever the coordinator held for those groups.
fn ensure_loaded(broker: &Broker, partition: &Partition) -> Result<(), BrokerError> {
    let epoch = partition.leader_epoch();
    let mut loaded = broker.groups.loaded.lock().unwrap_or_else(|p| p.into_inner());
    if loaded.get(&partition.index) == Some(&epoch) {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let (snapshots, store, records) = replay(partition)?;
    let n = offsets_partitions(broker);
    unload(broker, &[partition.index]);
    let now = now_ms();
    let groups = snapshots.len();
    {
        let mut state = broker.groups.lock();
        for snapshot in snapshots.into_values().flatten() {
            state.coordinator.restore(snapshot, now);
        }
        for g in store.groups() {
            if partition_for(g, n) != partition.index {
                continue;
            }
            state.coordinator.ensure_group(g, now);
            for (topic, p, committed) in store.all(g) {
                state.offsets.commit(g, topic, p, committed.clone());
            }
        }
    }
    loaded.insert(partition.index, epoch);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if records > 0 {
        tracing::info!(
            partition = partition.index,
            leader_epoch = epoch,
            records,
            groups,
            elapsed_ms,
            "loaded consumer groups"
        );
    } else {
        tracing::debug!(
            partition = partition.index,
            leader_epoch = epoch,
            "coordinating an empty __consumer_offsets partition"
        );
    }
    Ok(())
}

type Snapshots = BTreeMap<String, Option<fjord_group::GroupSnapshot>>;

/// Every group record of one `__consumer_offsets` partition, replayed in order.
fn replay(partition: &Partition) -> Result<(Snapshots, OffsetStore, usize), BrokerError> {
    let mut snapshots = BTreeMap::new();
    let mut store = OffsetStore::default();
    let mut records = 0usize;
    let (mut offset, end) = (partition.offsets().0, partition.log_end_offset());
    while offset < end {
        let read = partition.read(offset, 1 << 20, true, crate::replica::ReadLimit::LogEnd)?;
        let mut pos = 0;
        let mut next = offset;
        while let Some(h) = BatchHeader::parse(&read.records[pos..]) {
            let batch = &read.records[pos..pos + h.size()];
            for r in records::parse(batch).unwrap_or_default() {
                if let Some(key) = r.key {
                    store.replay(key, r.value, &mut snapshots);
                    records += 1;
                }
            }
            next = h.last_offset() + 1;
            pos += h.size();
        }
        if next == offset {
            break;
        }
        offset = next;
    }
    Ok((snapshots, store, records))
}

/// The broker coordinating `group`; `None` while the topic does not exist or the group's
/// partition has no live leader.
pub fn coordinator_of(broker: &Broker, group: &str) -> Option<fjord_meta::BrokerInfo> {
    let image = broker.image();
    let topic = image.topic(OFFSETS_TOPIC)?;
    let p = topic.partitions.get(partition_for(group, topic.partitions.len() as i32) as usize)?;
    image.brokers.get(&p.leader).filter(|b| !b.fenced).cloned()
}

/// Creates `__consumer_offsets` on first use, as Kafka does.
pub async fn ensure_topic(broker: &Broker) -> Result<(), BrokerError> {
    if broker.image().topic(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    // Compacted, in 100 MiB segments (Kafka's `offsets.topic.segment.bytes`) so the cleaner
    // gets rolled segments to work on.
    let configs = BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("segment.bytes".to_string(), (100 * 1024 * 1024).to_string()),
    ]);
    let created = broker
        .propose(Command::CreateTopic {
            name: OFFSETS_TOPIC.to_string(),
            id: Uuid::new_v4(),
            partitions: broker.groups.partitions,
            replication_factor: offsets_replication_factor(broker),
            configs,
            assignment: None,
        })
        .await;
    match created {
        Ok(_) | Err(BrokerError::Meta(MetaError::TopicExists(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `offsets.topic.replication.factor`, capped at the number of voters: a single broker gets 1,
/// a three-node cluster 3 (and group requests wait until three brokers are live, as Kafka's do).
fn offsets_replication_factor(broker: &Broker) -> i32 {
    broker.config.offsets_topic_replication_factor.min(broker.config.voters.len().max(1) as i32)
}

/// Appends records to `__consumer_offsets`, one batch per partition, without waiting for disk.
fn append(broker: &Broker, writes: Vec<Write>) -> Result<Pending, BrokerError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_partition: BTreeMap<i32, Vec<(Bytes, Option<Bytes>)>> = BTreeMap::new();
    for (p, key, value) in writes {
        by_partition.entry(p).or_default().push((key, value));
    }
    let now = now_ms();
    let mut pending = Vec::with_capacity(by_partition.len());
    for (index, entries) in by_partition {
        let partition = broker.replicas.partition(OFFSETS_TOPIC, index).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let records: Vec<Record<'_>> =
            entries.iter().map(|(k, v)| Record { key: Some(k), value: v.as_deref(), timestamp_delta: 0 }).collect();
        let batch = records::build(now, &records, Producer::default());
        let outcome = partition.append(&batch, now)?;
        pending.push((partition, outcome.last_offset + 1));
    }
    broker.replicas.notify_append();
    Ok(pending)
}

/// Makes appended records durable like an acks=all write: fsynced here, and held by every
/// in-sync replica (`offsets.commit.timeout.ms`, 5 s, bounds the wait). Failures come back as
/// Kafka's coordinator answers them: retriable ones as COORDINATOR_NOT_AVAILABLE, a lost
/// leadership as NOT_COORDINATOR.
async fn sync(broker: &Broker, pending: Result<Pending, BrokerError>) -> Result<(), BrokerError> {
    for (partition, upto) in pending? {
        if broker.config.flush_every_ack {
            partition.sync_to(upto).await?;
        }
        match partition.wait_replicated(upto, COMMIT_TIMEOUT).await {
            Ok(()) => {}
            Err(BrokerError::NotLeaderOrFollower) => {
                return Err(GroupError::NotCoordinator(format!("__consumer_offsets-{}", partition.index)).into());
            }
            Err(
                e @ (BrokerError::NotEnoughReplicas { .. }
                | BrokerError::NotEnoughReplicasAfterAppend { .. }
                | BrokerError::ReplicationTimedOut(_)),
            ) => {
                tracing::warn!(partition = partition.index, error = %e, "group state not replicated");
                return Err(GroupError::CoordinatorNotAvailable.into());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Persists what the coordinator asked for; a failure is logged (the group's state in memory
/// stays right, and the next change writes it again).
async fn persist(broker: &Broker, pending: Result<Pending, BrokerError>) {
    if let Err(e) = sync(broker, pending).await {
        tracing::error!(error = %e, "persisting group state failed");
    }
}

fn unavailable(e: BrokerError) -> GroupError {
    tracing::warn!(error = %e, "group coordinator unavailable");
    GroupError::CoordinatorNotAvailable
}

pub async fn join(broker: &Broker, req: fjord_group::JoinRequest) -> fjord_group::JoinOutcome {
    let member = req.member_id.clone();
    ensure_topic(broker).await.map_err(|e| (unavailable(e), member.clone()))?;
    check_coordinator(broker, &req.group_id).map_err(|e| (e, member.clone()))?;
    let (rx, pending) = broker.groups.run(broker, |st, _| {
        let (id, rx) = st.waiter();
        (rx, st.coordinator.join(id, req, now_ms()))
    });
    persist(broker, pending).await;
    match rx.await {
        Ok(Reply::Join(outcome)) => outcome,
        _ => Err((GroupError::CoordinatorNotAvailable, member)),
    }
}

pub async fn sync_group(broker: &Broker, req: fjord_group::SyncRequest) -> Result<fjord_group::SyncResult, GroupError> {
    check_coordinator(broker, &req.group_id)?;
    let (rx, pending) = broker.groups.run(broker, |st, _| {
        let (id, rx) = st.waiter();
        (rx, st.coordinator.sync(id, req, now_ms()))
    });
    persist(broker, pending).await;
    match rx.await {
        Ok(Reply::Sync(outcome)) => outcome,
        _ => Err(GroupError::CoordinatorNotAvailable),
    }
}

pub fn heartbeat(broker: &Broker, req: &fjord_group::HeartbeatRequest) -> Result<(), GroupError> {
    check_coordinator(broker, &req.group_id)?;
    let mut state = broker.groups.lock();
    state.coordinator.heartbeat(req, now_ms())
}

pub async fn leave(broker: &Broker, group: &str, members: Vec<fjord_group::LeavingMember>) -> Reply {
    if let Err(e) = check_coordinator(broker, group) {
        return Reply::Leave(Err(e));
    }
    let (reply, pending) = broker.groups.run(broker, |st, _| st.coordinator.leave(group, members, now_ms()));
    persist(broker, pending).await;
    reply
}

/// OffsetCommit: checked against the group, appended and applied to the cache in one step (so
/// the cache and the log agree on the order of commits), then fsynced before the answer.
pub async fn commit(
    broker: &Broker,
    req: &fjord_group::CommitRequest,
    entries: Vec<(String, i32, Committed)>,
) -> Result<(), BrokerError> {
    ensure_topic(broker).await.map_err(|e| BrokerError::Group(unavailable(e)))?;
    check_coordinator(broker, &req.group_id)?;
    let p = partition_for(&req.group_id, offsets_partitions(broker));
    let (checked, pending) = broker.groups.run(broker, |st, writes| {
        if let Err(e) = st.coordinator.check_commit(req, now_ms()) {
            return (Err(e), Vec::new());
        }
        for (topic, partition, c) in &entries {
            writes.push((p, offsets::offset_key(&req.group_id, topic, *partition), Some(offsets::offset_value(c))));
            st.offsets.commit(&req.group_id, topic, *partition, c.clone());
        }
        (Ok(()), Vec::new())
    });
    checked?;
    sync(broker, pending).await
}

/// DeleteGroups for one group: its membership and all its offsets go.
pub async fn delete_group(broker: &Broker, group: &str) -> Result<(), BrokerError> {
    check_coordinator(broker, group)?;
    let p = partition_for(group, offsets_partitions(broker));
    let (deleted, pending) = broker.groups.run(broker, |st, writes| match st.coordinator.delete(group) {
        Ok(actions) => {
            for (t, part) in st.offsets.delete_group(group) {
                writes.push((p, offsets::offset_key(group, &t, part), None));
            }
            (Ok(()), actions)
        }
        Err(e) => (Err(e), Vec::new()),
    });
    deleted?;
    sync(broker, pending).await
}

/// OffsetDelete: drops committed offsets, except for topics a live member subscribes to.
pub async fn delete_offsets(
    broker: &Broker,
    group: &str,
    partitions: Vec<(String, i32)>,
) -> Result<Vec<(String, i32, Result<(), GroupError>)>, BrokerError> {
    check_coordinator(broker, group)?;
    let p = partition_for(group, offsets_partitions(broker));
    let (results, pending) = broker.groups.run(broker, |st, writes| {
        let Some(state) = st.coordinator.state(group) else {
            return (Err(GroupError::GroupIdNotFound(group.to_string())), Vec::new());
        };
        let subscribed =
            if state == GroupState::Empty { Vec::new() } else { subscribed_topics(&st.coordinator, group) };
        let results = partitions
            .into_iter()
            .map(|(t, part)| {
                if subscribed.contains(&t) {
                    let e = GroupError::GroupSubscribedToTopic(t.clone());
                    (t, part, Err(e))
                } else {
                    st.offsets.delete(group, &t, part);
                    writes.push((p, offsets::offset_key(group, &t, part), None));
                    (t, part, Ok(()))
                }
            })
            .collect();
        (Ok(results), Vec::new())
    });
    let results = results?;
    sync(broker, pending).await?;
    Ok(results)
}

/// Forgets every group's offsets for a deleted topic, so that a topic re-created under the same
/// name starts without them.
pub async fn forget_topic(broker: &Broker, topic: &str) {
    if broker.image().topic(OFFSETS_TOPIC).is_none() {
        return;
    }
    let n = offsets_partitions(broker);
    let ((), pending) = broker.groups.run(broker, |st, writes| {
        let groups: Vec<String> = st.offsets.groups().map(str::to_string).collect();
        for g in groups {
            let doomed: Vec<i32> =
                st.offsets.all(&g).into_iter().filter(|(t, _, _)| *t == topic).map(|(_, p, _)| p).collect();
            for part in doomed {
                st.offsets.delete(&g, topic, part);
                writes.push((partition_for(&g, n), offsets::offset_key(&g, topic, part), None));
            }
        }
        ((), Vec::new())
    });
    persist(broker, pending).await;
}

/// Topics the members of a live consumer group subscribe to, from their subscription metadata.
fn subscribed_topics(coordinator: &Coordinator, group: &str) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let Some(g) = coordinator.group(group) else { return Vec::new() };
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let mut topics = Vec::new();
    for m in &g.members {
        let mut metadata = m.metadata_for(&protocol);
        if metadata.len() < 2 {
            continue;
        }
        let version = bytes::Buf::get_i16(&mut metadata);
        if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut metadata, version.clamp(0, 3)) {
            topics.extend(sub.topics.iter().map(|t| t.to_string()));
        }
    }
    topics
}

/// Runs the coordinator's timers (session and rebalance timeouts) and offset expiry until stopped.
pub async fn run_timers(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut next_expiry = now_ms() + EXPIRY_INTERVAL_MS;
    loop {
        let now = now_ms();
        let deadline = broker.groups.read(|c, _| c.next_deadline());
        // At least a few milliseconds: a deadline the coordinator cannot clear must not spin.
        let wait = deadline.map_or(1_000, |d| (d - now).clamp(5, 1_000));
        tokio::select! {
            _ = stop.changed() => return,
            _ = broker.groups.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
        let now = now_ms();
        let expire = now >= next_expiry;
        if expire {
            next_expiry = now + EXPIRY_INTERVAL_MS;
        }
        let n = offsets_partitions(&broker);
        let cutoff = now - broker.config.offsets_retention_ms;
        let (expired, pending) = broker.groups.apply(&broker, |st, writes| {
            let actions = st.coordinator.tick(now);
            let expired = if expire { expire_offsets(st, cutoff, n, writes) } else { 0 };
            (expired, actions)
        });
        if expired > 0 {
            tracing::info!(offsets = expired, "expired committed offsets");
        }
        persist(&broker, pending).await;
    }
}

/// Offsets of groups without members that have been Empty, and uncommitted to, for longer than
/// `offsets.retention.minutes` (Kafka's rule since KIP-211). Returns how many went.
fn expire_offsets(state: &mut State, cutoff: i64, partitions: i32, writes: &mut Vec<Write>) -> usize {
    let groups: Vec<String> = state.offsets.groups().map(str::to_string).collect();
    let mut expired = 0;
    for g in groups {
        let Some(empty_since) = state.coordinator.empty_since(&g) else { continue };
        if empty_since >= cutoff {
            continue;
        }
        for (topic, partition) in state.offsets.expired(&g, cutoff) {
            state.offsets.delete(&g, &topic, partition);
            writes.push((partition_for(&g, partitions), offsets::offset_key(&g, &topic, partition), None));
            expired += 1;
        }
    }
    expired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_land_where_kafka_puts_them() {
        // Kafka: Utils.abs(groupId.hashCode()) % 50, with Java's String.hashCode.
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("my-group", 50), 12, "hashCode -1906497762");
        assert_eq!(partition_for("consumer-group-with-a-long-name", 50), 48, "a negative hash");
        assert_eq!(partition_for("polygenelubricants", 50), 0, "hashCode == Integer.MIN_VALUE");
        for g in ["a", "consumer-group-with-a-long-name", "ü-groupe"] {
            assert!((0..50).contains(&partition_for(g, 50)));
        }
    }
}
