//! [`Runtime`]: a coordinator's state kept in an internal compacted topic, one [`Shard`] per
//! partition that this broker leads — the part every coordinator shares (groups now;
//! transactions and share-group state next), as Kafka's coordinator runtime is.
//!
//! - **Placement**: a key (group id, transactional id) lives in partition
//!   `abs(java hashCode(key)) % partitions` ([`partition_for`]); its coordinator is that
//!   partition's leader. The topic is created on first use ([`Runtime::ensure_topic`]).
//! - **Takeover**: when this broker becomes the leader of a partition (in a leader epoch), the
//!   runtime replays the partition's records into a fresh state on a blocking thread; requests
//!   meanwhile wait a moment ([`LOAD_WAIT`]) and then answer COORDINATOR_LOAD_IN_PROGRESS.
//!   When leadership moves away (or to a new epoch), the shard is unloaded: its state is told
//!   ([`ShardState::unload`], so waiting requests hear NOT_COORDINATOR) and dropped, and a
//!   request still holding it is refused NOT_COORDINATOR. A broker that does not lead the
//!   partition answers NOT_COORDINATOR. A load that fails is retried after [`RETRY_LOAD`].
//! - **Writes** ([`Shard::write`]): a state change and the records it produces are made under the
//!   shard's async write lock, so the log holds records in the order the changes were made; the
//!   state lock is released before the append, which is refused unless this broker still leads
//!   the partition in the shard's epoch. [`Pending::commit`] then waits, without any lock, for
//!   the fsync and the in-sync replicas of that epoch (acks=all, [`Partition::commit`]), so
//!   concurrent writes share one group-commit fsync. Appends wake the followers' long polls.
//!
//! Lock order: `slots` (std mutex, never held across I/O or an `.await`) is taken alone. Within
//! a shard, `write` (async) before `state` (std, held only while the state changes), and the
//! partition's own locks only after `state` is released.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use fjord_log::batch::BatchHeader;
use fjord_log::records::{self, Producer, Record};
use fjord_meta::{BrokerInfo, Command, MetaError, MetadataImage};
use tokio::sync::watch;
use uuid::Uuid;

use crate::BrokerError;
use crate::cluster::Proposer;
pub use crate::error::CoordinatorError;
use crate::replica::{Partition, ReadLimit, ReplicaManager, now_ms};

/// How long a request that finds its partition loading waits before it answers
/// COORDINATOR_LOAD_IN_PROGRESS: long enough that a small or empty partition (a topic just
/// created) never makes clients back off, short enough not to hold them on a big replay.
pub const LOAD_WAIT: Duration = Duration::from_millis(500);

/// Bytes read from the log at a time while replaying.
const REPLAY_CHUNK: usize = 1 << 20;

/// How long after a failed load the next one may start.
pub const RETRY_LOAD: Duration = Duration::from_secs(1);

/// Kafka's placement of a key: `Utils.abs(key.hashCode()) % partitions`, with Java's
/// `String.hashCode` — so a group or transactional id lands where Kafka would put it.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// What a replay finds in a coordinator's partition, oldest first.
#[derive(Debug, Clone, Copy)]
pub enum Replayed<'a> {
    /// A record (`value` `None`: a tombstone); `producer` is the producer id when its batch is
    /// transactional (written on that producer's behalf, pending its transaction's marker).
    Record { key: &'a [u8], value: Option<&'a [u8]>, producer: Option<i64> },
    /// A transaction marker of `producer_id`.
    Marker { producer_id: i64, commit: bool },
}

/// A coordinator's state for one partition of its topic, rebuilt from the partition's records.
pub trait ShardState: Send + 'static {
    /// Applies what the partition holds, oldest first.
    fn replay(&mut self, item: Replayed<'_>);
    /// Every record has been replayed; the shard starts serving at `now_ms`.
    fn loaded(&mut self, now_ms: i64);
    /// The shard is given up: answer whatever waits on it.
    fn unload(&mut self);
}

/// The internal topic a runtime keeps its state in.
#[derive(Debug, Clone)]
pub struct InternalTopic {
    pub name: &'static str,
    /// Partitions to create it with; once it exists, its real count rules.
    pub partitions: i32,
    pub replication_factor: i32,
    pub configs: BTreeMap<String, String>,
}

/// How a coordinator's records are made durable.
#[derive(Debug, Clone, Copy)]
pub struct Durability {
    /// fsync before acknowledging (`log.flush.interval.messages=1`).
    pub fsync: bool,
    /// How long a write waits for the in-sync replicas (Kafka's `offsets.commit.timeout.ms`).
    pub timeout: Duration,
}

/// A record for the internal topic: key and value (`None`: a tombstone).
pub type Write = (Bytes, Option<Bytes>);

/// The shards of one coordinator.
pub struct Runtime<S> {
    topic: InternalTopic,
    durability: Durability,
    replicas: Arc<ReplicaManager>,
    proposer: Proposer,
    new_state: Box<dyn Fn(i32) -> S + Send + Sync>,
    slots: Mutex<HashMap<i32, Slot<S>>>,
    /// Bumped whenever a load ends, for those waiting on one.
    loads: watch::Sender<u64>,
}

impl<S> std::fmt::Debug for Runtime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("topic", &self.topic.name).finish_non_exhaustive()
    }
}

enum Slot<S> {
    Loading {
        epoch: i32,
    },
    /// The last load in `epoch` failed; the next may start at `retry`.
    Failed {
        epoch: i32,
        retry: tokio::time::Instant,
    },
    Active(Arc<Shard<S>>),
}

/// One partition's state, served while this broker leads the partition in `epoch`.
pub struct Shard<S> {
    pub index: i32,
    epoch: i32,
    partition: Arc<Partition>,
    replicas: Arc<ReplicaManager>,
    durability: Durability,
    write: tokio::sync::Mutex<()>,
    state: Mutex<Held<S>>,
}

/// A shard's state, and whether the shard was given up (then nothing may use it).
struct Held<S> {
    state: S,
    unloaded: bool,
}

impl<S> std::fmt::Debug for Shard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard").field("index", &self.index).field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// Records a [`Shard::write`] appended, to be made durable by [`Pending::commit`].
#[derive(Debug)]
#[must_use = "records are durable only once committed"]
pub struct Pending {
    /// The partition written to and the leader epoch of the write (`None`: nothing was written).
    partition: Option<(Arc<Partition>, i32)>,
    /// Where the records end, or why appending them failed.
    appended: Result<i64, BrokerError>,
    durability: Durability,
}

impl<S: ShardState> Runtime<S> {
    /// A runtime over `topic`; `new_state(partition)` makes the empty state a load starts from.
    pub fn new(
        topic: InternalTopic,
        durability: Durability,
        replicas: Arc<ReplicaManager>,
        proposer: Proposer,
        new_state: impl Fn(i32) -> S + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            topic,
            durability,
            replicas,
            proposer,
            new_state: Box::new(new_state),
            slots: Mutex::new(HashMap::new()),
            loads: watch::channel(0).0,
        })
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<i32, Slot<S>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The internal topic's name.
    pub fn topic_name(&self) -> &'static str {
        self.topic.name
    }

    /// The partition count of the topic: its own once it exists.
    pub fn partitions(&self) -> i32 {
        self.proposer.image().topic(self.topic.name).map_or(self.topic.partitions, |t| t.partitions.len() as i32)
    }

    /// Whether the internal topic exists yet.
    pub fn topic_exists(&self) -> bool {
        self.proposer.image().topic(self.topic.name).is_some()
    }

    /// The partition `key` lives in.
    pub fn partition_of(&self, key: &str) -> i32 {
        partition_for(key, self.partitions())
    }

    /// The broker coordinating `key`; `None` while the topic does not exist or the key's
    /// partition has no live leader.
    pub fn coordinator_of(&self, key: &str) -> Option<BrokerInfo> {
        let image = self.proposer.image();
        let topic = image.topic(self.topic.name)?;
        let p = topic.partitions.get(partition_for(key, topic.partitions.len() as i32) as usize)?;
        image.brokers.get(&p.leader).filter(|b| !b.fenced).cloned()
    }

    /// Creates the internal topic on first use, as Kafka does.
    pub async fn ensure_topic(&self) -> Result<(), BrokerError> {
        if self.topic_exists() {
            return Ok(());
        }
        let created = self
            .proposer
            .propose(Command::CreateTopic {
                name: self.topic.name.to_string(),
                id: Uuid::new_v4(),
                partitions: self.topic.partitions,
                replication_factor: self.topic.replication_factor,
                configs: self.topic.configs.clone(),
                assignment: None,
            })
            .await;
        match created {
            Ok(_) | Err(BrokerError::Meta(MetaError::TopicExists(_))) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Takes over the partitions this broker now leads (loads start in the background) and
    /// gives up those it no longer leads. Run at start and after every metadata change.
    pub fn follow(self: &Arc<Self>) {
        let led: HashMap<i32, Arc<Partition>> = self
            .replicas
            .all()
            .into_iter()
            .filter(|p| p.topic == self.topic.name && p.is_leader())
            .map(|p| (p.index, p))
            .collect();
        let mut lost = Vec::new();
        {
            let mut slots = self.slots();
            slots.retain(|index, slot| {
                let epoch = match slot {
                    Slot::Loading { epoch } | Slot::Failed { epoch, .. } => *epoch,
                    Slot::Active(shard) => shard.epoch,
                };
                let keep = led.get(index).is_some_and(|p| p.leader_epoch() == epoch);
                if !keep && let Slot::Active(shard) = slot {
                    lost.push(shard.clone());
                }
                keep
            });
        }
        if !lost.is_empty() {
            let indexes: Vec<i32> = lost.iter().map(|s| s.index).collect();
            tracing::info!(topic = self.topic.name, partitions = ?indexes, "no longer coordinating these partitions");
        }
        for shard in lost {
            shard.give_up();
        }
        for partition in led.into_values() {
            self.start_load(partition);
        }
    }

    /// Starts loading `partition` unless it is loading or loaded in its current epoch.
    fn start_load(self: &Arc<Self>, partition: Arc<Partition>) {
        let epoch = partition.leader_epoch();
        {
            let mut slots = self.slots();
            match slots.get(&partition.index) {
                Some(Slot::Loading { epoch: e }) if *e == epoch => return,
                Some(Slot::Failed { epoch: e, retry }) if *e == epoch && tokio::time::Instant::now() < *retry => return,
                Some(Slot::Active(shard)) if shard.epoch == epoch => return,
                _ => {}
            }
            if let Some(Slot::Active(old)) = slots.insert(partition.index, Slot::Loading { epoch }) {
                old.give_up();
            }
        }
        let runtime = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let index = partition.index;
            let state = (runtime.new_state)(index);
            let replayed = {
                let partition = partition.clone();
                tokio::task::spawn_blocking(move || {
                    let (mut state, records) = replay(&partition, state)?;
                    state.loaded(now_ms());
                    Ok::<_, BrokerError>((state, records))
                })
                .await
            };
            let loaded = match replayed {
                Ok(Ok(loaded)) => Some(loaded),
                Ok(Err(e)) => {
                    tracing::warn!(topic = runtime.topic.name, partition = index, error = %e, "loading the coordinator's state failed; retried on the next request");
                    None
                }
                Err(e) => {
                    tracing::error!(topic = runtime.topic.name, partition = index, error = %e, "the load task failed");
                    None
                }
            };
            runtime.finish_load(partition, epoch, loaded, started);
        });
    }

    /// Installs a finished load, unless the partition moved on meanwhile.
    fn finish_load(
        &self,
        partition: Arc<Partition>,
        epoch: i32,
        loaded: Option<(S, usize)>,
        started: std::time::Instant,
    ) {
        let index = partition.index;
        let mut slots = self.slots();
        let current = matches!(slots.get(&index), Some(Slot::Loading { epoch: e }) if *e == epoch);
        let still_leading = partition.is_leader() && partition.leader_epoch() == epoch;
        match loaded {
            Some((state, records)) if current && still_leading => {
                let shard = Shard {
                    index,
                    epoch,
                    partition,
                    replicas: self.replicas.clone(),
                    durability: self.durability,
                    write: tokio::sync::Mutex::new(()),
                    state: Mutex::new(Held { state, unloaded: false }),
                };
                slots.insert(index, Slot::Active(Arc::new(shard)));
                drop(slots);
                let elapsed_ms = started.elapsed().as_millis() as u64;
                metrics::histogram!(crate::telemetry::catalog::COORDINATOR_LOAD_DURATION, "topic" => self.topic.name)
                    .record(started.elapsed().as_secs_f64());
                if records > 0 {
                    tracing::info!(
                        topic = self.topic.name,
                        partition = index,
                        leader_epoch = epoch,
                        records,
                        elapsed_ms,
                        "coordinator state loaded"
                    );
                } else {
                    tracing::debug!(
                        topic = self.topic.name,
                        partition = index,
                        leader_epoch = epoch,
                        "coordinating an empty partition"
                    );
                }
            }
            Some((mut state, _)) => {
                drop(slots);
                state.unload();
            }
            None => {
                if current {
                    slots.insert(index, Slot::Failed { epoch, retry: tokio::time::Instant::now() + RETRY_LOAD });
                }
            }
        }
        self.loads.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The shard of partition `index`, when this broker leads it and has loaded it. A partition
    /// led here but not loaded yet starts loading; the call waits for that up to [`LOAD_WAIT`].
    pub async fn shard(self: &Arc<Self>, index: i32) -> Result<Arc<Shard<S>>, CoordinatorError> {
        let mut loads = self.loads.subscribe();
        let deadline = tokio::time::Instant::now() + LOAD_WAIT;
        loop {
            loads.borrow_and_update();
            match self.try_shard(index) {
                Err(CoordinatorError::LoadInProgress(what)) => {
                    tokio::select! {
                        changed = loads.changed() => if changed.is_err() { return Err(CoordinatorError::LoadInProgress(what)) },
                        _ = tokio::time::sleep_until(deadline) => return Err(CoordinatorError::LoadInProgress(what)),
                    }
                }
                done => return done,
            }
        }
    }

    /// [`Runtime::shard`] without waiting.
    fn try_shard(self: &Arc<Self>, index: i32) -> Result<Arc<Shard<S>>, CoordinatorError> {
        let name = || format!("{}-{index}", self.topic.name);
        let Some(partition) = self.replicas.partition(self.topic.name, index).filter(|p| p.is_leader()) else {
            return Err(CoordinatorError::NotCoordinator(name()));
        };
        if let Some(Slot::Active(shard)) = self.slots().get(&index)
            && shard.epoch == partition.leader_epoch()
        {
            return Ok(shard.clone());
        }
        self.start_load(partition);
        Err(CoordinatorError::LoadInProgress(name()))
    }

    /// Every loaded shard.
    pub fn shards(&self) -> Vec<Arc<Shard<S>>> {
        self.slots()
            .values()
            .filter_map(|s| match s {
                Slot::Active(shard) => Some(shard.clone()),
                Slot::Loading { .. } | Slot::Failed { .. } => None,
            })
            .collect()
    }

    /// Whether a partition led here is still being loaded.
    pub fn is_loading(&self) -> bool {
        self.slots().values().any(|s| matches!(s, Slot::Loading { .. }))
    }

    /// A receiver that changes whenever a load ends.
    pub fn load_events(&self) -> watch::Receiver<u64> {
        self.loads.subscribe()
    }

    /// Waits until no load is under way (at start, before serving).
    pub async fn wait_loaded(&self) {
        let mut loads = self.loads.subscribe();
        loop {
            loads.borrow_and_update();
            if !self.slots().values().any(|s| matches!(s, Slot::Loading { .. })) {
                return;
            }
            if loads.changed().await.is_err() {
                return;
            }
        }
    }

    /// The image the runtime places keys by.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.proposer.image()
    }
}

impl<S: ShardState> Shard<S> {
    fn lock(&self) -> MutexGuard<'_, Held<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shard is no longer this broker's to serve: its state is told, and every later use is
    /// refused.
    fn give_up(&self) {
        let mut held = self.lock();
        if !held.unloaded {
            held.unloaded = true;
            held.state.unload();
        }
    }

    fn gone(&self) -> CoordinatorError {
        CoordinatorError::NotCoordinator(format!("{}-{}", self.partition.topic, self.index))
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&S) -> T) -> Result<T, CoordinatorError> {
        let held = self.lock();
        if held.unloaded {
            return Err(self.gone());
        }
        Ok(f(&held.state))
    }

    /// Changes the state without writing records (a heartbeat).
    pub fn update<T>(&self, f: impl FnOnce(&mut S) -> T) -> Result<T, CoordinatorError> {
        let mut held = self.lock();
        if held.unloaded {
            return Err(self.gone());
        }
        Ok(f(&mut held.state))
    }

    /// The leader epoch this shard serves in: the coordinator epoch of what it writes.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Changes the state with `f`, which adds the records the change must persist, and appends
    /// them to the partition in the order of the changes. [`Pending::commit`] makes them durable.
    pub async fn write<T>(
        &self,
        f: impl FnOnce(&mut S, &mut Vec<Write>) -> T,
    ) -> Result<(T, Pending), CoordinatorError> {
        self.write_as(None, f, |_| {}).await
    }

    /// [`Shard::write`] of records a producer's transaction holds (transactional offset
    /// commits): one transactional batch of `producer` (id, epoch), which its transaction's
    /// marker will commit or abort. `then` changes the state once the batch is appended (still
    /// in order with every other write); not when the append failed.
    pub async fn write_transactional<T>(
        &self,
        producer: (i64, i16),
        f: impl FnOnce(&mut S, &mut Vec<Write>) -> T,
        then: impl FnOnce(&mut S),
    ) -> Result<(T, Pending), CoordinatorError> {
        self.write_as(Some(producer), f, then).await
    }

    async fn write_as<T>(
        &self,
        producer: Option<(i64, i16)>,
        f: impl FnOnce(&mut S, &mut Vec<Write>) -> T,
        then: impl FnOnce(&mut S),
    ) -> Result<(T, Pending), CoordinatorError> {
        let _serial = self.write.lock().await;
        let mut writes = Vec::new();
        let value = {
            let mut held = self.lock();
            if held.unloaded {
                return Err(self.gone());
            }
            f(&mut held.state, &mut writes)
        };
        if writes.is_empty() {
            return Ok((value, Pending::none(self.durability)));
        }
        let appended = self.append(&writes, producer);
        if appended.is_ok() {
            then(&mut self.lock().state);
        }
        let partition = Some((self.partition.clone(), self.epoch));
        Ok((value, Pending { partition, appended, durability: self.durability }))
    }

    /// Appends a transaction marker of `producer` to the partition and, once it is there,
    /// applies `f` (the marker's effect on the state), in order with every other write. The
    /// value is `None` when the append failed (its error is the pending commit's).
    pub async fn write_marker<T>(
        &self,
        producer: (i64, i16),
        marker: (fjord_log::txn::Marker, i32),
        f: impl FnOnce(&mut S) -> T,
    ) -> Result<(Option<T>, Pending), CoordinatorError> {
        let _serial = self.write.lock().await;
        if self.lock().unloaded {
            return Err(self.gone());
        }
        let appended = self.partition.append_marker(producer, marker, now_ms(), Some(self.epoch));
        let value = match &appended {
            Ok(_) => {
                self.replicas.notify_append();
                let mut held = self.lock();
                (!held.unloaded).then(|| f(&mut held.state))
            }
            Err(_) => None,
        };
        let partition = Some((self.partition.clone(), self.epoch));
        Ok((value, Pending { partition, appended: appended.map(|(end, _)| end), durability: self.durability }))
    }

    /// Appends `writes` as one batch without waiting for disk, in the shard's leader epoch only
    /// (transactional for `producer`, when given); returns where it ends.
    fn append(&self, writes: &[Write], producer: Option<(i64, i16)>) -> Result<i64, BrokerError> {
        let now = now_ms();
        let records: Vec<Record<'_>> =
            writes.iter().map(|(k, v)| Record { key: Some(k), value: v.as_deref(), timestamp_delta: 0 }).collect();
        let outcome = match producer {
            None => {
                let batch = records::build(now, &records, Producer::default());
                self.partition.append_in_epoch(&batch, now, Some(self.epoch))?.0
            }
            Some((id, epoch)) => {
                let producer = Producer { id, epoch, base_sequence: 0 };
                let batch = records::build_with_attributes(now, &records, producer, fjord_log::txn::TRANSACTIONAL);
                self.partition.append_as_coordinator(&batch, now, self.epoch)?
            }
        };
        self.replicas.notify_append();
        Ok(outcome.last_offset + 1)
    }
}

impl Pending {
    /// Nothing to commit.
    pub fn none(durability: Durability) -> Self {
        Self { partition: None, appended: Ok(0), durability }
    }

    /// Records that could not be written: their commit fails with `e`.
    pub fn failed(e: CoordinatorError, durability: Durability) -> Self {
        Self { partition: None, appended: Err(e.into()), durability }
    }

    /// Waits until the records are fsynced and held by every in-sync replica. Failures come
    /// back as Kafka's coordinators answer them: a lost leadership as NOT_COORDINATOR, a write
    /// the replicas did not confirm as COORDINATOR_NOT_AVAILABLE; others (storage) as they are.
    pub async fn commit(self) -> Result<(), BrokerError> {
        let Some((partition, epoch)) = self.partition else { return self.appended.map(|_| ()) };
        let name = || format!("{}-{}", partition.topic, partition.index);
        let committed = match self.appended {
            Ok(upto) => partition.commit(upto, epoch, self.durability.fsync, self.durability.timeout).await,
            Err(e) => Err(e),
        };
        // Kafka's coordinators answer a lost leadership or a failed log as NOT_COORDINATOR (the
        // client finds the coordinator again), a write the replicas did not take as
        // COORDINATOR_NOT_AVAILABLE (it retries).
        match committed {
            Ok(()) => Ok(()),
            Err(e @ (BrokerError::NotLeaderOrFollower | BrokerError::Log(_))) => {
                tracing::warn!(partition = %name(), error = %e, "coordinator write lost");
                Err(CoordinatorError::NotCoordinator(name()).into())
            }
            Err(
                e @ (BrokerError::NotEnoughReplicas { .. }
                | BrokerError::NotEnoughReplicasAfterAppend { .. }
                | BrokerError::ReplicationTimedOut(_)
                | BrokerError::UnknownTopicOrPartition),
            ) => {
                tracing::warn!(partition = %name(), error = %e, "coordinator state not replicated");
                Err(CoordinatorError::NotAvailable(e.to_string()).into())
            }
            Err(e) => Err(e),
        }
    }
}

/// Every record of `partition`, in order, into `state`. Returns how many there were.
fn replay<S: ShardState>(partition: &Partition, mut state: S) -> Result<(S, usize), BrokerError> {
    let mut count = 0usize;
    let (mut offset, end) = (partition.offsets().0, partition.log_end_offset());
    while offset < end {
        let read = partition.read(offset, REPLAY_CHUNK, true, ReadLimit::LogEnd)?;
        let mut pos = 0;
        let mut next = offset;
        while let Some(h) = BatchHeader::parse(&read.records[pos..]) {
            let batch = &read.records[pos..pos + h.size()];
            if h.is_control() {
                if let Some((marker, _)) = fjord_log::txn::parse_marker(batch) {
                    let commit = marker == fjord_log::txn::Marker::Commit;
                    state.replay(Replayed::Marker { producer_id: h.producer_id, commit });
                }
            } else {
                let producer = h.is_transactional().then_some(h.producer_id);
                for r in records::parse(batch).unwrap_or_default() {
                    if let Some(key) = r.key {
                        state.replay(Replayed::Record { key, value: r.value, producer });
                        count += 1;
                    }
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
    Ok((state, count))
}

#[cfg(test)]
mod tests;
