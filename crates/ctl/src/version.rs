//! `calicoctl version` and the client/cluster version check run before other commands.

use anyhow::{anyhow, Result};
use api::Kind;
use datastore::{Error as StoreError, ResourceClient};

/// This calicoctl's version, as printed (`v0.1.0`).
pub fn client_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The commit the binary was built from, when the build environment said
/// (`CALICOCTL_GIT_COMMIT`).
fn git_commit() -> &'static str {
    option_env!("CALICOCTL_GIT_COMMIT").unwrap_or("unknown")
}

/// Prints the client lines and, unless `client_only`, the cluster's version and type from
/// ClusterInformation `default` (when the datastore has one).
pub async fn run(client: Option<&ResourceClient>, client_only: bool) {
    println!("Client Version:    {}", client_version());
    println!("Git commit:        {}", git_commit());
    if client_only {
        return;
    }
    let info = match client {
        Some(c) => c.get(Kind::ClusterInformation, None, "default").await.ok(),
        None => None,
    };
    let Some(info) = info else {
        println!("Unable to detect installed Calico version");
        return;
    };
    let spec = &info.to_json()["spec"];
    let field = |name: &str| match spec[name].as_str() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "unknown".to_string(),
    };
    println!("Cluster Version:   {}", field("calicoVersion"));
    println!("Cluster Type:      {}", field("clusterType"));
}

/// Refuses to run when ClusterInformation names a different Calico version than this client
/// (compared without any `-suffix`). A missing ClusterInformation or version passes.
pub async fn check_mismatch(client: &ResourceClient) -> Result<()> {
    let info = match client.get(Kind::ClusterInformation, None, "default").await {
        Ok(info) => info,
        Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => {
            return Err(anyhow!(
                "Unable to get Cluster Information to verify version mismatch: {e}; use --allow-version-mismatch to override"
            ))
        }
    };
    let cluster = info.to_json()["spec"]["calicoVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let base = |v: &str| v.split('-').next().unwrap_or_default().to_string();
    if cluster.is_empty() || base(&cluster) == base(&client_version()) {
        return Ok(());
    }
    Err(anyhow!(
        "Version mismatch: client version {}, cluster version {}; use --allow-version-mismatch to override",
        client_version(),
        base(&cluster)
    ))
}
