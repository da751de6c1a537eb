//! [`MetadataImage`]: the cluster metadata at one point of the command log, immutable once built.
//!
//! Readers hold an `Arc<MetadataImage>` and never lock; a command produces a new image
//! ([`MetadataImage::apply`] is pure), which the service then publishes. Topics sit behind `Arc`s
//! so a new image copies only the map, not every partition.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::MetaError;
use crate::types::{BrokerInfo, Command, Outcome, PartitionInfo, TopicInfo};

/// Most partitions a topic may have; bounds what one request can make a broker create.
pub const MAX_PARTITIONS: i32 = 100_000;

/// The cluster metadata after applying the command log up to `applied_index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataImage {
    pub cluster_id: String,
    pub controller_id: i32,
    pub applied_index: u64,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, Arc<TopicInfo>>,
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// An empty cluster.
    pub fn new(cluster_id: String, controller_id: i32) -> Self {
        Self { cluster_id, controller_id, ..Self::default() }
    }

    /// The topic named `name`.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics.get(name)
    }

    /// The topic whose id is `id`.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicInfo>> {
        self.topics.values().find(|t| t.id == id)
    }

    /// The image after `command`, or why the command is refused. Never mutates `self`.
    pub fn apply(&self, index: u64, command: &Command) -> Result<(MetadataImage, Outcome), MetaError> {
        let mut next = self.clone();
        next.applied_index = index;
        let outcome = match command {
            Command::RegisterBroker(b) => {
                next.brokers.insert(b.id, b.clone());
                Outcome::Done
            }
            Command::CreateTopic { name, id, partitions, replication_factor, configs } => {
                if next.topics.contains_key(name) {
                    return Err(MetaError::TopicExists(name.clone()));
                }
                check_partition_count(*partitions)?;
                let replicas = next.place_replicas(0, *partitions, *replication_factor)?;
                let topic = TopicInfo { name: name.clone(), id: *id, partitions: replicas, configs: configs.clone() };
                next.topics.insert(name.clone(), Arc::new(topic));
                Outcome::Done
            }
            Command::DeleteTopic { name } => {
                next.topics.remove(name).ok_or_else(|| MetaError::UnknownTopic(name.clone()))?;
                Outcome::Done
            }
            Command::CreatePartitions { name, count } => {
                let topic = next.topics.get(name).ok_or_else(|| MetaError::UnknownTopic(name.clone()))?;
                let current = topic.partitions.len() as i32;
                if *count <= current {
                    return Err(MetaError::InvalidPartitions(format!(
                        "topic '{name}' has {current} partitions; the new count {count} must be larger"
                    )));
                }
                check_partition_count(*count)?;
                let rf = topic.partitions.first().map_or(1, |p| p.replicas.len() as i32);
                let added = next.place_replicas(current, count - current, rf)?;
                let mut topic = TopicInfo::clone(topic);
                topic.partitions.extend(added);
                next.topics.insert(name.clone(), Arc::new(topic));
                Outcome::Done
            }
            Command::SetTopicConfigs { name, configs } => {
                let topic = next.topics.get(name).ok_or_else(|| MetaError::UnknownTopic(name.clone()))?;
                let mut topic = TopicInfo::clone(topic);
                topic.configs = configs.clone();
                next.topics.insert(name.clone(), Arc::new(topic));
                Outcome::Done
            }
            Command::AllocateProducerIds { count } => {
                let first = next.next_producer_id;
                next.next_producer_id += count;
                Outcome::ProducerIds { first }
            }
        };
        Ok((next, outcome))
    }

    /// Spreads `count` new partitions, numbered from `first`, over the registered brokers:
    /// partition p's replicas start at broker (p mod n) and continue round the ring.
    fn place_replicas(&self, first: i32, count: i32, replication_factor: i32) -> Result<Vec<PartitionInfo>, MetaError> {
        let brokers: Vec<i32> = self.brokers.keys().copied().collect();
        if replication_factor < 1 || replication_factor as usize > brokers.len() {
            return Err(MetaError::InvalidReplicationFactor {
                requested: replication_factor,
                available: brokers.len(),
            });
        }
        Ok((first..first + count)
            .map(|index| {
                let replicas: Vec<i32> =
                    (0..replication_factor).map(|r| brokers[(index as usize + r as usize) % brokers.len()]).collect();
                PartitionInfo {
                    index,
                    leader: replicas[0],
                    leader_epoch: 0,
                    isr: replicas.clone(),
                    replicas,
                    partition_epoch: 0,
                }
            })
            .collect())
    }
}

fn check_partition_count(count: i32) -> Result<(), MetaError> {
    if !(1..=MAX_PARTITIONS).contains(&count) {
        return Err(MetaError::InvalidPartitions(format!("{count} is outside 1..={MAX_PARTITIONS}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: i32) -> Command {
        Command::RegisterBroker(BrokerInfo { id, host: "127.0.0.1".into(), port: 9092, rack: None })
    }

    fn create(name: &str, partitions: i32, rf: i32) -> Command {
        Command::CreateTopic {
            name: name.into(),
            id: Uuid::from_u128(name.len() as u128 + 1),
            partitions,
            replication_factor: rf,
            configs: BTreeMap::new(),
        }
    }

    fn run(commands: &[Command]) -> Result<MetadataImage, MetaError> {
        let mut image = MetadataImage::new("c".into(), 1);
        for (i, c) in commands.iter().enumerate() {
            image = image.apply(i as u64 + 1, c)?.0;
        }
        Ok(image)
    }

    #[test]
    fn creates_topics_with_partitions_on_brokers() {
        let image = run(&[broker(1), broker(2), create("a", 4, 2)]).unwrap();
        let t = image.topic("a").unwrap();
        assert_eq!(t.partitions.len(), 4);
        assert_eq!(t.partitions[1].replicas, vec![2, 1]);
        assert_eq!(t.partitions[1].leader, 2);
        assert_eq!(image.topic_by_id(t.id).unwrap().name, "a");
        assert_eq!(image.applied_index, 3);
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        assert!(matches!(run(&[broker(1), create("a", 1, 1), create("a", 1, 1)]), Err(MetaError::TopicExists(_))));
        assert!(matches!(run(&[broker(1), create("a", 1, 2)]), Err(MetaError::InvalidReplicationFactor { .. })));
        assert!(matches!(run(&[broker(1), create("a", 0, 1)]), Err(MetaError::InvalidPartitions(_))));
        assert!(matches!(
            run(&[broker(1), create("a", 2, 1), Command::CreatePartitions { name: "a".into(), count: 2 }]),
            Err(MetaError::InvalidPartitions(_))
        ));
        assert!(matches!(run(&[Command::DeleteTopic { name: "x".into() }]), Err(MetaError::UnknownTopic(_))));
    }

    #[test]
    fn grows_partitions_sets_configs_and_allocates_ids() {
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "1000".to_string());
        let image = run(&[
            broker(1),
            create("a", 1, 1),
            Command::CreatePartitions { name: "a".into(), count: 3 },
            Command::SetTopicConfigs { name: "a".into(), configs: configs.clone() },
        ])
        .unwrap();
        assert_eq!(image.topic("a").unwrap().partitions.len(), 3);
        assert_eq!(image.topic("a").unwrap().configs, configs);
        let (next, out) = image.apply(9, &Command::AllocateProducerIds { count: 10 }).unwrap();
        assert_eq!(out, Outcome::ProducerIds { first: 0 });
        let (_, out) = next.apply(10, &Command::AllocateProducerIds { count: 10 }).unwrap();
        assert_eq!(out, Outcome::ProducerIds { first: 10 });
    }

    #[test]
    fn apply_leaves_the_old_image_untouched() {
        let before = run(&[broker(1)]).unwrap();
        let copy = before.clone();
        let _ = before.apply(2, &create("a", 1, 1)).unwrap();
        assert_eq!(before, copy);
    }
}
