//! What the hit log's integration tests share.

use std::time::{Duration, Instant};

/// Polls `cond` every 10 ms for at most `limit`; whether it came true.
pub(crate) fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
