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

    /// The brokers that are registered and not fenced: the ones clients are told about and that
    /// get new replicas.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Whether broker `id` is registered and not fenced.
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
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
            Command::InitCluster { cluster_id } => {
                if next.cluster_id.is_empty() {
                    next.cluster_id = cluster_id.clone();
                }
                Outcome::Done
            }
            Command::RegisterBroker(b) => {
                next.brokers.insert(b.id, BrokerInfo { fenced: false, stopped: false, ..b.clone() });
                next.take_back_leadership(b.id);
                Outcome::Done
            }
            Command::FenceBroker { id } => {
                let broker = next.brokers.get_mut(id).ok_or(MetaError::UnknownBroker(*id))?;
                broker.fenced = true;
                next.move_leadership_from(*id);
                Outcome::Done
            }
            Command::UnfenceBroker { id } => {
                let broker = next.brokers.get_mut(id).ok_or(MetaError::UnknownBroker(*id))?;
                broker.fenced = false;
                next.take_back_leadership(*id);
                Outcome::Done
            }
            Command::CreateTopic { name, id, partitions, replication_factor, configs, assignment } => {
                if next.topics.contains_key(name) {
                    return Err(MetaError::TopicExists(name.clone()));
                }
                check_partition_count(*partitions)?;
                let replicas = match assignment {
                    Some(assigned) => next.assigned_replicas(0, assigned)?,
                    None => next.place_replicas(*id, 0, *partitions, *replication_factor)?,
                };
                let topic = TopicInfo { name: name.clone(), id: *id, partitions: replicas, configs: configs.clone() };
                next.topics.insert(name.clone(), Arc::new(topic));
                Outcome::Done
            }
            Command::DeleteTopic { name } => {
                next.topics.remove(name).ok_or_else(|| MetaError::UnknownTopic(name.clone()))?;
                Outcome::Done
            }
            Command::CreatePartitions { name, count, assignment } => {
                let topic = next.topics.get(name).ok_or_else(|| MetaError::UnknownTopic(name.clone()))?;
                let current = topic.partitions.len() as i32;
                if *count <= current {
                    return Err(MetaError::InvalidPartitions(format!(
                        "topic '{name}' has {current} partitions; the new count {count} must be larger"
                    )));
                }
                check_partition_count(*count)?;
                let rf = topic.partitions.first().map_or(1, |p| p.replicas.len() as i32);
                let added = match assignment {
                    Some(assigned) if assigned.len() as i32 == count - current => {
                        next.assigned_replicas(current, assigned)?
                    }
                    Some(assigned) => {
                        return Err(MetaError::InvalidPartitions(format!(
                            "{} assigned partitions for {} new ones",
                            assigned.len(),
                            count - current
                        )));
                    }
                    None => next.place_replicas(topic.id, current, count - current, rf)?,
                };
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
            Command::Import(old) => {
                if next.topics.is_empty() {
                    next.brokers = old.brokers.clone();
                    next.topics = old.topics.clone();
                    next.next_producer_id = next.next_producer_id.max(old.next_producer_id);
                    if !old.cluster_id.is_empty() {
                        next.cluster_id = old.cluster_id.clone();
                    }
                }
                Outcome::Done
            }
            Command::AllocateProducerIds { count } => {
                let first = next.next_producer_id;
                next.next_producer_id += count;
                Outcome::ProducerIds { first }
            }
            Command::AlterPartition { topic, partition, leader, leader_epoch, partition_epoch, isr } => {
                next.alter_partition(topic, *partition, *leader, (*leader_epoch, *partition_epoch), isr)?;
                Outcome::Done
            }
            Command::ShutdownBroker { id } => {
                let broker = next.brokers.get_mut(id).ok_or(MetaError::UnknownBroker(*id))?;
                broker.fenced = true;
                broker.stopped = true;
                next.move_leadership_from(*id);
                Outcome::Done
            }
            Command::ElectPreferredLeaders => {
                let live: Vec<i32> = next.live_brokers().map(|b| b.id).collect();
                next.change_partitions(|p| {
                    let preferred = p.replicas.first().copied().unwrap_or(-1);
                    let eligible = p.leader != preferred && live.contains(&preferred) && p.isr.contains(&preferred);
                    if eligible {
                        p.leader = preferred;
                    }
                    eligible
                });
                Outcome::Done
            }
        };
        Ok((next, outcome))
    }

    /// Broker `id` is fenced or shut down: it leaves every ISR it is not the last member of
    /// (as KRaft's controller does), and each partition it led gets a new leader from the ISR
    /// among the live brokers — or none (-1) when the ISR has no other live member: unclean
    /// election is off, and the broker stays the last ISR member so that it can lead again
    /// when it comes back.
    fn move_leadership_from(&mut self, id: i32) {
        let live: Vec<i32> = self.live_brokers().map(|b| b.id).collect();
        self.change_partitions(|p| {
            if !p.isr.contains(&id) && p.leader != id {
                return false;
            }
            if p.isr.len() > 1 {
                p.isr.retain(|r| *r != id);
            }
            if p.leader == id {
                p.leader = p.isr.iter().copied().find(|r| *r != id && live.contains(r)).unwrap_or(-1);
            }
            true
        });
    }

    /// Applies a leader's ISR change, Kafka's AlterPartition checks first.
    fn alter_partition(
        &mut self,
        topic: &str,
        index: i32,
        leader: i32,
        (leader_epoch, partition_epoch): (i32, i32),
        isr: &[i32],
    ) -> Result<(), MetaError> {
        let t = self.topics.get(topic).ok_or_else(|| MetaError::UnknownTopic(topic.to_string()))?;
        let p = t.partitions.get(index as usize).ok_or_else(|| MetaError::UnknownTopic(format!("{topic}-{index}")))?;
        let refuse = |why: String| Err(MetaError::InvalidUpdate(format!("{topic}-{index}: {why}")));
        if p.leader != leader || p.leader_epoch != leader_epoch {
            return refuse(format!(
                "broker {leader} at leader epoch {leader_epoch} is not the leader (broker {} at epoch {})",
                p.leader, p.leader_epoch
            ));
        }
        if p.partition_epoch != partition_epoch {
            return refuse(format!("partition epoch {partition_epoch} is stale (now {})", p.partition_epoch));
        }
        if !isr.contains(&leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
            return refuse(format!("ISR {isr:?} must hold the leader and only replicas {:?}", p.replicas));
        }
        if let Some(r) = isr.iter().find(|r| !p.isr.contains(r) && !self.is_live(**r)) {
            return refuse(format!("broker {r} is fenced or shut down and cannot join the ISR"));
        }
        let mut p = p.clone();
        p.isr = isr.to_vec();
        p.partition_epoch += 1;
        let mut t = TopicInfo::clone(t);
        t.partitions[index as usize] = p;
        self.topics.insert(topic.to_string(), Arc::new(t));
        Ok(())
    }

    /// Whether some partition is led by another replica than its preferred one while the
    /// preferred one is live and in the ISR ([`Command::ElectPreferredLeaders`] would act).
    pub fn has_preferred_imbalance(&self) -> bool {
        self.topics.values().flat_map(|t| &t.partitions).any(|p| {
            let preferred = p.replicas.first().copied().unwrap_or(-1);
            p.leader != preferred && self.is_live(preferred) && p.isr.contains(&preferred)
        })
    }

    /// Partitions without a leader whose ISR holds broker `id` get it back as their leader.
    fn take_back_leadership(&mut self, id: i32) {
        self.change_partitions(|p| {
            if p.leader != -1 || !p.isr.contains(&id) {
                return false;
            }
            p.leader = id;
            true
        });
    }

    /// Applies `change` to every partition; those it changed get a new partition epoch, and a
    /// new leader epoch when the leader changed.
    fn change_partitions(&mut self, mut change: impl FnMut(&mut PartitionInfo) -> bool) {
        for topic in self.topics.values_mut() {
            let mut changed: Option<TopicInfo> = None;
            for (i, p) in topic.partitions.iter().enumerate() {
                let mut p = p.clone();
                let leader = p.leader;
                if change(&mut p) {
                    if p.leader != leader {
                        p.leader_epoch += 1;
                    }
                    p.partition_epoch += 1;
                    changed.get_or_insert_with(|| TopicInfo::clone(topic)).partitions[i] = p;
                }
            }
            if let Some(t) = changed {
                *topic = Arc::new(t);
            }
        }
    }

    /// Partitions as a manual assignment lists them: every broker must be registered; the
    /// leader is the first live one of each list (-1 when none is), as Kafka elects it.
    fn assigned_replicas(&self, first: i32, assignment: &[Vec<i32>]) -> Result<Vec<PartitionInfo>, MetaError> {
        assignment
            .iter()
            .enumerate()
            .map(|(index, replicas)| {
                if let Some(unknown) = replicas.iter().find(|b| !self.brokers.contains_key(b)) {
                    return Err(MetaError::UnknownBroker(*unknown));
                }
                let leader = replicas.iter().copied().find(|b| self.is_live(*b)).unwrap_or(-1);
                Ok(PartitionInfo {
                    index: first + index as i32,
                    leader,
                    leader_epoch: 0,
                    isr: replicas.clone(),
                    replicas: replicas.clone(),
                    partition_epoch: 0,
                })
            })
            .collect()
    }

    /// Live brokers in placement order: by id, and when racks are set, alternating between
    /// racks (rack a's first broker, rack b's first, ..., rack a's second, ...), so consecutive
    /// replicas of a partition land on different racks as Kafka's rack-aware assignment does.
    fn placement_ring(&self) -> Vec<i32> {
        let mut racks: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for b in self.live_brokers() {
            racks.entry(b.rack.as_deref().unwrap_or("")).or_default().push(b.id);
        }
        let longest = racks.values().map(Vec::len).max().unwrap_or(0);
        (0..longest).flat_map(|i| racks.values().filter_map(move |ids| ids.get(i).copied())).collect()
    }

    /// Spreads `count` new partitions, numbered from `first`, over the live brokers: partition
    /// p's replicas start at ring position (start + p) mod n and continue round the ring, where
    /// `start` comes from the topic id so that small topics do not all land on one broker.
    fn place_replicas(
        &self,
        topic_id: Uuid,
        first: i32,
        count: i32,
        replication_factor: i32,
    ) -> Result<Vec<PartitionInfo>, MetaError> {
        let brokers = self.placement_ring();
        if replication_factor < 1 || replication_factor as usize > brokers.len() {
            return Err(MetaError::InvalidReplicationFactor {
                requested: replication_factor,
                available: brokers.len(),
            });
        }
        let start = (topic_id.as_u128() % brokers.len() as u128) as usize;
        Ok((first..first + count)
            .map(|index| {
                let replicas: Vec<i32> = (0..replication_factor)
                    .map(|r| brokers[(start + index as usize + r as usize) % brokers.len()])
                    .collect();
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
        Command::RegisterBroker(BrokerInfo {
            id,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: None,
            fenced: false,
            stopped: false,
        })
    }

    fn create(name: &str, partitions: i32, rf: i32) -> Command {
        Command::CreateTopic {
            name: name.into(),
            id: Uuid::from_u128(name.len() as u128 + 1),
            partitions,
            replication_factor: rf,
            configs: BTreeMap::new(),
            assignment: None,
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
            run(&[
                broker(1),
                create("a", 2, 1),
                Command::CreatePartitions { name: "a".into(), count: 2, assignment: None }
            ]),
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
            Command::CreatePartitions { name: "a".into(), count: 3, assignment: Some(vec![vec![1], vec![1]]) },
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

    fn racked(id: i32, rack: &str) -> Command {
        Command::RegisterBroker(BrokerInfo {
            id,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: Some(rack.into()),
            fenced: false,
            stopped: false,
        })
    }

    #[test]
    fn fencing_moves_leadership_away_and_back() {
        let image = run(&[broker(1), broker(2), create("ab", 4, 1)]).unwrap();
        let led_by_1: Vec<i32> =
            image.topic("ab").unwrap().partitions.iter().filter(|p| p.leader == 1).map(|p| p.index).collect();
        assert_eq!(led_by_1.len(), 2, "four partitions over two brokers");
        let (fenced, _) = image.apply(4, &Command::FenceBroker { id: 1 }).unwrap();
        assert!(!fenced.is_live(1));
        assert_eq!(fenced.live_brokers().count(), 1);
        for p in &fenced.topic("ab").unwrap().partitions {
            if led_by_1.contains(&p.index) {
                assert_eq!((p.leader, p.leader_epoch, p.isr.clone()), (-1, 1, vec![1]), "RF=1: no other replica");
            } else {
                assert_eq!((p.leader, p.leader_epoch), (2, 0), "untouched");
            }
        }
        let err = fenced.apply(5, &create("new", 2, 2)).unwrap_err();
        assert!(matches!(err, MetaError::InvalidReplicationFactor { available: 1, .. }), "only live brokers count");
        let (back, _) = fenced.apply(5, &Command::UnfenceBroker { id: 1 }).unwrap();
        for p in &back.topic("ab").unwrap().partitions {
            if led_by_1.contains(&p.index) {
                assert_eq!((p.leader, p.leader_epoch), (1, 2));
            }
        }
        assert!(matches!(back.apply(6, &Command::FenceBroker { id: 9 }), Err(MetaError::UnknownBroker(9))));
    }

    #[test]
    fn fencing_a_leader_with_replicas_elects_from_the_isr() {
        let image = run(&[broker(1), broker(2), broker(3), create("abc", 3, 3)]).unwrap();
        let (fenced, _) = image.apply(5, &Command::FenceBroker { id: 2 }).unwrap();
        let before = &image.topic("abc").unwrap().partitions;
        for (old, p) in before.iter().zip(&fenced.topic("abc").unwrap().partitions) {
            assert_ne!(p.leader, 2);
            assert!(!p.isr.contains(&2), "the fenced broker leaves every ISR: {p:?}");
            assert_eq!(p.partition_epoch, old.partition_epoch + 1);
            if old.leader == 2 {
                assert_eq!(p.leader_epoch, old.leader_epoch + 1);
            } else {
                assert_eq!((p.leader, p.leader_epoch), (old.leader, old.leader_epoch), "the leader stays");
            }
        }
        // Down to the last ISR member: it stays in the ISR, and without it there is no leader.
        let (two_down, _) = fenced.apply(6, &Command::FenceBroker { id: 3 }).unwrap();
        let (all_down, _) = two_down.apply(7, &Command::FenceBroker { id: 1 }).unwrap();
        for p in &all_down.topic("abc").unwrap().partitions {
            assert_eq!((p.leader, p.isr.clone()), (-1, vec![1]), "no unclean election");
        }
        let (back, _) = all_down.apply(8, &Command::UnfenceBroker { id: 3 }).unwrap();
        assert!(back.topic("abc").unwrap().partitions.iter().all(|p| p.leader == -1), "3 is not in the ISR");
        let (back, _) = back.apply(9, &Command::UnfenceBroker { id: 1 }).unwrap();
        assert!(back.topic("abc").unwrap().partitions.iter().all(|p| p.leader == 1), "the last ISR member leads");
    }

    fn alter(p: &PartitionInfo, leader: i32, isr: &[i32]) -> Command {
        Command::AlterPartition {
            topic: "abc".into(),
            partition: p.index,
            leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: isr.to_vec(),
        }
    }

    #[test]
    fn isr_changes_come_from_the_current_leader_only() {
        let image = run(&[broker(1), broker(2), broker(3), create("abc", 1, 3)]).unwrap();
        let p = image.topic("abc").unwrap().partitions[0].clone();
        let leader = p.leader;
        let others: Vec<i32> = p.replicas.iter().copied().filter(|r| *r != leader).collect();
        let (shrunk, _) = image.apply(5, &alter(&p, leader, &[leader, others[0]])).unwrap();
        let q = shrunk.topic("abc").unwrap().partitions[0].clone();
        assert_eq!((q.isr.clone(), q.partition_epoch, q.leader_epoch), (vec![leader, others[0]], 1, 0));
        assert!(matches!(shrunk.apply(6, &alter(&p, leader, &p.isr)), Err(MetaError::InvalidUpdate(_))), "stale");
        assert!(matches!(shrunk.apply(6, &alter(&q, others[0], &q.isr)), Err(MetaError::InvalidUpdate(_))));
        assert!(matches!(shrunk.apply(6, &alter(&q, leader, &others)), Err(MetaError::InvalidUpdate(_))));
        let (fenced, _) = shrunk.apply(6, &Command::FenceBroker { id: others[1] }).unwrap();
        let q = fenced.topic("abc").unwrap().partitions[0].clone();
        assert!(matches!(fenced.apply(7, &alter(&q, leader, &p.replicas)), Err(MetaError::InvalidUpdate(_))));
        let (unfenced, _) = fenced.apply(7, &Command::UnfenceBroker { id: others[1] }).unwrap();
        let q = unfenced.topic("abc").unwrap().partitions[0].clone();
        let (grown, _) = unfenced.apply(8, &alter(&q, leader, &p.replicas)).unwrap();
        assert_eq!(grown.topic("abc").unwrap().partitions[0].isr, p.replicas);
    }

    #[test]
    fn controlled_shutdown_moves_leaders_and_preferred_election_brings_them_back() {
        let image = run(&[broker(1), broker(2), broker(3), create("abc", 3, 3)]).unwrap();
        let (down, _) = image.apply(5, &Command::ShutdownBroker { id: 1 }).unwrap();
        assert!(down.topic("abc").unwrap().partitions.iter().all(|p| p.leader != 1 && !p.isr.contains(&1)));
        assert!(!down.has_preferred_imbalance(), "1 is not back yet");
        let mut liveness = crate::controller::Liveness::new(1000, 0);
        liveness.heard(1, 10);
        assert!(liveness.changes(&down, 20).is_empty(), "a stopped broker is not unfenced by heartbeats");
        let (up, _) = down.apply(6, &broker(1)).unwrap();
        let mut caught_up = up.clone();
        for p in up.topic("abc").unwrap().partitions.clone() {
            caught_up = caught_up.apply(7, &alter(&p, p.leader, &[p.isr.clone(), vec![1]].concat())).unwrap().0;
        }
        assert!(caught_up.has_preferred_imbalance());
        let (balanced, _) = caught_up.apply(10, &Command::ElectPreferredLeaders).unwrap();
        assert!(!balanced.has_preferred_imbalance());
        for (p, before) in balanced.topic("abc").unwrap().partitions.iter().zip(&image.topic("abc").unwrap().partitions)
        {
            assert_eq!(p.leader, before.replicas[0]);
            if before.leader == 1 {
                assert_eq!(p.leader_epoch, before.leader_epoch + 2, "away and back");
            }
        }
    }

    #[test]
    fn placement_alternates_racks_and_spreads_leaders() {
        let image = run(&[racked(1, "a"), racked(2, "a"), racked(3, "b"), racked(4, "b"), create("t", 8, 2)]).unwrap();
        let rack = |id: i32| if id <= 2 { "a" } else { "b" };
        let t = image.topic("t").unwrap();
        for p in &t.partitions {
            assert_ne!(rack(p.replicas[0]), rack(p.replicas[1]), "partition {} on one rack", p.index);
        }
        for id in 1..=4 {
            assert_eq!(t.partitions.iter().filter(|p| p.leader == id).count(), 2, "broker {id} leads two");
        }
    }

    #[test]
    fn the_first_cluster_id_wins() {
        let (image, _) =
            MetadataImage::default().apply(1, &Command::InitCluster { cluster_id: "first".into() }).unwrap();
        let (image, _) = image.apply(2, &Command::InitCluster { cluster_id: "second".into() }).unwrap();
        assert_eq!(image.cluster_id, "first");
    }

    #[test]
    fn a_manual_assignment_is_kept() {
        let mut command = create("m", 3, 1);
        if let Command::CreateTopic { assignment, .. } = &mut command {
            *assignment = Some(vec![vec![2], vec![2], vec![1]]);
        }
        let image = run(&[broker(1), broker(2), command.clone()]).unwrap();
        let leaders: Vec<i32> = image.topic("m").unwrap().partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, [2, 2, 1]);
        if let Command::CreateTopic { assignment, name, .. } = &mut command {
            *assignment = Some(vec![vec![7]]);
            *name = "n".into();
        }
        assert!(matches!(run(&[broker(1), command]), Err(MetaError::UnknownBroker(7))));

        let grow = |assignment| Command::CreatePartitions { name: "m".into(), count: 5, assignment };
        let grown = image.apply(4, &grow(Some(vec![vec![1], vec![2]]))).unwrap().0;
        let leaders: Vec<i32> = grown.topic("m").unwrap().partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, [2, 2, 1, 1, 2], "the new partitions 3 and 4 as assigned");
        assert!(matches!(image.apply(4, &grow(Some(vec![vec![1]]))), Err(MetaError::InvalidPartitions(_))));
    }
}
