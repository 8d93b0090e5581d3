//! The part every CNI plugin shares: read the environment and stdin, answer VERSION, check
//! the spec version, run the command, and print either the result (in the requested
//! version's shape) or a spec error object, exiting non-zero on error.

use std::future::Future;
use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::json;

use crate::cni_env::{CniEnv, Command};
use crate::error::{Error, Result};
use crate::log::Log;
use crate::netconf::NetConf;
use crate::result::CniResult;
use crate::version::{self, SpecVersion};

/// The commands a plugin implements (VERSION is answered here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Add,
    Del,
    Check,
    Status,
    Gc,
}

/// One invocation.
#[derive(Clone)]
pub struct Request {
    pub action: Action,
    pub env: CniEnv,
    pub conf: NetConf,
    /// stdin exactly as received (passed unchanged to the IPAM plugin).
    pub stdin: Vec<u8>,
    pub version: SpecVersion,
    pub log: Log,
}

/// Runs a plugin: `handler` gets each ADD/DEL/CHECK and returns the result to print.
pub fn main<F, Fut>(plugin: &str, handler: F) -> ExitCode
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Option<CniResult>>>,
{
    let mut reported_version = version::CURRENT.to_string();
    let outcome = (|| -> Result<Option<String>> {
        let env = CniEnv::from_lookup(|n| std::env::var(n).ok())?;
        let action = match env.command {
            Command::Version => return Ok(Some(version::version_info().to_string())),
            Command::Add => Action::Add,
            Command::Del => Action::Del,
            Command::Check => Action::Check,
            Command::Status => Action::Status,
            Command::Gc => Action::Gc,
        };
        let mut stdin = Vec::new();
        std::io::stdin()
            .read_to_end(&mut stdin)
            .map_err(|e| Error::io("reading the network configuration from stdin", e))?;
        let conf = NetConf::parse(&stdin)?;
        reported_version = conf.cni_version.clone();
        let version = SpecVersion::require_supported(&conf.cni_version)?;
        if action == Action::Check && !version.has_check() {
            return Err(Error::IncompatibleVersion(format!(
                "CHECK is not supported by CNI version {version} (needs 0.4.0 or later)"
            )));
        }
        if matches!(action, Action::Status | Action::Gc) && !version.has_status_and_gc() {
            return Err(Error::IncompatibleVersion(format!(
                "{action:?} is not supported by CNI version {version} (needs 1.1.0)"
            )));
        }
        let log = Log::new(&conf, format!("{plugin} {:?} {}", action, env.container_id));
        let request = Request {
            action,
            env,
            conf,
            stdin,
            version: version.clone(),
            log,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the runtime", e))?;
        let result = rt.block_on(handler(request))?;
        Ok(result.map(|r| r.to_json(&version).to_string()))
    })();
    let mut stdout = std::io::stdout();
    match outcome {
        Ok(text) => {
            if let Some(text) = text {
                let _ = writeln!(stdout, "{text}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let body = json!({
                "cniVersion": reported_version,
                "code": e.code(),
                "msg": e.to_string(),
            });
            let _ = writeln!(stdout, "{body}");
            let _ = writeln!(std::io::stderr(), "{plugin}: {e}");
            ExitCode::FAILURE
        }
    }
}
