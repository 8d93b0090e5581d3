//! The CNI environment (which variables each command needs): `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`,
//! `CNI_PATH` and `CNI_ARGS` (`K=V;K=V` pairs such as `K8S_POD_NAME` and `IP`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The operation the runtime asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    /// Spec 1.1: is the plugin ready to serve ADD?
    Status,
    /// Spec 1.1: release everything not in `cni.dev/valid-attachments`.
    Gc,
}

/// What the runtime passed in the environment.
#[derive(Clone, Debug)]
pub struct CniEnv {
    pub command: Command,
    pub container_id: String,
    /// Absent only for DEL (the spec lets DEL run without a namespace).
    pub netns: Option<String>,
    pub ifname: String,
    pub path: Vec<PathBuf>,
    pub args: CniArgs,
}

/// `CNI_ARGS` as ordered pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CniArgs(Vec<(String, String)>);

impl CniArgs {
    /// Parses `K=V;K=V`; a pair without `=` is an environment error.
    pub fn parse(text: &str) -> Result<Self> {
        let mut pairs = Vec::new();
        for pair in text.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| Error::Env(format!("CNI_ARGS: invalid pair {pair:?} (want K=V)")))?;
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(CniArgs(pairs))
    }

    /// The value of one key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The Kubernetes pod this is for, as `(namespace, pod)`.
    pub fn k8s_pod(&self) -> Option<(String, String)> {
        let pod = self.get("K8S_POD_NAME")?;
        let ns = self.get("K8S_POD_NAMESPACE").unwrap_or("default");
        Some((ns.to_string(), pod.to_string()))
    }
}

impl CniEnv {
    /// Reads the environment through `lookup`; which variables are required depends on
    /// the command (VERSION, STATUS and GC need none, DEL does not need `CNI_NETNS`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let command = match var("CNI_COMMAND").as_deref() {
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("VERSION") => Command::Version,
            Some("STATUS") => Command::Status,
            Some("GC") => Command::Gc,
            Some(other) => return Err(Error::Env(format!("unknown CNI_COMMAND {other:?}"))),
            None => return Err(Error::Env("CNI_COMMAND is not set".into())),
        };
        let required = |name: &str| {
            if matches!(command, Command::Version | Command::Status | Command::Gc) {
                return Ok(var(name).unwrap_or_default());
            }
            var(name).ok_or_else(|| Error::Env(format!("{name} is not set")))
        };
        let container_id = required("CNI_CONTAINERID")?;
        let ifname = required("CNI_IFNAME")?;
        let netns = match command {
            Command::Add | Command::Check => Some(required("CNI_NETNS")?),
            _ => var("CNI_NETNS"),
        };
        let path = var("CNI_PATH")
            .map(|p| {
                p.split(':')
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        let args = CniArgs::parse(&var("CNI_ARGS").unwrap_or_default())?;
        Ok(CniEnv {
            command,
            container_id,
            netns,
            ifname,
            path,
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<CniEnv> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CniEnv::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn add_needs_container_ifname_and_netns() {
        let e = env(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")]).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.to_string().contains("CNI_CONTAINERID"));
        let e = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("CNI_NETNS"));
        let ok = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/a:/b"),
            (
                "CNI_ARGS",
                "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;IP=10.0.0.5",
            ),
        ])
        .unwrap();
        assert_eq!(ok.netns, None);
        assert_eq!(ok.path.len(), 2);
        assert_eq!(ok.args.k8s_pod(), Some(("ns1".into(), "p1".into())));
        assert_eq!(ok.args.get("IP"), Some("10.0.0.5"));
    }

    #[test]
    fn version_needs_nothing_and_bad_commands_fail() {
        assert_eq!(
            env(&[("CNI_COMMAND", "VERSION")]).unwrap().command,
            Command::Version
        );
        assert_eq!(env(&[]).unwrap_err().code(), 4);
        assert_eq!(env(&[("CNI_COMMAND", "FROB")]).unwrap_err().code(), 4);
        assert_eq!(CniArgs::parse("novalue").unwrap_err().code(), 4);
    }
}
