//! `calico-node --dump-dataplane`: what this node wants programmed and what is programmed,
//! without changing anything. It reads the datastore once (the same syncer stream the agent
//! consumes, up to `InSync`), builds the desired state, reads our nftables tables and routes
//! in the current network namespace and prints one JSON document: which endpoint owns each
//! interface, the desired state, the full desired nft text (every rule's comment says why it exists: endpoint, direction,
//! tier, policy or profile, rule index), and the batch and route changes an agent would
//! apply now (empty when the dataplane has converged).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dataplane::model::IpVersion;
use dataplane::routes::{diff_routes, Route, RouteManager};
use dataplane::{nft, Table};
use serde_json::json;

use super::DataplaneDriver;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::syncer::{self, SyncStatus, SyncUpdate, SyncerOptions};
use crate::{agent, nodename, Error, Result};

/// Builds the dump (pretty JSON) for the node named by the environment.
pub async fn dump(datastore_config: Option<&Path>) -> Result<String> {
    let settings = Settings::from_env(|name| std::env::var(name).ok())?;
    let store = agent::connect(datastore_config).await?;
    let name = nodename::resolve(settings.node_name.as_deref(), &settings.state_dir)?;
    let metrics = Arc::new(Metrics::new());
    let (_syncer, mut updates) =
        syncer::spawn(store, Arc::clone(&metrics), SyncerOptions::default());
    let mut driver = DataplaneDriver::new(&name, metrics);
    loop {
        let Some(update) = updates.recv().await else {
            return Err(Error::TaskStopped("datastore syncer".into()));
        };
        let done = matches!(
            update,
            SyncUpdate::Status {
                status: SyncStatus::InSync { .. }
            }
        );
        driver.handle(&update);
        if done {
            break;
        }
    }
    let desired = driver.desired();
    let endpoints: BTreeMap<&str, String> = driver
        .inputs
        .workloads
        .iter()
        .chain(&driver.inputs.host_endpoints)
        .map(|(key, local)| (local.interface.as_str(), key.to_string()))
        .collect();
    let mut nft_desired = BTreeMap::new();
    let mut nft_pending = BTreeMap::new();
    for family in [IpVersion::V4, IpVersion::V6] {
        let wanted = dataplane::render(&desired.state, family)
            .map_err(|e| Error::dataplane("rendering nftables", e))?;
        let have = nft::read_table(family).map_err(|e| Error::dataplane("reading nftables", e))?;
        let key = wanted.family_name();
        nft_desired.insert(key, dataplane::diff(&Table::empty(family), &wanted).text);
        nft_pending.insert(key, dataplane::diff(&have, &wanted).text);
    }
    let programmed = RouteManager::new()
        .map_err(|e| Error::dataplane("opening netlink", e))?
        .list()
        .await
        .map_err(|e| Error::dataplane("listing routes", e))?;
    let routes = diff_routes(&programmed, &desired.routes);
    let text = |routes: &mut dyn Iterator<Item = &Route>| -> Vec<String> {
        routes.map(route_text).collect()
    };
    let doc = json!({
        "node": name,
        "endpoints": endpoints,
        "desired": desired.state,
        "desiredRoutes": text(&mut desired.routes.iter()),
        "desiredNft": nft_desired,
        "pendingNft": nft_pending,
        "programmedRoutes": text(&mut programmed.iter()),
        "pendingRouteDeletes": text(&mut routes.delete.iter()),
        "pendingRouteAdds": text(&mut routes.add.iter()),
    });
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default())
}

/// A route as `ip route` would show it.
fn route_text(route: &Route) -> String {
    match route {
        Route::Workload { dst, iface } => format!("{dst} dev {iface} scope link proto 80"),
        Route::Blackhole { dst } => format!("blackhole {dst} proto 80"),
    }
}
