//! The records of `__transaction_state`, in Kafka's format so that its tools read them:
//!
//! ```text
//! key   (TransactionLogKey v0):   version: i16 = 0, transactional id: string
//! value (TransactionLogValue v0): version: i16 = 0, producer id: i64, producer epoch: i16,
//!                                 timeout ms: i32, state: i8 (TxnState::id),
//!                                 partitions: nullable array of (topic: string, [partition: i32]),
//!                                 last update ms: i64, start ms: i64
//! ```
//!
//! Strings are an i16 length and UTF-8; arrays an i32 count (-1: null). An Empty id stores null
//! partitions; a Complete* one an empty array. A null value is a tombstone: the id expired.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};

use crate::state::{TxnMetadata, TxnState};

/// The key of transactional id `id`.
pub fn key(id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + id.len());
    b.put_i16(0);
    put_string(&mut b, id);
    b.freeze()
}

/// The transactional id of a key; `None` for another key version or bytes that do not parse.
pub fn decode_key(mut b: &[u8]) -> Option<String> {
    if take_i16(&mut b)? != 0 {
        return None;
    }
    take_string(&mut b)
}

/// The value persisting `m`.
pub fn value(m: &TxnMetadata) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(0);
    b.put_i64(m.producer_id);
    b.put_i16(m.producer_epoch);
    b.put_i32(m.timeout_ms);
    b.put_i8(m.state.id());
    if m.state == TxnState::Empty {
        b.put_i32(-1);
    } else {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in &m.partitions {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        b.put_i32(by_topic.len() as i32);
        for (topic, partitions) in by_topic {
            put_string(&mut b, topic);
            b.put_i32(partitions.len() as i32);
            for p in partitions {
                b.put_i32(p);
            }
        }
    }
    b.put_i64(m.last_update_ms);
    b.put_i64(m.start_ms);
    b.freeze()
}

/// The metadata a value holds; `None` for another value version or bytes that do not parse.
pub fn decode_value(mut b: &[u8]) -> Option<TxnMetadata> {
    if take_i16(&mut b)? != 0 {
        return None;
    }
    let producer_id = take_i64(&mut b)?;
    let producer_epoch = take_i16(&mut b)?;
    let timeout_ms = take_i32(&mut b)?;
    let state = TxnState::from_id(take_i8(&mut b)?)?;
    let mut partitions = BTreeSet::new();
    let topics = take_i32(&mut b)?;
    for _ in 0..topics.max(0) {
        let topic = take_string(&mut b)?;
        let count = take_i32(&mut b)?;
        if count < 0 || count as usize > b.len() / 4 {
            return None;
        }
        for _ in 0..count {
            partitions.insert((topic.clone(), take_i32(&mut b)?));
        }
    }
    let last_update_ms = take_i64(&mut b)?;
    let start_ms = take_i64(&mut b)?;
    Some(TxnMetadata { producer_id, producer_epoch, timeout_ms, state, partitions, start_ms, last_update_ms })
}

fn put_string(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = b.split_at_checked(N)?;
    *b = rest;
    head.try_into().ok()
}

fn take_i8(b: &mut &[u8]) -> Option<i8> {
    take::<1>(b).map(|v| v[0] as i8)
}

fn take_i16(b: &mut &[u8]) -> Option<i16> {
    take::<2>(b).map(i16::from_be_bytes)
}

fn take_i32(b: &mut &[u8]) -> Option<i32> {
    take::<4>(b).map(i32::from_be_bytes)
}

fn take_i64(b: &mut &[u8]) -> Option<i64> {
    take::<8>(b).map(i64::from_be_bytes)
}

fn take_string(b: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(take_i16(b)?).ok()?;
    let (s, rest) = b.split_at_checked(len)?;
    *b = rest;
    String::from_utf8(s.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(state: TxnState, partitions: &[(&str, i32)]) -> TxnMetadata {
        TxnMetadata {
            producer_id: 4_000,
            producer_epoch: 7,
            timeout_ms: 60_000,
            state,
            partitions: partitions.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
            start_ms: 1_000,
            last_update_ms: 2_000,
        }
    }

    #[test]
    fn keys_and_values_round_trip() {
        assert_eq!(decode_key(&key("txn-é")), Some("txn-é".to_string()));
        for m in [
            meta(TxnState::Ongoing, &[("a", 0), ("a", 3), ("b", 1)]),
            meta(TxnState::PrepareCommit, &[("__consumer_offsets", 12)]),
            meta(TxnState::CompleteAbort, &[]),
            TxnMetadata { start_ms: -1, ..meta(TxnState::Empty, &[]) },
        ] {
            assert_eq!(decode_value(&value(&m)), Some(m));
        }
    }

    #[test]
    fn the_layout_is_kafkas() {
        let v = value(&meta(TxnState::Ongoing, &[("t", 2)]));
        // version, pid, epoch, timeout, state, 1 topic, "t", 1 partition, 2, last update, start
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 0, 7, 0, 0, 0xea, 0x60, 1, 0, 0, 0, 1, 0, 1, b't'];
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        expected.extend_from_slice(&2_000i64.to_be_bytes());
        expected.extend_from_slice(&1_000i64.to_be_bytes());
        assert_eq!(&v[..], &expected[..]);
        let empty = value(&TxnMetadata { start_ms: -1, ..meta(TxnState::Empty, &[]) });
        assert_eq!(&empty[17..21], &(-1i32).to_be_bytes(), "an Empty id stores null partitions");
    }

    #[test]
    fn other_versions_and_torn_bytes_are_not_read() {
        let v = value(&meta(TxnState::Ongoing, &[("t", 2)]));
        for cut in 0..v.len() {
            assert_eq!(decode_value(&v[..cut]), None, "cut at {cut}");
        }
        let mut newer = v.to_vec();
        newer[1] = 1;
        assert_eq!(decode_value(&newer), None);
        assert_eq!(decode_key(&[0, 1, 0, 1, b'x']), None);
    }
}
