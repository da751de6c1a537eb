//! The two sparse indexes of a segment, kept in memory and written beside the `.log` file when
//! the segment rolls or the log closes.
//!
//! `.index` — 8-byte entries, big-endian: offset relative to the segment base (u32), byte
//! position of the batch holding it in the `.log` file (u32). One entry every
//! `index.interval.bytes` of log; offsets and positions strictly increase.
//!
//! `.timeindex` — 12-byte entries: the largest timestamp seen so far in the segment (i64), and the
//! relative offset (u32) of the batch where the entry was taken. Timestamps strictly increase.
//! Every batch before that offset has a timestamp no greater than the entry's.
//!
//! Neither type is shared between threads; the owning segment serialises access.

/// Offset → file position.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        if self.entries.last().is_none_or(|&(o, p)| relative_offset > o && position > p) {
            self.entries.push((relative_offset, position));
        }
    }

    /// The position of the last indexed batch at or before `relative_offset` (0 if none is).
    pub fn floor_position(&self, relative_offset: u32) -> u32 {
        let at = self.entries.partition_point(|&(o, _)| o <= relative_offset);
        if at == 0 { 0 } else { self.entries[at - 1].1 }
    }

    /// The last entry: the furthest known batch start.
    pub fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 8);
        for &(o, p) in &self.entries {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// Reads an index file's bytes; `None` when they are not a valid index of a log of
    /// `log_len` bytes (torn, reordered, pointing past the end).
    pub fn decode(bytes: &[u8], log_len: u64) -> Option<Self> {
        if !bytes.len().is_multiple_of(8) {
            return None;
        }
        let mut index = Self::default();
        for chunk in bytes.chunks_exact(8) {
            let o = u32::from_be_bytes(chunk[0..4].try_into().ok()?);
            let p = u32::from_be_bytes(chunk[4..8].try_into().ok()?);
            let before = index.entries.len();
            index.push(o, p);
            if index.entries.len() == before || u64::from(p) >= log_len {
                return None;
            }
        }
        Some(index)
    }
}

/// Max timestamp so far → relative offset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Records that every batch before `relative_offset` has a timestamp ≤ `max_timestamp`;
    /// ignored unless the timestamp is larger than the last entry's.
    pub fn push(&mut self, max_timestamp: i64, relative_offset: u32) {
        if max_timestamp >= 0 && self.entries.last().is_none_or(|&(t, o)| max_timestamp > t && relative_offset >= o) {
            self.entries.push((max_timestamp, relative_offset));
        }
    }

    /// Where a search for the first timestamp ≥ `target` may start: the relative offset of the
    /// last entry whose timestamp is below the target (0 when none is).
    pub fn search_start(&self, target: i64) -> u32 {
        let at = self.entries.partition_point(|&(t, _)| t < target);
        if at == 0 { 0 } else { self.entries[at - 1].1 }
    }

    pub fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 12);
        for &(t, o) in &self.entries {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&o.to_be_bytes());
        }
        out
    }

    /// Reads a time index file's bytes; `None` when torn or out of order.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(12) {
            return None;
        }
        let mut index = Self::default();
        for chunk in bytes.chunks_exact(12) {
            let t = i64::from_be_bytes(chunk[0..8].try_into().ok()?);
            let o = u32::from_be_bytes(chunk[8..12].try_into().ok()?);
            let before = index.entries.len();
            index.push(t, o);
            if index.entries.len() == before {
                return None;
            }
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_floors_and_round_trips() {
        let mut index = OffsetIndex::default();
        assert_eq!(index.floor_position(100), 0);
        index.push(10, 4096);
        index.push(20, 8192);
        index.push(15, 9000); // out of order: ignored
        assert_eq!(index.floor_position(9), 0);
        assert_eq!(index.floor_position(10), 4096);
        assert_eq!(index.floor_position(19), 4096);
        assert_eq!(index.floor_position(1_000), 8192);
        let bytes = index.encode();
        assert_eq!(OffsetIndex::decode(&bytes, 10_000), Some(index.clone()));
        assert_eq!(OffsetIndex::decode(&bytes, 8_000), None, "position past the log end");
        assert_eq!(OffsetIndex::decode(&bytes[..bytes.len() - 1], 10_000), None, "torn");
    }

    #[test]
    fn time_index_starts_searches_below_the_target() {
        let mut index = TimeIndex::default();
        index.push(100, 0);
        index.push(200, 10);
        index.push(150, 20); // not a new maximum
        index.push(300, 30);
        assert_eq!(index.search_start(50), 0);
        assert_eq!(index.search_start(200), 0);
        assert_eq!(index.search_start(201), 10);
        assert_eq!(index.search_start(10_000), 30);
        assert_eq!(TimeIndex::decode(&index.encode()), Some(index.clone()));
        let mut bytes = index.encode();
        bytes.extend_from_slice(&index.encode());
        assert_eq!(TimeIndex::decode(&bytes), None, "timestamps must increase");
    }
}
