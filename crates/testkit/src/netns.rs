//! A network namespace owned by a test.
//!
//! Names are `<prefix>-<pid>-<n>-<tag>`: each crate passes its own prefix, the PID separates
//! concurrent test binaries and the counter separates namespaces within one binary. The
//! namespace is deleted when the guard drops, which also happens while a failing test unwinds.

use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cmd::run;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `<prefix>-<pid>-<n>-<tag>` with its loopback up.
    pub fn new(prefix: &str, tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}-{tag}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's bind-mount path.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// `ip -n <ns> <args>`; panics on failure, returns stdout.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// A `Command` running `program` inside this namespace (`ip netns exec <ns> <program>`),
    /// for callers that need their own environment, stdin or pipes.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `args` inside this namespace and captures its output.
    pub fn output(&self, args: &[&str]) -> Output {
        let (program, rest) = args.split_first().expect("a command to run");
        self.command(program)
            .args(rest)
            .output()
            .expect("spawn ip netns exec")
    }

    /// Runs `args` inside this namespace and returns its stdout (panics on failure).
    #[track_caller]
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `args` inside this namespace; returns whether it succeeded.
    pub fn exec_ok(&self, args: &[&str]) -> bool {
        self.output(args).status.success()
    }

    /// Reads `/proc/sys/<path>` inside this namespace, trimmed.
    pub fn sysctl(&self, path: &str) -> String {
        self.exec(&["cat", &format!("/proc/sys/{path}")])
            .trim()
            .to_string()
    }

    /// Whether a link of this name exists in the namespace.
    pub fn has_link(&self, name: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.name, "link", "show", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Runs `f` on a fresh OS thread that has entered this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = File::open(&path).expect("open netns");
                nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }

    /// An uplink: the veth pair `iface`/`peer` in this namespace, both up, `cidr` on `iface`
    /// and the default route through it (proxy ARP needs a route to answer for 169.254.1.1).
    pub fn uplink(&self, iface: &str, peer: &str, cidr: &str) {
        self.ip(&["link", "add", iface, "type", "veth", "peer", "name", peer]);
        self.ip(&["link", "set", peer, "up"]);
        self.ip(&["addr", "add", cidr, "dev", iface]);
        self.ip(&["link", "set", iface, "up"]);
        self.ip(&["route", "add", "default", "dev", iface]);
    }

    /// A veth pair whose `iface` end stays here and whose `peer` end moves into `other`.
    pub fn veth_into(&self, iface: &str, other: &Netns, peer: &str) {
        self.ip(&[
            "link",
            "add",
            iface,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            &other.name,
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Names of the existing namespaces starting with `prefix` (from `ip netns list`).
pub fn list_with_prefix(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// Deletes the namespace `name`, ignoring errors (for sweeping namespaces a tool under test
/// made).
pub fn delete(name: &str) {
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}
