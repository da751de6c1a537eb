//! ListOffsets (key 2): the offset matching a timestamp in each partition. -1 asks for the latest
//! offset (the log end offset: the next offset to be written), -2 for the earliest (the log start
//! offset), -3 for the record with the largest timestamp (KIP-734); any other timestamp for the
//! first record whose timestamp is at least that, or offset -1 when there is none.
//!
//! The leader epoch returned (v4+) is the partition's current one. With `isolation_level` 1
//! (read_committed, v2+) nothing at or past the last stable offset is answered, and latest is the
//! last stable offset. The earliest-
//! local and tiered timestamps of v9+ (-4, -5) are not served; at v8 they are INVALID_REQUEST. A
//! partition named twice in one request gets INVALID_REQUEST, as in Kafka.

use std::collections::HashMap;

use fjord_protocol::ApiRange;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};

use super::Client;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::ListOffsets, min: 1, max: 8 };

/// First version with leader epochs.
const EPOCHS_FROM: i16 = 4;

/// read_committed (isolation level 1): nothing past the last stable offset.
const READ_COMMITTED: i8 = 1;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// What a lookup found: offset, timestamp, and whether it found a record at all.
#[derive(Debug, Clone, Copy)]
struct Found {
    offset: i64,
    timestamp: i64,
    any: bool,
}

pub async fn handle(broker: &Broker, version: i16, request: ListOffsetsRequest, _client: &Client) -> ListOffsetsResponse {
    let mut copies: HashMap<(&str, i32), usize> = HashMap::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            *copies.entry((topic.name.0.as_str(), p.partition_index)).or_default() += 1;
        }
    }
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let repeated = copies[&(name, p.partition_index)] > 1;
                    let response = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                    let result = if repeated {
                        Err(BrokerError::InvalidRequest("partition listed more than once".into()))
                    } else {
                        lookup(broker, name, p, request.isolation_level)
                    };
                    match result {
                        Ok((found, epoch)) => {
                            let response = response.with_offset(found.offset).with_timestamp(found.timestamp);
                            if version >= EPOCHS_FROM && found.any {
                                response.with_leader_epoch(epoch)
                            } else {
                                response
                            }
                        }
                        Err(e) => response.with_error_code(e.error_code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The offset for one partition, and the partition's leader epoch.
fn lookup(
    broker: &Broker,
    topic: &str,
    p: &ListOffsetsPartition,
    isolation_level: i8,
) -> Result<(Found, i32), BrokerError> {
    let partition = broker.leader_partition(topic, p.partition_index)?;
    partition.check_leader_epoch(p.current_leader_epoch)?;
    let none = Found { offset: -1, timestamp: -1, any: false };
    let at = |(offset, timestamp): (i64, i64)| Found { offset, timestamp, any: true };
    let found = {
        let mut log = partition.log();
        // Consumers see only what the ISR has — nothing at or past the high watermark — and
        // read_committed ones nothing at or past the last stable offset.
        let hw = partition.high_watermark();
        let bound = if isolation_level == READ_COMMITTED { log.last_stable_offset(hw) } else { hw };
        let visible = |f: Found| if f.any && f.offset >= bound { none } else { f };
        match p.timestamp {
            LATEST => Found { offset: bound.max(log.log_start_offset()), timestamp: -1, any: true },
            EARLIEST => Found { offset: log.log_start_offset(), timestamp: -1, any: true },
            MAX_TIMESTAMP => visible(log.max_timestamp()?.map_or(none, at)),
            t if t >= 0 => visible(log.offset_for_timestamp(t)?.map_or(none, at)),
            t => return Err(BrokerError::InvalidRequest(format!("timestamp {t} is not supported"))),
        }
    };
    Ok((found, partition.leader_epoch()))
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &ListOffsetsResponse, see: &mut dyn FnMut(i16)) {
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
}
