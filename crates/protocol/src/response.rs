//! Response encoding: length prefix, response header at the version the API prescribes, body.
//!
//! The ApiVersions response header is always v0 (no tagged fields), whatever the request version,
//! because a client reads it before it knows what the broker speaks.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use crate::ProtocolError;
use crate::frame::LENGTH_PREFIX;

/// Encodes a whole response frame for a request of `api_key` at `version`.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, ProtocolError> {
    // Sized up front for the one response that can be large, so its records are copied once
    // rather than again at every doubling of the buffer.
    let body_size = match body {
        ResponseKind::Fetch(fetch) => fetch.compute_size(version).unwrap_or(0),
        _ => 0,
    };
    let mut out = BytesMut::with_capacity(256 + body_size);
    out.put_u32(0);
    let header_version = if api_key == ApiKey::ApiVersions { 0 } else { api_key.response_header_version(version) };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, header_version)
        .map_err(|e| encode_error("response header", e))?;
    body.encode(&mut out, version).map_err(|e| encode_error("response body", e))?;
    patch_length(&mut out);
    Ok(out)
}

/// Writes the frame length into the 4 bytes reserved at the front of `out`.
pub fn patch_length(out: &mut BytesMut) {
    let len = (out.len() - LENGTH_PREFIX) as u32;
    out[..LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
}

fn encode_error(what: &'static str, e: impl ToString) -> ProtocolError {
    ProtocolError::Encode { what, reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use bytes::Buf;
    use kafka_protocol::messages::{ApiVersionsResponse, MetadataResponse};
    use kafka_protocol::protocol::Decodable;

    use super::*;

    #[test]
    fn api_versions_header_is_v0_even_when_flexible() {
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default());
        let mut out = encode_response(ApiKey::ApiVersions, 3, 9, &body).unwrap();
        let len = out.get_u32() as usize;
        assert_eq!(len, out.len());
        assert_eq!(out.get_i32(), 9);
        let decoded = ApiVersionsResponse::decode(&mut out, 3).unwrap();
        assert_eq!(decoded.error_code, 0);
        assert!(!out.has_remaining());
    }

    #[test]
    fn flexible_responses_carry_header_tags() {
        let body = ResponseKind::Metadata(MetadataResponse::default());
        let mut out = encode_response(ApiKey::Metadata, 9, 5, &body).unwrap();
        out.advance(4);
        let header = ResponseHeader::decode(&mut out, 1).unwrap();
        assert_eq!(header.correlation_id, 5);
        MetadataResponse::decode(&mut out, 9).unwrap();
        assert!(!out.has_remaining());
    }
}
