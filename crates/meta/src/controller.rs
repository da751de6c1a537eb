//! [`Liveness`]: the active controller's view of which brokers are alive — a pure state machine:
//! heartbeats and the current time in, the fence and unfence commands to propose out.
//!
//! A broker is alive while its last heartbeat is younger than `broker.session.timeout.ms`. A
//! controller that has just taken over has heard from no one yet, so every broker gets one
//! session from the moment of the takeover before it can be fenced.

use std::collections::HashMap;

use crate::MetadataImage;
use crate::types::Command;

/// Heartbeat times the controller has seen, in milliseconds.
#[derive(Debug)]
pub struct Liveness {
    session_timeout_ms: i64,
    since_ms: i64,
    last_seen: HashMap<i32, i64>,
}

impl Liveness {
    /// The view of a controller that took over at `now_ms`.
    pub fn new(session_timeout_ms: i64, now_ms: i64) -> Self {
        Self { session_timeout_ms, since_ms: now_ms, last_seen: HashMap::new() }
    }

    /// Broker `id` heartbeated at `now_ms`.
    pub fn heard(&mut self, id: i32, now_ms: i64) {
        self.last_seen.insert(id, now_ms);
    }

    /// The commands that bring `image` in line with what was heard by `now_ms`: fence live
    /// brokers whose session ran out, unfence fenced ones that heartbeat again.
    pub fn changes(&self, image: &MetadataImage, now_ms: i64) -> Vec<Command> {
        image
            .brokers
            .values()
            .filter_map(|b| {
                let seen = self.last_seen.get(&b.id).copied();
                let fresh = |t: i64| now_ms - t < self.session_timeout_ms;
                if b.fenced && !b.stopped && seen.is_some_and(fresh) {
                    Some(Command::UnfenceBroker { id: b.id })
                } else if !b.fenced && !fresh(seen.unwrap_or(self.since_ms)) {
                    Some(Command::FenceBroker { id: b.id })
                } else {
                    None
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BrokerInfo;

    fn image(brokers: &[(i32, bool)]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for &(id, fenced) in brokers {
            image.brokers.insert(id, BrokerInfo { id, host: "h".into(), port: 1, rack: None, fenced, stopped: false });
        }
        image
    }

    #[test]
    fn a_new_controller_gives_every_broker_one_session() {
        let live = Liveness::new(1000, 10_000);
        let image = image(&[(1, false), (2, false)]);
        assert!(live.changes(&image, 10_999).is_empty());
        assert_eq!(live.changes(&image, 11_000), vec![Command::FenceBroker { id: 1 }, Command::FenceBroker { id: 2 }]);
    }

    #[test]
    fn heartbeats_keep_brokers_live_and_bring_fenced_ones_back() {
        let mut live = Liveness::new(1000, 0);
        live.heard(1, 900);
        live.heard(3, 1500);
        let image = image(&[(1, false), (2, false), (3, true)]);
        assert_eq!(
            live.changes(&image, 1200),
            vec![Command::FenceBroker { id: 2 }, Command::UnfenceBroker { id: 3 }],
            "2 was never heard from; 3 is back"
        );
        assert_eq!(
            live.changes(&image, 1900),
            vec![Command::FenceBroker { id: 1 }, Command::FenceBroker { id: 2 }, Command::UnfenceBroker { id: 3 }]
        );
        assert_eq!(
            live.changes(&image, 2600),
            vec![Command::FenceBroker { id: 1 }, Command::FenceBroker { id: 2 }],
            "3 went quiet again: it stays fenced"
        );
    }
}
