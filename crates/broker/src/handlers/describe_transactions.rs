//! DescribeTransactions (key 65): the state of transactional ids, asked of their coordinator
//! (KIP-664): state, timeout, start time, producer id and epoch and the partitions of the open
//! transaction. An id coordinated elsewhere is NOT_COORDINATOR; one unknown here
//! TRANSACTIONAL_ID_NOT_FOUND.

use std::collections::BTreeMap;

use fjord_protocol::ApiRange;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use super::{Client, topic_name};
use crate::Broker;

pub const API: ApiRange = ApiRange { key: ApiKey::DescribeTransactions, min: 0, max: 0 };

pub async fn handle(
    broker: &Broker,
    _version: i16,
    request: DescribeTransactionsRequest,
    _client: &Client,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in request.transactional_ids {
        let state = TransactionState::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
        states.push(match broker.transactions.describe(id.as_str()).await {
            Ok(m) => {
                let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for (topic, partition) in &m.partitions {
                    topics.entry(topic).or_default().push(*partition);
                }
                let topics = topics
                    .into_iter()
                    .map(|(t, partitions)| TopicData::default().with_topic(topic_name(t)).with_partitions(partitions))
                    .collect();
                state
                    .with_transaction_state(StrBytes::from_static_str(m.state.name()))
                    .with_transaction_timeout_ms(m.timeout_ms)
                    .with_transaction_start_time_ms(m.start_ms)
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_producer_epoch(m.producer_epoch)
                    .with_topics(topics)
            }
            Err(e) => state.with_error_code(e.error_code()),
        }
        .with_transactional_id(id));
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &DescribeTransactionsResponse, see: &mut dyn FnMut(i16)) {
    r.transaction_states.iter().for_each(|s| see(s.error_code));
}
