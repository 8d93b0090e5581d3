//! Names Calico derives for a workload: the host-side veth (`cali` + 11 hex of SHA-1 of
//! `<namespace>.<pod>`, or of the container ID for plain CNI), the WorkloadEndpoint name,
//! the IPAM handles, and the allocation timestamp attribute.

use std::time::{SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};

use crate::cni_env::CniEnv;

/// The default host interface prefix (Felix `interfacePrefix`).
pub const DEFAULT_PREFIX: &str = "cali";

/// Who the workload is, as Calico identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadId {
    pub node: String,
    /// `k8s` when `K8S_POD_NAME` is in CNI_ARGS, else `cni`.
    pub orchestrator: &'static str,
    /// The pod's namespace (k8s) or `default`.
    pub namespace: String,
    /// The pod name (k8s only).
    pub pod: Option<String>,
    pub container_id: String,
    /// The container-side interface (`CNI_IFNAME`).
    pub endpoint: String,
}

impl WorkloadId {
    /// The identity of the workload the runtime's environment describes.
    pub fn from_env(env: &CniEnv, node: &str) -> Self {
        let (orchestrator, namespace, pod) = match env.args.k8s_pod() {
            Some((ns, pod)) => ("k8s", ns, Some(pod)),
            None => ("cni", "default".to_string(), None),
        };
        WorkloadId {
            node: node.to_string(),
            orchestrator,
            namespace,
            pod,
            container_id: env.container_id.clone(),
            endpoint: env.ifname.clone(),
        }
    }

    /// The WorkloadEndpoint name `<node>-<orch>-<pod or container>-<endpoint>`.
    pub fn endpoint_name(&self) -> String {
        let workload = self.pod.as_deref().unwrap_or(&self.container_id);
        api::workload_endpoint_name(&self.node, self.orchestrator, workload, &self.endpoint)
    }

    /// The host-side veth name, with `prefix` (Felix's interface prefix).
    pub fn host_veth_name(&self, prefix: &str) -> String {
        match &self.pod {
            Some(pod) => {
                let digest = Sha1::digest(format!("{}.{pod}", self.namespace).as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("{prefix}{}", &hex[..11])
            }
            None => {
                let id: String = self.container_id.chars().take(11).collect();
                format!("{prefix}{id}")
            }
        }
    }

    /// The legacy handle (`<namespace>.<pod>`) Calico also releases on DEL, for k8s.
    pub fn legacy_handle(&self) -> Option<String> {
        self.pod
            .as_ref()
            .map(|pod| format!("{}.{pod}", self.namespace))
    }
}

/// The IPAM handle of a container's addresses: `<network>.<containerID>`.
pub fn ipam_handle(network: &str, container_id: &str) -> String {
    format!("{network}.{container_id}")
}

/// Felix's interface prefix: the first entry of `FELIX_INTERFACEPREFIX`, else `cali`.
pub fn interface_prefix(env_value: Option<&str>) -> String {
    env_value
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .unwrap_or(DEFAULT_PREFIX)
        .to_string()
}

/// Now, in the format Calico stores in the `timestamp` allocation attribute (Go's
/// `time.Time.String()` in UTC, e.g. `2026-11-22 22:55:00.123456789 +0000 UTC`).
pub fn timestamp_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(now.as_secs(), now.subsec_nanos())
}

fn format_utc(secs: u64, nanos: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{nanos:09} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k8s(ns: &str, pod: &str) -> WorkloadId {
        WorkloadId {
            node: "node-1".into(),
            orchestrator: "k8s",
            namespace: ns.into(),
            pod: Some(pod.into()),
            container_id: "abc123".into(),
            endpoint: "eth0".into(),
        }
    }

    #[test]
    fn k8s_veth_name_is_sha1_of_namespace_dot_pod() {
        // `printf default.podA | sha1sum` = 7f94ce7c2950f9d62c83...
        let id = k8s("default", "podA");
        assert_eq!(id.host_veth_name("cali"), "cali7f94ce7c295");
    }

    #[test]
    fn cni_veth_name_is_container_id_prefix() {
        let id = WorkloadId {
            orchestrator: "cni",
            pod: None,
            namespace: "default".into(),
            container_id: "0123456789abcdef".into(),
            ..k8s("x", "y")
        };
        assert_eq!(id.host_veth_name("cali"), "cali0123456789a");
        assert_eq!(id.endpoint_name(), "node--1-cni-0123456789abcdef-eth0");
        assert_eq!(id.legacy_handle(), None);
    }

    #[test]
    fn endpoint_names_and_handles() {
        let id = k8s("ns-1", "web-0");
        assert_eq!(id.endpoint_name(), "node--1-k8s-web--0-eth0");
        assert_eq!(id.legacy_handle().as_deref(), Some("ns-1.web-0"));
        assert_eq!(ipam_handle("k8s-pod-network", "c1"), "k8s-pod-network.c1");
        assert_eq!(interface_prefix(Some("tap,cali")), "tap");
        assert_eq!(interface_prefix(None), "cali");
    }

    #[test]
    fn timestamps_look_like_go_time_strings() {
        assert_eq!(format_utc(0, 0), "1970-01-01 00:00:00.000000000 +0000 UTC");
        assert_eq!(
            format_utc(1_795_906_500, 5),
            "2026-11-28 22:55:00.000000005 +0000 UTC"
        );
    }
}
