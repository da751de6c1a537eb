//! The RPC server on the `CONTROLLER` listener: one task per connection, requests answered in
//! order, Raft's handed to the Raft node and Fjord's to [`Metadata`]. A malformed or oversized
//! frame closes that connection only.

use std::sync::Arc;

use tokio::io::BufStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::Metadata;
use crate::network::{Request, read_frame, write_frame};

/// Accepts controller connections until `stop` is set.
pub(crate) async fn serve(listener: TcpListener, meta: Arc<Metadata>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let meta = meta.clone();
                    connections.spawn(async move {
                        if let Err(e) = connection(stream, &meta).await {
                            tracing::debug!(%peer, error = %e, "controller connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "controller accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn connection(stream: TcpStream, meta: &Metadata) -> std::io::Result<()> {
    let mut stream = BufStream::new(stream);
    while let Some(request) = read_frame::<_, Request>(&mut stream).await? {
        match request {
            Request::Append(rpc) => write_frame(&mut stream, &meta.raft().append_entries(rpc).await).await?,
            Request::Snapshot(rpc) => write_frame(&mut stream, &meta.raft().install_snapshot(rpc).await).await?,
            Request::Vote(rpc) => write_frame(&mut stream, &meta.raft().vote(rpc).await).await?,
            Request::Propose(command) => write_frame(&mut stream, &meta.propose_here(command).await).await?,
            Request::Heartbeat { broker } => write_frame(&mut stream, &meta.heartbeat_here(broker)).await?,
        }
    }
    Ok(())
}
