//! Starting the lab's daemons inside its namespaces and stopping them again, only ever by
//! the PID recorded when they were started, checked against the process start time.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::netns;
use crate::state::ProcessRecord;

/// How long a process gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A daemon to start: a program with arguments and environment, in a namespace.
pub struct DaemonSpec<'a> {
    pub role: String,
    pub namespace: &'a str,
    pub program: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: &'a Path,
}

/// Starts a daemon in its own process group (so the user's Ctrl-C or a closed terminal does
/// not reach it), output appended to its log. Returns the child and its record.
pub fn spawn(spec: &DaemonSpec<'_>) -> Result<(Child, ProcessRecord)> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(spec.log)
        .map_err(|e| Error::io("cannot open log", spec.log, e))?;
    let err_log = log
        .try_clone()
        .map_err(|e| Error::io("cannot open log", spec.log, e))?;
    let mut cmd = netns::exec(spec.namespace, spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0);
    let child = cmd.spawn().map_err(|e| Error::Command {
        command: netns::describe(&cmd),
        detail: e.to_string(),
    })?;
    let pid = child.id();
    let start_time = start_time(pid).ok_or_else(|| Error::Command {
        command: netns::describe(&cmd),
        detail: "exited before it could be recorded".into(),
    })?;
    Ok((
        child,
        ProcessRecord {
            role: spec.role.clone(),
            namespace: spec.namespace.to_string(),
            pid,
            start_time,
        },
    ))
}

/// Field 22 (start time) of `/proc/<pid>/stat`, if the process exists.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

/// The state letter and start time from a `/proc/<pid>/stat` line (the command name in
/// parentheses may itself hold spaces and parentheses).
pub fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) the start time is field 22, i.e. 19 fields further.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether the recorded process is still the one we started and has not exited.
pub fn is_running(rec: &ProcessRecord) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", rec.pid)) else {
        return false;
    };
    matches!(parse_stat(&stat), Some((state, start)) if start == rec.start_time && state != 'Z' && state != 'X')
}

/// Stops a recorded process: SIGTERM, then SIGKILL after a grace period. A process that is
/// gone (or whose PID now belongs to someone else) is left alone.
pub fn stop(rec: &ProcessRecord) -> Result<()> {
    if !is_running(rec) {
        return Ok(());
    }
    let pid = Pid::from_raw(i32::try_from(rec.pid).map_err(|_| Error::State {
        path: "/proc".into(),
        detail: format!("PID {} out of range", rec.pid),
    })?);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if !is_running(rec) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if is_running(rec) {
        let _ = kill(pid, Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(100));
    }
    if is_running(rec) {
        return Err(Error::Timeout(format!(
            "{} (PID {}) did not exit after SIGKILL",
            rec.role, rec.pid
        )));
    }
    Ok(())
}

/// Lets a child the lab spawned and no longer needs be reaped in the background, so it does
/// not linger as a zombie of a long-running `calico-lab` (the demo).
pub fn reap_later(mut child: Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 \
                    1000 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 98765)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_process_is_running_and_a_wrong_start_time_is_not() {
        let pid = std::process::id();
        let start = start_time(pid).unwrap();
        let mut rec = ProcessRecord {
            role: "self".into(),
            namespace: String::new(),
            pid,
            start_time: start,
        };
        assert!(is_running(&rec));
        rec.start_time += 1;
        assert!(!is_running(&rec));
        // stop() must leave a process whose start time does not match alone.
        stop(&rec).unwrap();
    }
}
