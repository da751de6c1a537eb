//! One client connection: read frames, decode, dispatch, write responses — one request at a time,
//! so responses leave in the order requests arrived (as Kafka guarantees and clients rely on).
//!
//! Anything the broker cannot understand (a frame over `socket.request.max.bytes`, an unknown API
//! key or version, bytes that do not decode) closes this connection, as Kafka does, and touches
//! nothing else. The read buffer grows only to the size of the frame being read.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use fjord_protocol::decode_request;
use fjord_protocol::frame::FrameDecoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::Broker;
use crate::handlers::{self, Outcome};

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
            Ok(decoded) => handlers::respond(&broker, decoded, peer).await,
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
