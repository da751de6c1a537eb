//! [`PeerClient`]: the Kafka-protocol connection a follower keeps to a partition leader — the
//! same framing and messages as any client, one request in flight at a time.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response a follower accepts (a fetch is bounded well below this).
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// A connection to another broker's Kafka listener.
#[derive(Debug)]
pub struct PeerClient {
    stream: TcpStream,
    client_id: StrBytes,
    correlation: i32,
}

impl PeerClient {
    /// Connects to `addr` within `timeout`.
    pub async fn connect(addr: &str, client_id: String, timeout: Duration) -> std::io::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr)).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"))
        })??;
        stream.set_nodelay(true)?;
        Ok(Self { stream, client_id: StrBytes::from_string(client_id), correlation: 0 })
    }

    /// Sends `request` at `version` and reads its response, all within `timeout`.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> std::io::Result<R::Response> {
        tokio::time::timeout(timeout, self.round_trip(request, version))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the leader did not answer in time"))?
    }

    async fn round_trip<R: Request>(&mut self, request: &R, version: i16) -> std::io::Result<R::Response> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::with_capacity(256);
        buf.extend_from_slice(&[0; 4]);
        header.encode(&mut buf, R::header_version(version)).map_err(invalid)?;
        request.encode(&mut buf, version).map_err(invalid)?;
        let len = (buf.len() - 4) as u32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&buf).await?;

        let len = self.stream.read_u32().await? as usize;
        if len > MAX_RESPONSE {
            return Err(invalid(format!("a {len}-byte response frame is too large")));
        }
        let mut frame = BytesMut::zeroed(len);
        self.stream.read_exact(&mut frame).await?;
        let mut frame = frame.freeze();
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version)).map_err(invalid)?;
        if header.correlation_id != self.correlation {
            return Err(invalid(format!(
                "response to request {} while waiting for {}",
                header.correlation_id, self.correlation
            )));
        }
        let response = R::Response::decode(&mut frame, version).map_err(invalid)?;
        if frame.has_remaining() {
            tracing::debug!(left = frame.remaining(), "response had trailing bytes");
        }
        Ok(response)
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}
