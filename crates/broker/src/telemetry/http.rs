//! The HTTP endpoint on `http.listener`: `GET /metrics` (Prometheus text format), `GET /health`
//! (200 while the process runs) and `GET /ready` (200 while the broker serves clients, 503 while
//! it recovers its logs and once it is shutting down).
//!
//! It is bound before log recovery starts, so that an orchestrator sees the process alive but not
//! ready, and it stops last, after the logs are closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Lifecycle, Sources};

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A bound, serving HTTP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    lifecycle: Arc<Lifecycle>,
    /// Set once the broker's subsystems exist; before that `/metrics` has only process-level
    /// figures.
    sources: OnceLock<Sources>,
}

impl Endpoint {
    /// Binds `addr` and starts serving.
    pub async fn bind(addr: SocketAddr, lifecycle: Arc<Lifecycle>) -> std::io::Result<Self> {
        super::prometheus();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State { lifecycle, sources: OnceLock::new() });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, state.clone(), stop_rx));
        Ok(Self { addr, state, stop, task })
    }

    /// Gives `/metrics` the subsystems to read the broker's state from.
    pub fn attach(&self, sources: Sources) {
        let _ = self.state.sources.set(sources);
    }

    /// Stops accepting and closes open HTTP connections.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(route(&state, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

fn route(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET is served\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            if let Some(sources) = state.sources.get() {
                super::collect(sources, &state.lifecycle);
            } else {
                super::collect_process(&state.lifecycle);
            }
            reply(StatusCode::OK, PROMETHEUS_TEXT, super::prometheus().render())
        }
        "/health" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/ready" => {
            let status = if state.lifecycle.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            reply(status, "text/plain", format!("{}\n", state.lifecycle.describe()))
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics, /health or /ready\n".into()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// One HTTP/1.1 GET over a fresh connection: (status, body).
    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let status = text.split(' ').nth(1).unwrap().parse().unwrap();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_follows_the_lifecycle() {
        let lifecycle = Arc::new(Lifecycle::default());
        let endpoint = Endpoint::bind("127.0.0.1:0".parse().unwrap(), lifecycle.clone()).await.unwrap();
        let addr = endpoint.addr;
        let ask = |path: &'static str| tokio::task::spawn_blocking(move || get(addr, path));

        assert_eq!(ask("/ready").await.unwrap(), (503, "starting\n".into()));
        assert_eq!(ask("/health").await.unwrap().0, 200);
        lifecycle.serving();
        assert_eq!(ask("/ready").await.unwrap(), (200, "ready\n".into()));
        lifecycle.stopping();
        assert_eq!(ask("/ready").await.unwrap(), (503, "stopping\n".into()));
        assert_eq!(ask("/health").await.unwrap().0, 200);
        assert_eq!(ask("/nothing").await.unwrap().0, 404);
        let (status, body) = ask("/metrics").await.unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("fjord_process_uptime_seconds"), "{body}");
        endpoint.stop().await;
        assert!(std::net::TcpStream::connect(addr).is_err(), "stopped endpoint still accepts");
    }
}
