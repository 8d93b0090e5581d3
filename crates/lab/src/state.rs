//! The lab's state file: what it was asked for and everything it made (namespaces, processes,
//! workloads), written after every change so `down` can undo a lab that crashed half-way.

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::LabSpec;
use crate::topology::Topology;

/// One process the lab started, identified by PID and its start time (so a recycled PID is
/// never mistaken for ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// e.g. `calico-node node1`, `bird`, `responder node1-w1`.
    pub role: String,
    pub namespace: String,
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat` when it was started.
    pub start_time: u64,
}

/// One workload made through the CNI plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRecord {
    pub name: String,
    pub node: String,
    pub namespace: String,
    pub container_id: String,
    pub labels: Vec<(String, String)>,
    pub addresses: Vec<IpAddr>,
    /// The host-side veth the plugin created in the node's namespace.
    pub host_interface: String,
}

/// The whole state of one lab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    pub spec: LabSpec,
    pub topology: Topology,
    /// Set once `up` finished; a lab without it crashed or is still starting.
    pub complete: bool,
    /// Namespaces in creation order.
    pub namespaces: Vec<String>,
    pub processes: Vec<ProcessRecord>,
    pub workloads: Vec<WorkloadRecord>,
    /// The TCP/UDP port the workloads' responders listen on.
    pub responder_port: u16,
}

impl LabState {
    /// Reads a state file.
    pub fn load(path: &Path) -> Result<LabState> {
        let text = std::fs::read(path).map_err(|e| Error::io("cannot read lab state", path, e))?;
        serde_json::from_slice(&text).map_err(|e| Error::State {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
    }

    /// Writes the state file atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::State {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io("cannot write lab state", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot write lab state", path, e))
    }

    pub fn workload(&self, name: &str) -> Option<&WorkloadRecord> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// The namespace of a node, a workload or `fabric`.
    pub fn namespace_of(&self, member: &str) -> Option<String> {
        if member == "fabric" {
            return Some(self.topology.fabric_namespace.clone());
        }
        if let Some(node) = self.topology.node(member) {
            return Some(node.namespace.clone());
        }
        self.workload(member).map(|w| w.namespace.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Peering, TorRouter};

    #[test]
    fn round_trips_and_finds_members() {
        let spec = LabSpec::for_test(1, 1, Peering::Mesh, TorRouter::Bird, false);
        let state = LabState {
            name: "t".into(),
            topology: Topology::plan("t", &spec),
            spec,
            complete: true,
            namespaces: vec!["t-fabric".into()],
            processes: vec![ProcessRecord {
                role: "calico-node node1".into(),
                namespace: "t-node1".into(),
                pid: 42,
                start_time: 7,
            }],
            workloads: vec![WorkloadRecord {
                name: "node1-w1".into(),
                node: "node1".into(),
                namespace: "t-node1-w1".into(),
                container_id: "abc".into(),
                labels: vec![("app".into(), "w1".into())],
                addresses: vec!["10.244.0.1".parse().unwrap()],
                host_interface: "caliabc".into(),
            }],
            responder_port: 8080,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        state.save(&path).unwrap();
        assert_eq!(LabState::load(&path).unwrap(), state);
        assert_eq!(state.namespace_of("fabric").unwrap(), "t-fabric");
        assert_eq!(state.namespace_of("node1").unwrap(), "t-node1");
        assert_eq!(state.namespace_of("node1-w1").unwrap(), "t-node1-w1");
        assert!(state.namespace_of("node2").is_none());
        std::fs::write(&path, b"{").unwrap();
        assert!(LabState::load(&path).is_err());
    }
}
