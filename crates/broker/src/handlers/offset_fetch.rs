//! OffsetFetch (key 9): a group's committed offsets — for the partitions asked, or all of them
//! when topics is null (v2+). v8+ asks for several groups at once. Partitions without a commit
//! answer offset -1, as Kafka does.

use fjord_group::offsets::{Committed, OffsetStore};
use fjord_protocol::ApiRange;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::{Broker, BrokerError};

pub const API: ApiRange = ApiRange { key: ApiKey::OffsetFetch, min: 1, max: 8 };

/// First version that asks for several groups.
const GROUPS_FROM: i16 = 8;

/// One partition's answer: (partition, offset, leader epoch, metadata).
type Answer = (i32, i64, i32, String);

pub fn handle(broker: &Broker, version: i16, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if version >= GROUPS_FROM {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                if let Err(e) = crate::groups::check_coordinator(broker, g.group_id.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(BrokerError::from(e).error_code());
                }
                let wanted = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect::<Vec<_>>());
                let topics = lookup(broker, g.group_id.as_str(), wanted)
                    .into_iter()
                    .map(|(name, partitions)| {
                        OffsetFetchResponseTopics::default().with_name(topic_name(&name)).with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, offset, epoch, metadata)| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(index)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(StrBytes::from_string(metadata)))
                                })
                                .collect(),
                        )
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone()).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    if let Err(e) = crate::groups::check_coordinator(broker, request.group_id.as_str()) {
        return OffsetFetchResponse::default().with_error_code(BrokerError::from(e).error_code());
    }
    let wanted = request
        .topics
        .as_ref()
        .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect::<Vec<_>>());
    let topics = lookup(broker, request.group_id.as_str(), wanted)
        .into_iter()
        .map(|(name, partitions)| {
            OffsetFetchResponseTopic::default().with_name(topic_name(&name)).with_partitions(
                partitions
                    .into_iter()
                    .map(|(index, offset, epoch, metadata)| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(index)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(StrBytes::from_string(metadata)))
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// The committed offsets asked for (`None`: every committed partition of the group), by topic.
fn lookup(broker: &Broker, group: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> Vec<(String, Vec<Answer>)> {
    let answer = |index: i32, c: Option<&Committed>| match c {
        Some(c) => (index, c.offset, c.leader_epoch, c.metadata.clone()),
        None => (index, -1, -1, String::new()),
    };
    broker.groups.read(|_, offsets: &OffsetStore| match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let answers = partitions.into_iter().map(|p| answer(p, offsets.get(group, &name, p))).collect();
                (name, answers)
            })
            .collect(),
        None => {
            let mut by_topic: Vec<(String, Vec<Answer>)> = Vec::new();
            for (topic, partition, c) in offsets.all(group) {
                match by_topic.last_mut() {
                    Some((t, answers)) if t == topic => answers.push(answer(partition, Some(c))),
                    _ => by_topic.push((topic.to_string(), vec![answer(partition, Some(c))])),
                }
            }
            by_topic
        }
    })
}
