//! Running commands from tests.

use std::process::Command;

/// Runs `cmd args...`, panicking with its stderr on failure; returns stdout.
#[track_caller]
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
