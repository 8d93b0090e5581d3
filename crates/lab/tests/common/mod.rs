//! What the lab test files share: running the `calico-lab` binary for a test's lab, and
//! labs running one at a time.

use std::cell::Cell;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

const LAB: &str = env!("CARGO_BIN_EXE_calico-lab");

/// Runs `calico-lab --name NAME ARGS` with the lab's state under `dir`, without colours.
pub fn calico_lab(name: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(LAB)
        .args(["--name", name])
        .args(args)
        .env("CALICO_LAB_DIR", dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("calico-lab runs")
}

/// [`calico_lab`] that insists on success; returns stdout.
pub fn calico_lab_ok(name: &str, dir: &Path, args: &[&str]) -> String {
    let out = calico_lab(name, dir, args);
    assert!(
        out.status.success(),
        "calico-lab {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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
