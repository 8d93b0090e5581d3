//! What the lab test files share: labs run one at a time.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};

/// Labs in a test binary run one at a time: several clusters starting at once on a 2-core
/// machine slow each other past the probes' timeouts and make the matrices flaky.
static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this test's thread already holds the turn (a test may own two labs).
    static HAS_TURN: Cell<bool> = const { Cell::new(false) };
}

/// A test's turn to run labs; the first lab a test makes takes it, later ones share it.
pub struct Turn(Option<MutexGuard<'static, ()>>);

impl Turn {
    pub fn take() -> Turn {
        if HAS_TURN.get() {
            return Turn(None);
        }
        let guard = ONE_LAB_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        HAS_TURN.set(true);
        Turn(Some(guard))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.0.is_some() {
            HAS_TURN.set(false);
        }
    }
}
