//! calico-node's start-up against the datastore: registers (or updates) this node's Node
//! resource with its addresses and AS, makes sure ClusterInformation `default` exists and
//! creates the default IP pools at first start. Decisions live in [`plan`]; this module reads
//! the interfaces, asks the kernel for `can-reach` and does the writes.

pub mod plan;

use api::{Kind, Node, Resource};
use datastore::ResourceClient;

use crate::autodetect::{self, Family, Interface, Method};
use crate::interfaces;
use crate::settings::Settings;
use crate::{Error, Result};
use plan::AddressPlan;

/// How often a Node update is retried when another writer changed it in between.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Runs the start-up writes for node `name` and returns the registered Node.
pub async fn run(
    client: &ResourceClient,
    settings: &Settings,
    name: &str,
    interfaces: &[Interface],
) -> Result<Node> {
    // The Node first: its checks (autodetection, address conflicts) are the ones that fail.
    let node = register_node(client, settings, name, interfaces).await?;
    ensure_cluster_information(client, settings).await?;
    let has_v6 = node
        .spec
        .bgp
        .as_ref()
        .is_some_and(|b| !b.ipv6_address.is_empty());
    ensure_default_pools(client, settings, has_v6).await?;
    Ok(node)
}

/// The address one family ends up with ("" for none).
fn resolve_address(
    plan: AddressPlan,
    existing: &str,
    method: &Method,
    family: Family,
    interfaces: &[Interface],
) -> Result<String> {
    match plan {
        AddressPlan::Keep => Ok(existing.to_string()),
        AddressPlan::Clear => Ok(String::new()),
        AddressPlan::Fixed(net) => {
            if !plan::is_local(net.addr(), interfaces) {
                tracing::warn!(address = %net, "the configured node address is not on any local interface");
            }
            Ok(net.to_string())
        }
        AddressPlan::Detect => {
            let reach = match method {
                Method::CanReach(dest) => Some(interfaces::source_address_for(dest, family)?),
                _ => None,
            };
            let chosen =
                autodetect::choose(method, family, interfaces, reach).ok_or_else(|| {
                    Error::Autodetect {
                        version: family.version(),
                        method: method.to_string(),
                        reason: "no interface has a matching global unicast address".to_string(),
                    }
                })?;
            tracing::info!(address = %chosen, %method, "autodetected IPv{} address", family.version());
            Ok(chosen.to_string())
        }
    }
}

async fn register_node(
    client: &ResourceClient,
    settings: &Settings,
    name: &str,
    interfaces: &[Interface],
) -> Result<Node> {
    let mut attempt = 1;
    loop {
        let existing = match client.get(Kind::Node, None, name).await {
            Ok(Resource::Node(node)) => Some(node),
            Ok(_) => None,
            Err(datastore::Error::NotFound { .. }) => None,
            Err(e) => return Err(Error::datastore(format!("reading Node({name})"), e)),
        };
        let bgp = existing
            .as_ref()
            .and_then(|n| n.spec.bgp.clone())
            .unwrap_or_default();
        let mut addresses = Vec::new();
        for (setting, method, family, current) in [
            (
                &settings.ipv4,
                &settings.ipv4_method,
                Family::V4,
                &bgp.ipv4_address,
            ),
            (
                &settings.ipv6,
                &settings.ipv6_method,
                Family::V6,
                &bgp.ipv6_address,
            ),
        ] {
            let plan = plan::address_plan(setting, current, family, interfaces);
            addresses.push(resolve_address(plan, current, method, family, interfaces)?);
        }
        let desired = plan::desired_node(
            existing.as_ref(),
            name,
            &addresses[0],
            &addresses[1],
            settings.as_number,
        );
        check_conflicts(client, name, &addresses[0], &addresses[1]).await?;
        if existing.as_ref() == Some(&desired) {
            tracing::info!(node = name, "Node resource is up to date");
            return Ok(desired);
        }
        let written = match existing {
            None => client.create(Resource::Node(desired)).await,
            Some(_) => client.update(Resource::Node(desired)).await,
        };
        match written {
            Ok(Resource::Node(node)) => {
                tracing::info!(node = name, ipv4 = %addresses[0], ipv6 = %addresses[1], "registered Node");
                return Ok(node);
            }
            Ok(other) => {
                return Err(Error::datastore(
                    format!("writing Node({name})"),
                    datastore::Error::Corrupt {
                        key: name.to_string(),
                        reason: format!("stored a {}", other.kind()),
                    },
                ))
            }
            Err(
                datastore::Error::Conflict { .. }
                | datastore::Error::AlreadyExists { .. }
                | datastore::Error::NotFound { .. },
            ) if attempt < CONFLICT_ATTEMPTS => attempt += 1,
            Err(e) => return Err(Error::datastore(format!("writing Node({name})"), e)),
        }
    }
}

/// Refuses an address another Node already uses.
async fn check_conflicts(
    client: &ResourceClient,
    name: &str,
    ipv4: &str,
    ipv6: &str,
) -> Result<()> {
    let nodes: Vec<Node> = client
        .list(Kind::Node, None, "")
        .await
        .map_err(|e| Error::datastore("listing Nodes", e))?
        .items
        .into_iter()
        .filter_map(|r| match r {
            Resource::Node(n) => Some(n),
            _ => None,
        })
        .collect();
    match plan::conflicting_node(&nodes, name, ipv4, ipv6) {
        Some((node, address)) => Err(Error::AddressInUse {
            node: node.to_string(),
            address,
        }),
        None => Ok(()),
    }
}

async fn ensure_cluster_information(client: &ResourceClient, settings: &Settings) -> Result<()> {
    let context = "ClusterInformation(default)";
    let existing = match client.get(Kind::ClusterInformation, None, "default").await {
        Ok(Resource::ClusterInformation(info)) => Some(info),
        Ok(_) | Err(datastore::Error::NotFound { .. }) => None,
        Err(e) => return Err(Error::datastore(format!("reading {context}"), e)),
    };
    let guid = uuid::Uuid::new_v4().simple().to_string();
    let Some(info) = plan::cluster_information(
        existing.as_ref(),
        settings.cluster_type.as_deref(),
        &settings.calico_version,
        &guid,
    ) else {
        return Ok(());
    };
    let written = match existing {
        None => client.create(Resource::ClusterInformation(info)).await,
        Some(_) => client.update(Resource::ClusterInformation(info)).await,
    };
    match written {
        // Another node wrote it first: theirs is as good as ours.
        Ok(_) | Err(datastore::Error::AlreadyExists { .. } | datastore::Error::Conflict { .. }) => {
            Ok(())
        }
        Err(e) => Err(Error::datastore(format!("writing {context}"), e)),
    }
}

async fn ensure_default_pools(
    client: &ResourceClient,
    settings: &Settings,
    has_v6: bool,
) -> Result<()> {
    let existing: Vec<api::IPPool> = client
        .list(Kind::IPPool, None, "")
        .await
        .map_err(|e| Error::datastore("listing IP pools", e))?
        .items
        .into_iter()
        .filter_map(|r| match r {
            Resource::IPPool(p) => Some(p),
            _ => None,
        })
        .collect();
    let random = *uuid::Uuid::new_v4().as_bytes();
    let pools = plan::default_pools(
        &settings.ipv4_pool,
        &settings.ipv6_pool,
        settings.no_default_pools,
        has_v6,
        &existing,
        [random[0], random[1], random[2], random[3], random[4]],
    );
    for pool in pools {
        let name = pool.metadata.name.clone();
        match client.create(Resource::IPPool(pool)).await {
            Ok(_) => tracing::info!(pool = %name, "created default IP pool"),
            Err(datastore::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(Error::datastore(format!("creating IPPool({name})"), e)),
        }
    }
    Ok(())
}
