//! ListTransactions (key 66): the transactional ids this broker coordinates (KIP-664), filtered
//! by state (unknown state names are echoed back, as Kafka does), producer id and (v1) how long
//! the transaction has been open. Admin clients ask every broker and merge the answers.
//! v2's id pattern (KIP-1152) is not served.

use fjord_protocol::ApiRange;
use fjord_txn::TxnState;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use super::Client;
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::ListTransactions, min: 0, max: 1 };

pub async fn handle(broker: &Broker, _version: i16, request: ListTransactionsRequest, _client: &Client) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for name in request.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(state) => states.push(state),
            None => unknown.push(name),
        }
    }
    // Only unknown names: nothing can match.
    if states.is_empty() && !unknown.is_empty() {
        return ListTransactionsResponse::default().with_unknown_state_filters(unknown);
    }
    let producers: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let response = ListTransactionsResponse::default().with_unknown_state_filters(unknown);
    match broker.transactions.list(&states, &producers, request.duration_filter) {
        Ok(listed) => response.with_transaction_states(
            listed
                .into_iter()
                .map(|(id, producer_id, state)| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                        .with_producer_id(ProducerId(producer_id))
                        .with_transaction_state(StrBytes::from_static_str(state.name()))
                })
                .collect(),
        ),
        Err(e) => response.with_error_code(e.error_code()),
    }
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &ListTransactionsResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
}
