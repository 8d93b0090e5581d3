//! Running the `calico` CNI plugin exactly as a container runtime does: inside the node's
//! namespace, with the CNI_* environment (the pod's name and namespace in CNI_ARGS, as
//! podman passes them), the network configuration on stdin and the result (or error) as
//! JSON on stdout.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::netns;
use crate::render::resources::WORKLOAD_NAMESPACE;

/// The container-side interface name.
pub const IFNAME: &str = "eth0";

/// One plugin invocation.
pub struct Invocation<'a> {
    pub bin_dir: &'a Path,
    pub node_namespace: &'a str,
    pub workload: &'a str,
    pub container_id: &'a str,
    pub workload_namespace: &'a str,
    /// Extra `CNI_ARGS` pairs (`IP=...`).
    pub args: Vec<(String, String)>,
    pub conf: &'a Value,
}

/// What ADD reports back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    pub addresses: Vec<IpAddr>,
    pub host_interface: String,
}

#[derive(Deserialize)]
struct AddResult {
    #[serde(default)]
    interfaces: Vec<ResultInterface>,
    #[serde(default)]
    ips: Vec<ResultIp>,
}

#[derive(Deserialize)]
struct ResultInterface {
    name: String,
    #[serde(default)]
    sandbox: Option<String>,
}

#[derive(Deserialize)]
struct ResultIp {
    address: IpNet,
}

#[derive(Deserialize)]
struct ErrorResult {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// A container ID for a workload: 64 hex digits, stable for the lab and workload name, as a
/// runtime's IDs look.
pub fn container_id(lab: &str, workload: &str) -> String {
    Sha256::digest(format!("calico-lab/{lab}/{workload}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `CNI_ARGS` text from pairs.
pub fn cni_args(pairs: &[(String, String)]) -> String {
    std::iter::once("IgnoreUnknown=1".to_string())
        .chain(pairs.iter().map(|(k, v)| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(";")
}

/// Parses an ADD result: the addresses and the host-side interface (the one without a
/// sandbox).
pub fn parse_add(stdout: &str) -> std::result::Result<Added, String> {
    let result: AddResult =
        serde_json::from_str(stdout).map_err(|e| format!("unreadable result ({e}): {stdout}"))?;
    let host_interface = result
        .interfaces
        .iter()
        .find(|i| i.sandbox.as_deref().is_none_or(str::is_empty))
        .map(|i| i.name.clone())
        .unwrap_or_default();
    Ok(Added {
        addresses: result.ips.iter().map(|i| i.address.addr()).collect(),
        host_interface,
    })
}

/// The message of a CNI error result, or the raw output when it is not one.
pub fn parse_error(stdout: &str, stderr: &str) -> String {
    match serde_json::from_str::<ErrorResult>(stdout) {
        Ok(e) if !e.msg.is_empty() => {
            let mut text = format!("code {}: {}", e.code, e.msg);
            if !e.details.is_empty() {
                text.push_str(&format!(" ({})", e.details));
            }
            text
        }
        _ => format!("{}{}", stdout.trim(), stderr.trim()),
    }
}

impl Invocation<'_> {
    /// The runtime's pod identity (as podman passes it) plus the extra pairs.
    fn pod_args(&self) -> Vec<(String, String)> {
        let mut args = vec![
            (
                "K8S_POD_NAMESPACE".to_string(),
                WORKLOAD_NAMESPACE.to_string(),
            ),
            ("K8S_POD_NAME".to_string(), self.workload.to_string()),
        ];
        args.extend(self.args.iter().cloned());
        args
    }

    fn run(&self, command: &'static str) -> Result<String> {
        let plugin = self.bin_dir.join("calico");
        let mut cmd = netns::exec(self.node_namespace, &plugin);
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", self.container_id)
            .env("CNI_NETNS", netns::path(self.workload_namespace))
            .env("CNI_IFNAME", IFNAME)
            .env("CNI_PATH", self.bin_dir)
            .env("CNI_ARGS", cni_args(&self.pod_args()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let fail = |detail: String| Error::Cni {
            command,
            workload: self.workload.to_string(),
            detail,
        };
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        let conf = serde_json::to_vec(self.conf).map_err(|e| fail(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&conf).map_err(|e| fail(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(fail(parse_error(
                &stdout,
                &String::from_utf8_lossy(&out.stderr),
            )));
        }
        Ok(stdout)
    }

    /// CNI ADD.
    pub fn add(&self) -> Result<Added> {
        let stdout = self.run("ADD")?;
        parse_add(&stdout).map_err(|detail| Error::Cni {
            command: "ADD",
            workload: self.workload.to_string(),
            detail,
        })
    }

    /// CNI DEL (idempotent in the plugin).
    pub fn del(&self) -> Result<()> {
        self.run("DEL").map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_stable_hex_and_distinct() {
        let a = container_id("clab", "node1-w1");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, container_id("clab", "node1-w1"));
        assert_ne!(a, container_id("clab", "node1-w2"));
        assert_ne!(a, container_id("other", "node1-w1"));
    }

    #[test]
    fn args_and_results() {
        assert_eq!(
            cni_args(&[("IP".into(), "10.244.0.9".into())]),
            "IgnoreUnknown=1;IP=10.244.0.9"
        );
        let added = parse_add(
            r#"{"cniVersion":"1.0.0","interfaces":[{"name":"cali1234567890a","mac":"ee:ee:ee:ee:ee:ee"},
                {"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/run/netns/x"}],
                "ips":[{"address":"10.244.0.9/32","interface":1},{"address":"fd00::9/128","interface":1}]}"#,
        )
        .unwrap();
        assert_eq!(added.host_interface, "cali1234567890a");
        assert_eq!(
            added.addresses,
            vec![
                "10.244.0.9".parse::<IpAddr>().unwrap(),
                "fd00::9".parse().unwrap()
            ]
        );
        assert!(parse_add("nope").is_err());
        assert_eq!(
            parse_error(r#"{"code":7,"msg":"bad","details":"more"}"#, ""),
            "code 7: bad (more)"
        );
        assert_eq!(parse_error("", "plain failure\n"), "plain failure");
    }
}
