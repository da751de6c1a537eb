//! The leader side of replication's bookkeeping: on every broker, for the partitions it leads,
//! followers that stop keeping up leave the ISR and followers that caught up join it, both
//! through Raft (AlterPartition); and every broker checkpoints its high watermarks.

use std::sync::Arc;
use std::time::Duration;

use fjord_meta::Command;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{ReplicaManager, now_ms};
use crate::cluster::Proposer;

/// How long a leader waits before proposing an ISR change again after one was refused.
const ISR_RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// How often high watermarks are written to their checkpoint files.
const CHECKPOINT_EVERY_MS: i64 = 5_000;

/// Keeps the ISRs of the partitions this broker leads, and the high-watermark checkpoints.
#[derive(Debug)]
pub struct IsrKeeper {
    /// This broker's id.
    pub node_id: i32,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub lag: Duration,
    pub replicas: Arc<ReplicaManager>,
    pub proposer: Proposer,
}

impl IsrKeeper {
    /// Proposes ISR changes (followers lagging for `lag` out, caught-up ones in) and checkpoints
    /// high watermarks, until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let period = (self.lag / 4).max(Duration::from_millis(50));
        let mut next_checkpoint = now_ms() + CHECKPOINT_EVERY_MS;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = self.replicas.isr_wake.notified() => {}
                _ = tokio::time::sleep(period) => {}
            }
            let now = now_ms();
            let image = self.proposer.image();
            let mut proposals = JoinSet::new();
            for p in self.replicas.all() {
                let Some((isr, leader_epoch, partition_epoch)) = p.isr_change(now, self.lag, |r| image.is_live(r))
                else {
                    continue;
                };
                tracing::info!(topic = %p.topic, partition = p.index, from = ?p.isr(), to = ?isr, "changing the ISR");
                let command = Command::AlterPartition {
                    topic: p.topic.clone(),
                    partition: p.index,
                    leader: self.node_id,
                    leader_epoch,
                    partition_epoch,
                    isr,
                };
                let proposer = self.proposer.clone();
                proposals.spawn(async move {
                    if let Err(e) = proposer.propose(command).await {
                        tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "ISR change not accepted; retrying later");
                        p.isr_change_failed(now_ms(), ISR_RETRY_BACKOFF);
                    }
                });
            }
            while proposals.join_next().await.is_some() {}
            if now >= next_checkpoint {
                next_checkpoint = now + CHECKPOINT_EVERY_MS;
                let replicas = self.replicas.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for p in replicas.all() {
                        p.checkpoint_high_watermark();
                    }
                })
                .await;
            }
        }
    }
}
