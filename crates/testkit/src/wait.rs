//! Polling until a condition holds, for tests that time how long something took.

use std::time::{Duration, Instant};

/// Polls `probe` every 50 ms until it holds; returns the time from `since` (e.g. a policy
/// write) to the start of the probe that saw it, so a probe's own timeout is not counted.
/// Panics naming `what` after `timeout`.
pub fn since(
    since: Instant,
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let at = since.elapsed();
        if probe() {
            return at;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out ({timeout:?}) waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
