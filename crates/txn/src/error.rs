//! [`TxnError`]: the ways a transactional request is refused. The broker maps each to Kafka's code.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("transaction timeout {got} ms is outside (0, {max}] ms (transaction.max.timeout.ms)")]
    InvalidTransactionTimeout { got: i32, max: i64 },
    #[error("transactional id {0} has a transaction changing state; retry")]
    ConcurrentTransactions(String),
    #[error("producer {producer_id} epoch {epoch} of transactional id {id} is fenced by a newer producer")]
    ProducerFenced { id: String, producer_id: i64, epoch: i16 },
    #[error("transactional id {0} is not, or no longer, mapped to this producer id")]
    InvalidProducerIdMapping(String),
    #[error("transactional id {id} is {state}: {why}")]
    InvalidTxnState { id: String, state: &'static str, why: &'static str },
    #[error("transactional id {0} is not known to its coordinator")]
    TransactionalIdNotFound(String),
    /// The request needs a fresh producer id, which the caller allocates and passes back.
    #[error("a fresh producer id is needed")]
    NeedProducerId,
}
