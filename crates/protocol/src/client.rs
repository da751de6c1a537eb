//! The client side of the wire, without I/O: [`ClientCodec`] turns a typed request into a
//! frame and a response frame back into a typed response, checking the correlation id and
//! bounding how large a response may be before anything is allocated for it.
//!
//! Every Kafka client inside Fjord speaks through it — a follower's connection to its leader,
//! the `fjord` operator commands, the test support — each doing its own reads and writes
//! (async or blocking) around the same codec.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::ProtocolError;
use crate::frame::LENGTH_PREFIX;
use crate::response::patch_length;

/// Requests out, responses in, for one connection: one request in flight at a time.
#[derive(Debug)]
pub struct ClientCodec {
    client_id: StrBytes,
    correlation: i32,
    max_response_bytes: usize,
}

impl ClientCodec {
    /// A codec that names itself `client_id` and refuses responses over `max_response_bytes`.
    pub fn new(client_id: impl Into<String>, max_response_bytes: usize) -> Self {
        Self { client_id: StrBytes::from_string(client_id.into()), correlation: 0, max_response_bytes }
    }

    /// The correlation id of the last request encoded.
    pub fn correlation_id(&self) -> i32 {
        self.correlation
    }

    /// The whole frame (length prefix included) of `request` at `version`, with the request
    /// header version the API prescribes and a fresh correlation id.
    pub fn encode<R: Encodable>(&mut self, key: ApiKey, version: i16, request: &R) -> Result<BytesMut, ProtocolError> {
        self.frame(key, version, |out| request.encode(out, version))
    }

    /// [`ClientCodec::encode`] for a request held as a [`RequestKind`].
    pub fn encode_kind(&mut self, key: ApiKey, version: i16, request: &RequestKind) -> Result<BytesMut, ProtocolError> {
        self.frame(key, version, |out| request.encode(out, version))
    }

    fn frame<E: std::fmt::Display>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<BytesMut, ProtocolError> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut out = BytesMut::with_capacity(256);
        out.put_u32(0);
        header.encode(&mut out, key.request_header_version(version)).map_err(encode)?;
        body(&mut out).map_err(encode)?;
        patch_length(&mut out);
        Ok(out)
    }

    /// The length of the response frame a 4-byte prefix announces, refused past the bound.
    pub fn response_len(&self, prefix: [u8; LENGTH_PREFIX]) -> Result<usize, ProtocolError> {
        let len = i32::from_be_bytes(prefix);
        let size = usize::try_from(len).map_err(|_| ProtocolError::InvalidFrameLength(len))?;
        if size > self.max_response_bytes {
            return Err(ProtocolError::ResponseTooLarge { size, max: self.max_response_bytes });
        }
        Ok(size)
    }

    /// Checks the response header of `frame` (without its length prefix) against the last
    /// request and returns the body that follows it.
    pub fn response_body(&self, key: ApiKey, version: i16, mut frame: Bytes) -> Result<Bytes, ProtocolError> {
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .map_err(|e| ProtocolError::Malformed { what: "response header", reason: e.to_string() })?;
        if header.correlation_id != self.correlation {
            return Err(ProtocolError::CorrelationMismatch { expected: self.correlation, got: header.correlation_id });
        }
        Ok(frame)
    }

    /// Decodes the response to the last request from `frame` (without its length prefix).
    pub fn decode<Resp: Decodable>(&self, key: ApiKey, version: i16, frame: Bytes) -> Result<Resp, ProtocolError> {
        let mut body = self.response_body(key, version, frame)?;
        let response = Resp::decode(&mut body, version)
            .map_err(|e| ProtocolError::Malformed { what: "response body", reason: e.to_string() })?;
        if body.has_remaining() {
            tracing::debug!(api = ?key, version, left = body.remaining(), "response had trailing bytes");
        }
        Ok(response)
    }
}

fn encode(e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Encode { what: "request", reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

    use super::*;
    use crate::frame::FrameDecoder;
    use crate::request::{Decoded, decode_request};
    use crate::{ApiRange, VersionTable};

    #[test]
    fn requests_decode_as_the_broker_reads_them_and_responses_are_checked() {
        let mut codec = ClientCodec::new("t", 1 << 20);
        let mut frame = codec.encode(ApiKey::Metadata, 12, &MetadataRequest::default()).unwrap();
        let body = FrameDecoder::new(1 << 20).decode(&mut frame).unwrap().unwrap();
        let table = VersionTable::new(&[ApiRange { key: ApiKey::Metadata, min: 0, max: 12 }]);
        let Decoded::Request(r) = decode_request(body, &table).unwrap() else { panic!("not a request") };
        assert_eq!((r.header.correlation_id, r.header.client_id.as_deref()), (1, Some("t")));

        let response = |correlation: i32| {
            let mut out = BytesMut::new();
            ResponseHeader::default().with_correlation_id(correlation).encode(&mut out, 1).unwrap();
            MetadataResponse::default()
                .with_cluster_id(Some(StrBytes::from_static_str("c")))
                .encode(&mut out, 12)
                .unwrap();
            out.freeze()
        };
        let decoded: MetadataResponse = codec.decode(ApiKey::Metadata, 12, response(1)).unwrap();
        assert_eq!(decoded.cluster_id.as_deref(), Some("c"));
        let stale = codec.decode::<MetadataResponse>(ApiKey::Metadata, 12, response(7));
        assert!(matches!(stale, Err(ProtocolError::CorrelationMismatch { expected: 1, got: 7 })));
        for cut in 0..response(1).len() {
            let torn = codec.decode::<MetadataResponse>(ApiKey::Metadata, 12, response(1).slice(..cut));
            assert!(torn.is_err(), "a response cut at {cut} bytes decoded");
        }
    }

    #[test]
    fn response_sizes_are_bounded_before_anything_is_read() {
        let codec = ClientCodec::new("t", 1000);
        assert_eq!(codec.response_len(1000u32.to_be_bytes()).unwrap(), 1000);
        assert!(matches!(codec.response_len(1001u32.to_be_bytes()), Err(ProtocolError::ResponseTooLarge { .. })));
        assert!(matches!(codec.response_len((-1i32).to_be_bytes()), Err(ProtocolError::InvalidFrameLength(-1))));
    }
}
