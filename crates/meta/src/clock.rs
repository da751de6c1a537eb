//! The wall clock, in milliseconds since the Unix epoch: the one place this crate reads the time
//! (its state machines take the time as an argument).

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
