//! The `calico` plugin. ADD: get addresses (re-using those of an existing endpoint of the
//! same container, else from the IPAM plugin), build the veth, routes and sysctls, record
//! the WorkloadEndpoint; any failure after IPAM undoes all of it. DEL: remove the endpoint
//! (unless a newer sandbox owns it), the veth and the addresses; unknown things are not
//! errors. CHECK: verify the dataplane, the endpoint and (via the IPAM plugin) addresses.

use std::net::IpAddr;

use api::{Kind, Resource, WorkloadEndpoint};
use datastore::ResourceClient;
use ipnet::IpNet;

use crate::calico_ipam::prev_result;
use crate::connect::{self, env_var};
use crate::dataplane::{self, VethSpec, HOST_MAC};
use crate::delegate;
use crate::endpoint::{self, Attachment};
use crate::error::{Error, Result};
use crate::names::{self, WorkloadId};
use crate::netns;
use crate::result::{CniResult, Interface, IpConfig};
use crate::skel::{Action, Request};

/// Handles one calico invocation.
pub async fn handle(req: Request) -> Result<Option<CniResult>> {
    let node = req.conf.node_name(env_var)?;
    let id = WorkloadId::from_env(&req.env, &node);
    let host_veth = id.host_veth_name(&names::interface_prefix(
        env_var("FELIX_INTERFACEPREFIX").as_deref(),
    ));
    let ctx = Ctx {
        req: &req,
        id,
        host_veth,
    };
    match req.action {
        Action::Add => ctx.add().await.map(Some),
        Action::Del => ctx.del().await.map(|()| None),
        Action::Check => ctx.check().await.map(|()| None),
    }
}

struct Ctx<'a> {
    req: &'a Request,
    id: WorkloadId,
    host_veth: String,
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

    fn ipam(&self, command: &str) -> Result<Option<serde_json::Value>> {
        let binary = delegate::find(&self.req.conf.ipam.plugin_type, &self.req.env.path)?;
        delegate::run(&binary, command, &self.req.stdin)
    }

    fn resources(&self, store: std::sync::Arc<dyn datastore::Store>) -> ResourceClient {
        ResourceClient::new(store)
    }

    async fn existing_endpoint(&self, client: &ResourceClient) -> Result<Option<WorkloadEndpoint>> {
        let name = self.id.endpoint_name();
        match client
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
        let client = self.resources(connect::store(&req.conf).await?);
        let existing = self
            .existing_endpoint(&client)
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
                let out = self.ipam("ADD")?.ok_or_else(|| Error::Delegate {
                    plugin: req.conf.ipam.plugin_type.clone(),
                    code: 999,
                    msg: "IPAM plugin returned no result".into(),
                })?;
                let result = CniResult::from_json(&out)?;
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
            client.apply(Resource::WorkloadEndpoint(wep)).await?;
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
                    if let Err(undo) = self.ipam("DEL") {
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
        let client = self.resources(connect::store(&req.conf).await?);
        let ours = match self.existing_endpoint(&client).await? {
            Some(w) if w.spec.container_id != req.env.container_id => {
                req.log.info(&format!(
                    "endpoint {} belongs to container {}; leaving it",
                    w.metadata.name, w.spec.container_id
                ));
                false
            }
            Some(w) => {
                match client
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
        self.ipam("DEL")?;
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
        let client = self.resources(connect::store(&req.conf).await?);
        match self.existing_endpoint(&client).await? {
            Some(w) if w.spec.container_id == req.env.container_id => {}
            _ => {
                return Err(Error::Config(format!(
                    "CHECK: no WorkloadEndpoint {} for this container",
                    self.id.endpoint_name()
                )))
            }
        }
        self.ipam("CHECK")?;
        Ok(())
    }
}
