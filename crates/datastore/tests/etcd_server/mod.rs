//! Test harness: a real, private etcd 3.4 (`/usr/bin/etcd`) on free 127.0.0.1 ports with its
//! data in a temporary directory. `EtcdServer` waits until etcd answers, and its `Drop` kills
//! exactly the process it started (by PID) and removes the directory.

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

/// What `etcdctl` needs to talk to the server (TLS files, user).
#[derive(Default)]
struct CtlAccess {
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    user: Option<String>,
}

/// A running etcd, killed on drop.
pub struct EtcdServer {
    child: Child,
    endpoint: String,
    ctl: CtlAccess,
    // Dropped after the process is gone (fields drop after `Drop::drop` runs).
    dir: tempfile::TempDir,
}

impl EtcdServer {
    /// A plain-text etcd.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// An etcd serving https that requires client certificates signed by `tls.ca`.
    /// `client` is a (ca, cert, key) triple `etcdctl` uses for health checks and setup.
    pub fn start_tls(tls: &ServerTls, client: (PathBuf, PathBuf, PathBuf)) -> Self {
        Self::start_inner(Some((tls, client)))
    }

    fn start_inner(tls: Option<(&ServerTls, (PathBuf, PathBuf, PathBuf))>) -> Self {
        let mut last_log = String::new();
        // A free port can be taken by someone else between probing and binding: retry.
        for _ in 0..3 {
            match Self::try_start(&tls) {
                Ok(server) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("etcd did not start; last log:\n{last_log}");
    }

    fn try_start(tls: &Option<(&ServerTls, (PathBuf, PathBuf, PathBuf))>) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir for etcd");
        let (client_port, peer_port) = (free_port(), free_port());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("etcd log file");
        let mut cmd = Command::new("/usr/bin/etcd");
        cmd.arg("--name=test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .arg("--initial-cluster-state=new")
            // The conformance suite stores 2 MiB values; etcd's default request limit is 1.5 MiB.
            .arg("--max-request-bytes=8388608")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let mut ctl = CtlAccess::default();
        if let Some((server, client)) = tls {
            cmd.arg("--client-cert-auth")
                .arg(format!("--trusted-ca-file={}", server.ca.display()))
                .arg(format!("--cert-file={}", server.cert.display()))
                .arg(format!("--key-file={}", server.key.display()));
            ctl.tls = Some(client.clone());
        }
        let child = cmd.spawn().expect("spawn /usr/bin/etcd");
        let mut server = Self {
            child,
            endpoint,
            ctl,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status}\n{}", server.log()));
            }
            if server.ctl_output(&["endpoint", "health"]).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer within {START_TIMEOUT:?}\n{}",
                    server.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}
