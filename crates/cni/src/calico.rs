//! The `calico` plugin. ADD: get addresses (re-using those of an existing endpoint of the
//! same container, else from the IPAM plugin), build the veth, routes and sysctls, record
//! the WorkloadEndpoint; any failure after IPAM undoes all of it. DEL: remove the endpoint
//! (unless a newer sandbox owns it), the veth and the addresses; unknown things are not
//! errors. CHECK: verify the dataplane, the endpoint and (via the IPAM plugin) addresses.
//! STATUS asks IPAM; GC removes stale endpoints and veths, then IPAM releases stale handles.

use std::net::IpAddr;
use std::sync::Arc;

use api::{Kind, Resource, WorkloadEndpoint};
use datastore::{ResourceClient, Store};
use ipnet::IpNet;

use crate::calico_ipam::{self, prev_result};
use crate::connect::{self, env_var};
use crate::dataplane::{self, VethSpec, HOST_MAC};
use crate::delegate;
use crate::endpoint::{self, Attachment};
use crate::error::{Error, Result};
use crate::names::{self, WorkloadId};
use crate::netns;
use crate::result::{CniResult, Interface, IpConfig};
use crate::skel::{Action, Request};

/// The IPAM type served in-process.
const IN_PROCESS_IPAM: &str = "calico-ipam";

/// Handles one calico invocation.
pub async fn handle(req: Request) -> Result<Option<CniResult>> {
    let node = req.conf.node_name(env_var)?;
    let id = WorkloadId::from_env(&req.env, &node);
    let host_veth = id.host_veth_name(&names::interface_prefix(
        env_var("FELIX_INTERFACEPREFIX").as_deref(),
    ));
    let store = match connect::store(&req.conf).await {
        Err(e) if req.action == Action::Status => {
            return Err(Error::NotAvailable(format!("datastore unreachable: {e}")))
        }
        other => other?,
    };
    let ctx = Ctx {
        req: &req,
        id,
        host_veth,
        client: ResourceClient::new(Arc::clone(&store)),
        store,
    };
    match req.action {
        Action::Add => ctx.add().await.map(Some),
        Action::Del => ctx.del().await.map(|()| None),
        Action::Check => ctx.check().await.map(|()| None),
        Action::Status => ctx.ipam(Action::Status).await.map(|_| None),
        Action::Gc => ctx.gc(&node).await.map(|()| None),
    }
}

struct Ctx<'a> {
    req: &'a Request,
    id: WorkloadId,
    host_veth: String,
    store: Arc<dyn Store>,
    client: ResourceClient,
}

/// Narrows an address to a single host (/32, /128).
fn host_net(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

impl Ctx<'_> {
    fn netns_path(&self) -> Result<&str> {
        self.req
            .env
            .netns
            .as_deref()
            .ok_or_else(|| Error::Env("CNI_NETNS is not set".into()))
    }

    /// Runs the IPAM plugin for `action`. Our own `calico-ipam` runs in-process (the same
    /// code and lock as the binary, without a fork and exec and a second datastore
    /// connection); any other type is executed from `CNI_PATH` as a runtime would.
    async fn ipam(&self, action: Action) -> Result<Option<CniResult>> {
        let req = self.req;
        if req.conf.ipam.plugin_type == IN_PROCESS_IPAM {
            let mut inner = req.clone();
            inner.action = action;
            return calico_ipam::serve(inner, Arc::clone(&self.store)).await;
        }
        let binary = delegate::find(&req.conf.ipam.plugin_type, &req.env.path)?;
        let command = match action {
            Action::Add => "ADD",
            Action::Del => "DEL",
            Action::Check => "CHECK",
            Action::Status => "STATUS",
            Action::Gc => "GC",
        };
        delegate::run(&binary, command, &req.stdin)?
            .map(|out| CniResult::from_json(&out))
            .transpose()
    }

    async fn existing_endpoint(&self) -> Result<Option<WorkloadEndpoint>> {
        let name = self.id.endpoint_name();
        match self
            .client
            .get(Kind::WorkloadEndpoint, Some(&self.id.namespace), &name)
            .await
        {
            Ok(Resource::WorkloadEndpoint(w)) => Ok(Some(w)),
            Ok(_) | Err(datastore::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn add(&self) -> Result<CniResult> {
        let req = self.req;
        let netns_path = self.netns_path()?;
        let ns = netns::open(netns_path)?;
        let existing = self
            .existing_endpoint()
            .await?
            .filter(|w| w.spec.container_id == req.env.container_id);
        let (ips, dns, allocated) = match existing {
            Some(w) => {
                req.log.info(&format!(
                    "endpoint {} exists for this container; re-using {:?}",
                    w.metadata.name, w.spec.ip_networks
                ));
                let ips = w
                    .spec
                    .ip_networks
                    .iter()
                    .filter_map(|n| n.parse::<IpNet>().ok())
                    .map(|n| host_net(n.addr()))
                    .collect();
                (ips, None, false)
            }
            None => {
                let result = self
                    .ipam(Action::Add)
                    .await?
                    .ok_or_else(|| Error::Delegate {
                        plugin: req.conf.ipam.plugin_type.clone(),
                        code: 999,
                        msg: "IPAM plugin returned no result".into(),
                    })?;
                let ips: Vec<IpNet> = result
                    .ips
                    .iter()
                    .map(|i| host_net(i.address.addr()))
                    .collect();
                (ips, result.dns, true)
            }
        };
        if ips.is_empty() {
            return Err(Error::Config("IPAM returned no addresses".into()));
        }
        let spec = VethSpec {
            host_name: self.host_veth.clone(),
            ifname: req.env.ifname.clone(),
            mtu: req.conf.mtu(),
            ips: ips.clone(),
            allow_ip_forwarding: req.conf.container_settings.allow_ip_forwarding,
        };
        let host = netns::connect_here()?;
        let done = async {
            let mac = dataplane::attach(&host, ns, &spec).await?;
            let wep = endpoint::build(&Attachment {
                id: &self.id,
                network: &req.conf.name,
                ips: &ips,
                host_veth: &self.host_veth,
                container_mac: &mac,
                labels: req.conf.labels(),
            });
            self.client.apply(Resource::WorkloadEndpoint(wep)).await?;
            Ok::<_, Error>(mac)
        }
        .await;
        let mac = match done {
            Ok(mac) => mac,
            Err(e) => {
                req.log.warn(&format!("ADD failed, undoing: {e}"));
                if let Err(undo) = dataplane::delete_link(&host, &self.host_veth).await {
                    req.log
                        .warn(&format!("removing {}: {undo}", self.host_veth));
                }
                if allocated {
                    if let Err(undo) = self.ipam(Action::Del).await {
                        req.log.warn(&format!("releasing addresses: {undo}"));
                    }
                }
                return Err(e);
            }
        };
        req.log.info(&format!(
            "attached {:?} via {} to {}",
            ips, self.host_veth, netns_path
        ));
        Ok(CniResult {
            interfaces: vec![
                Interface {
                    name: self.host_veth.clone(),
                    mac: Some(dataplane::format_mac(&HOST_MAC)),
                    sandbox: None,
                },
                Interface {
                    name: req.env.ifname.clone(),
                    mac: Some(mac),
                    sandbox: Some(netns_path.to_string()),
                },
            ],
            ips: ips
                .iter()
                .map(|ip| IpConfig {
                    address: *ip,
                    gateway: None,
                    interface: Some(1),
                })
                .collect(),
            routes: Vec::new(),
            dns,
        })
    }

    async fn del(&self) -> Result<()> {
        let req = self.req;
        let ours = match self.existing_endpoint().await? {
            Some(w) if w.spec.container_id != req.env.container_id => {
                req.log.info(&format!(
                    "endpoint {} belongs to container {}; leaving it",
                    w.metadata.name, w.spec.container_id
                ));
                false
            }
            Some(w) => {
                match self
                    .client
                    .delete(
                        Kind::WorkloadEndpoint,
                        Some(&self.id.namespace),
                        &w.metadata.name,
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(datastore::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                true
            }
            None => true,
        };
        let netns_file = req.env.netns.as_deref().and_then(|p| netns::open(p).ok());
        match netns_file {
            Some(ns) => {
                let ifname = req.env.ifname.clone();
                netns::run_in(ns, move |h| async move {
                    dataplane::delete_link(&h, &ifname).await.map(|_| ())
                })?;
            }
            None if ours => {
                let host = netns::connect_here()?;
                dataplane::delete_link(&host, &self.host_veth).await?;
            }
            None => {}
        }
        self.ipam(Action::Del).await?;
        Ok(())
    }

    async fn check(&self) -> Result<()> {
        let req = self.req;
        let prev = prev_result(req)?;
        let ns = netns::open(self.netns_path()?)?;
        let spec = VethSpec {
            host_name: self.host_veth.clone(),
            ifname: req.env.ifname.clone(),
            mtu: req.conf.mtu(),
            ips: prev.ips.iter().map(|i| i.address).collect(),
            allow_ip_forwarding: req.conf.container_settings.allow_ip_forwarding,
        };
        let host = netns::connect_here()?;
        dataplane::verify(&host, ns, &spec).await?;
        match self.existing_endpoint().await? {
            Some(w) if w.spec.container_id == req.env.container_id => {}
            _ => {
                return Err(Error::Config(format!(
                    "CHECK: no WorkloadEndpoint {} for this container",
                    self.id.endpoint_name()
                )))
            }
        }
        self.ipam(Action::Check).await?;
        Ok(())
    }

    /// GC: removes this node's endpoints of this network whose (container, interface) the
    /// runtime no longer lists, with their host veths, then lets IPAM release the rest.
    async fn gc(&self, node: &str) -> Result<()> {
        let req = self.req;
        let valid: Vec<(&str, &str)> = req
            .conf
            .valid_attachments
            .iter()
            .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
            .collect();
        let ipam = ipam::Ipam::new(Arc::clone(&self.store));
        let host = netns::connect_here()?;
        let listed = self.client.list(Kind::WorkloadEndpoint, None, "").await?;
        for item in listed.items {
            let Resource::WorkloadEndpoint(w) = item else {
                continue;
            };
            let s = &w.spec;
            let handle = names::ipam_handle(&req.conf.name, &s.container_id);
            if s.node != node
                || !matches!(s.orchestrator.as_str(), "k8s" | "cni")
                || valid.contains(&(s.container_id.as_str(), s.endpoint.as_str()))
                || calico_ipam::held_by(&ipam, &handle).await?.is_empty()
            {
                continue;
            }
            req.log
                .info(&format!("GC removes endpoint {}", w.metadata.name));
            match self
                .client
                .delete(
                    Kind::WorkloadEndpoint,
                    w.metadata.namespace.as_deref(),
                    &w.metadata.name,
                    None,
                )
                .await
            {
                Ok(_) | Err(datastore::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            if !s.interface_name.is_empty() {
                dataplane::delete_link(&host, &s.interface_name).await?;
            }
        }
        self.ipam(Action::Gc).await.map(|_| ())
    }
}
