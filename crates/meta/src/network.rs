//! The controllers' RPC: messages, their framing, and [`Peer`], the client side of openraft's
//! network.
//!
//! Wire format: each message is a 4-byte big-endian length and that many bytes of JSON; a
//! connection carries one request, then its reply, then the next request. Requests are Raft's own
//! (append entries, install snapshot chunks, votes) and two of Fjord's: a command forwarded to
//! the controller ([`Request::Propose`]) and a broker heartbeat ([`Request::Heartbeat`]).
//! Frames over [`MAX_FRAME`] close the connection.

use std::io;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use crate::raft::{Applied, NodeId, TypeConfig};
use crate::types::Command;

/// Largest message: a few snapshot chunks (openraft sends 3 MiB ones) with room to spare.
pub(crate) const MAX_FRAME: usize = 64 << 20;

/// A request from one controller (or broker) to another.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// A metadata command for the controller to commit.
    Propose(Command),
    /// Broker `broker` is alive.
    Heartbeat {
        broker: i32,
    },
}

/// The answer to [`Request::Propose`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ProposeReply {
    /// Committed at log index `index`; `result` is what the state machine answered.
    Committed { index: u64, result: Applied },
    /// This node is not the controller; `leader` is the one it knows of.
    NotController { leader: Option<NodeId> },
    /// The controller could not commit (it lost its quorum or is shutting down).
    Failed(String),
}

/// The answer to [`Request::Heartbeat`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HeartbeatReply {
    Accepted,
    NotController { leader: Option<NodeId> },
}

/// Writes one frame.
pub(crate) async fn write_frame<S, T>(stream: &mut S, value: &T) -> io::Result<()>
where
    S: AsyncWriteExt + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {} bytes is too large", body.len()),
        ));
    }
    stream.write_u32(body.len() as u32).await?;
    stream.write_all(&body).await?;
    stream.flush().await
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
pub(crate) async fn read_frame<S, T>(stream: &mut S) -> io::Result<Option<T>>
where
    S: AsyncReadExt + Unpin,
    T: DeserializeOwned,
{
    let len = match stream.read_u32().await {
        Ok(len) => len as usize,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes is over the limit")));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// How often an unreachable peer is reported while it stays unreachable.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// One connection to another controller, opened on first use and again after any failure.
#[derive(Debug)]
pub struct Peer {
    target: NodeId,
    addr: String,
    conn: Option<BufStream<TcpStream>>,
    /// Since when the peer has been failing, and when that was last reported.
    failing: Option<(std::time::Instant, std::time::Instant)>,
}

impl Peer {
    pub(crate) fn new(target: NodeId, addr: String) -> Self {
        Self { target, addr, conn: None, failing: None }
    }

    /// Reports a failing peer once, then every [`REPORT_EVERY`], and its recovery once.
    fn report(&mut self, result: &io::Result<impl Sized>) {
        let now = std::time::Instant::now();
        match (result, self.failing) {
            (Err(e), None) => {
                tracing::warn!(node = self.target, addr = %self.addr, error = %e, "controller peer unreachable");
                self.failing = Some((now, now));
            }
            (Err(e), Some((since, reported))) if now - reported >= REPORT_EVERY => {
                let secs = (now - since).as_secs();
                tracing::warn!(node = self.target, addr = %self.addr, error = %e, secs, "controller peer still unreachable");
                self.failing = Some((since, now));
            }
            (Ok(_), Some((since, _))) => {
                let secs = (now - since).as_secs();
                tracing::info!(node = self.target, addr = %self.addr, secs, "controller peer reachable again");
                self.failing = None;
            }
            _ => {}
        }
    }

    /// The node this peer talks to.
    pub(crate) fn target(&self) -> NodeId {
        self.target
    }

    /// Sends `request` and reads its reply, within `timeout`. Any failure drops the connection.
    pub(crate) async fn call<T: DeserializeOwned>(&mut self, request: &Request, timeout: Duration) -> io::Result<T> {
        let exchange = async {
            if self.conn.is_none() {
                let stream = TcpStream::connect(&self.addr).await?;
                stream.set_nodelay(true)?;
                self.conn = Some(BufStream::new(stream));
            }
            let conn = self.conn.as_mut().expect("connected above");
            write_frame(conn, request).await?;
            read_frame(conn).await?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, format!("no reply from {} in {timeout:?}", self.addr)))
            }
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn raft_call<R, E>(
        &mut self,
        request: Request,
        option: &RPCOption,
    ) -> Result<R, RPCError<NodeId, BasicNode, E>>
    where
        R: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let result = self.call::<Result<R, E>>(&request, option.hard_ttl()).await;
        self.report(&result);
        match result {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(RPCError::Network(NetworkError::new(&e))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.raft_call(Request::Append(rpc), &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.raft_call(Request::Snapshot(rpc), &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.raft_call(Request::Vote(rpc), &option).await
    }
}

/// Makes a [`Peer`] for each node openraft replicates to, at the address its membership names.
#[derive(Debug, Default)]
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer::new(target, node.addr.clone())
    }
}
