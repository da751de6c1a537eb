//! [`TxnCoordinator`]: the transactional ids of one `__transaction_state` partition, Kafka's
//! state machine (KIP-98, KIP-360, KIP-447), pure.
//!
//! Every change goes in two steps. A request computes a [`Transit`] — the metadata the id will
//! have — and marks the id *pending*; the broker persists the transit's record (acks=all) and
//! only then calls [`TxnCoordinator::apply`], or [`TxnCoordinator::abandon`] when the write
//! failed. While an id is pending, every other request for it is answered
//! CONCURRENT_TRANSACTIONS. Applying a PrepareCommit or PrepareAbort hands out the [`Markers`] to
//! write to the transaction's partitions, and the id stays pending until the markers are written
//! and the CompleteCommit or CompleteAbort transit they carry is persisted and applied.
//!
//! Fencing: InitProducerId for an id whose transaction is open bumps the epoch (so the old
//! producer's requests are refused from this moment on), aborts the transaction with the new
//! epoch (whose markers fence the old producer on every partition) and answers
//! CONCURRENT_TRANSACTIONS; the client's retry then gets the epoch after that. A transaction
//! open longer than its timeout is fenced and aborted the same way ([`TxnCoordinator::timed_out`]).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::error::TxnError;
use crate::records;
use crate::state::{TxnMetadata, TxnState};

/// An epoch at or past this can be bumped no more (the last value is kept for one more fence).
const EXHAUSTED_EPOCH: i16 = i16::MAX - 1;

/// The coordinator's settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// `transaction.max.timeout.ms`: the longest timeout a producer may ask for.
    pub max_timeout_ms: i64,
    /// `transactional.id.expiration.ms`: how long an idle id is kept.
    pub id_expiration_ms: i64,
}

/// One transactional id: what it persists, and what only lives in memory.
#[derive(Debug, Clone)]
struct Txn {
    meta: TxnMetadata,
    /// The state a transit in flight moves the id to.
    pending: Option<TxnState>,
    /// The epoch before the last bump (a retry of a bump whose answer was lost; KIP-360).
    last_producer_epoch: i16,
    /// The producer id before the last rotation (an epoch ran out).
    previous_producer_id: i64,
    /// A fence's abort did not persist: its bumped epoch stays, the next fence does not bump.
    failed_fence: bool,
}

/// A change to persist; it takes effect when [`TxnCoordinator::apply`] is called once the
/// record is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transit {
    pub transactional_id: String,
    pub target: TxnMetadata,
    /// This abort fences the producer (InitProducerId or a timeout), rather than ending its
    /// transaction at its request.
    pub fence: bool,
    /// The id expires: the record is a tombstone.
    pub dead: bool,
    last_producer_epoch: i16,
    previous_producer_id: i64,
}

impl Transit {
    /// The `__transaction_state` record that persists it: key and value (`None`: a tombstone).
    pub fn record(&self) -> (Bytes, Option<Bytes>) {
        let value = (!self.dead).then(|| records::value(&self.target));
        (records::key(&self.transactional_id), value)
    }
}

/// What InitProducerId does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitDecision {
    /// Persist `Transit`; once applied, answer its producer id and epoch.
    Write(Transit),
    /// The id's open transaction is fenced: persist the abort, write its markers, and answer
    /// CONCURRENT_TRANSACTIONS (the producer retries and gets the next epoch).
    Fence(Transit),
}

/// The markers a transaction needs once its Prepare* is durable, and the Complete* transit to
/// persist once every one of them is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<(String, i32)>,
    pub complete: Transit,
}

/// The transactional ids of one `__transaction_state` partition.
#[derive(Debug, Clone)]
pub struct TxnCoordinator {
    config: Config,
    txns: BTreeMap<String, Txn>,
}

impl TxnCoordinator {
    pub fn new(config: Config) -> Self {
        Self { config, txns: BTreeMap::new() }
    }

    fn transit(&self, id: &str, target: TxnMetadata) -> Transit {
        let txn = &self.txns[id];
        Transit {
            transactional_id: id.to_string(),
            target,
            fence: false,
            dead: false,
            last_producer_epoch: txn.last_producer_epoch,
            previous_producer_id: txn.previous_producer_id,
        }
    }

    /// Whether InitProducerId for `id` needs a fresh producer id (the id is new, or its epoch ran
    /// out), which the caller then allocates and passes in.
    pub fn needs_producer_id(&self, id: &str) -> bool {
        self.txns.get(id).is_none_or(|t| t.meta.state.is_idle() && t.meta.producer_epoch >= EXHAUSTED_EPOCH)
    }

    /// InitProducerId with transactional id `id`: `expected` is the producer id and epoch the
    /// producer already has (KIP-360, v3+); `fresh` a producer id allocated for it when
    /// [`Self::needs_producer_id`] said so (else `NeedProducerId`).
    pub fn init_producer_id(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh: Option<i64>,
        now: i64,
    ) -> Result<InitDecision, TxnError> {
        if id.is_empty() {
            return Err(TxnError::InvalidRequest("an empty transactional id is not allowed".into()));
        }
        if timeout_ms <= 0 || i64::from(timeout_ms) > self.config.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout { got: timeout_ms, max: self.config.max_timeout_ms });
        }
        if !self.txns.contains_key(id) {
            let producer_id = fresh.ok_or(TxnError::NeedProducerId)?;
            let meta = TxnMetadata {
                producer_id,
                producer_epoch: -1,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now,
            };
            let txn =
                Txn { meta, pending: None, last_producer_epoch: -1, previous_producer_id: -1, failed_fence: false };
            self.txns.insert(id.to_string(), txn);
        }
        let txn = &self.txns[id];
        if txn.pending.is_some() {
            return Err(TxnError::ConcurrentTransactions(id.to_string()));
        }
        let meta = &txn.meta;
        if let Some((producer_id, epoch)) = expected {
            let rotated = producer_id == txn.previous_producer_id && epoch >= EXHAUSTED_EPOCH;
            if meta.producer_epoch != -1 && producer_id != meta.producer_id && !rotated {
                return Err(TxnError::ProducerFenced { id: id.to_string(), producer_id, epoch });
            }
        }
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(TxnError::ConcurrentTransactions(id.to_string())),
            TxnState::Ongoing => {
                if meta.producer_epoch == i16::MAX {
                    return Err(TxnError::ProducerFenced {
                        id: id.to_string(),
                        producer_id: meta.producer_id,
                        epoch: meta.producer_epoch,
                    });
                }
                Ok(InitDecision::Fence(self.fence(id, now).expect("looked up above")))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let exhausted = meta.producer_epoch >= EXHAUSTED_EPOCH;
                let (producer_id, epoch, last, previous) = if exhausted
                    && expected.is_none_or(|(_, e)| e == meta.producer_epoch)
                {
                    let producer_id = fresh.ok_or(TxnError::NeedProducerId)?;
                    (producer_id, 0, expected.map_or(-1, |(_, e)| e), meta.producer_id)
                } else {
                    let (epoch, last) = match expected {
                        None => (meta.producer_epoch + 1, -1),
                        Some((_, e)) if meta.producer_epoch == -1 || e == meta.producer_epoch => {
                            (meta.producer_epoch + 1, meta.producer_epoch)
                        }
                        // A retry of the bump whose answer was lost: the same epoch again.
                        Some((_, e)) if e == txn.last_producer_epoch => (meta.producer_epoch, txn.last_producer_epoch),
                        Some((producer_id, epoch)) => {
                            return Err(TxnError::ProducerFenced { id: id.to_string(), producer_id, epoch });
                        }
                    };
                    (meta.producer_id, epoch, last, txn.previous_producer_id)
                };
                let target = TxnMetadata {
                    producer_id,
                    producer_epoch: epoch,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    last_update_ms: now,
                };
                let mut transit = self.transit(id, target);
                transit.last_producer_epoch = last;
                transit.previous_producer_id = previous;
                self.txns.get_mut(id).expect("looked up above").pending = Some(TxnState::Empty);
                Ok(InitDecision::Write(transit))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => Err(TxnError::InvalidTxnState {
                id: id.to_string(),
                state: meta.state.name(),
                why: "the id is being removed",
            }),
        }
    }

    /// The id `id` mapped to `producer_id` at `epoch`, with nothing in flight.
    fn check_producer(&self, id: &str, producer_id: i64, epoch: i16) -> Result<&Txn, TxnError> {
        if id.is_empty() {
            return Err(TxnError::InvalidRequest("an empty transactional id is not allowed".into()));
        }
        let txn = self.txns.get(id).ok_or_else(|| TxnError::InvalidProducerIdMapping(id.to_string()))?;
        if txn.meta.producer_id != producer_id {
            return Err(TxnError::InvalidProducerIdMapping(id.to_string()));
        }
        if txn.meta.producer_epoch != epoch {
            return Err(TxnError::ProducerFenced { id: id.to_string(), producer_id, epoch });
        }
        if txn.pending.is_some() {
            return Err(TxnError::ConcurrentTransactions(id.to_string()));
        }
        Ok(txn)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): `None` when every partition is in the transaction already.
    pub fn add_partitions(
        &mut self,
        id: &str,
        (producer_id, epoch): (i64, i16),
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<Option<Transit>, TxnError> {
        let txn = self.check_producer(id, producer_id, epoch)?;
        let meta = &txn.meta;
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(TxnError::ConcurrentTransactions(id.to_string())),
            TxnState::Ongoing if partitions.iter().all(|p| meta.partitions.contains(p)) => Ok(None),
            TxnState::Ongoing | TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut all = if meta.state == TxnState::Ongoing { meta.partitions.clone() } else { BTreeSet::new() };
                all.extend(partitions.iter().cloned());
                let start_ms = if meta.state == TxnState::Ongoing { meta.start_ms } else { now };
                let target = TxnMetadata {
                    state: TxnState::Ongoing,
                    partitions: all,
                    start_ms,
                    last_update_ms: now,
                    ..meta.clone()
                };
                let transit = self.transit(id, target);
                self.txns.get_mut(id).expect("checked").pending = Some(TxnState::Ongoing);
                Ok(Some(transit))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => Err(TxnError::InvalidTxnState {
                id: id.to_string(),
                state: meta.state.name(),
                why: "the id is being removed",
            }),
        }
    }

    /// EndTxn: `None` when the transaction already ended this way (a retry).
    pub fn end_txn(
        &mut self,
        id: &str,
        (producer_id, epoch): (i64, i16),
        commit: bool,
        now: i64,
    ) -> Result<Option<Transit>, TxnError> {
        let txn = self.check_producer(id, producer_id, epoch)?;
        let meta = &txn.meta;
        let invalid = |why| TxnError::InvalidTxnState { id: id.to_string(), state: meta.state.name(), why };
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {
                let state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
                let target = TxnMetadata { state, last_update_ms: now, ..meta.clone() };
                let transit = self.transit(id, target);
                self.txns.get_mut(id).expect("checked").pending = Some(state);
                Ok(Some(transit))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(TxnError::ConcurrentTransactions(id.to_string()))
            }
            (TxnState::Empty, _) => Err(invalid("no transaction is open")),
            (TxnState::CompleteCommit | TxnState::PrepareCommit, false) => Err(invalid("it was committed")),
            (TxnState::CompleteAbort | TxnState::PrepareAbort, true) => Err(invalid("it was aborted")),
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(invalid("the id is being removed")),
        }
    }

    /// The record of `transit` is durable: the change takes effect. A PrepareCommit or
    /// PrepareAbort hands out the markers to write; the id stays pending until their Complete*
    /// transit is applied in turn.
    pub fn apply(&mut self, transit: &Transit, now: i64) -> Option<Markers> {
        if transit.dead {
            self.txns.remove(&transit.transactional_id);
            return None;
        }
        let txn = self.txns.get_mut(&transit.transactional_id)?;
        txn.meta = transit.target.clone();
        txn.pending = None;
        txn.last_producer_epoch = transit.last_producer_epoch;
        txn.previous_producer_id = transit.previous_producer_id;
        match txn.meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                txn.failed_fence = false;
                Some(self.markers(&transit.transactional_id, now))
            }
            _ => None,
        }
    }

    /// The record of `transit` could not be persisted: the id is as it was (except that a fence
    /// keeps its bumped epoch, and the next one does not bump again).
    pub fn abandon(&mut self, transit: &Transit) {
        if let Some(txn) = self.txns.get_mut(&transit.transactional_id) {
            txn.pending = None;
            txn.failed_fence |= transit.fence;
        }
    }

    /// The markers of `id`'s transaction in Prepare*, marking it pending its Complete* state.
    fn markers(&mut self, id: &str, now: i64) -> Markers {
        let txn = self.txns.get_mut(id).expect("a known id");
        let commit = txn.meta.state == TxnState::PrepareCommit;
        let state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        txn.pending = Some(state);
        let meta = txn.meta.clone();
        let target = TxnMetadata { state, partitions: BTreeSet::new(), last_update_ms: now, ..meta.clone() };
        let complete = self.transit(id, target);
        Markers {
            transactional_id: id.to_string(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            commit,
            partitions: meta.partitions.into_iter().collect(),
            complete,
        }
    }

    /// After a takeover: the transactions the previous coordinator left in PrepareCommit or
    /// PrepareAbort, whose markers this one writes again.
    pub fn loaded(&mut self, now: i64) -> Vec<Markers> {
        let preparing: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, t)| matches!(t.meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|(id, _)| id.clone())
            .collect();
        preparing.into_iter().map(|id| self.markers(&id, now)).collect()
    }

    /// The open transactions past their timeout (counted from their start), fenced and to be
    /// aborted: their transits, already pending.
    pub fn timed_out(&mut self, now: i64) -> Vec<Transit> {
        let late: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, t)| {
                t.pending.is_none()
                    && t.meta.state == TxnState::Ongoing
                    && t.meta.start_ms + i64::from(t.meta.timeout_ms) < now
                    && t.meta.producer_epoch < i16::MAX
            })
            .map(|(id, _)| id.clone())
            .collect();
        late.into_iter().filter_map(|id| self.fence(&id, now)).collect()
    }

    /// Fences `id`'s open transaction: the abort with the next epoch, pending. The old
    /// producer's requests are refused from now on, while the abort runs.
    fn fence(&mut self, id: &str, now: i64) -> Option<Transit> {
        let txn = self.txns.get(id)?;
        let fenced = if txn.failed_fence { txn.meta.producer_epoch } else { txn.meta.producer_epoch + 1 };
        let target = TxnMetadata {
            producer_epoch: fenced,
            state: TxnState::PrepareAbort,
            last_update_ms: now,
            ..txn.meta.clone()
        };
        let mut transit = self.transit(id, target);
        transit.fence = true;
        transit.last_producer_epoch = -1;
        let txn = self.txns.get_mut(id)?;
        txn.meta.producer_epoch = fenced;
        txn.last_producer_epoch = -1;
        txn.pending = Some(TxnState::PrepareAbort);
        Some(transit)
    }

    /// Ids idle for `transactional.id.expiration.ms`: their tombstones, pending.
    pub fn expired(&mut self, now: i64) -> Vec<Transit> {
        let cutoff = now - self.config.id_expiration_ms;
        let idle: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, t)| t.pending.is_none() && t.meta.state.is_idle() && t.meta.last_update_ms <= cutoff)
            .map(|(id, _)| id.clone())
            .collect();
        idle.into_iter()
            .map(|id| {
                let target = TxnMetadata { state: TxnState::Dead, ..self.txns[&id].meta.clone() };
                let mut transit = self.transit(&id, target);
                transit.dead = true;
                self.txns.get_mut(&id).expect("listed above").pending = Some(TxnState::Dead);
                transit
            })
            .collect()
    }

    /// Applies one `__transaction_state` record while the partition is replayed.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Some(id) = records::decode_key(key) else { return };
        match value.map(records::decode_value) {
            None => {
                self.txns.remove(&id);
            }
            Some(Some(meta)) => {
                let txn =
                    Txn { meta, pending: None, last_producer_epoch: -1, previous_producer_id: -1, failed_fence: false };
                self.txns.insert(id, txn);
            }
            // A record this version does not read is left out (it would be Kafka's v1 format).
            Some(None) => {}
        }
    }

    /// The metadata of `id`, and the state a change in flight moves it to.
    pub fn describe(&self, id: &str) -> Option<(&TxnMetadata, Option<TxnState>)> {
        self.txns.get(id).map(|t| (&t.meta, t.pending))
    }

    /// Every id with its metadata.
    pub fn list(&self) -> impl Iterator<Item = (&str, &TxnMetadata)> {
        self.txns.iter().map(|(id, t)| (id.as_str(), &t.meta))
    }

    /// The earliest time [`Self::timed_out`] or [`Self::expired`] may find something.
    pub fn next_deadline(&self) -> Option<i64> {
        self.txns
            .values()
            .filter(|t| t.pending.is_none())
            .filter_map(|t| match t.meta.state {
                TxnState::Ongoing => Some(t.meta.start_ms + i64::from(t.meta.timeout_ms) + 1),
                s if s.is_idle() => Some(t.meta.last_update_ms + self.config.id_expiration_ms),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests;
