//! One client connection: read frames, decode, dispatch, write responses — one request at a time,
//! so responses leave in the order requests arrived (as Kafka guarantees and clients rely on).
//!
//! Anything the broker cannot understand (a frame over `socket.request.max.bytes`, an unknown API
//! key or version, bytes that do not decode) closes this connection, as Kafka does, and touches
//! nothing else. The read buffer grows only to the size of the frame being read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use fjord_protocol::frame::FrameDecoder;
use fjord_protocol::request::Decoded;
use fjord_protocol::{decode_request, encode_response};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::Instrument;

use crate::Broker;
use crate::handlers::{Client, Reply};

const READ_CHUNK: usize = 64 * 1024;
/// Largest single growth of the read buffer: a client that announces a big frame and sends
/// nothing holds little memory.
const MAX_RESERVE: usize = 1 << 20;

/// Serves one connection until the client leaves, sends garbage, or the broker stops.
pub async fn serve(broker: Arc<Broker>, mut stream: TcpStream, peer: SocketAddr, mut stop: watch::Receiver<bool>) {
    let _open = broker.telemetry.connection();
    let decoder = FrameDecoder::new(broker.config.socket_request_max_bytes);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                let wanted = decoder.wanted(&buf).ok().flatten().unwrap_or(0);
                buf.reserve(wanted.saturating_sub(buf.len()).clamp(4096, MAX_RESERVE));
                tokio::select! {
                    _ = stop.changed() => return,
                    read = stream.read_buf(&mut buf) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(_) => continue,
                    }
                }
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                return;
            }
        };
        let reply = match decode_request(frame, &broker.versions) {
            Ok(decoded) => respond(&broker, decoded, peer).await,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                return;
            }
        };
        match reply {
            Ok(Outcome::Send(bytes)) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Ok(Outcome::Nothing) => {}
            Ok(Outcome::Close(why)) => {
                tracing::info!(%peer, reason = %why, "closing connection");
                return;
            }
            Err(e) => {
                tracing::error!(%peer, error = %e, "cannot encode a response; closing connection");
                return;
            }
        }
    }
}

/// What a request leaves the connection to do.
enum Outcome {
    Send(BytesMut),
    /// Produce with acks=0: no response.
    Nothing,
    Close(String),
}

/// Runs one decoded request.
async fn respond(
    broker: &Broker,
    decoded: Decoded,
    peer: SocketAddr,
) -> Result<Outcome, fjord_protocol::ProtocolError> {
    match decoded {
        Decoded::Request(request) => {
            let started = Instant::now();
            let (key, version, correlation_id) =
                (request.api_key, request.header.request_api_version, request.header.correlation_id);
            let client = Client {
                id: request.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                host: format!("/{}", peer.ip()),
            };
            let span =
                tracing::debug_span!("request", api = ?key, version, correlation_id, client_id = %client.id, %peer);
            let reply = crate::handlers::dispatch(broker, *request, &client).instrument(span.clone()).await;
            let encoded = match &reply {
                Reply::Respond(body) => encode_response(key, version, correlation_id, body).map(Outcome::Send),
                Reply::Silent => Ok(Outcome::Nothing),
                Reply::Close(why) => Ok(Outcome::Close(why.clone())),
            };
            let elapsed = started.elapsed();
            let body = match &reply {
                Reply::Respond(body) => Some(&**body),
                _ => None,
            };
            broker.telemetry.request(key, version, elapsed, body);
            tracing::debug!(parent: &span, duration_us = elapsed.as_micros() as u64, "request done");
            encoded
        }
        Decoded::ApiVersionsFallback { correlation_id } => {
            let body = broker.versions.api_versions_response(ResponseError::UnsupportedVersion.code());
            encode_response(ApiKey::ApiVersions, 0, correlation_id, &ResponseKind::ApiVersions(body)).map(Outcome::Send)
        }
        Decoded::LegacyProduce { header, request } => {
            if request.acks == 0 {
                return Ok(Outcome::Close("acks=0 produce in an unsupported message format".into()));
            }
            let mut out = BytesMut::new();
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&header.correlation_id.to_be_bytes());
            request.encode_response(
                header.request_api_version,
                ResponseError::UnsupportedForMessageFormat.code(),
                &mut out,
            );
            fjord_protocol::response::patch_length(&mut out);
            Ok(Outcome::Send(out))
        }
    }
}
