//! Produce v0–v2, which carry message formats v0 and v1. `kafka-protocol` no longer decodes them,
//! and Fjord stores only RecordBatch v2, so these requests are parsed just far enough to answer
//! every partition with UNSUPPORTED_FOR_MESSAGE_FORMAT. Advertising Produce from v0 matters:
//! librdkafka turns compression off against brokers that do not.
//!
//! Wire layout (all non-flexible):
//! request  v0–v2: acks i16, timeout_ms i32, [topic string, [partition i32, record_set bytes]]
//! response v0: [topic string, [partition i32, error i16, base_offset i64]]
//!          v1: v0 + throttle_time_ms i32 at the end
//!          v2: each partition also carries log_append_time i64

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ProtocolError;

/// The parts of an old-format Produce request needed to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyProduce {
    pub acks: i16,
    pub topics: Vec<(String, Vec<i32>)>,
}

impl LegacyProduce {
    /// Parses the body that follows the request header.
    pub fn decode(buf: &mut Bytes) -> Result<Self, ProtocolError> {
        let acks = get_i16(buf)?;
        let _timeout = get_i32(buf)?;
        let mut topics = Vec::new();
        for _ in 0..get_count(buf)? {
            let name = get_string(buf)?;
            let mut partitions = Vec::new();
            for _ in 0..get_count(buf)? {
                partitions.push(get_i32(buf)?);
                let size = get_i32(buf)?;
                if size > 0 {
                    take(buf, size as usize)?;
                }
            }
            topics.push((name, partitions));
        }
        Ok(Self { acks, topics })
    }

    /// The response body (without header) answering every partition with `error_code`.
    pub fn encode_response(&self, version: i16, error_code: i16, out: &mut BytesMut) {
        out.put_i32(self.topics.len() as i32);
        for (name, partitions) in &self.topics {
            out.put_i16(name.len() as i16);
            out.put_slice(name.as_bytes());
            out.put_i32(partitions.len() as i32);
            for p in partitions {
                out.put_i32(*p);
                out.put_i16(error_code);
                out.put_i64(-1);
                if version >= 2 {
                    out.put_i64(-1);
                }
            }
        }
        if version >= 1 {
            out.put_i32(0);
        }
    }
}

fn need(buf: &Bytes, n: usize) -> Result<(), ProtocolError> {
    if buf.remaining() < n {
        return Err(ProtocolError::Malformed { what: "Produce v0-v2 request", reason: "truncated".into() });
    }
    Ok(())
}

fn get_i16(buf: &mut Bytes) -> Result<i16, ProtocolError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> Result<i32, ProtocolError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_count(buf: &mut Bytes) -> Result<usize, ProtocolError> {
    let n = get_i32(buf)?;
    Ok(n.max(0) as usize)
}

fn take(buf: &mut Bytes, n: usize) -> Result<Bytes, ProtocolError> {
    need(buf, n)?;
    Ok(buf.split_to(n))
}

fn get_string(buf: &mut Bytes) -> Result<String, ProtocolError> {
    let len = get_i16(buf)?;
    let bytes = take(buf, len.max(0) as usize)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtocolError::Malformed {
        what: "Produce v0-v2 request",
        reason: "topic name is not UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(1000);
        b.put_i32(1);
        b.put_i16(3);
        b.put_slice(b"abc");
        b.put_i32(2);
        for p in [0, 5] {
            b.put_i32(p);
            b.put_i32(3);
            b.put_slice(b"xyz");
        }
        b.freeze()
    }

    #[test]
    fn parses_topics_and_partitions() {
        let r = LegacyProduce::decode(&mut request()).unwrap();
        assert_eq!(r, LegacyProduce { acks: 1, topics: vec![("abc".into(), vec![0, 5])] });
        let mut out = BytesMut::new();
        r.encode_response(2, 43, &mut out);
        assert_eq!(out.len(), 4 + 2 + 3 + 4 + 2 * (4 + 2 + 8 + 8) + 4);
    }

    #[test]
    fn truncated_requests_are_errors() {
        let full = request();
        for cut in 0..full.len() {
            assert!(LegacyProduce::decode(&mut full.slice(..cut)).is_err(), "cut at {cut}");
        }
    }
}
