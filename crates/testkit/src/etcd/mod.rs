//! Test harness: a real, private etcd 3.4 (`/usr/bin/etcd`) on free 127.0.0.1 ports with its
//! data in a temporary directory (one member, a TLS member, or a cluster of several).
//! `EtcdServer` waits until etcd answers, and its `Drop` kills exactly the process it started
//! (by PID) and removes the directory. A test can also kill the server and restart it on the
//! same data directory and port, to see clients ride out an outage.

pub mod pki;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to answer after being started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Server-side TLS material: the CA that client certificates must chain to, and the server's
/// own certificate and key.
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A client's (CA, certificate, key) files.
pub type ClientFiles = (PathBuf, PathBuf, PathBuf);

/// What `etcdctl` needs to talk to the server (TLS files, user).
#[derive(Default)]
struct CtlAccess {
    tls: Option<ClientFiles>,
    user: Option<String>,
}

/// A running etcd, killed on drop.
pub struct EtcdServer {
    /// `None` between [`EtcdServer::kill`] and [`EtcdServer::restart`].
    child: Option<Child>,
    /// The arguments etcd was started with, for a restart.
    args: Vec<String>,
    endpoint: String,
    ctl: CtlAccess,
    // Dropped after the process is gone (fields drop after `Drop::drop` runs).
    dir: tempfile::TempDir,
}

/// Ports and names of one member, chosen before any member starts.
struct Layout {
    name: String,
    client: String,
    peer: String,
}

impl Layout {
    fn new(index: usize, tls: bool) -> Self {
        let scheme = if tls { "https" } else { "http" };
        Self {
            name: format!("m{index}"),
            client: format!("{scheme}://127.0.0.1:{}", free_port()),
            peer: format!("http://127.0.0.1:{}", free_port()),
        }
    }
}

impl EtcdServer {
    /// A plain-text, single-member etcd.
    pub fn start() -> Self {
        retry(|| {
            let layout = [Layout::new(0, false)];
            let mut server = Self::spawn(&layout[0], &layout, None);
            server.wait_ready()?;
            Ok(server)
        })
    }

    /// A plain-text cluster of `size` members (endpoints in member order).
    pub fn start_cluster(size: usize) -> Vec<Self> {
        retry(|| {
            let layouts: Vec<Layout> = (0..size).map(|i| Layout::new(i, false)).collect();
            let mut members: Vec<Self> = layouts
                .iter()
                .map(|layout| Self::spawn(layout, &layouts, None))
                .collect();
            for member in &mut members {
                member.wait_ready()?;
            }
            Ok(members)
        })
    }

    /// An etcd serving https that requires client certificates signed by `tls.ca`.
    /// `client` is a (ca, cert, key) triple `etcdctl` uses for health checks and setup.
    pub fn start_tls(tls: &ServerTls, client: ClientFiles) -> Self {
        retry(|| {
            let layout = [Layout::new(0, true)];
            let mut server = Self::spawn(&layout[0], &layout, Some((tls, client.clone())));
            server.wait_ready()?;
            Ok(server)
        })
    }

    /// Starts one member of the cluster `all` (without waiting for it).
    fn spawn(me: &Layout, all: &[Layout], tls: Option<(&ServerTls, ClientFiles)>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for etcd");
        let cluster: Vec<String> = all
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer))
            .collect();
        let mut args = vec![
            format!("--name={}", me.name),
            format!("--data-dir={}", dir.path().join("data").display()),
            format!("--listen-client-urls={}", me.client),
            format!("--advertise-client-urls={}", me.client),
            format!("--listen-peer-urls={}", me.peer),
            format!("--initial-advertise-peer-urls={}", me.peer),
            format!("--initial-cluster={}", cluster.join(",")),
            "--initial-cluster-state=new".to_string(),
            // The conformance suite stores 2 MiB values; etcd's default request limit is 1.5 MiB.
            "--max-request-bytes=8388608".to_string(),
        ];
        let mut ctl = CtlAccess::default();
        if let Some((server, client)) = tls {
            args.extend([
                "--client-cert-auth".to_string(),
                format!("--trusted-ca-file={}", server.ca.display()),
                format!("--cert-file={}", server.cert.display()),
                format!("--key-file={}", server.key.display()),
            ]);
            ctl.tls = Some(client);
        }
        let child = launch(&args, dir.path());
        Self {
            child: Some(child),
            args,
            endpoint: me.client.clone(),
            ctl,
            dir,
        }
    }

    /// Waits until this member answers `etcdctl endpoint health`; the log on failure.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("etcd is running");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}\n{}", self.log()));
            }
            if self.ctl_output(&["endpoint", "health"]).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer within {START_TIMEOUT:?}\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The PID of the running etcd (for a test to signal it, e.g. SIGSTOP to hang it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("etcd is running").id()
    }

    /// Kills etcd with SIGKILL and reaps it; its data directory and ports stay for
    /// [`EtcdServer::restart`].
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("etcd is running");
        child.kill().expect("kill etcd");
        child.wait().expect("reap etcd");
    }

    /// Starts etcd again after [`EtcdServer::kill`], with the same data directory, ports and
    /// settings, and waits until it answers; panics with its log if it does not.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "etcd is still running");
        self.child = Some(launch(&self.args, self.dir.path()));
        if let Err(log) = self.wait_ready() {
            panic!("etcd did not restart: {log}");
        }
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's data directory's parent (scratch space that lives as long as the server).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Turns on authentication with a `root` user (password `root_password`) and one more
    /// user `user` (password `password`) with the `root` role.
    pub fn enable_auth(&mut self, root_password: &str, user: &str, password: &str) {
        self.ctl(&["user", "add", &format!("root:{root_password}")]);
        self.ctl(&["user", "add", &format!("{user}:{password}")]);
        self.ctl(&["user", "grant-role", user, "root"]);
        self.ctl(&["auth", "enable"]);
        self.ctl.user = Some(format!("root:{root_password}"));
    }

    /// Runs `etcdctl` against this server and returns stdout; panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        self.ctl_output(args)
            .unwrap_or_else(|e| panic!("etcdctl {args:?} failed: {e}"))
    }

    fn ctl_output(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("/usr/bin/etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--dial-timeout=2s")
            .arg("--command-timeout=5s");
        if let Some((ca, cert, key)) = &self.ctl.tls {
            cmd.arg(format!("--cacert={}", ca.display()))
                .arg(format!("--cert={}", cert.display()))
                .arg(format!("--key={}", key.display()));
        }
        if let Some(user) = &self.ctl.user {
            cmd.arg(format!("--user={user}"));
        }
        let out = cmd.args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // `Child::kill` signals exactly this PID; `wait` reaps it before the directory goes.
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `/usr/bin/etcd` with `args`, appending its output to `dir/etcd.log`.
fn launch(args: &[String], dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))
        .expect("etcd log file");
    Command::new("/usr/bin/etcd")
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn /usr/bin/etcd")
}

/// Runs `start` until it succeeds: a port found free can be taken by someone else before etcd
/// binds it.
fn retry<T>(start: impl Fn() -> Result<T, String>) -> T {
    let mut last_log = String::new();
    for _ in 0..3 {
        match start() {
            Ok(started) => return started,
            Err(log) => last_log = log,
        }
    }
    panic!("etcd did not start; last log:\n{last_log}");
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}
