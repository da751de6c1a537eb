//! RecordBatch v2 framing (Kafka's "magic 2" format), the unit the log stores and serves.
//!
//! ```text
//! offset  size  field
//!  0       8    baseOffset             ┐ outside the CRC: the broker stamps these
//!  8       4    batchLength            │ (bytes after this field)
//! 12       4    partitionLeaderEpoch   ┘
//! 16       1    magic (2)
//! 17       4    crc (CRC-32C of bytes 21..end)
//! 21       2    attributes  (bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control)
//! 23       4    lastOffsetDelta
//! 27       8    baseTimestamp
//! 35       8    maxTimestamp
//! 43       8    producerId
//! 51       2    producerEpoch
//! 53       4    baseSequence
//! 57       4    recordsCount
//! 61       …    records (compressed as a whole when compression ≠ 0)
//! ```
//!
//! Batches are stored exactly as the producer sent them; only the fields outside the CRC are
//! rewritten, plus the timestamp type and max timestamp (and so the CRC) for LogAppendTime topics.

use crate::LogError;

/// Bytes of a batch header, up to the first record.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: base offset and the length itself.
pub const LOG_OVERHEAD: usize = 12;
const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;

/// The fixed header of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the header fields from the first [`HEADER_LEN`] bytes; `None` if there are fewer.
    /// Nothing is validated.
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let b = buf.get(..HEADER_LEN)?;
        Some(Self {
            base_offset: i64::from_be_bytes(b[0..8].try_into().ok()?),
            batch_length: i32::from_be_bytes(b[8..12].try_into().ok()?),
            leader_epoch: i32::from_be_bytes(b[12..16].try_into().ok()?),
            magic: b[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(b[17..21].try_into().ok()?),
            attributes: i16::from_be_bytes(b[21..23].try_into().ok()?),
            last_offset_delta: i32::from_be_bytes(b[23..27].try_into().ok()?),
            base_timestamp: i64::from_be_bytes(b[27..35].try_into().ok()?),
            max_timestamp: i64::from_be_bytes(b[35..43].try_into().ok()?),
            producer_id: i64::from_be_bytes(b[43..51].try_into().ok()?),
            producer_epoch: i16::from_be_bytes(b[51..53].try_into().ok()?),
            base_sequence: i32::from_be_bytes(b[53..57].try_into().ok()?),
            record_count: i32::from_be_bytes(b[57..61].try_into().ok()?),
        })
    }

    /// The whole batch's size on disk, header included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// The batch's last offset (wrapping: a client's unstamped base offset may be anything).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(i64::from(self.last_offset_delta))
    }

    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & 0b111) as u8
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & (1 << 4) != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }

    /// Whether the batch comes from an idempotent or transactional producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// The sequence number of the batch's last record (sequences wrap at `i32::MAX`).
    pub fn last_sequence(&self) -> i32 {
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) { (last - i64::from(i32::MAX) - 1) as i32 } else { last as i32 }
    }

    /// Checks the structure a batch must have before its CRC is worth computing: magic 2, a
    /// length that covers the header and stays within `available` bytes, a sane record count.
    pub fn check_frame(&self, available: usize) -> Result<(), LogError> {
        if self.magic != 2 {
            return Err(LogError::UnsupportedMessageFormat { magic: self.magic });
        }
        if (self.batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(LogError::CorruptMessage(format!(
                "batch length {} is shorter than a header",
                self.batch_length
            )));
        }
        if self.size() > available {
            return Err(LogError::CorruptMessage(format!(
                "batch of {} bytes is truncated to {available} bytes",
                self.size()
            )));
        }
        if self.record_count < 1 || self.last_offset_delta != self.record_count - 1 {
            return Err(LogError::CorruptMessage(format!(
                "batch claims {} records with last offset delta {}",
                self.record_count, self.last_offset_delta
            )));
        }
        Ok(())
    }
}

/// The CRC-32C a batch should carry: over attributes to the end.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_AT..])
}

/// Validates one whole batch (exactly its bytes): framing, magic and CRC.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, LogError> {
    let header = BatchHeader::parse(batch)
        .ok_or_else(|| LogError::CorruptMessage(format!("{} bytes cannot hold a batch header", batch.len())))?;
    header.check_frame(batch.len())?;
    let crc = compute_crc(&batch[..header.size()]);
    if crc != header.crc {
        return Err(LogError::CorruptMessage(format!(
            "CRC mismatch: batch says {:#010x}, bytes give {crc:#010x}",
            header.crc
        )));
    }
    Ok(header)
}

/// Records in the whole batches at the start of `batches` (stored batches, already validated),
/// read from their headers; a partial batch at the end is not counted.
pub fn count_records(batches: &[u8]) -> u64 {
    let mut pos = 0;
    let mut records = 0u64;
    while let Some(header) = BatchHeader::parse(&batches[pos..]) {
        if header.batch_length <= 0 || pos + header.size() > batches.len() {
            break;
        }
        records += header.record_count.max(0) as u64;
        pos += header.size();
    }
    records
}

/// Splits a produce request's record set into batches, validating each one; every byte must
/// belong to a batch. Returns each batch's start position and header.
pub fn split(records: &[u8]) -> Result<Vec<(usize, BatchHeader)>, LogError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() <= MAGIC_AT {
            return Err(LogError::CorruptMessage(format!("{} trailing bytes after the last batch", rest.len())));
        }
        let magic = rest[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(LogError::UnsupportedMessageFormat { magic });
        }
        let header = validate_prefix(rest)?;
        batches.push((pos, header));
        pos += header.size();
    }
    if batches.is_empty() {
        return Err(LogError::CorruptMessage("the record set holds no batch".into()));
    }
    Ok(batches)
}

/// Validates the batch at the start of `buf`, which may continue past it.
fn validate_prefix(buf: &[u8]) -> Result<BatchHeader, LogError> {
    let header = BatchHeader::parse(buf)
        .ok_or_else(|| LogError::CorruptMessage(format!("{} bytes cannot hold a batch header", buf.len())))?;
    header.check_frame(buf.len())?;
    validate(&buf[..header.size()])
}

/// Writes the broker's fields into a validated batch: its base offset and leader epoch, and for
/// LogAppendTime the timestamp type, max timestamp and a new CRC.
pub fn stamp(batch: &mut [u8], base_offset: i64, leader_epoch: i32, log_append_time: Option<i64>) {
    let (header, body) = batch.split_at_mut(HEADER_LEN);
    let header: &mut [u8; HEADER_LEN] = header.try_into().expect("a validated batch has a whole header");
    stamp_header(header, body, base_offset, leader_epoch, log_append_time);
}

/// [`stamp`] on a copy of a batch's header, the rest of the batch (`body`) staying where it is:
/// the log writes the two side by side and never copies the records.
pub fn stamp_header(
    header: &mut [u8; HEADER_LEN],
    body: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) {
    header[0..8].copy_from_slice(&base_offset.to_be_bytes());
    header[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attributes = i16::from_be_bytes([header[ATTRIBUTES_AT], header[ATTRIBUTES_AT + 1]]) | TIMESTAMP_TYPE_BIT;
        header[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_AT..]), body);
        header[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record_timestamps;
    use crate::testing::*;

    #[test]
    fn built_batches_validate_and_walk() {
        let batch = simple(1_000, 3);
        let header = validate(&batch).unwrap();
        assert_eq!((header.record_count, header.last_offset_delta, header.max_timestamp), (3, 2, 1_002));
        assert_eq!(record_timestamps(&batch).unwrap(), vec![(0, 1_000), (1, 1_001), (2, 1_002)]);
    }

    #[test]
    fn record_counts_come_from_whole_batches() {
        let mut two = simple(1_000, 3);
        two.extend(simple(2_000, 4));
        assert_eq!(count_records(&two), 7);
        assert_eq!(count_records(&two[..two.len() - 1]), 3, "a cut batch is not counted");
        assert_eq!(count_records(&[]), 0);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let batch = simple(5, 2);
        for len in 0..batch.len() {
            assert!(split(&batch[..len]).is_err(), "truncated to {len} bytes");
        }
        for at in ATTRIBUTES_AT..batch.len() {
            let mut bad = batch.clone();
            bad[at] ^= 0x40;
            assert!(matches!(validate(&bad), Err(LogError::CorruptMessage(_))), "flip at {at}");
        }
        let mut old = batch.clone();
        old[MAGIC_AT] = 1;
        assert!(matches!(split(&old), Err(LogError::UnsupportedMessageFormat { magic: 1 })));
    }

    #[test]
    fn split_finds_consecutive_batches() {
        let mut set = simple(0, 2);
        set.extend_from_slice(&simple(10, 5));
        let batches = split(&set).unwrap();
        assert_eq!(
            batches.iter().map(|(pos, h)| (*pos, h.record_count)).collect::<Vec<_>>(),
            vec![(0, 2), (batches[1].0, 5)]
        );
        set.push(0);
        assert!(split(&set).is_err());
    }

    #[test]
    fn stamping_keeps_the_crc_valid() {
        let mut batch = simple(7, 4);
        stamp(&mut batch, 42, 3, None);
        let h = validate(&batch).unwrap();
        assert_eq!((h.base_offset, h.leader_epoch, h.is_log_append_time()), (42, 3, false));
        stamp(&mut batch, 42, 3, Some(9_999));
        let h = validate(&batch).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(record_timestamps(&batch).unwrap(), vec![(42, 9_999), (43, 9_999), (44, 9_999), (45, 9_999)]);
    }

    #[test]
    fn stamping_a_header_copy_matches_stamping_in_place() {
        let batch = simple(7, 50);
        for append_time in [None, Some(9_999)] {
            let mut whole = batch.clone();
            stamp(&mut whole, 42, 3, append_time);
            let mut header: [u8; HEADER_LEN] = batch[..HEADER_LEN].try_into().unwrap();
            stamp_header(&mut header, &batch[HEADER_LEN..], 42, 3, append_time);
            assert_eq!(&whole[..HEADER_LEN], &header[..], "append time {append_time:?}");
        }
    }

    #[test]
    fn sequences_wrap() {
        let mut h = BatchHeader::parse(&simple(0, 3)).unwrap();
        h.base_sequence = i32::MAX - 1;
        assert_eq!(h.last_sequence(), 0);
    }
}
