//! The `calico-ipam` plugin: ADD assigns addresses (those already held by the container's
//! handle `<network>.<containerID>`, else the ones asked for with CNI_ARGS `IP=` or
//! `args.cni.ips`, else automatically from the configured pools), DEL releases the handle
//! (and the legacy `<namespace>.<pod>` handle), CHECK verifies the handle holds the
//! addresses of `prevResult`; STATUS checks a usable pool exists; GC releases this node's
//! handles of this network whose container the runtime no longer lists. Calls that change
//! allocations are serialised on the node by the IPAM lock file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use datastore::Store;
use ipam::{AssignIPArgs, AutoAssignArgs, Ipam};
use ipnet::IpNet;

use crate::connect::{self, env_var};
use crate::error::{Error, Result};
use crate::lock::{self, DEFAULT_LOCK_FILE};
use crate::names::{self, WorkloadId};
use crate::result::{CniResult, IpConfig};
use crate::skel::{Action, Request};

/// Handles one calico-ipam invocation.
pub async fn handle(req: Request) -> Result<Option<CniResult>> {
    let store = match connect::store(&req.conf).await {
        Err(e) if req.action == Action::Status => {
            return Err(Error::NotAvailable(format!("datastore unreachable: {e}")))
        }
        other => other?,
    };
    serve(req, store).await
}

/// Handles one invocation on an open datastore (the calico plugin calls this in-process).
pub async fn serve(req: Request, store: Arc<dyn Store>) -> Result<Option<CniResult>> {
    let node = req.conf.node_name(env_var)?;
    let id = WorkloadId::from_env(&req.env, &node);
    let handle_id = names::ipam_handle(&req.conf.name, &req.env.container_id);
    let ipam = Ipam::new(store);
    let lock_path = req
        .conf
        .ipam_lock_file
        .as_deref()
        .unwrap_or(DEFAULT_LOCK_FILE);
    // STATUS only reads; everything else changes allocations under the node's lock.
    let _lock = match req.action {
        Action::Status => None,
        _ => Some(lock::acquire(lock_path)?),
    };
    match req.action {
        Action::Status => status(&req, &ipam).await.map(|()| None),
        Action::Gc => gc(&req, &ipam, &node).await.map(|()| None),
        Action::Add => add(&req, &ipam, &id, &handle_id).await.map(Some),
        Action::Del => {
            let mut handles = vec![handle_id];
            handles.extend(id.legacy_handle());
            for h in &handles {
                match ipam.release_by_handle(h).await {
                    Ok(ips) => req.log.info(&format!("released {ips:?} of handle {h}")),
                    Err(ipam::Error::HandleNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(None)
        }
        Action::Check => {
            let held = held_by(&ipam, &handle_id).await?;
            let prev = prev_result(&req)?;
            for ip in &prev.ips {
                if !held.contains(&ip.address.addr()) {
                    return Err(Error::Config(format!(
                        "CHECK: {} is not assigned to handle {handle_id}",
                        ip.address
                    )));
                }
            }
            Ok(None)
        }
    }
}

/// The `prevResult` of a CHECK.
pub fn prev_result(req: &Request) -> Result<CniResult> {
    let prev = req
        .conf
        .prev_result
        .as_ref()
        .ok_or_else(|| Error::Config("CHECK needs a prevResult".into()))?;
    CniResult::from_json(prev)
}

/// STATUS: every family we would assign has an enabled pool (the requested ones, when
/// `ipv4_pools` / `ipv6_pools` name them).
async fn status(req: &Request, ipam: &Ipam) -> Result<()> {
    let pools = ipam
        .pools()
        .await
        .map_err(|e| Error::NotAvailable(format!("cannot read IP pools: {e}")))?;
    let (v4, v6) = req.conf.families()?;
    let wanted = [
        (v4, true, &req.conf.ipam.ipv4_pools, "IPv4"),
        (v6, false, &req.conf.ipam.ipv6_pools, "IPv6"),
    ];
    for (needed, is_v4, requested, family) in wanted {
        let usable = pools.iter().any(|p| {
            !p.disabled
                && p.cidr.addr().is_ipv4() == is_v4
                && (requested.is_empty()
                    || requested
                        .iter()
                        .any(|r| *r == p.name || *r == p.cidr.to_string()))
        });
        if needed && !usable {
            return Err(Error::NotAvailable(format!(
                "no enabled {family} IP pool is available"
            )));
        }
    }
    Ok(())
}

/// GC: releases this node's handles of this network whose container is not among the
/// runtime's valid attachments.
async fn gc(req: &Request, ipam: &Ipam, node: &str) -> Result<()> {
    let prefix = ipam::handle_key(&format!("{}.", req.conf.name));
    let valid: Vec<&str> = req
        .conf
        .valid_attachments
        .iter()
        .map(|a| a.container_id.as_str())
        .collect();
    let listed = ipam
        .store()
        .list(&prefix)
        .await
        .map_err(ipam::Error::from)?;
    for kv in listed.items {
        let Some(container) = kv.key.strip_prefix(&prefix) else {
            continue;
        };
        if valid.contains(&container) {
            continue;
        }
        let handle = names::ipam_handle(&req.conf.name, container);
        let ips = held_by(ipam, &handle).await?;
        let mut on_this_node = false;
        for ip in &ips {
            if let Some(info) = ipam.ip_info(*ip).await? {
                on_this_node |= info.attributes.get("node").map(String::as_str) == Some(node);
            }
        }
        if on_this_node {
            let released = ipam.release_by_handle(&handle).await?;
            req.log
                .info(&format!("GC released {released:?} of handle {handle}"));
        }
    }
    Ok(())
}

/// The addresses `handle` holds; none when the handle does not exist.
pub async fn held_by(ipam: &Ipam, handle: &str) -> Result<Vec<IpAddr>> {
    match ipam.ips_by_handle(handle).await {
        Ok(ips) => Ok(ips),
        Err(ipam::Error::HandleNotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn add(req: &Request, ipam: &Ipam, id: &WorkloadId, handle: &str) -> Result<CniResult> {
    let held = held_by(ipam, handle).await?;
    let ips: Vec<IpAddr> = if !held.is_empty() {
        req.log
            .info(&format!("handle {handle} already holds {held:?}"));
        held
    } else {
        let mut attrs = BTreeMap::from([
            ("node".to_string(), id.node.clone()),
            ("timestamp".to_string(), names::timestamp_now()),
        ]);
        if let Some(pod) = &id.pod {
            attrs.insert("namespace".into(), id.namespace.clone());
            attrs.insert("pod".into(), pod.clone());
        }
        let requested = requested_ips(req)?;
        if requested.is_empty() {
            let (v4, v6) = req.conf.families()?;
            let args = AutoAssignArgs {
                num4: usize::from(v4),
                num6: usize::from(v6),
                handle: Some(handle.to_string()),
                attrs,
                hostname: id.node.clone(),
                ipv4_pools: req.conf.ipam.ipv4_pools.clone(),
                ipv6_pools: req.conf.ipam.ipv6_pools.clone(),
                ..Default::default()
            };
            let got = ipam.auto_assign(&args).await?;
            got.all().map(IpNet::addr).collect()
        } else {
            assign_explicit(ipam, &requested, handle, &id.node, attrs).await?
        }
    };
    req.log
        .info(&format!("assigned {ips:?} to handle {handle}"));
    Ok(CniResult {
        ips: ips
            .into_iter()
            .map(|ip| IpConfig {
                address: IpNet::from(ip),
                gateway: None,
                interface: None,
            })
            .collect(),
        ..Default::default()
    })
}

/// Addresses asked for by CNI_ARGS `IP=` (comma-separated) and `args.cni.ips`.
fn requested_ips(req: &Request) -> Result<Vec<IpAddr>> {
    let from_args = req.env.args.get("IP").unwrap_or_default();
    from_args
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .chain(req.conf.requested_ips())
        .map(|s| {
            let addr = s.split('/').next().unwrap_or_default();
            addr.parse::<IpAddr>()
                .map_err(|_| Error::Config(format!("requested IP {s:?} is not an IP address")))
        })
        .collect()
}

/// Assigns exactly `ips`; all or nothing.
async fn assign_explicit(
    ipam: &Ipam,
    ips: &[IpAddr],
    handle: &str,
    node: &str,
    attrs: BTreeMap<String, String>,
) -> Result<Vec<IpAddr>> {
    let mut done = Vec::new();
    for ip in ips {
        let mut args = AssignIPArgs::new(*ip, handle, node);
        args.attrs = attrs.clone();
        match ipam.assign_ip(&args).await {
            Ok(_) => done.push(*ip),
            Err(e) => {
                if !done.is_empty() {
                    ipam.release_by_handle(handle).await?;
                }
                return Err(e.into());
            }
        }
    }
    Ok(done)
}
