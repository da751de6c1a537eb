//! [`Segment`]: one `<base offset, 20 digits>.log` file of whole record batches, with its
//! `.index` and `.timeindex` (see [`crate::index`]) held in memory.
//!
//! Appends go to the end of the file with positional writes; reads are positional too, so a
//! segment needs no seek state. The indexes are written to their files, atomically (write to a
//! temporary name, fsync, rename), when the segment rolls or the log closes. Opening after a
//! clean close loads them; opening for recovery rebuilds them from a CRC-checked scan that
//! truncates the file at the first torn or corrupt batch.
//!
//! A segment the log cleaner rewrote (see [`crate::cleaner`]) may hold batches with fewer records
//! than their offset span; they are as valid here as whole ones.
//!
//! Thread safety: none of its own; the owning [`crate::PartitionLog`] is used behind a lock.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::index::{OffsetIndex, TimeIndex};
use crate::layout::{
    INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, segment_file_name, write_atomically_checked,
};
use crate::{LogError, Result};

#[derive(Debug)]
pub struct Segment {
    dir: PathBuf,
    base_offset: i64,
    next_offset: i64,
    size: u64,
    file: File,
    offsets: OffsetIndex,
    times: TimeIndex,
    bytes_since_index: u64,
    last_batch_offset: i64,
    max_timestamp: i64,
    /// When the segment's age starts for `segment.ms`: the first batch's timestamp.
    first_timestamp: Option<i64>,
    /// The index files on disk do not describe the current contents.
    index_dirty: bool,
}

impl Segment {
    /// Creates an empty segment, replacing leftovers of a segment that never held data.
    pub fn create(dir: &Path, base_offset: i64) -> Result<Self> {
        let path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(LogError::io(format!("create segment {}", path.display())))?;
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            remove_if_exists(&dir.join(segment_file_name(base_offset, suffix)))?;
        }
        Ok(Self::empty(dir, base_offset, file))
    }

    fn empty(dir: &Path, base_offset: i64, file: File) -> Self {
        Self {
            dir: dir.to_path_buf(),
            base_offset,
            next_offset: base_offset,
            size: 0,
            file,
            offsets: OffsetIndex::default(),
            times: TimeIndex::default(),
            bytes_since_index: 0,
            last_batch_offset: base_offset,
            max_timestamp: -1,
            first_timestamp: None,
            index_dirty: true,
        }
    }

    /// Opens an existing segment. With `recover`, every batch is CRC-checked, the file is cut at
    /// the first bad one and the indexes are rebuilt; otherwise the index files are trusted when
    /// they are intact. Returns the segment and the number of bytes cut off.
    pub fn open(dir: &Path, base_offset: i64, index_interval: u64, recover: bool) -> Result<(Self, u64)> {
        let path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(LogError::io(format!("open segment {}", path.display())))?;
        let len = file.metadata().map_err(LogError::io(format!("stat {}", path.display())))?.len();
        let mut segment = Self::empty(dir, base_offset, file);
        segment.size = len;
        if !recover && segment.load_indexes(len)? {
            return Ok((segment, 0));
        }
        let valid = segment.rebuild(index_interval, recover)?;
        let cut = len - valid;
        if cut > 0 {
            segment.file.set_len(valid).map_err(LogError::io(format!("truncate torn tail of {}", path.display())))?;
            segment.size = valid;
        }
        if recover {
            // What survived a crash may still be only in the page cache: make it durable before
            // anything is acknowledged on top of it (a retried duplicate, say).
            segment.file.sync_all().map_err(LogError::io(format!("fsync {}", path.display())))?;
        }
        Ok((segment, cut))
    }

    /// Loads intact index files and finds the log end by walking the batches after the last
    /// indexed one. False when the files are missing or damaged.
    fn load_indexes(&mut self, len: u64) -> Result<bool> {
        let read = |suffix| fs::read(self.dir.join(segment_file_name(self.base_offset, suffix))).ok();
        let (Some(offsets), Some(times)) = (read(INDEX_SUFFIX), read(TIME_INDEX_SUFFIX)) else { return Ok(false) };
        let (Some(offsets), Some(times)) = (OffsetIndex::decode(&offsets, len), TimeIndex::decode(&times)) else {
            return Ok(false);
        };
        let start = offsets.last().map_or(0, |(_, pos)| u64::from(pos));
        self.offsets = offsets;
        self.times = times;
        self.max_timestamp = self.times.last().map_or(-1, |(t, _)| t);
        let mut end = start;
        while let Some(h) = self.header_at(end)? {
            if !check_stored((len - end) as usize, &h) || h.base_offset < self.next_offset {
                return Ok(false);
            }
            self.next_offset = h.last_offset() + 1;
            self.last_batch_offset = h.base_offset;
            self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
            end += h.size() as u64;
        }
        if end != len {
            return Ok(false);
        }
        self.bytes_since_index = len - start;
        self.first_timestamp = self.header_at(0)?.map(|h| h.max_timestamp);
        self.index_dirty = false;
        Ok(true)
    }

    /// Scans the whole file, rebuilding the indexes; stops at the first batch that is torn,
    /// malformed, out of order or (with `check_crc`) fails its CRC. Returns the valid length.
    fn rebuild(&mut self, index_interval: u64, check_crc: bool) -> Result<u64> {
        let mut pos = 0;
        while let Some(h) = self.header_at(pos)? {
            if !check_stored((self.size - pos) as usize, &h) || h.base_offset < self.next_offset {
                break;
            }
            if check_crc {
                let bytes = self.read_exact(pos, h.size())?;
                if batch::compute_crc(&bytes) != h.crc {
                    break;
                }
            }
            self.index_batch(pos, &h, index_interval);
            pos += h.size() as u64;
        }
        self.index_dirty = true;
        Ok(pos)
    }

    /// Notes a batch just placed at `pos` in the indexes and the segment's bookkeeping.
    fn index_batch(&mut self, pos: u64, h: &BatchHeader, index_interval: u64) {
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(h.max_timestamp);
        }
        self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
        if self.bytes_since_index >= index_interval {
            let relative = self.relative(h.base_offset);
            self.offsets.push(relative, pos as u32);
            self.times.push(self.max_timestamp, relative);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.size() as u64;
        self.last_batch_offset = h.base_offset;
        self.next_offset = h.last_offset() + 1;
        self.index_dirty = true;
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Whether `last_offset` can still be indexed relative to this segment's base.
    pub fn can_hold(&self, last_offset: i64) -> bool {
        last_offset - self.base_offset <= i64::from(u32::MAX)
    }

    /// Appends stamped batches (`batches` gives each one's position within `data`). A failed
    /// write is cut back off so the file never keeps half a record set.
    pub fn append(&mut self, data: &[u8], batches: &[(usize, BatchHeader)], index_interval: u64) -> Result<()> {
        if let Err(e) = self.file.write_all_at(data, self.size) {
            let _ = self.file.set_len(self.size);
            return Err(LogError::Io { context: format!("append to {}", self.log_path().display()), source: e });
        }
        let start = self.size;
        for (at, h) in batches {
            self.index_batch(start + *at as u64, h, index_interval);
        }
        self.size += data.len() as u64;
        Ok(())
    }

    /// Appends one batch given as its (stamped) header and the rest of its bytes, which are
    /// written from where they lie: small batches are gathered into one write, large ones
    /// go out in two, so no record bytes are copied either way.
    pub fn append_batch(
        &mut self,
        header: &[u8; HEADER_LEN],
        body: &[u8],
        h: &BatchHeader,
        index_interval: u64,
    ) -> Result<()> {
        const GATHER: usize = 16 * 1024;
        let total = HEADER_LEN + body.len();
        let written = if total <= GATHER {
            let mut buf = [0u8; GATHER];
            buf[..HEADER_LEN].copy_from_slice(header);
            buf[HEADER_LEN..total].copy_from_slice(body);
            self.file.write_all_at(&buf[..total], self.size)
        } else {
            self.file
                .write_all_at(header, self.size)
                .and_then(|()| self.file.write_all_at(body, self.size + HEADER_LEN as u64))
        };
        if let Err(e) = written {
            let _ = self.file.set_len(self.size);
            return Err(LogError::Io { context: format!("append to {}", self.log_path().display()), source: e });
        }
        self.index_batch(self.size, h, index_interval);
        self.size += total as u64;
        Ok(())
    }

    /// The header of the batch at `pos`, or `None` at the end of the file or before a partial header.
    pub fn header_at(&self, pos: u64) -> Result<Option<BatchHeader>> {
        if pos + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut buf, pos).map_err(LogError::io(format!("read {}", self.log_path().display())))?;
        Ok(BatchHeader::parse(&buf))
    }

    fn read_exact(&self, pos: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, pos).map_err(LogError::io(format!("read {}", self.log_path().display())))?;
        Ok(buf)
    }

    /// The position of the batch holding `offset`, or of the first batch after it.
    fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        let mut pos = u64::from(self.offsets.floor_position(self.relative(offset)));
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// Whole batches from the one holding `offset`, stopping before `max_offset` and before
    /// `max_bytes` would be exceeded, except that with `min_one` the first batch comes whole
    /// whatever its size (KIP-74). `None` when the segment has nothing at or after `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<Option<Bytes>> {
        let Some((start, first)) = self.find_batch(offset)? else { return Ok(None) };
        if first.base_offset >= max_offset {
            return Ok(Some(Bytes::new()));
        }
        let available = (self.size - start) as usize;
        let want = if min_one { max_bytes.max(first.size()) } else { max_bytes };
        let chunk = self.read_exact(start, want.min(available))?;
        let mut end = 0;
        while let Some(h) = BatchHeader::parse(&chunk[end..]) {
            if h.base_offset >= max_offset || end + h.size() > chunk.len() {
                break;
            }
            end += h.size();
        }
        let mut chunk = chunk;
        chunk.truncate(end);
        Ok(Some(Bytes::from(chunk)))
    }

    /// The first record at or after `min_offset` whose timestamp is ≥ `target`: its offset and
    /// timestamp. Compressed batches are not opened: their first eligible offset stands for them.
    pub fn find_timestamp(&self, target: i64, min_offset: i64) -> Result<Option<(i64, i64)>> {
        if self.max_timestamp < target {
            return Ok(None);
        }
        let start = self.times.search_start(target);
        let mut pos = u64::from(self.offsets.floor_position(start));
        while let Some(h) = self.header_at(pos)? {
            if h.max_timestamp >= target && h.last_offset() >= min_offset {
                let found = self.resolve(pos, &h, min_offset, |ts| ts >= target)?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// The record with the segment's largest timestamp (the first of them) at or after `min_offset`.
    pub fn find_max_timestamp(&self, min_offset: i64) -> Result<Option<(i64, i64)>> {
        let max = self.max_timestamp;
        if max < 0 {
            return Ok(None);
        }
        let mut pos = 0;
        while let Some(h) = self.header_at(pos)? {
            if h.max_timestamp == max && h.last_offset() >= min_offset {
                return self.resolve(pos, &h, min_offset, |ts| ts == max);
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// The first record of the batch at `pos` at or after `min_offset` whose timestamp matches.
    fn resolve(
        &self,
        pos: u64,
        h: &BatchHeader,
        min_offset: i64,
        matches: impl Fn(i64) -> bool,
    ) -> Result<Option<(i64, i64)>> {
        if h.compression() != 0 {
            return Ok(Some((h.base_offset.max(min_offset), h.max_timestamp)));
        }
        let bytes = self.read_exact(pos, h.size())?;
        let records = crate::records::record_timestamps(&bytes).unwrap_or_default();
        Ok(records.into_iter().find(|&(offset, ts)| offset >= min_offset && matches(ts)))
    }

    /// Cuts the segment before the first batch holding `offset` or later, rebuilds the indexes
    /// and makes the cut durable. Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: i64, index_interval: u64) -> Result<u64> {
        let mut pos = 0;
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset || !check_stored((self.size - pos) as usize, &h) {
                break;
            }
            pos += h.size() as u64;
        }
        if pos >= self.size {
            return Ok(0);
        }
        let path = self.log_path();
        self.file.set_len(pos).map_err(LogError::io(format!("truncate {}", path.display())))?;
        self.file.sync_all().map_err(LogError::io(format!("fsync {}", path.display())))?;
        let removed = self.size - pos;
        self.size = pos;
        self.next_offset = self.base_offset;
        self.offsets = OffsetIndex::default();
        self.times = TimeIndex::default();
        self.bytes_since_index = 0;
        self.last_batch_offset = self.base_offset;
        self.max_timestamp = -1;
        self.first_timestamp = None;
        self.rebuild(index_interval, false)?;
        Ok(removed)
    }

    /// Makes the file's data durable.
    pub fn flush(&self) -> Result<()> {
        crate::observe::fsync(|| self.file.sync_data())
            .map_err(LogError::io(format!("fsync {}", self.log_path().display())))
    }

    /// A second handle on the file, for an fsync that runs outside the log's lock.
    pub fn handle(&self) -> Result<File> {
        self.file.try_clone().map_err(LogError::io(format!("duplicate handle of {}", self.log_path().display())))
    }

    /// Writes both index files if they are out of date.
    pub fn write_indexes(&mut self) -> Result<()> {
        if !self.index_dirty {
            return Ok(());
        }
        if self.size > 0 {
            let last = self.relative(self.last_batch_offset);
            self.times.push(self.max_timestamp, last);
        }
        write_atomically_checked(
            &self.dir.join(segment_file_name(self.base_offset, INDEX_SUFFIX)),
            &self.offsets.encode(),
        )?;
        write_atomically_checked(
            &self.dir.join(segment_file_name(self.base_offset, TIME_INDEX_SUFFIX)),
            &self.times.encode(),
        )?;
        self.index_dirty = false;
        Ok(())
    }

    /// Removes the segment's files.
    pub fn delete(self) -> Result<()> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
            remove_if_exists(&self.dir.join(segment_file_name(self.base_offset, suffix)))?;
        }
        Ok(())
    }

    /// The path of the segment's `.txnindex` file.
    pub fn txn_index_path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.base_offset, TXN_INDEX_SUFFIX))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(segment_file_name(self.base_offset, LOG_SUFFIX))
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// One past the last offset stored here (the base offset when empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The largest batch timestamp in the segment, -1 when it has none.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn first_timestamp(&self) -> Option<i64> {
        self.first_timestamp
    }

    /// Calls `f` with every whole batch (header and bytes), in order, stopping at its first error.
    pub fn for_each_batch(&self, mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<()>) -> Result<()> {
        let mut pos = 0;
        while let Some(h) = self.header_at(pos)? {
            if !check_stored((self.size - pos) as usize, &h) {
                return Err(LogError::CorruptMessage(format!(
                    "malformed batch at position {pos} of {}",
                    self.log_path().display()
                )));
            }
            f(&h, &self.read_exact(pos, h.size())?)?;
            pos += h.size() as u64;
        }
        Ok(())
    }

    /// Calls `f` with every batch header, in order, and — for control batches only, which are
    /// small — the whole batch.
    pub fn for_each_header(&self, mut f: impl FnMut(&BatchHeader, Option<&[u8]>)) -> Result<()> {
        let mut pos = 0;
        while let Some(h) = self.header_at(pos)? {
            let control = if h.is_control() && check_stored((self.size - pos) as usize, &h) {
                Some(self.read_exact(pos, h.size())?)
            } else {
                None
            };
            f(&h, control.as_deref());
            pos += h.size() as u64;
        }
        Ok(())
    }
}

/// [`BatchHeader::check_frame`] for a batch already in a segment: true when the frame is sound
/// within `available` bytes. The cleaner leaves batches holding between one record and their
/// whole offset span (last offset delta + 1), which a produce request may not carry.
fn check_stored(available: usize, h: &BatchHeader) -> bool {
    let span = h.last_offset_delta.saturating_add(1);
    let whole = BatchHeader { record_count: span, ..*h };
    (1..=span).contains(&h.record_count) && whole.check_frame(available).is_ok()
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(LogError::Io { context: format!("remove {}", path.display()), source: e })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::simple;

    fn append(segment: &mut Segment, next: &mut i64, ts: i64, count: usize) {
        let mut b = simple(ts, count);
        batch::stamp(&mut b, *next, 0, None);
        let h = batch::validate(&b).unwrap();
        segment.append(&b, &[(0, h)], 64).unwrap();
        *next = h.last_offset() + 1;
    }

    #[test]
    fn reads_find_batches_through_the_index_and_respect_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 0).unwrap();
        let mut next = 0;
        for i in 0..50 {
            append(&mut s, &mut next, 1_000 + i * 10, 3);
        }
        assert_eq!(s.next_offset(), 150);
        assert!(s.offsets.len() > 5, "the index is sparse but used");
        let one = simple(0, 3).len();
        let got = s.read(100, one * 2, 150, false).unwrap().unwrap();
        assert_eq!(got.len(), one * 2);
        assert_eq!(BatchHeader::parse(&got).unwrap().base_offset, 99, "starts at the batch holding the offset");
        assert_eq!(s.read(100, 10, 150, false).unwrap().unwrap().len(), 0);
        assert_eq!(s.read(100, 10, 150, true).unwrap().unwrap().len(), one, "KIP-74: one whole batch");
        assert_eq!(s.read(100, 1 << 20, 102, false).unwrap().unwrap().len(), one, "stops at max_offset");
        assert!(s.read(150, 100, 200, true).unwrap().is_none());
        assert_eq!(s.find_timestamp(1_101, 0).unwrap(), Some((31, 1_101)));
        assert_eq!(s.find_timestamp(1_103, 0).unwrap(), Some((33, 1_110)));
        assert_eq!(s.find_timestamp(5_000, 0).unwrap(), None);
        assert_eq!(s.find_max_timestamp(0).unwrap(), Some((149, 1_492)));
    }

    #[test]
    fn clean_reopen_trusts_indexes_and_recovery_cuts_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 10).unwrap();
        let mut next = 10;
        for i in 0..20 {
            append(&mut s, &mut next, i, 2);
        }
        s.write_indexes().unwrap();
        let (offsets, size) = (s.offsets.clone(), s.size());
        drop(s);
        let (clean, cut) = Segment::open(dir.path(), 10, 64, false).unwrap();
        assert_eq!((clean.next_offset(), clean.size(), cut), (50, size, 0));
        assert_eq!(clean.offsets, offsets);
        drop(clean);

        // A crash mid-append: half a batch at the end.
        let path = dir.path().join(segment_file_name(10, LOG_SUFFIX));
        let torn = simple(99, 4);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&torn[..torn.len() / 2], size).unwrap();
        let (recovered, cut) = Segment::open(dir.path(), 10, 64, true).unwrap();
        assert_eq!((recovered.next_offset(), recovered.size(), cut), (50, size, (torn.len() / 2) as u64));
        assert_eq!(recovered.offsets, offsets, "indexes rebuilt identically");
        assert_eq!(fs::metadata(&path).unwrap().len(), size);
    }

    #[test]
    fn recovery_stops_at_a_corrupt_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 0).unwrap();
        let mut next = 0;
        for i in 0..3 {
            append(&mut s, &mut next, i, 1);
        }
        let one = simple(0, 1).len() as u64;
        let path = dir.path().join(segment_file_name(0, LOG_SUFFIX));
        drop(s);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"X", one + 70).unwrap();
        let (s, cut) = Segment::open(dir.path(), 0, 64, true).unwrap();
        assert_eq!((s.next_offset(), cut), (1, 2 * one));
    }

    #[test]
    fn damaged_index_files_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 0).unwrap();
        let mut next = 0;
        for i in 0..30 {
            append(&mut s, &mut next, i, 1);
        }
        s.write_indexes().unwrap();
        let offsets = s.offsets.clone();
        drop(s);
        let index = dir.path().join(segment_file_name(0, INDEX_SUFFIX));
        fs::write(&index, b"torn").unwrap();
        let (s, _) = Segment::open(dir.path(), 0, 64, false).unwrap();
        assert_eq!((s.offsets.clone(), s.next_offset()), (offsets, 30));
    }

    #[test]
    fn batches_the_cleaner_thinned_are_kept_by_recovery_and_index_loading() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), 0).unwrap();
        let mut b = simple(0, 4);
        batch::stamp(&mut b, 0, 0, None);
        let records = crate::records::parse_stored(&b).unwrap();
        let thinned = crate::records::rebuild(&BatchHeader::parse(&b).unwrap(), &records[1..2]);
        let h = BatchHeader::parse(&thinned).unwrap();
        assert!(batch::validate(&thinned).is_err(), "a produce request may not carry such a batch");
        s.append(&thinned, &[(0, h)], 64).unwrap();
        let mut next = 4;
        append(&mut s, &mut next, 9, 2);
        s.write_indexes().unwrap();
        let size = s.size();
        drop(s);
        for recover in [false, true] {
            let (s, cut) = Segment::open(dir.path(), 0, 64, recover).unwrap();
            assert_eq!((s.next_offset(), s.size(), cut), (6, size, 0), "recover: {recover}");
            let mut seen = Vec::new();
            s.for_each_batch(|h, bytes| {
                seen.push((h.base_offset, crate::records::record_timestamps(bytes).unwrap().len()));
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, vec![(0, 1), (4, 2)]);
            let first = s.read(2, 1 << 20, 6, true).unwrap().unwrap();
            assert_eq!(BatchHeader::parse(&first).unwrap().base_offset, 0, "offset 2 lies in the thinned batch's span");
            let after = s.read(4, 1 << 20, 6, true).unwrap().unwrap();
            assert_eq!(BatchHeader::parse(&after).unwrap().base_offset, 4);
        }
    }
}
