//! Opening the datastore the netconf (or the environment) names.

use std::sync::Arc;

use datastore::Store;

use crate::error::Result;
use crate::netconf::NetConf;

/// The process environment as a lookup function.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Connects to the configured datastore.
pub async fn store(conf: &NetConf) -> Result<Arc<dyn Store>> {
    let cfg = conf.datastore_config(env_var)?;
    Ok(datastore::connect(&cfg).await?)
}
