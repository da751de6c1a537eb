//! Startup, background tasks and graceful shutdown of one broker.
//!
//! Start: open the node's RocksDB and the metadata, register this broker, bind the listener (so a
//! port of 0 becomes a real one before anyone is told), open the partition logs (recovering them
//! after an unclean stop), then accept clients. Shutdown: stop accepting, let every connection
//! finish the request it is on (bounded by `shutdown.timeout.ms`), close the logs with an fsync
//! and leave the clean-shutdown marker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fjord_meta::{BrokerInfo, Command, Metadata, NodeDb};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::replica::ReplicaManager;
use crate::topic_config::TopicDefaults;
use crate::{Broker, BrokerConfig, BrokerError};

/// A broker that is serving clients.
#[derive(Debug)]
pub struct RunningBroker {
    /// The address the Kafka listener is bound to.
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<JoinSet<()>>,
    background: JoinSet<()>,
}

impl RunningBroker {
    /// Starts a broker with `config`.
    pub async fn start(config: BrokerConfig) -> Result<Self, BrokerError> {
        let started = std::time::Instant::now();
        let db_dir = config.data_dir.join("meta");
        std::fs::create_dir_all(&db_dir)
            .map_err(|e| BrokerError::Storage(format!("cannot create {}: {e}", db_dir.display())))?;
        let db = Arc::new(NodeDb::open(&db_dir)?);
        let meta = Arc::new(Metadata::open(db.clone(), config.node_id)?);

        let listener = TcpListener::bind(config.listener)
            .await
            .map_err(|e| BrokerError::Storage(format!("cannot listen on {}: {e}", config.listener)))?;
        let addr = listener.local_addr().map_err(|e| BrokerError::Storage(e.to_string()))?;
        let advertised = config.advertised.clone().unwrap_or_else(|| (addr.ip().to_string(), addr.port()));
        let me = BrokerInfo { id: config.node_id, host: advertised.0.clone(), port: advertised.1, rack: None };
        if meta.image().brokers.get(&me.id) != Some(&me) {
            meta.propose(Command::RegisterBroker(me)).await?;
        }

        let defaults = TopicDefaults::from_broker(&config)
            .map_err(|(k, v, why)| BrokerError::InvalidConfig(format!("{k}={v}: {why}")))?;
        let replicas = Arc::new(ReplicaManager::open(&config.data_dir, config.node_id, defaults, db, &meta.image())?);
        let broker = Arc::new(Broker::new(config, meta, replicas, advertised));
        crate::groups::load(&broker)?;

        let (stop, stop_rx) = watch::channel(false);
        let mut background = JoinSet::new();
        background.spawn(follow_metadata(broker.clone(), stop_rx.clone()));
        background.spawn(retention(broker.clone(), stop_rx.clone()));
        background.spawn(crate::groups::run_timers(broker.clone(), stop_rx.clone()));
        let accept = tokio::spawn(accept_loop(listener, broker.clone(), stop_rx));
        tracing::info!(%addr, node_id = broker.config.node_id, partitions = broker.replicas.all().len(), elapsed_ms = started.elapsed().as_millis() as u64, "broker ready");
        Ok(Self { addr, broker, stop, accept, background })
    }

    /// Stops accepting, lets in-flight requests finish, closes the logs and marks a clean stop.
    pub async fn shutdown(mut self) -> Result<(), BrokerError> {
        tracing::info!("shutting down");
        self.stop.send_replace(true);
        let mut connections = self.accept.await.map_err(|e| BrokerError::Storage(e.to_string()))?;
        let timeout = Duration::from_millis(self.broker.config.shutdown_timeout_ms);
        let drained = tokio::time::timeout(timeout, async { while connections.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "connections still busy at the shutdown timeout; closing them"
            );
            connections.shutdown().await;
        }
        self.background.shutdown().await;
        self.broker.replicas.shutdown()?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

async fn accept_loop(listener: TcpListener, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(crate::connection::serve(broker.clone(), stream, peer, stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections
}

/// Applies every new metadata image to the hosted partitions.
async fn follow_metadata(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut images = broker.meta.subscribe();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            changed = images.changed() => {
                if changed.is_err() { return; }
                let image = images.borrow_and_update().clone();
                if let Err(e) = broker.replicas.reconcile(&image) {
                    tracing::error!(error = %e, "applying metadata to the hosted partitions failed");
                }
            }
        }
    }
}

/// Runs retention and time-based segment rolls every `log.retention.check.interval.ms`.
async fn retention(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(broker.config.retention_check_interval_ms);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                let replicas = broker.replicas.clone();
                let _ = tokio::task::spawn_blocking(move || replicas.enforce_retention()).await;
            }
        }
    }
}
