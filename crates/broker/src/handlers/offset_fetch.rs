//! OffsetFetch (key 9): a group's committed offsets — for the partitions asked, or all of them
//! when topics is null (v2+). v8+ asks for several groups at once. Partitions without a commit
//! answer offset -1, as Kafka does. With `require_stable` (v7+, what read_committed consumers
//! send), a partition an open transaction holds an offset of answers UNSTABLE_OFFSET_COMMIT,
//! which the consumer retries until the transaction ends (KIP-447).

use fjord_group::GroupError;
use fjord_group::offsets::{Committed, OffsetStore};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::{Client, topic_name};
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::OffsetFetch, min: 1, max: 8 };

/// First version that asks for several groups.
const GROUPS_FROM: i16 = 8;

/// One partition's answer: (partition, offset, leader epoch, metadata, error code).
type Found = (i32, i64, i32, String, i16);

pub async fn handle(broker: &Broker, version: i16, request: OffsetFetchRequest, _client: &Client) -> OffsetFetchResponse {
    if version >= GROUPS_FROM {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in &request.groups {
            let wanted = g
                .topics
                .as_ref()
                .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect::<Vec<_>>());
            let found = match lookup(broker, g.group_id.as_str(), wanted, request.require_stable).await {
                Ok(found) => found,
                Err(e) => {
                    groups.push(
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(BrokerError::from(e).error_code()),
                    );
                    continue;
                }
            };
            let topics = found
                    .into_iter()
                    .map(|(name, partitions)| {
                        OffsetFetchResponseTopics::default().with_name(topic_name(&name)).with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, offset, epoch, metadata, error)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(index)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(StrBytes::from_string(metadata)))
                                        .with_error_code(error)
                                })
                                .collect(),
                        )
                    })
                    .collect();
            groups.push(OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone()).with_topics(topics));
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = request
        .topics
        .as_ref()
        .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect::<Vec<_>>());
    let found = match lookup(broker, request.group_id.as_str(), wanted, request.require_stable).await {
        Ok(found) => found,
        Err(e) => return OffsetFetchResponse::default().with_error_code(BrokerError::from(e).error_code()),
    };
    let topics = found
        .into_iter()
        .map(|(name, partitions)| {
            OffsetFetchResponseTopic::default().with_name(topic_name(&name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, offset, epoch, metadata, error)| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(index)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(StrBytes::from_string(metadata)))
                            .with_error_code(error)
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// The committed offsets asked for (`None`: every committed partition of the group), by topic.
async fn lookup(
    broker: &Broker,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<(String, Vec<Found>)>, GroupError> {
    broker
        .groups
        .offsets(group, |offsets: &OffsetStore, unstable| {
            let answer = |topic: &str, index: i32, c: Option<&Committed>| match c {
                _ if require_stable && unstable(topic, index) => {
                    (index, -1, -1, String::new(), ResponseError::UnstableOffsetCommit.code())
                }
                Some(c) => (index, c.offset, c.leader_epoch, c.metadata.clone(), 0),
                None => (index, -1, -1, String::new(), 0),
            };
            match wanted {
                Some(topics) => topics
                    .into_iter()
                    .map(|(name, partitions)| {
                        let answers =
                            partitions.into_iter().map(|p| answer(&name, p, offsets.get(group, &name, p))).collect();
                        (name, answers)
                    })
                    .collect(),
                None => {
                    let mut by_topic: Vec<(String, Vec<Found>)> = Vec::new();
                    for (topic, partition, c) in offsets.all(group) {
                        match by_topic.last_mut() {
                            Some((t, answers)) if t == topic => answers.push(answer(topic, partition, Some(c))),
                            _ => by_topic.push((topic.to_string(), vec![answer(topic, partition, Some(c))])),
                        }
                    }
                    by_topic
                }
            }
        })
        .await
}

/// The error codes the response carries, one per failed entry (as Kafka counts them).
pub fn errors(r: &OffsetFetchResponse, see: &mut dyn FnMut(i16)) {
    see(r.error_code);
    r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
    for g in &r.groups {
        see(g.error_code);
        g.topics.iter().flat_map(|t| &t.partitions).for_each(|p| see(p.error_code));
    }
}
