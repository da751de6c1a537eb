//! Committed offsets, and the record format of `__consumer_offsets`.
//!
//! [`OffsetStore`] is the cache a coordinator answers OffsetFetch from; it is rebuilt at start by
//! replaying the records. Two kinds of record share the topic, told apart by the key's version
//! (as in Kafka): all integers big-endian, strings as i16 length + UTF-8, byte strings as i32
//! length + bytes (-1: null).
//!
//! ```text
//! offset commit   key:   i16 1, string group, string topic, i32 partition
//!                 value: i16 0, i64 offset, i32 leader epoch, string metadata, i64 commit time ms
//! group metadata  key:   i16 2, string group
//!                 value: i16 0, string protocol type, i32 generation, string? protocol,
//!                        string? leader, i32 n, n × member
//!                 member: string id, string? instance id, string client id, string client host,
//!                         i32 session timeout, i32 rebalance timeout, i32 k,
//!                         k × (string protocol, bytes metadata), bytes assignment
//! ```
//! A record without a value (a tombstone) deletes what its key names.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::types::{GroupSnapshot, MemberSnapshot, Protocol};

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_time_ms: i64,
}

/// Committed offsets by group, topic and partition.
#[derive(Debug, Default)]
pub struct OffsetStore {
    groups: HashMap<String, BTreeMap<(String, i32), Committed>>,
}

impl OffsetStore {
    pub fn commit(&mut self, group: &str, topic: &str, partition: i32, committed: Committed) {
        self.groups.entry(group.to_string()).or_default().insert((topic.to_string(), partition), committed);
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&Committed> {
        self.groups.get(group)?.get(&(topic.to_string(), partition))
    }

    /// Every committed offset of a group, by topic and partition.
    pub fn all(&self, group: &str) -> Vec<(&str, i32, &Committed)> {
        self.groups.get(group).map_or_else(Vec::new, |g| g.iter().map(|((t, p), c)| (t.as_str(), *p, c)).collect())
    }

    pub fn delete(&mut self, group: &str, topic: &str, partition: i32) -> bool {
        let Some(g) = self.groups.get_mut(group) else { return false };
        let removed = g.remove(&(topic.to_string(), partition)).is_some();
        if g.is_empty() {
            self.groups.remove(group);
        }
        removed
    }

    /// Forgets a group's offsets; returns the keys removed.
    pub fn delete_group(&mut self, group: &str) -> Vec<(String, i32)> {
        self.groups.remove(group).map_or_else(Vec::new, |g| g.into_keys().collect())
    }

    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Offsets of `group` whose last commit is older than `cutoff_ms` (for
    /// `offsets.retention.minutes`, applied to groups without members).
    pub fn expired(&self, group: &str, cutoff_ms: i64) -> Vec<(String, i32)> {
        self.groups.get(group).map_or_else(Vec::new, |g| {
            g.iter().filter(|(_, c)| c.commit_time_ms < cutoff_ms).map(|((t, p), _)| (t.clone(), *p)).collect()
        })
    }

    /// Applies one `__consumer_offsets` record during replay; group records go to `groups`.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>, groups: &mut BTreeMap<String, Option<GroupSnapshot>>) {
        match decode_key(key) {
            Some(Key::Offset { group, topic, partition }) => match value.and_then(decode_offset) {
                Some(c) => self.commit(&group, &topic, partition, c),
                None => {
                    self.delete(&group, &topic, partition);
                }
            },
            Some(Key::Group(group)) => {
                let snapshot = value.and_then(|v| decode_group(&group, v));
                groups.insert(group, snapshot);
            }
            None => {}
        }
    }
}

/// A decoded `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Offset { group: String, topic: String, partition: i32 },
    Group(String),
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    put_str(&mut b, group);
    put_str(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(2);
    put_str(&mut b, group);
    b.freeze()
}

pub fn decode_key(mut b: &[u8]) -> Option<Key> {
    match get_i16(&mut b)? {
        1 => Some(Key::Offset { group: get_str(&mut b)?, topic: get_str(&mut b)?, partition: get_i32(&mut b)? }),
        2 => Some(Key::Group(get_str(&mut b)?)),
        _ => None,
    }
}

pub fn offset_value(c: &Committed) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i64(c.offset);
    b.put_i32(c.leader_epoch);
    put_str(&mut b, &c.metadata);
    b.put_i64(c.commit_time_ms);
    b.freeze()
}

pub fn decode_offset(mut b: &[u8]) -> Option<Committed> {
    get_i16(&mut b).filter(|v| *v == 0)?;
    Some(Committed {
        offset: get_i64(&mut b)?,
        leader_epoch: get_i32(&mut b)?,
        metadata: get_str(&mut b)?,
        commit_time_ms: get_i64(&mut b)?,
    })
}

pub fn group_value(g: &GroupSnapshot) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    put_str(&mut b, &g.protocol_type);
    b.put_i32(g.generation_id);
    put_opt_str(&mut b, g.protocol_name.as_deref());
    put_opt_str(&mut b, g.leader.as_deref());
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_str(&mut b, &m.member_id);
        put_opt_str(&mut b, m.group_instance_id.as_deref());
        put_str(&mut b, &m.client_id);
        put_str(&mut b, &m.client_host);
        b.put_i32(m.session_timeout_ms);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.protocols.len() as i32);
        for p in &m.protocols {
            put_str(&mut b, &p.name);
            put_bytes(&mut b, &p.metadata);
        }
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
}

pub fn decode_group(group: &str, mut b: &[u8]) -> Option<GroupSnapshot> {
    get_i16(&mut b).filter(|v| *v == 0)?;
    let protocol_type = get_str(&mut b)?;
    let generation_id = get_i32(&mut b)?;
    let protocol_name = get_opt_str(&mut b)?;
    let leader = get_opt_str(&mut b)?;
    let n = usize::try_from(get_i32(&mut b)?).ok()?;
    let mut members = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let member_id = get_str(&mut b)?;
        let group_instance_id = get_opt_str(&mut b)?;
        let client_id = get_str(&mut b)?;
        let client_host = get_str(&mut b)?;
        let session_timeout_ms = get_i32(&mut b)?;
        let rebalance_timeout_ms = get_i32(&mut b)?;
        let k = usize::try_from(get_i32(&mut b)?).ok()?;
        let mut protocols = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            protocols.push(Protocol { name: get_str(&mut b)?, metadata: get_bytes(&mut b)? });
        }
        let assignment = get_bytes(&mut b)?;
        members.push(MemberSnapshot {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            assignment,
        });
    }
    Some(GroupSnapshot { group_id: group.to_string(), protocol_type, generation_id, protocol_name, leader, members })
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_opt_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn get_i16(b: &mut &[u8]) -> Option<i16> {
    (b.remaining() >= 2).then(|| b.get_i16())
}

fn get_i32(b: &mut &[u8]) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

fn get_i64(b: &mut &[u8]) -> Option<i64> {
    (b.remaining() >= 8).then(|| b.get_i64())
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    get_opt_str(b)?
}

fn get_opt_str(b: &mut &[u8]) -> Option<Option<String>> {
    let len = get_i16(b)?;
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    if b.remaining() < len {
        return None;
    }
    let s = String::from_utf8(b[..len].to_vec()).ok()?;
    b.advance(len);
    Some(Some(s))
}

fn get_bytes(b: &mut &[u8]) -> Option<Bytes> {
    let len = usize::try_from(get_i32(b)?).ok()?;
    if b.remaining() < len {
        return None;
    }
    let v = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_replay() {
        let c = Committed { offset: 42, leader_epoch: 3, metadata: "m".into(), commit_time_ms: 1_000 };
        let key = offset_key("g", "t", 7);
        assert_eq!(decode_key(&key), Some(Key::Offset { group: "g".into(), topic: "t".into(), partition: 7 }));
        assert_eq!(decode_offset(&offset_value(&c)), Some(c.clone()));
        let snapshot = GroupSnapshot {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            generation_id: 5,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            members: vec![MemberSnapshot {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 20_000,
                protocols: vec![Protocol { name: "range".into(), metadata: Bytes::from_static(b"sub") }],
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group("g", &group_value(&snapshot)), Some(snapshot.clone()));

        let mut store = OffsetStore::default();
        let mut groups = BTreeMap::new();
        store.replay(&key, Some(&offset_value(&c)), &mut groups);
        store.replay(&group_key("g"), Some(&group_value(&snapshot)), &mut groups);
        assert_eq!(store.get("g", "t", 7), Some(&c));
        assert_eq!(groups["g"], Some(snapshot));
        store.replay(&key, None, &mut groups);
        assert_eq!(store.get("g", "t", 7), None, "a tombstone deletes");
        for cut in 0..group_value(&groups["g"].clone().unwrap()).len() {
            let v = group_value(&groups["g"].clone().unwrap());
            assert!(decode_group("g", &v[..cut]).is_none(), "truncated at {cut}");
        }
    }

    #[test]
    fn expiry_finds_old_commits() {
        let mut store = OffsetStore::default();
        store.commit(
            "g",
            "t",
            0,
            Committed { offset: 1, leader_epoch: -1, metadata: String::new(), commit_time_ms: 10 },
        );
        store.commit(
            "g",
            "t",
            1,
            Committed { offset: 1, leader_epoch: -1, metadata: String::new(), commit_time_ms: 100 },
        );
        assert_eq!(store.expired("g", 50), vec![("t".to_string(), 0)]);
        assert_eq!(store.delete_group("g").len(), 2);
        assert!(store.all("g").is_empty());
    }
}
