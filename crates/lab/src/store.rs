//! Datastore access from the lab: applying rendered resources and reading what the agents
//! and the CNI plugin recorded. An etcd the lab started listens inside the fabric namespace,
//! so the work runs on a dedicated thread that has entered that namespace.

use std::fs::File;
use std::future::Future;

use api::{Kind, Resource};
use datastore::{DatastoreConfig, ResourceClient};
use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};
use crate::netns;

/// The lab's datastore, reached from the namespace given (none: from here).
#[derive(Clone, Debug)]
pub struct LabStore {
    pub config: DatastoreConfig,
    pub namespace: Option<String>,
}

impl LabStore {
    /// Runs `job` with a client on a fresh thread (inside the namespace, when set) and a
    /// single-threaded runtime, so no tokio worker ever changes namespace.
    fn with_client<T, F, Fut>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(ResourceClient) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>>,
    {
        let config = self.config.clone();
        let namespace = self.namespace.clone();
        let worker = std::thread::spawn(move || -> Result<T> {
            if let Some(ns) = &namespace {
                let path = netns::path(ns);
                let file =
                    File::open(&path).map_err(|e| Error::io("cannot open namespace", &path, e))?;
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    Error::io("cannot enter namespace", &path, std::io::Error::from(e))
                })?;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("cannot start a runtime for", "the datastore", e))?;
            runtime.block_on(async move {
                let store = datastore::connect(&config).await?;
                job(ResourceClient::new(store)).await
            })
        });
        worker
            .join()
            .map_err(|_| Error::Timeout("the datastore thread panicked".into()))?
    }

    /// Creates or replaces every resource in a multi-document YAML text.
    pub fn apply_yaml(&self, text: &str) -> Result<()> {
        let docs = api::decode_documents(text)?;
        self.with_client(move |client| async move {
            for doc in docs {
                client.apply(doc).await?;
            }
            Ok(())
        })
    }

    /// Every resource of one kind, in all namespaces.
    pub fn list(&self, kind: Kind) -> Result<Vec<Resource>> {
        self.with_client(move |client| async move { Ok(client.list(kind, None, "").await?.items) })
    }
}
