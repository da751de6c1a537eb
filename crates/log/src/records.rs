//! The records inside an uncompressed RecordBatch v2: building a batch from keys and values,
//! reading them back, and rebuilding a batch with some of its records left out (the log
//! cleaner). (Compressed batches are stored and served as they are; the log never opens them.)
//!
//! ```text
//! record: varint length, i8 attributes, varlong timestamp delta, varint offset delta,
//!         varint key length (-1: null), key, varint value length (-1: null), value,
//!         varint header count, headers (varint key length, key, varint value length, value)
//! ```
//! Varints are zig-zag encoded, as in Kafka.

use crate::batch::{BatchHeader, CRC_AT, HEADER_LEN, LOG_OVERHEAD, compute_crc};

/// A record for [`build`]: key, value and timestamp delta.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp_delta: i64,
}

/// Producer fields for [`build`]; `Default` is a plain, non-idempotent producer.
#[derive(Clone, Copy, Debug)]
pub struct Producer {
    pub id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

impl Default for Producer {
    fn default() -> Self {
        Self { id: -1, epoch: -1, base_sequence: -1 }
    }
}

/// An uncompressed RecordBatch v2 (base offset 0, CreateTime) with a correct CRC.
pub fn build(base_timestamp: i64, records: &[Record<'_>], producer: Producer) -> Vec<u8> {
    build_with_attributes(base_timestamp, records, producer, 0)
}

/// [`build`] with batch `attributes` (the transactional and control bits; no compression).
pub fn build_with_attributes(
    base_timestamp: i64,
    records: &[Record<'_>],
    producer: Producer,
    attributes: i16,
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut max_delta = 0;
    for (i, r) in records.iter().enumerate() {
        let mut rec = vec![0u8];
        write_varint(&mut rec, r.timestamp_delta);
        write_varint(&mut rec, i as i64);
        for field in [r.key, r.value] {
            match field {
                Some(bytes) => {
                    write_varint(&mut rec, bytes.len() as i64);
                    rec.extend_from_slice(bytes);
                }
                None => write_varint(&mut rec, -1),
            }
        }
        write_varint(&mut rec, 0);
        write_varint(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
        max_delta = max_delta.max(r.timestamp_delta);
    }
    let header = BatchHeader {
        base_offset: 0,
        batch_length: 0,
        leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes,
        last_offset_delta: records.len() as i32 - 1,
        base_timestamp,
        max_timestamp: base_timestamp + max_delta,
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        base_sequence: producer.base_sequence,
        record_count: records.len() as i32,
    };
    assemble(&header, &body)
}

/// The batch `header` came from with only `records` left in it, as Kafka's log cleaner leaves a
/// batch: every header field is kept — base offset, leader epoch, attributes, timestamps,
/// producer id, epoch and base sequence, and the last offset delta, so that the batch still
/// spans its offsets and the producer's sequences still line up — while the length and record
/// count are recomputed and the CRC is new. The records are copied byte for byte, so each keeps
/// its offset and timestamp deltas, attributes and headers. `records` must come from that batch
/// (see [`parse_stored`]), in order. The result may hold fewer records than its offset span,
/// which [`crate::batch::validate`] (meant for produce requests) refuses; the log accepts it.
pub fn rebuild(header: &BatchHeader, records: &[StoredRecord<'_>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(records.iter().map(|r| r.bytes.len()).sum());
    for r in records {
        body.extend_from_slice(r.bytes);
    }
    assemble(&BatchHeader { record_count: records.len() as i32, ..*header }, &body)
}

/// A whole batch: `header`'s fields (its length and CRC computed here) followed by `body`.
fn assemble(header: &BatchHeader, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + body.len());
    b.extend_from_slice(&header.base_offset.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&header.leader_epoch.to_be_bytes());
    b.push(header.magic as u8);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&header.attributes.to_be_bytes());
    b.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&header.base_timestamp.to_be_bytes());
    b.extend_from_slice(&header.max_timestamp.to_be_bytes());
    b.extend_from_slice(&header.producer_id.to_be_bytes());
    b.extend_from_slice(&header.producer_epoch.to_be_bytes());
    b.extend_from_slice(&header.base_sequence.to_be_bytes());
    b.extend_from_slice(&header.record_count.to_be_bytes());
    b.extend_from_slice(body);
    let crc = compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// One record of a batch, borrowed from the batch's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// A record of a stored batch with its exact bytes, length prefix included, so that [`rebuild`]
/// can keep it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRecord<'a> {
    pub view: RecordView<'a>,
    pub bytes: &'a [u8],
}

/// The records of one uncompressed batch (exactly its bytes); `None` when it is compressed or
/// its records do not parse. LogAppendTime batches give every record the batch's max timestamp,
/// as Kafka does. Deltas come from the producer unchecked, so a record whose offset falls outside
/// the batch is left out.
pub fn parse(batch: &[u8]) -> Option<Vec<RecordView<'_>>> {
    Some(parse_stored(batch)?.into_iter().map(|r| r.view).collect())
}

/// [`parse`], keeping each record's bytes.
pub fn parse_stored(batch: &[u8]) -> Option<Vec<StoredRecord<'_>>> {
    let header = BatchHeader::parse(batch)?;
    if header.compression() != 0 {
        return None;
    }
    let end = header.size().min(batch.len());
    let mut out = Vec::with_capacity(header.record_count.clamp(0, 4096) as usize);
    let mut pos = HEADER_LEN;
    for _ in 0..header.record_count {
        let (length, n) = read_varint(batch.get(pos..end)?)?;
        let start = pos + n;
        let body = batch.get(start..start + usize::try_from(length).ok()?)?;
        let mut at = 1; // attributes
        let (timestamp_delta, n) = read_varint(body.get(at..)?)?;
        at += n;
        let (offset_delta, n) = read_varint(body.get(at..)?)?;
        at += n;
        let (key, n) = read_field(body.get(at..)?)?;
        at += n;
        let (value, _) = read_field(body.get(at..)?)?;
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(timestamp_delta)
        };
        let record_end = start + body.len();
        if (0..=i64::from(header.last_offset_delta)).contains(&offset_delta) {
            let view = RecordView { offset: header.base_offset + offset_delta, timestamp, key, value };
            out.push(StoredRecord { view, bytes: &batch[pos..record_end] });
        }
        pos = record_end;
    }
    Some(out)
}

/// The (offset, timestamp) of every record of an uncompressed batch (see [`parse`]).
pub fn record_timestamps(batch: &[u8]) -> Option<Vec<(i64, i64)>> {
    Some(parse(batch)?.into_iter().map(|r| (r.offset, r.timestamp)).collect())
}

/// A length-prefixed byte field (-1: null), and how many bytes it took.
fn read_field(buf: &[u8]) -> Option<(Option<&[u8]>, usize)> {
    let (len, n) = read_varint(buf)?;
    if len < 0 {
        return Some((None, n));
    }
    let len = usize::try_from(len).ok()?;
    Some((Some(buf.get(n..n + len)?), n + len))
}

/// A zig-zag varint (Kafka's varint and varlong share the encoding), and its length in bytes.
fn read_varint(buf: &[u8]) -> Option<(i64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let decoded = (value >> 1) as i64 ^ -((value & 1) as i64);
            return Some((decoded, i + 1));
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch;

    #[test]
    fn built_records_parse_back_with_keys_values_and_nulls() {
        let records = [
            Record { key: Some(b"k1"), value: Some(b"v1"), timestamp_delta: 0 },
            Record { key: None, value: Some(b""), timestamp_delta: 5 },
            Record { key: Some(b"tombstone"), value: None, timestamp_delta: 9 },
        ];
        let mut b = build(1_000, &records, Producer::default());
        batch::stamp(&mut b, 40, 0, None);
        batch::validate(&b).unwrap();
        let parsed = parse(&b).unwrap();
        assert_eq!(
            parsed,
            vec![
                RecordView { offset: 40, timestamp: 1_000, key: Some(b"k1"), value: Some(b"v1") },
                RecordView { offset: 41, timestamp: 1_005, key: None, value: Some(b"") },
                RecordView { offset: 42, timestamp: 1_009, key: Some(b"tombstone"), value: None },
            ]
        );
        for cut in HEADER_LEN..b.len() {
            let mut torn = b[..cut].to_vec();
            let len = (torn.len() - LOG_OVERHEAD) as i32;
            torn[8..12].copy_from_slice(&len.to_be_bytes());
            assert!(parse(&torn).is_none_or(|r| r.len() < 3), "cut at {cut}");
        }
    }

    #[test]
    fn rebuilt_batches_keep_their_header_and_the_chosen_records_byte_for_byte() {
        let records = [
            Record { key: Some(b"a"), value: Some(b"1"), timestamp_delta: 0 },
            Record { key: Some(b"b"), value: Some(b"2"), timestamp_delta: 3 },
            Record { key: Some(b"a"), value: None, timestamp_delta: 7 },
            Record { key: None, value: Some(b"4"), timestamp_delta: 9 },
        ];
        let mut b = build(500, &records, Producer { id: 12, epoch: 3, base_sequence: 40 });
        batch::stamp(&mut b, 100, 6, None);
        let header = BatchHeader::parse(&b).unwrap();
        let stored = parse_stored(&b).unwrap();
        assert_eq!(stored.iter().map(|r| r.view).collect::<Vec<_>>(), parse(&b).unwrap());
        let kept = [stored[1], stored[3]];
        let rebuilt = rebuild(&header, &kept);
        let h = BatchHeader::parse(&rebuilt).unwrap();
        assert_eq!(h, BatchHeader { batch_length: h.batch_length, crc: h.crc, record_count: 2, ..header });
        assert_eq!(h.size(), rebuilt.len());
        assert_eq!(h.crc, batch::compute_crc(&rebuilt));
        assert_eq!((h.last_offset(), h.max_timestamp), (103, 509), "the batch still spans 100..=103");
        assert_eq!(
            parse(&rebuilt).unwrap(),
            vec![
                RecordView { offset: 101, timestamp: 503, key: Some(b"b"), value: Some(b"2") },
                RecordView { offset: 103, timestamp: 509, key: None, value: Some(b"4") },
            ]
        );
        let again = parse_stored(&rebuilt).unwrap();
        assert_eq!((again[0].bytes, again[1].bytes), (kept[0].bytes, kept[1].bytes));
        assert_eq!(rebuild(&header, &stored), b, "keeping every record changes nothing");
    }
}
