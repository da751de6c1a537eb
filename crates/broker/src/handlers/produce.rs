//! Produce (key 0): append each partition's batches to its log, as the client encoded them.
//!
//! acks=0 gets no response; acks=1 is answered after the leader's append; acks=-1 is refused
//! with NOT_ENOUGH_REPLICAS when the ISR is smaller than `min.insync.replicas`, and otherwise
//! waits for the fsync that covers the append when `log.flush.interval.messages` is 1 (the
//! default; one group-committed fsync per partition) and then for the high watermark to pass it,
//! that is for every ISR member to have it — for all partitions of the request at once, bounded
//! by the request's timeout (REQUEST_TIMED_OUT). v0–v2 (old message formats) are answered by the
//! connection with UNSUPPORTED_FOR_MESSAGE_FORMAT.
//!
//! A transactional batch opens (or continues) its producer's transaction on the partition; the
//! log refuses one from a fenced epoch (INVALID_PRODUCER_EPOCH) and the coordinator's markers
//! close it. As in Kafka before KIP-890, the broker trusts the producer to have added the
//! partition to its transaction first.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fjord_protocol::ApiRange;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use tokio::task::JoinSet;

use super::{Answer, Client, message, topic_name};
use crate::replica::{Partition, now_ms};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::Produce, min: 0, max: 11 };

pub async fn handle(broker: &Broker, _version: i16, request: ProduceRequest, _client: &Client) -> Answer<ProduceResponse> {
    let acks = request.acks;
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    // Fresh for every partition: a request-level refusal is reported on each partition.
    let refusal = || (!matches!(acks, -1..=1)).then_some(BrokerError::InvalidRequiredAcks(acks));
    let now = now_ms();
    // (topic index, partition index, partition, end of the append, leader epoch of the append)
    let mut to_sync: Vec<(usize, usize, Arc<Partition>, i64, i32)> = Vec::new();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut appended = false;
    for (t, topic) in request.topic_data.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (i, data) in topic.partition_data.into_iter().enumerate() {
            let response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let result = match refusal() {
                Some(e) => Err(e),
                None => append(broker, &name, data.index, data.records, acks, now),
            };
            partitions.push(match result {
                Ok((partition, outcome, epoch)) => {
                    appended |= !outcome.duplicate;
                    to_sync.push((t, i, partition, outcome.last_offset + 1, epoch));
                    response
                        .with_base_offset(outcome.base_offset)
                        .with_log_append_time_ms(outcome.log_append_time)
                        .with_log_start_offset(outcome.log_start_offset)
                }
                Err(e) => response.with_error_code(e.error_code()).with_error_message(message(e.to_string())),
            });
        }
        responses
            .push(TopicProduceResponse::default().with_name(topic_name(&name)).with_partition_responses(partitions));
    }
    if appended {
        broker.replicas.notify_append();
    }
    if acks == 0 {
        let failed = responses.iter().flat_map(|t| &t.partition_responses).find(|p| p.error_code != 0);
        return match failed {
            None => Answer::Silent,
            Some(p) => Answer::Close(format!(
                "acks=0 produce failed with error {}: {}",
                p.error_code,
                p.error_message.as_deref().unwrap_or_default()
            )),
        };
    }
    if acks == -1 && !to_sync.is_empty() {
        let _waiting = broker.telemetry.produce_waiter();
        let mut syncs = JoinSet::new();
        let mut unconfirmed: HashSet<(usize, usize)> = to_sync.iter().map(|(t, i, ..)| (*t, *i)).collect();
        let fsync = broker.config.flush_every_ack;
        for (t, i, partition, upto, epoch) in to_sync {
            syncs.spawn(async move { (t, i, partition.commit(upto, epoch, fsync, timeout).await) });
        }
        while let Some(joined) = syncs.join_next().await {
            let Ok((t, i, result)) = joined else { continue };
            unconfirmed.remove(&(t, i));
            if let Err(e) = result {
                fail(&mut responses[t].partition_responses[i], &e);
            }
        }
        // A task that died without an answer confirmed nothing.
        for (t, i) in unconfirmed {
            fail(
                &mut responses[t].partition_responses[i],
                &BrokerError::Internal("the acknowledgement task failed".into()),
            );
        }
    }
    Answer::Respond(ProduceResponse::default().with_responses(responses))
}

fn append(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    acks: i16,
    now: i64,
) -> Result<(Arc<Partition>, fjord_log::AppendOutcome, i32), BrokerError> {
    let partition = broker.leader_partition(topic, index)?;
    if acks == -1 {
        partition.check_min_isr()?;
    }
    let records = records.ok_or_else(|| BrokerError::InvalidRequest("null record set".into()))?;
    // The record bytes go from the request buffer to the file: the log stamps a copy of the
    // batch header and writes the rest from where it lies.
    let (outcome, epoch) = partition.append_in_epoch(&records, now, None)?;
    if !outcome.duplicate {
        partition.counters.appended(outcome.bytes, outcome.record_count);
    }
    Ok((partition, outcome, epoch))
}

/// Turns an acknowledged-looking partition response into the failure it turned out to be.
fn fail(response: &mut PartitionProduceResponse, e: &BrokerError) {
    response.error_code = e.error_code();
    response.base_offset = -1;
    response.error_message = message(e.to_string());
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &ProduceResponse, see: &mut dyn FnMut(i16)) {
    r.responses.iter().flat_map(|t| &t.partition_responses).for_each(|p| see(p.error_code));
}
