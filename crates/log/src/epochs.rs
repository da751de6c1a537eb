//! [`LeaderEpochs`]: the leader epoch cache — for each leader epoch the partition's log has seen,
//! the offset its first record got (KIP-101). It answers OffsetForLeaderEpoch: where an epoch's
//! records end, which tells a returning replica how much of its tail diverges from the leader's.
//!
//! Kept in `leader-epoch-checkpoint` beside the segments, in Kafka's text format (a version line,
//! a count line, then `epoch start-offset` per line), rewritten atomically whenever an epoch is
//! added or the tail is truncated. After an unclean stop the cache is rebuilt from the batch
//! headers instead, which carry their leader epoch.

use std::path::Path;

use crate::Result;
use crate::layout::{LEADER_EPOCH_CHECKPOINT, write_atomically_checked};

/// Epochs and their start offsets, both ascending.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaderEpochs {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochs {
    /// Notes that epoch `epoch` starts at `start`. Epochs only grow: an epoch at or below the
    /// latest one is ignored. Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start: i64) -> bool {
        if epoch < 0 || self.latest().is_some_and(|latest| epoch <= latest) {
            return false;
        }
        // An epoch that wrote nothing leaves no trace once a later one starts at the same offset.
        while self.entries.last().is_some_and(|&(_, s)| s >= start) {
            self.entries.pop();
        }
        self.entries.push((epoch, start));
        true
    }

    /// The latest epoch, if any record or leadership was ever noted.
    pub fn latest(&self) -> Option<i32> {
        self.entries.last().map(|&(e, _)| e)
    }

    /// Where `epoch` starts, when the cache has it.
    pub fn start_of(&self, epoch: i32) -> Option<i64> {
        self.entries.iter().find(|&&(e, _)| e == epoch).map(|&(_, s)| s)
    }

    /// Kafka's answer to OffsetForLeaderEpoch for `requested`, given the log end offset: the
    /// largest epoch at or below it and the offset where the next higher epoch starts (the log
    /// end for the latest epoch). An epoch older than every entry gets the first entry's start;
    /// `None` when the cache is empty or `requested` is newer than anything known.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let latest = self.latest()?;
        if requested == latest {
            return Some((latest, log_end_offset));
        }
        if requested > latest {
            return None;
        }
        let higher = self.entries.iter().position(|&(e, _)| e > requested)?;
        let next_start = self.entries[higher].1;
        match higher.checked_sub(1) {
            Some(floor) => Some((self.entries[floor].0, next_start)),
            None => Some((requested, next_start)),
        }
    }

    /// Forgets the epochs that start at or after `end` (the log was truncated there). Returns
    /// whether the cache changed.
    pub fn truncate_from_end(&mut self, end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, s)| s < end);
        self.entries.len() != before
    }

    /// The log now starts at `start`: epochs wholly below it go, and the one covering it starts
    /// there.
    pub fn truncate_from_start(&mut self, start: i64) {
        let covering = self.entries.iter().rposition(|&(_, s)| s <= start);
        if let Some(i) = covering {
            self.entries.drain(..i);
            self.entries[0].1 = start;
        }
    }

    /// Reads the checkpoint in `dir`; `None` when it is missing or unreadable.
    pub fn load(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)).ok()?;
        let mut lines = text.lines();
        if lines.next()?.trim() != "0" {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut entries = Vec::with_capacity(count.min(1024));
        for line in lines.take(count) {
            let (epoch, start) = line.trim().split_once(' ')?;
            entries.push((epoch.parse().ok()?, start.parse().ok()?));
        }
        let ordered = entries.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        (entries.len() == count && ordered).then_some(Self { entries })
    }

    /// Writes the checkpoint into `dir`, atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        write_atomically_checked(&dir.join(LEADER_EPOCH_CHECKPOINT), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochs {
        let mut c = LeaderEpochs::default();
        for &(e, s) in entries {
            assert!(c.assign(e, s));
        }
        c
    }

    #[test]
    fn end_offsets_follow_kafka() {
        let c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert_eq!(c.end_offset_for(5, 42), Some((5, 42)), "the latest epoch ends at the log end");
        assert_eq!(c.end_offset_for(2, 42), Some((2, 30)));
        assert_eq!(c.end_offset_for(3, 42), Some((2, 30)), "an unknown epoch answers for the one below it");
        assert_eq!(c.end_offset_for(0, 42), Some((0, 10)));
        assert_eq!(c.end_offset_for(6, 42), None, "newer than anything known");
        let late = cache(&[(4, 100)]);
        assert_eq!(late.end_offset_for(1, 120), Some((1, 100)), "older than every entry");
        assert_eq!(LeaderEpochs::default().end_offset_for(0, 0), None);
    }

    #[test]
    fn epochs_only_grow_and_empty_ones_vanish() {
        let mut c = cache(&[(1, 0)]);
        assert!(!c.assign(1, 5));
        assert!(!c.assign(0, 5));
        assert!(c.assign(3, 0), "epoch 1 wrote nothing");
        assert_eq!(c.entries, [(3, 0)]);
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert!(c.truncate_from_end(30));
        assert_eq!(c.entries, [(0, 0), (2, 10)]);
        c.truncate_from_start(12);
        assert_eq!(c.entries, [(2, 12)]);
        c.truncate_from_start(5);
        assert_eq!(c.entries, [(2, 12)], "a start below the first entry changes nothing");
    }

    #[test]
    fn checkpoint_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LeaderEpochs::load(dir.path()), None);
        let c = cache(&[(0, 0), (7, 99)]);
        c.save(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap(), "0\n2\n0 0\n7 99\n");
        assert_eq!(LeaderEpochs::load(dir.path()), Some(c));
        std::fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), "0\n2\n0 0\n").unwrap();
        assert_eq!(LeaderEpochs::load(dir.path()), None, "torn");
        std::fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), "0\n2\n5 0\n3 9\n").unwrap();
        assert_eq!(LeaderEpochs::load(dir.path()), None, "out of order");
    }
}
