//! [`TxnState`] and [`TxnMetadata`]: what one transactional id is and persists, Kafka's way.

use std::collections::BTreeSet;

/// The state of a transactional id (its id is what `__transaction_state` stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// No transaction open.
    Empty,
    /// A transaction is open: partitions were added to it.
    Ongoing,
    /// EndTxn(commit) is persisted; the markers are being written.
    PrepareCommit,
    /// EndTxn(abort), or a fence, is persisted; the markers are being written.
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// Expired: removed (only ever a pending state).
    Dead,
    /// Being fenced by a new producer or aborted for its timeout (only ever a pending state).
    PrepareEpochFence,
}

impl TxnState {
    /// The byte `__transaction_state` stores.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's name of the state (DescribeTransactions, ListTransactions).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name` (Kafka's names, as ListTransactions filters by them).
    pub fn from_name(name: &str) -> Option<Self> {
        (0..=7).filter_map(Self::from_id).find(|s| s.name() == name)
    }

    /// Whether nothing is open: the id may start a transaction, be re-initialised or expire.
    pub fn is_idle(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
    }
}

/// What a transactional id persists in `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions the open transaction wrote to (or will write markers to).
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started (its first partition was added); -1 when none.
    pub start_ms: i64,
    pub last_update_ms: i64,
}
