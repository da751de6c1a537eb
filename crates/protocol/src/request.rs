//! Request decoding: header first, then the body at the version the header names.
//!
//! The outcome tells the connection what to do: dispatch a typed request, answer an old-format
//! Produce with an error, answer an ApiVersions of unknown version in v0 (KIP-511), or close the
//! connection on anything it cannot understand.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use crate::legacy::LegacyProduce;
use crate::{ProtocolError, VersionTable};

/// A decoded request ready for its handler.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A request at a served version.
    Request(Box<Request>),
    /// Produce v0–v2 (message format v0/v1): answered with UNSUPPORTED_FOR_MESSAGE_FORMAT.
    LegacyProduce { header: RequestHeader, request: LegacyProduce },
    /// ApiVersions at a version above what is served: answer v0 with UNSUPPORTED_VERSION (KIP-511).
    ApiVersionsFallback { correlation_id: i32 },
}

/// Decodes one frame (without its length prefix).
pub fn decode_request(mut frame: Bytes, table: &VersionTable) -> Result<Decoded, ProtocolError> {
    if frame.len() < 8 {
        return Err(malformed("request header", format!("{} bytes is shorter than a header", frame.len())));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);

    let key = match table.check(api_key, version) {
        Ok(key) => key,
        Err(ProtocolError::UnsupportedVersion { api: ApiKey::ApiVersions, version, .. }) if version >= 0 => {
            return Ok(Decoded::ApiVersionsFallback { correlation_id });
        }
        Err(e) => return Err(e),
    };
    let header_version = key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(|e| malformed("request header", e))?;

    if key == ApiKey::Produce && version < 3 {
        let request = LegacyProduce::decode(&mut frame)?;
        return Ok(Decoded::LegacyProduce { header, request });
    }
    // Lengths are checked before the decoder reserves memory for what they announce.
    crate::bounds::check(api_key, version, &frame)?;
    let body = RequestKind::decode(key, &mut frame, version).map_err(|e| malformed(api_name(key), e))?;
    if frame.has_remaining() {
        // Kafka parses what its schema knows and ignores the rest, and clients rely on it:
        // librdkafka 2.16 sends Metadata v12 with three bytes past the schema.
        tracing::debug!(api = ?key, version, bytes = frame.remaining(), "ignoring bytes after the request body");
    }
    Ok(Decoded::Request(Box::new(Request { api_key: key, header, body })))
}

fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce request",
        ApiKey::Fetch => "Fetch request",
        ApiKey::Metadata => "Metadata request",
        _ => "request body",
    }
}

fn malformed(what: &'static str, reason: impl ToString) -> ProtocolError {
    ProtocolError::Malformed { what, reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, StrBytes, encode_request_header_into_buffer};

    use super::*;
    use crate::ApiRange;

    fn table() -> VersionTable {
        VersionTable::new(&[
            ApiRange { key: ApiKey::ApiVersions, min: 0, max: 3 },
            ApiRange { key: ApiKey::Metadata, min: 0, max: 12 },
            ApiRange { key: ApiKey::Produce, min: 0, max: 11 },
        ])
    }

    fn frame<T: Encodable>(key: ApiKey, version: i16, body: &T) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        let mut buf = BytesMut::new();
        encode_request_header_into_buffer(&mut buf, &header).unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_every_metadata_version() {
        for v in 0..=12 {
            let f = frame(ApiKey::Metadata, v, &MetadataRequest::default());
            match decode_request(f, &table()).unwrap() {
                Decoded::Request(r) => {
                    assert_eq!(r.header.correlation_id, 42);
                    assert!(matches!(r.body, RequestKind::Metadata(_)));
                }
                other => panic!("v{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn api_versions_above_max_falls_back() {
        let f = frame(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default());
        assert!(matches!(decode_request(f, &table()).unwrap(), Decoded::ApiVersionsFallback { correlation_id: 42 }));
        // Even a version from the future with a body this codec cannot read.
        let mut raw = BytesMut::from(&[0u8, 18, 0, 99, 0, 0, 0, 7][..]);
        raw.extend_from_slice(&[0xde, 0xad]);
        assert!(matches!(
            decode_request(raw.freeze(), &table()).unwrap(),
            Decoded::ApiVersionsFallback { correlation_id: 7 }
        ));
    }

    #[test]
    fn unknown_keys_versions_and_truncation_are_errors() {
        let f = frame(ApiKey::Metadata, 13, &MetadataRequest::default());
        assert!(matches!(decode_request(f, &table()), Err(ProtocolError::UnsupportedVersion { .. })));
        let f = Bytes::from_static(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 1]);
        assert!(matches!(decode_request(f, &table()), Err(ProtocolError::UnknownApiKey(_))));
        let full = frame(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
        for cut in 0..full.len() {
            let r = decode_request(full.slice(..cut), &table());
            assert!(r.is_err(), "a frame cut at {cut} bytes decoded");
        }
    }

    #[test]
    fn bytes_past_the_schema_are_ignored_as_kafka_does() {
        // librdkafka 2.16's Metadata v12 for all topics, as captured: header v2, then null
        // topics, two booleans, no tagged fields — and three more bytes.
        let captured = Bytes::from_static(&[
            0, 3, 0, 12, 0, 0, 0, 3, 0, 7, b'r', b'd', b'k', b'a', b'f', b'k', b'a', 0, 0, 0, 0, 0, 1, 0, 0,
        ]);
        let Decoded::Request(r) = decode_request(captured, &table()).unwrap() else { panic!("not a request") };
        let RequestKind::Metadata(m) = r.body else { panic!("not Metadata") };
        assert_eq!((m.topics, m.allow_auto_topic_creation), (None, false));
    }
}
