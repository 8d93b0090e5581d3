//! `down`: stop every process the lab recorded (by PID and start time), delete every
//! namespace carrying the lab's prefix, remove its directory. Works from whatever a crashed
//! `up` left behind, and is a no-op when nothing is there.

use std::process::Command;

use super::LabContext;
use crate::error::{Error, Result};
use crate::lock::LabLock;
use crate::netns;
use crate::process;
use crate::state::LabState;
use crate::ui;

/// What `down` did.
#[derive(Debug, Default)]
pub struct DownReport {
    /// Whether anything of the lab was found.
    pub found: bool,
    pub stopped: Vec<String>,
    pub namespaces: Vec<String>,
    /// Processes found in the lab's namespaces that it never recorded: left alone.
    pub strays: Vec<(String, u32)>,
}

/// Removes lab `ctx` entirely. Waits for any other command on the lab to finish first (a
/// [`super::Lab`] of this lab held by the caller must be dropped before).
pub fn down(ctx: &LabContext) -> Result<DownReport> {
    let lock = LabLock::acquire(&ctx.paths.lock)?;
    let mut report = DownReport::default();
    let state_file = ctx.paths.state_file();
    let state = if state_file.exists() {
        match LabState::load(&state_file) {
            Ok(s) => Some(s),
            Err(e) => {
                ui::warn(&format!("{e}; removing the lab's namespaces by name only"));
                None
            }
        }
    } else {
        None
    };
    let mut failures = Vec::new();
    if let Some(state) = &state {
        report.found = true;
        for p in state.processes.iter().rev() {
            let was_running = process::is_running(p);
            match process::stop(p) {
                Ok(()) if was_running => report.stopped.push(format!("{} (PID {})", p.role, p.pid)),
                Ok(()) => {}
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    let prefix = ctx.namespace_prefix();
    let mut namespaces: Vec<String> = state
        .as_ref()
        .map(|s| s.namespaces.iter().rev().cloned().collect())
        .unwrap_or_default();
    for ns in netns::list()? {
        if ns.starts_with(&prefix) && !namespaces.contains(&ns) {
            namespaces.push(ns);
        }
    }
    let existing = netns::list()?;
    for ns in namespaces.iter().filter(|ns| existing.contains(ns)) {
        report.found = true;
        if let Ok(pids) = netns::run(Command::new("ip").args(["netns", "pids", ns])) {
            report.strays.extend(
                pids.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(|pid| (ns.clone(), pid)),
            );
        }
        match netns::delete(ns) {
            Ok(()) => report.namespaces.push(ns.clone()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if ctx.paths.root.exists() {
        report.found = true;
        if let Err(e) = std::fs::remove_dir_all(&ctx.paths.root) {
            failures.push(Error::io("cannot remove", &ctx.paths.root, e).to_string());
        }
    }
    if failures.is_empty() {
        lock.remove();
        Ok(report)
    } else {
        Err(Error::Command {
            command: format!("calico-lab down --name {}", ctx.name),
            detail: failures.join("; "),
        })
    }
}
