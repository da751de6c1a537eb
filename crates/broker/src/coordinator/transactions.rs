//! [`TransactionCoordinator`]: the transaction coordinator at work on the [`Runtime`] over
//! `__transaction_state` — one [`TxnShard`] per partition this broker leads, each the pure
//! [`fjord_txn::TxnCoordinator`] of its transactional ids — and the markers it writes.
//!
//! Every request changes an id in two steps: the state machine's transit is appended to the
//! id's partition (acks=all), then applied; a write that fails is abandoned and the id is as it
//! was. Once a PrepareCommit or PrepareAbort is applied, EndTxn is answered and a task writes the
//! transaction's markers to every partition it touched ([`MarkerWriter`]: on this broker
//! directly, on others with WriteTxnMarkers), retrying each until it is written, and then
//! persists CompleteCommit or CompleteAbort. A coordinator that takes a partition over finishes
//! the prepared transactions it finds; one that loses it stops. Open transactions past their
//! timeout are fenced and aborted, and idle ids expire, on a timer.
//!
//! Lock order: that of the runtime; no lock is held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fjord_meta::MetadataImage;
use fjord_txn::{InitDecision, Markers, Transit, TxnCoordinator, TxnError, TxnMetadata, TxnState};
use tokio::sync::{Mutex, watch};

use super::groups::{GroupCoordinator, OFFSETS_TOPIC};
use super::runtime::{CoordinatorError, Durability, InternalTopic, Replayed, Runtime, Shard, ShardState};
use crate::BrokerError;
use crate::cluster::{ProducerIds, Proposer};
use crate::replica::client::{MarkerFor, PeerClient};
use crate::replica::{ReplicaManager, now_ms};

/// The internal topic holding the transactional ids' state.
pub const TRANSACTION_TOPIC: &str = "__transaction_state";

/// Pause between two attempts at a marker or a Complete record that could not be written yet.
const RETRY: Duration = Duration::from_millis(100);
/// How long a request refused with CONCURRENT_TRANSACTIONS may wait for a transaction to
/// complete before that answer goes out.
const CONCURRENT_WAIT: Duration = Duration::from_millis(100);
/// How long a broker may take to connect and answer a WriteTxnMarkers.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// The coordinator's settings.
#[derive(Debug, Clone)]
pub struct TransactionsConfig {
    pub node_id: i32,
    pub txn: fjord_txn::Config,
    /// `transaction.state.log.num.partitions`.
    pub partitions: i32,
    /// `transaction.state.log.replication.factor` and `min.isr`, already capped.
    pub replication_factor: i32,
    pub min_isr: i32,
    pub durability: Durability,
    pub abort_interval: Duration,
    pub expiry_interval: Duration,
}

/// One `__transaction_state` partition's transactional ids.
#[derive(Debug)]
pub struct TxnShard {
    coordinator: TxnCoordinator,
    /// Prepared transactions found at takeover, whose markers are still to be written.
    resend: Vec<Markers>,
}

impl TxnShard {
    pub fn coordinator(&self) -> &TxnCoordinator {
        &self.coordinator
    }
}

impl ShardState for TxnShard {
    fn replay(&mut self, item: Replayed<'_>) {
        if let Replayed::Record { key, value, .. } = item {
            self.coordinator.replay(key, value);
        }
    }

    fn loaded(&mut self, now_ms: i64) {
        self.resend = self.coordinator.loaded(now_ms);
    }

    fn unload(&mut self) {
        self.resend.clear();
    }
}

/// Why markers were not written.
#[derive(Debug)]
enum MarkerFailure {
    /// A partition refused them for a newer producer epoch or coordinator: the transaction was
    /// superseded, and this coordinator writes nothing more for it.
    Superseded(BrokerError),
    /// The coordinator gave its partition up meanwhile.
    Gone,
}

/// Writes transaction markers to the partitions' leaders.
#[derive(Debug)]
pub struct MarkerWriter {
    node_id: i32,
    replicas: Arc<ReplicaManager>,
    images: watch::Receiver<Arc<MetadataImage>>,
    groups: Arc<GroupCoordinator>,
    durability: Durability,
    /// One connection per other broker, made on first use.
    peers: Mutex<HashMap<i32, PeerClient>>,
}

impl MarkerWriter {
    /// Writes `m`'s markers (coordinator epoch `coordinator_epoch`) to every partition, retrying
    /// each until it is written and replicated, while `current()` holds.
    async fn write(
        &self,
        m: &Markers,
        coordinator_epoch: i32,
        current: impl Fn() -> bool,
    ) -> Result<(), MarkerFailure> {
        let mut left: Vec<(String, i32)> = m.partitions.clone();
        loop {
            if !current() {
                return Err(MarkerFailure::Gone);
            }
            let image = self.images.borrow().clone();
            let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            for (topic, partition) in left.drain(..) {
                // A partition of a deleted topic needs no marker any more.
                let Some(info) = image.topic(&topic).and_then(|t| t.partitions.get(partition as usize)) else {
                    continue;
                };
                by_leader.entry(info.leader).or_default().push((topic, partition));
            }
            for (leader, partitions) in by_leader {
                let results = if leader < 0 {
                    partitions.iter().map(|p| (p.clone(), Err(BrokerError::NotLeaderOrFollower))).collect()
                } else if leader == self.node_id {
                    self.write_here(m, coordinator_epoch, &partitions).await
                } else {
                    self.write_there(leader, &image, m, coordinator_epoch, &partitions).await
                };
                for (partition, result) in results {
                    match result {
                        Ok(()) => {}
                        Err(
                            e @ (BrokerError::Log(fjord_log::LogError::InvalidProducerEpoch { .. })
                            | BrokerError::Log(fjord_log::LogError::CoordinatorFenced { .. })),
                        ) => {
                            return Err(MarkerFailure::Superseded(e));
                        }
                        Err(e) => {
                            tracing::debug!(topic = %partition.0, partition = partition.1, error = %e, "transaction marker not written yet");
                            left.push(partition);
                        }
                    }
                }
            }
            if left.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// The markers for partitions this broker leads.
    async fn write_here(
        &self,
        m: &Markers,
        coordinator_epoch: i32,
        partitions: &[(String, i32)],
    ) -> Vec<((String, i32), Result<(), BrokerError>)> {
        let on = (self.replicas.clone(), self.groups.clone(), self.durability);
        write_local_markers(on, partitions.to_vec(), (m.producer_id, m.producer_epoch), (m.commit, coordinator_epoch))
            .await
    }

    /// The markers for partitions another broker leads, in one WriteTxnMarkers.
    async fn write_there(
        &self,
        leader: i32,
        image: &MetadataImage,
        m: &Markers,
        coordinator_epoch: i32,
        partitions: &[(String, i32)],
    ) -> Vec<((String, i32), Result<(), BrokerError>)> {
        let failed = |why: String| {
            partitions.iter().map(|p| (p.clone(), Err(BrokerError::Internal(why.clone())))).collect::<Vec<_>>()
        };
        let Some(address) = image.brokers.get(&leader).map(|b| format!("{}:{}", b.host, b.port)) else {
            return failed(format!("broker {leader} is not registered"));
        };
        let mut peers = self.peers.lock().await;
        let client = match peers.entry(leader) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match PeerClient::connect(&address, format!("fjord-txn-{}", self.node_id), PEER_TIMEOUT).await {
                    Ok(client) => e.insert(client),
                    Err(e) => return failed(format!("cannot reach broker {leader}: {e}")),
                }
            }
        };
        let marker = MarkerFor {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            commit: m.commit,
            coordinator_epoch,
            partitions: partitions.to_vec(),
        };
        match client.write_txn_markers(&marker, PEER_TIMEOUT).await {
            Ok(answers) => partitions
                .iter()
                .map(|p| {
                    let code = answers.iter().find(|(t, i, _)| (t, *i) == (&p.0, p.1)).map_or(-1, |a| a.2);
                    (p.clone(), from_code(code))
                })
                .collect(),
            Err(e) => {
                peers.remove(&leader);
                failed(format!("WriteTxnMarkers to broker {leader} failed: {e}"))
            }
        }
    }
}

/// A marker error code from another broker, as the error this coordinator acts on.
fn from_code(code: i16) -> Result<(), BrokerError> {
    use kafka_protocol::ResponseError;
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(ResponseError::InvalidProducerEpoch) => {
            Err(fjord_log::LogError::InvalidProducerEpoch { producer_id: -1, current: -1, got: -1 }.into())
        }
        Some(ResponseError::TransactionCoordinatorFenced) => {
            Err(fjord_log::LogError::CoordinatorFenced { producer_id: -1, current: -1, got: -1 }.into())
        }
        Some(e) => Err(BrokerError::Internal(format!("marker refused: {e:?}"))),
    }
}

/// Writes one marker to each of `partitions`, which this broker leads, durably (acks=all) and
/// all at once: a `__consumer_offsets` partition through the group coordinator (which commits or
/// drops the transaction's offsets), any other directly. What WriteTxnMarkers does, and what the
/// local transaction coordinator does for partitions led here.
pub async fn write_local_markers(
    (replicas, groups, durability): (Arc<ReplicaManager>, Arc<GroupCoordinator>, Durability),
    partitions: Vec<(String, i32)>,
    producer: (i64, i16),
    (commit, coordinator_epoch): (bool, i32),
) -> Vec<((String, i32), Result<(), BrokerError>)> {
    let mut writes = tokio::task::JoinSet::new();
    for (i, (topic, index)) in partitions.iter().cloned().enumerate() {
        let (replicas, groups) = (replicas.clone(), groups.clone());
        writes.spawn(async move {
            let result = if topic == OFFSETS_TOPIC {
                groups.write_marker(index, producer, commit, coordinator_epoch).await.map_err(|e| match e {
                    // The transaction coordinator retries these like a leader that moved.
                    BrokerError::Coordinator(_) | BrokerError::Group(_) => BrokerError::NotLeaderOrFollower,
                    e => e,
                })
            } else {
                write_marker(&replicas, (&topic, index), producer, (commit, coordinator_epoch), durability).await
            };
            (i, result)
        });
    }
    let mut results: Vec<_> = partitions.into_iter().map(|p| (p, Err(BrokerError::NotLeaderOrFollower))).collect();
    while let Some(done) = writes.join_next().await {
        match done {
            Ok((i, result)) => results[i].1 = result,
            Err(e) => tracing::error!(error = %e, "a marker write task failed"),
        }
    }
    results
}

async fn write_marker(
    replicas: &ReplicaManager,
    (topic, index): (&str, i32),
    producer: (i64, i16),
    (commit, coordinator_epoch): (bool, i32),
    durability: Durability,
) -> Result<(), BrokerError> {
    let partition = replicas.partition(topic, index).ok_or(BrokerError::UnknownTopicOrPartition)?;
    let marker = if commit { fjord_log::txn::Marker::Commit } else { fjord_log::txn::Marker::Abort };
    let (end, epoch) = partition.append_marker(producer, (marker, coordinator_epoch), now_ms(), None)?;
    replicas.notify_append();
    partition.commit(end, epoch, durability.fsync, durability.timeout).await
}

/// The transaction coordinator of this broker.
#[derive(Debug)]
pub struct TransactionCoordinator {
    runtime: Arc<Runtime<TxnShard>>,
    config: TransactionsConfig,
    ids: Arc<ProducerIds>,
    markers: Arc<MarkerWriter>,
    /// Changes whenever a transaction completes (its markers written): requests refused with
    /// CONCURRENT_TRANSACTIONS meanwhile wait for it.
    completions: watch::Sender<u64>,
}

impl TransactionCoordinator {
    pub fn new(
        config: TransactionsConfig,
        (replicas, proposer, groups): (Arc<ReplicaManager>, Proposer, Arc<GroupCoordinator>),
        ids: Arc<ProducerIds>,
    ) -> Arc<Self> {
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), (100 * 1024 * 1024).to_string()),
            ("min.insync.replicas".to_string(), config.min_isr.to_string()),
        ]);
        let topic = InternalTopic {
            name: TRANSACTION_TOPIC,
            partitions: config.partitions,
            replication_factor: config.replication_factor,
            configs,
        };
        let txn = config.txn;
        let markers = Arc::new(MarkerWriter {
            node_id: config.node_id,
            replicas: replicas.clone(),
            images: proposer.images(),
            groups,
            durability: config.durability,
            peers: Mutex::new(HashMap::new()),
        });
        let runtime = Runtime::new(topic, config.durability, replicas, proposer, move |_| TxnShard {
            coordinator: TxnCoordinator::new(txn),
            resend: Vec::new(),
        });
        Arc::new(Self { runtime, config, ids, markers, completions: watch::channel(0).0 })
    }

    /// How markers and the coordinator's records are made durable.
    pub fn durability(&self) -> Durability {
        self.config.durability
    }

    /// Follows the leaders of `__transaction_state`.
    pub fn follow_leadership(&self) {
        self.runtime.follow();
    }

    /// Creates `__transaction_state` on first use, as Kafka does.
    pub async fn ensure_topic(&self) -> Result<(), BrokerError> {
        self.runtime.ensure_topic().await
    }

    /// The broker coordinating transactional id `id`, when its partition has a live leader.
    pub fn coordinator_of(&self, id: &str) -> Option<fjord_meta::BrokerInfo> {
        self.runtime.coordinator_of(id)
    }

    async fn shard(&self, id: &str) -> Result<Arc<Shard<TxnShard>>, BrokerError> {
        if !self.runtime.topic_exists() {
            return Err(CoordinatorError::NotAvailable(format!("{TRANSACTION_TOPIC} does not exist yet")).into());
        }
        Ok(self.runtime.shard(self.runtime.partition_of(id)).await?)
    }

    /// Persists `transit` (appended with the change that made it) and applies it; abandons it
    /// when the write failed. Returns the markers a Prepare* hands out.
    async fn settle(
        shard: &Arc<Shard<TxnShard>>,
        transit: &Transit,
        pending: super::runtime::Pending,
    ) -> Result<Option<Markers>, BrokerError> {
        match pending.commit().await {
            Ok(()) => Ok(shard.update(|st| st.coordinator.apply(transit, now_ms()))?),
            Err(e) => {
                let _ = shard.update(|st| st.coordinator.abandon(transit));
                Err(e)
            }
        }
    }

    /// InitProducerId with transactional id `id`: the producer id and epoch to use.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), BrokerError> {
        self.ensure_topic().await?;
        let shard = self.shard(id).await?;
        let mut fresh = None;
        if shard.read(|st| st.coordinator.needs_producer_id(id))? {
            fresh = Some(self.ids.next().await?);
        }
        loop {
            let (decision, pending) = shard
                .write(|st, writes| {
                    let decision = st.coordinator.init_producer_id(id, timeout_ms, expected, fresh, now_ms());
                    if let Ok(InitDecision::Write(t) | InitDecision::Fence(t)) = &decision {
                        writes.push(t.record());
                    }
                    decision
                })
                .await?;
            let decision = match decision {
                Err(TxnError::NeedProducerId) => {
                    fresh = Some(self.ids.next().await?);
                    continue;
                }
                decision => decision?,
            };
            return match decision {
                InitDecision::Write(transit) => {
                    Self::settle(&shard, &transit, pending).await?;
                    Ok((transit.target.producer_id, transit.target.producer_epoch))
                }
                InitDecision::Fence(transit) => {
                    if let Some(markers) = Self::settle(&shard, &transit, pending).await? {
                        self.finish(shard.clone(), markers);
                    }
                    tracing::info!(transactional_id = id, "fenced the previous producer; aborting its transaction");
                    Err(TxnError::ConcurrentTransactions(id.to_string()).into())
                }
            };
        }
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn with the group's offsets partition).
    ///
    /// A transaction's first AddPartitionsToTxn usually arrives while the previous one's markers
    /// are still written (the client sends it as soon as EndTxn is answered): instead of
    /// answering CONCURRENT_TRANSACTIONS at once, which clients retry after a backoff (librdkafka:
    /// `retry.backoff.ms`, 100 ms), it waits up to [`CONCURRENT_WAIT`] for a transaction to
    /// complete and tries again. The client sees the answer it would have had after retrying,
    /// sooner.
    pub async fn add_partitions(
        &self,
        id: &str,
        producer: (i64, i16),
        partitions: &[(String, i32)],
    ) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + CONCURRENT_WAIT;
        let mut completions = self.completions.subscribe();
        loop {
            completions.borrow_and_update();
            match self.try_add_partitions(id, producer, partitions).await {
                Err(BrokerError::Txn(TxnError::ConcurrentTransactions(_)))
                    if tokio::time::timeout_at(deadline, completions.changed()).await.is_ok_and(|c| c.is_ok()) => {}
                done => return done,
            }
        }
    }

    async fn try_add_partitions(
        &self,
        id: &str,
        producer: (i64, i16),
        partitions: &[(String, i32)],
    ) -> Result<(), BrokerError> {
        let shard = self.shard(id).await?;
        let (transit, pending) = shard
            .write(|st, writes| {
                let transit = st.coordinator.add_partitions(id, producer, partitions, now_ms());
                if let Ok(Some(t)) = &transit {
                    writes.push(t.record());
                }
                transit
            })
            .await?;
        if let Some(transit) = transit? {
            Self::settle(&shard, &transit, pending).await?;
        }
        Ok(())
    }

    /// The `__consumer_offsets` partition of `group` (AddOffsetsToTxn).
    pub fn offsets_partition(&self, group: &str) -> (String, i32) {
        (OFFSETS_TOPIC.to_string(), self.markers.groups.partition_of(group))
    }

    /// EndTxn: answered once the Prepare* record is durable; the markers follow.
    pub async fn end_txn(self: &Arc<Self>, id: &str, producer: (i64, i16), commit: bool) -> Result<(), BrokerError> {
        let shard = self.shard(id).await?;
        let (transit, pending) = shard
            .write(|st, writes| {
                let transit = st.coordinator.end_txn(id, producer, commit, now_ms());
                if let Ok(Some(t)) = &transit {
                    writes.push(t.record());
                }
                transit
            })
            .await?;
        if let Some(transit) = transit?
            && let Some(markers) = Self::settle(&shard, &transit, pending).await?
        {
            self.finish(shard, markers);
        }
        Ok(())
    }

    /// Writes a prepared transaction's markers, then persists its Complete* state, in the
    /// background.
    fn finish(self: &Arc<Self>, shard: Arc<Shard<TxnShard>>, markers: Markers) {
        let this = self.clone();
        tokio::spawn(async move {
            let current = || shard.read(|_| ()).is_ok();
            match this.markers.write(&markers, shard.epoch(), current).await {
                Ok(()) => {}
                Err(MarkerFailure::Gone) => return,
                Err(MarkerFailure::Superseded(e)) => {
                    tracing::warn!(transactional_id = %markers.transactional_id, error = %e, "transaction superseded while its markers were written");
                    return;
                }
            }
            loop {
                let Ok((_, pending)) = shard.write(|_, writes| writes.push(markers.complete.record())).await else {
                    return;
                };
                match pending.commit().await {
                    Ok(()) => {
                        let _ = shard.update(|st| st.coordinator.apply(&markers.complete, now_ms()));
                        this.completions.send_modify(|n| *n = n.wrapping_add(1));
                        let result = if markers.commit { "commit" } else { "abort" };
                        metrics::counter!(crate::telemetry::catalog::TRANSACTIONS_ENDED, "result" => result)
                            .increment(1);
                        tracing::debug!(transactional_id = %markers.transactional_id, commit = markers.commit, "transaction complete");
                        return;
                    }
                    Err(BrokerError::Coordinator(CoordinatorError::NotAvailable(_))) => tokio::time::sleep(RETRY).await,
                    Err(e) => {
                        tracing::warn!(transactional_id = %markers.transactional_id, error = %e, "completing the transaction failed; the next coordinator finishes it");
                        return;
                    }
                }
            }
        });
    }

    /// Finishes what taking over partitions found prepared, aborts open transactions past
    /// their timeout and expires idle ids, until stopped.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut loads = self.runtime.load_events();
        let mut next_abort = tokio::time::Instant::now() + self.config.abort_interval;
        let mut next_expiry = tokio::time::Instant::now() + self.config.expiry_interval;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = loads.changed() => {}
                _ = tokio::time::sleep_until(next_abort.min(next_expiry)) => {}
            }
            loads.borrow_and_update();
            for shard in self.runtime.shards() {
                let resend = shard.update(|st| std::mem::take(&mut st.resend)).unwrap_or_default();
                for markers in resend {
                    tracing::info!(transactional_id = %markers.transactional_id, commit = markers.commit, "finishing a transaction the previous coordinator prepared");
                    self.finish(shard.clone(), markers);
                }
            }
            let now = tokio::time::Instant::now();
            if now >= next_abort {
                next_abort = now + self.config.abort_interval;
                self.sweep(|c, now| c.timed_out(now), "aborting transactions past their timeout").await;
            }
            if now >= next_expiry {
                next_expiry = now + self.config.expiry_interval;
                self.sweep(|c, now| c.expired(now), "expiring idle transactional ids").await;
            }
        }
    }

    /// Persists and applies the transits `pick` finds in every shard (timeouts, expiry),
    /// finishing the aborts they start.
    async fn sweep(self: &Arc<Self>, pick: impl Fn(&mut TxnCoordinator, i64) -> Vec<Transit>, what: &str) {
        for shard in self.runtime.shards() {
            let Ok((transits, pending)) = shard
                .write(|st, writes| {
                    let transits = pick(&mut st.coordinator, now_ms());
                    writes.extend(transits.iter().map(Transit::record));
                    transits
                })
                .await
            else {
                continue;
            };
            if transits.is_empty() {
                continue;
            }
            tracing::info!(partition = shard.index, count = transits.len(), "{what}");
            match pending.commit().await {
                Ok(()) => {
                    for transit in &transits {
                        if let Ok(Some(markers)) = shard.update(|st| st.coordinator.apply(transit, now_ms())) {
                            self.finish(shard.clone(), markers);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(partition = shard.index, error = %e, "{what} failed; retried later");
                    for transit in &transits {
                        let _ = shard.update(|st| st.coordinator.abandon(transit));
                    }
                }
            }
        }
    }

    /// Every loaded shard's transactional ids (metrics).
    pub fn for_each_shard(&self, mut f: impl FnMut(&TxnCoordinator)) {
        for shard in self.runtime.shards() {
            let _ = shard.read(|st| f(&st.coordinator));
        }
    }

    /// DescribeTransactions of `id`: its metadata, with the state a change in flight moves it from.
    pub async fn describe(&self, id: &str) -> Result<TxnMetadata, BrokerError> {
        if id.is_empty() {
            return Err(TxnError::InvalidRequest("an empty transactional id is not allowed".into()).into());
        }
        let shard = self.shard(id).await?;
        let described = shard.read(|st| st.coordinator.describe(id).map(|(m, _)| m.clone()))?;
        described
            .filter(|m| m.state != TxnState::Dead)
            .ok_or_else(|| TxnError::TransactionalIdNotFound(id.to_string()).into())
    }

    /// ListTransactions: the ids this broker coordinates, as (id, producer id, state), in the
    /// given states and of the given producers (empty: any), open longer than
    /// `min_duration_ms` (-1: any). COORDINATOR_LOAD_IN_PROGRESS while a partition loads.
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Result<Vec<(String, i64, TxnState)>, BrokerError> {
        if self.runtime.is_loading() {
            return Err(CoordinatorError::LoadInProgress(format!("{TRANSACTION_TOPIC} partitions")).into());
        }
        let now = now_ms();
        let mut listed = Vec::new();
        for shard in self.runtime.shards() {
            let _ = shard.read(|st| {
                for (id, m) in st.coordinator.list() {
                    let keep = m.state != TxnState::Dead
                        && (states.is_empty() || states.contains(&m.state))
                        && (producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                        && (min_duration_ms < 0 || now - m.start_ms > min_duration_ms);
                    if keep {
                        listed.push((id.to_string(), m.producer_id, m.state));
                    }
                }
            });
        }
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(listed)
    }
}
