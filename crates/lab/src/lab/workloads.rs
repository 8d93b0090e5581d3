//! Workloads: a namespace of its own, attached through the `calico` CNI plugin (ADD/DEL run
//! in the node's namespace as a runtime would), and a responder for the matrix.

use std::net::IpAddr;

use serde_json::Value;

use super::Lab;
use crate::cni::{self, Invocation};
use crate::error::{Error, Result};
use crate::netns;
use crate::process;
use crate::render::cni_conf;
use crate::spec::validate_workload_name;
use crate::state::WorkloadRecord;
use crate::topology::namespace;

impl Lab {
    fn node_cni_conf(&self, node: &str) -> Result<Value> {
        let path = self.ctx.paths.cni_conf(node);
        let text = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        serde_json::from_slice(&text).map_err(|e| Error::State {
            path,
            detail: e.to_string(),
        })
    }

    /// Creates workload `name` on `node` through CNI ADD (`ip` via `CNI_ARGS IP=`), then
    /// starts its responder.
    pub fn add_workload(
        &mut self,
        name: &str,
        node: &str,
        ip: Option<IpAddr>,
        labels: Vec<(String, String)>,
    ) -> Result<&WorkloadRecord> {
        validate_workload_name(name)?;
        let node_ns = self
            .state
            .topology
            .node(node)
            .map(|n| n.namespace.clone())
            .ok_or_else(|| {
                Error::Unknown(format!(
                    "no node {node:?} in lab {} (nodes: {})",
                    self.ctx.name,
                    self.node_names().join(", ")
                ))
            })?;
        if self.state.workload(name).is_some() || self.state.topology.node(name).is_some() {
            return Err(Error::Busy(format!(
                "{name:?} already exists in lab {}",
                self.ctx.name
            )));
        }
        let ns = namespace(&self.ctx.name, name);
        if netns::list()?.contains(&ns) {
            return Err(Error::Busy(format!("namespace {ns} already exists")));
        }
        let conf = cni_conf::with_labels(&self.node_cni_conf(node)?, &labels);
        let container_id = cni::container_id(&self.ctx.name, name);
        self.add_namespace(&ns)?;
        let invocation = Invocation {
            bin_dir: &self.ctx.bin_dir,
            node_namespace: &node_ns,
            workload: name,
            container_id: &container_id,
            workload_namespace: &ns,
            args: ip
                .map(|ip| ("IP".to_string(), ip.to_string()))
                .into_iter()
                .collect(),
            conf: &conf,
        };
        let added = match invocation.add() {
            Ok(added) => added,
            Err(e) => {
                // The plugin undoes its own work on failure; the namespace is ours to remove.
                netns::delete(&ns)?;
                self.state.namespaces.retain(|n| *n != ns);
                self.save()?;
                return Err(e);
            }
        };
        self.state.workloads.push(WorkloadRecord {
            name: name.to_string(),
            node: node.to_string(),
            namespace: ns.clone(),
            container_id,
            labels,
            addresses: added.addresses,
            host_interface: added.host_interface,
        });
        self.save()?;
        let port = self.state.responder_port;
        self.start_responder(name, &ns, port)?;
        Ok(self.state.workloads.last().expect("just pushed"))
    }

    /// Removes a workload: its responders, CNI DEL, its namespace.
    pub fn del_workload(&mut self, name: &str) -> Result<()> {
        let record = self.state.workload(name).cloned().ok_or_else(|| {
            Error::Unknown(format!(
                "no workload {name:?} in lab {} (workloads: {})",
                self.ctx.name,
                self.state
                    .workloads
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        self.stop_where(|p| p.namespace == record.namespace)?;
        let node_ns = namespace(&self.ctx.name, &record.node);
        let conf = cni_conf::with_labels(&self.node_cni_conf(&record.node)?, &record.labels);
        Invocation {
            bin_dir: &self.ctx.bin_dir,
            node_namespace: &node_ns,
            workload: name,
            container_id: &record.container_id,
            workload_namespace: &record.namespace,
            args: Vec::new(),
            conf: &conf,
        }
        .del()?;
        netns::delete(&record.namespace)?;
        self.state.namespaces.retain(|n| *n != record.namespace);
        self.state.workloads.retain(|w| w.name != name);
        self.save()
    }

    /// Stops and forgets every recorded process matching `which`.
    pub(super) fn stop_where(
        &mut self,
        which: impl Fn(&crate::state::ProcessRecord) -> bool,
    ) -> Result<()> {
        let stopping: Vec<_> = self
            .state
            .processes
            .iter()
            .filter(|p| which(p))
            .cloned()
            .collect();
        for p in &stopping {
            process::stop(p)?;
        }
        self.state.processes.retain(|p| !stopping.contains(p));
        self.save()
    }

    pub fn node_names(&self) -> Vec<String> {
        self.state
            .topology
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }
}
