//! Shared test setup: a real embedded store file in a temp dir and resources applied from
//! YAML through the datastore's resource layer.

use std::sync::Arc;

use datastore::{EmbeddedStore, ResourceClient, Store};
use ipam::Ipam;

/// An allocator on a fresh embedded store file (the temp dir lives as long as the value).
pub struct Fixture {
    pub ipam: Ipam,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(&dir.path().join("calico.db")).expect("open store"));
        Fixture {
            ipam: Ipam::new(Arc::clone(&store)),
            store,
            _dir: dir,
        }
    }

    /// Creates or replaces every resource in `yaml`.
    pub async fn apply(&self, yaml: &str) {
        apply(&self.store, yaml).await;
    }

    /// Whether the store holds `key`.
    pub async fn exists(&self, key: &str) -> bool {
        self.store.get(key).await.expect("store get").is_some()
    }
}

/// Creates or replaces every resource in `yaml` in `store`.
pub async fn apply(store: &Arc<dyn Store>, yaml: &str) {
    let client = ResourceClient::new(Arc::clone(store));
    for r in api::decode_documents(yaml).expect("test YAML decodes") {
        client.apply(r).await.expect("apply test resource");
    }
}

/// YAML of one IPPool.
pub fn pool_yaml(name: &str, cidr: &str, block_size: u8, extra: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: {name}}}\nspec: {{cidr: {cidr}, blockSize: {block_size}{extra}}}\n"
    )
}
