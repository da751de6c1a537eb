//! `fjord groups`: consumer groups for operators, over the Kafka protocol like any admin client —
//! `list`, `describe GROUP` (members, assignments, committed offsets, end offsets, lag) and
//! `reset GROUP --topic T <target> [--dry-run]` (the group must have no members, as Kafka
//! requires for admin commits).
//!
//! In a cluster, as Kafka's own tool does: groups are listed from every broker, a group's
//! requests go to its coordinator (FindCoordinator), and offsets are asked of each partition's
//! leader.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use bytes::{Buf, Bytes};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ConsumerProtocolAssignment, DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::client::{Cluster, check, name};
use crate::time::{parse_duration, parse_instant};

/// Where `reset` moves a group's offsets.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// The log start offset of each partition.
    #[arg(long)]
    pub to_earliest: bool,
    /// The log end offset of each partition.
    #[arg(long)]
    pub to_latest: bool,
    /// This offset, kept within each partition's log.
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// The first record at or after this ISO 8601 time (e.g. 2026-11-23T10:00:00Z).
    #[arg(long, value_name = "ISO-8601")]
    pub to_datetime: Option<String>,
    /// The first record at or after this long ago (ISO 8601 duration, e.g. PT1H).
    #[arg(long, value_name = "DURATION")]
    pub by_duration: Option<String>,
}

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// FindCoordinator's key type of a group.
const GROUP: i8 = 0;

pub fn list(bootstrap: &str) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let ids: Vec<i32> = cluster.addrs.keys().copied().collect();
    let mut groups = BTreeMap::new();
    for id in ids {
        let response: ListGroupsResponse =
            cluster.broker(id)?.send(ApiKey::ListGroups, 4, &ListGroupsRequest::default())?;
        check(response.error_code, "ListGroups")?;
        for g in response.groups {
            groups.insert(g.group_id.to_string(), (g.protocol_type.to_string(), g.group_state.to_string()));
        }
    }
    println!("{:<40} {:<20} STATE", "GROUP", "PROTOCOL-TYPE");
    for (group, (protocol_type, state)) in groups {
        println!("{group:<40} {protocol_type:<20} {state}");
    }
    Ok(())
}

pub fn describe(bootstrap: &str, group: &str) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let client = cluster.coordinator(GROUP, group)?;
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let described: DescribeGroupsResponse = client.send(ApiKey::DescribeGroups, 5, &request)?;
    let g = described.groups.into_iter().next().context("no answer for the group")?;
    check(g.error_code, "DescribeGroups")?;
    if g.group_state.as_str() == "Dead" {
        bail!("group {group} does not exist");
    }
    println!("group {group}: {} ({} members)", g.group_state.as_str(), g.members.len());
    // Which member owns each partition, from the consumer protocol's assignments.
    let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    for m in &g.members {
        for (topic, partitions) in assignment(&m.member_assignment) {
            for p in partitions {
                owners.insert(
                    (topic.clone(), p),
                    (m.member_id.to_string(), m.client_host.to_string(), m.client_id.to_string()),
                );
            }
        }
    }
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(None);
    let offsets: OffsetFetchResponse = client.send(ApiKey::OffsetFetch, 7, &fetch)?;
    check(offsets.error_code, "OffsetFetch")?;
    let mut rows: BTreeMap<(String, i32), Option<i64>> = owners.keys().map(|k| (k.clone(), None)).collect();
    for t in &offsets.topics {
        for p in &t.partitions {
            rows.insert((t.name.to_string(), p.partition_index), Some(p.committed_offset).filter(|o| *o >= 0));
        }
    }
    let ends = list_offsets(&mut cluster, rows.keys().cloned().collect(), |_, _| LATEST)?;
    println!(
        "{:<24} {:>9} {:>14} {:>14} {:>8}  {:<40} {:<16} CLIENT-ID",
        "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST"
    );
    for ((topic, partition), committed) in &rows {
        let end = ends.get(&(topic.clone(), *partition)).copied().unwrap_or(-1);
        let (member, host, client_id) =
            owners.get(&(topic.clone(), *partition)).cloned().unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        let (current, lag) = match committed {
            Some(c) => (c.to_string(), (end - c).max(0).to_string()),
            None => ("-".into(), "-".into()),
        };
        println!("{topic:<24} {partition:>9} {current:>14} {end:>14} {lag:>8}  {member:<40} {host:<16} {client_id}");
    }
    Ok(())
}

/// A member's assignment (ConsumerProtocolAssignment): partitions by topic.
fn assignment(bytes: &Bytes) -> Vec<(String, Vec<i32>)> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Vec::new();
    }
    let version = b.get_i16();
    match ConsumerProtocolAssignment::decode(&mut b, version.clamp(0, 3)) {
        Ok(a) => a.assigned_partitions.iter().map(|t| (t.topic.to_string(), t.partitions.clone())).collect(),
        Err(_) => Vec::new(),
    }
}

/// ListOffsets for each partition at the timestamp `at` gives it, asked of each partition's
/// leader: the offsets found.
fn list_offsets(
    cluster: &mut Cluster,
    partitions: Vec<(String, i32)>,
    at: impl Fn(&str, i32) -> i64,
) -> Result<BTreeMap<(String, i32), i64>> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    let mut leaders: BTreeMap<String, BTreeMap<i32, i32>> = BTreeMap::new();
    for (t, p) in partitions {
        if !leaders.contains_key(&t) {
            leaders.insert(t.clone(), cluster.leaders(&t)?);
        }
        let leader = leaders[&t].get(&p).copied().unwrap_or(-1);
        if leader < 0 {
            bail!("partition {t}-{p} has no leader");
        }
        by_leader.entry(leader).or_default().entry(t).or_default().push(p);
    }
    let mut out = BTreeMap::new();
    for (leader, by_topic) in by_leader {
        let topics = by_topic
            .iter()
            .map(|(t, ps)| {
                ListOffsetsTopic::default().with_name(name(t)).with_partitions(
                    ps.iter()
                        .map(|p| ListOffsetsPartition::default().with_partition_index(*p).with_timestamp(at(t, *p)))
                        .collect(),
                )
            })
            .collect();
        let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(topics);
        let response: ListOffsetsResponse = cluster.broker(leader)?.send(ApiKey::ListOffsets, 5, &request)?;
        for t in response.topics {
            for p in t.partitions {
                check(p.error_code, &format!("ListOffsets {}-{}", t.name.as_str(), p.partition_index))?;
                out.insert((t.name.to_string(), p.partition_index), p.offset);
            }
        }
    }
    Ok(out)
}

pub fn reset(bootstrap: &str, group: &str, topic: &str, target: &Target, dry_run: bool, now_ms: i64) -> Result<()> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let partitions: Vec<(String, i32)> = cluster.leaders(topic)?.into_keys().map(|p| (topic.to_string(), p)).collect();
    let earliest = list_offsets(&mut cluster, partitions.clone(), |_, _| EARLIEST)?;
    let latest = list_offsets(&mut cluster, partitions.clone(), |_, _| LATEST)?;
    let timestamp = match (&target.to_datetime, &target.by_duration) {
        (Some(at), _) => Some(parse_instant(at)?),
        (_, Some(ago)) => Some(now_ms - parse_duration(ago)?),
        _ => None,
    };
    let by_time = match timestamp {
        Some(ts) => Some(list_offsets(&mut cluster, partitions.clone(), |_, _| ts)?),
        None => None,
    };
    let mut plan = Vec::new();
    for key in &partitions {
        let (low, high) = (earliest[key], latest[key]);
        let offset = if target.to_earliest {
            low
        } else if target.to_latest {
            high
        } else if let Some(n) = target.to_offset {
            n.clamp(low, high)
        } else {
            // No record at or after the time: the end of the log, as Kafka's tool does.
            by_time.as_ref().and_then(|m| m.get(key)).copied().filter(|o| *o >= 0).unwrap_or(high)
        };
        plan.push((key.1, offset));
    }
    println!("{:<24} {:>9} {:>11}", "TOPIC", "PARTITION", "NEW-OFFSET");
    for (p, o) in &plan {
        println!("{topic:<24} {p:>9} {o:>11}");
    }
    if dry_run {
        println!("(dry run: nothing committed)");
        return Ok(());
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::default())
        .with_topics(vec![
            OffsetCommitRequestTopic::default().with_name(name(topic)).with_partitions(
                plan.iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default().with_partition_index(*p).with_committed_offset(*o)
                    })
                    .collect(),
            ),
        ]);
    let response: OffsetCommitResponse = cluster.coordinator(GROUP, group)?.send(ApiKey::OffsetCommit, 8, &request)?;
    for t in response.topics {
        for p in t.partitions {
            if p.error_code == kafka_protocol::ResponseError::UnknownMemberId.code() {
                bail!("group {group} has active members; stop its consumers before resetting its offsets");
            }
            check(p.error_code, &format!("OffsetCommit {}-{}", t.name.as_str(), p.partition_index))?;
        }
    }
    println!("committed {} offsets for group {group}", plan.len());
    Ok(())
}
