//! Runs the real `calicoctl` binary against an embedded datastore file in a temporary
//! directory, capturing exit code, stdout and stderr.

// Every test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Environment variables that would point the binary at another datastore.
const DATASTORE_ENV: &[&str] = &[
    "DATASTORE_TYPE",
    "DATASTORE_PATH",
    "ETCD_ENDPOINTS",
    "CALICO_DATASTORE_TYPE",
    "CALICO_DATASTORE_PATH",
    "CALICO_ETCD_ENDPOINTS",
];

/// What one run of calicoctl did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit 1 and returns stderr.
    #[track_caller]
    pub fn failed(&self) -> &str {
        assert_eq!(self.code, 1, "expected exit 1: {self:#?}");
        &self.stderr
    }
}

/// A private datastore and a scratch directory for input files.
pub struct Ctl {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// The embedded datastore file, when that is the backend.
    db: Option<PathBuf>,
}

impl Ctl {
    /// calicoctl on a fresh embedded datastore.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("calico.db");
        Ctl {
            env: vec![
                ("DATASTORE_TYPE".into(), "embedded".into()),
                ("DATASTORE_PATH".into(), db.display().to_string()),
            ],
            dir,
            db: Some(db),
        }
    }

    /// calicoctl talking to the given etcd endpoint.
    pub fn etcd(endpoint: &str) -> Self {
        Ctl {
            dir: tempfile::tempdir().expect("temp dir"),
            env: vec![
                ("DATASTORE_TYPE".into(), "etcdv3".into()),
                ("ETCD_ENDPOINTS".into(), endpoint.into()),
            ],
            db: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `name` in the scratch directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path: PathBuf = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create input dir");
        }
        std::fs::write(&path, text).expect("write input file");
        path.display().to_string()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, "")
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_calicoctl"));
        for var in DATASTORE_ENV {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start calicoctl");
        // A command that fails before reading its input closes the pipe early: not an error.
        match child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            result => result.expect("write stdin"),
        }
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait for calicoctl");
        Run {
            code: status.code().expect("exit code"),
            stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
        }
    }

    /// Writes resources straight into the embedded datastore, the way calico-node would
    /// (for resources calicoctl refuses to write, such as ClusterInformation).
    pub fn seed(&self, yaml: &str) {
        let db = self.db.as_ref().expect("seed needs the embedded datastore");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async {
            let store = datastore::EmbeddedStore::open(db).expect("open datastore");
            let client = datastore::ResourceClient::new(std::sync::Arc::new(store));
            for resource in api::decode_documents(yaml).expect("seed YAML decodes") {
                client.create(resource).await.expect("seed resource");
            }
        });
    }

    /// Applies `yaml` from stdin and asserts it worked.
    pub fn apply(&self, yaml: &str) {
        self.run_stdin(&["apply", "-f", "-"], yaml).ok();
    }
}

/// An IPPool document.
pub fn pool(name: &str, cidr: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {name}\nspec:\n  cidr: {cidr}\n")
}

/// Every line with trailing spaces removed (tables pad their last column).
pub fn trimmed(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_string()).collect()
}
