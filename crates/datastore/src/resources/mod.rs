//! The typed resource layer: `projectcalico.org/v3` resources stored under
//! `/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>` in any [`Store`].
//!
//! Stored values are the resource's JSON without `metadata.resourceVersion`; that field is the
//! key's revision, filled in (as a decimal string) on every read. Writes validate the resource,
//! apply defaults and check the rules that span resources (pools must not overlap, a policy's
//! tier must exist); updates are compare-and-swap on the revision.

mod id;
mod stored;
mod watch;

use std::sync::Arc;

use api::{Kind, Resource};

pub use id::{ResourceId, DEFAULT_NAMESPACE, RESOURCE_PREFIX};
use stored::{decode_kv, encode, revision_of, rfc3339_now};
pub use watch::{ResourceEvent, ResourceWatch};

use crate::{Error, Result, Revision, Store};

/// How often an update without a resourceVersion is tried when other writers keep winning.
const UPDATE_ATTEMPTS: u32 = 5;

/// The result of a list: matching resources in key order and the store revision it was read at.
#[derive(Clone, Debug)]
pub struct ResourceList {
    pub items: Vec<Resource>,
    pub revision: Revision,
}

/// Typed access to `projectcalico.org/v3` resources over any [`Store`].
#[derive(Clone)]
pub struct ResourceClient {
    store: Arc<dyn Store>,
}

impl ResourceClient {
    pub fn new(store: Arc<dyn Store>) -> Self {
        ResourceClient { store }
    }

    /// One resource; `Error::NotFound` naming it (e.g. `IPPool(pool1)`) if absent.
    pub async fn get(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Result<Resource> {
        let id = ResourceId::new(kind, namespace, name);
        self.get_id(&id).await
    }

    /// Every resource of `kind` whose name starts with `name_prefix`, in one namespace or (for
    /// `None`) all of them. Cluster-scoped kinds ignore `namespace`.
    pub async fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name_prefix: &str,
    ) -> Result<ResourceList> {
        let prefix = match (kind.namespaced(), namespace) {
            (true, Some(ns)) => format!("{RESOURCE_PREFIX}{}/{ns}/", kind.plural()),
            _ => format!("{RESOURCE_PREFIX}{}/", kind.plural()),
        };
        let listed = self.store.list(&prefix).await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for kv in &listed.items {
            let Some(id) = ResourceId::from_key(kind, &kv.key) else {
                continue;
            };
            if id.name.starts_with(name_prefix) {
                items.push(decode_kv(kind, kv)?);
            }
        }
        Ok(ResourceList {
            items,
            revision: listed.revision,
        })
    }

    /// Validates, defaults and stores a new resource; `Error::AlreadyExists` if present.
    /// Sets the namespace of namespaced kinds (`default` when unset), uid and creationTimestamp.
    pub async fn create(&self, mut resource: Resource) -> Result<Resource> {
        if let Some(rv) = resource.metadata().resource_version.clone() {
            return Err(invalid(
                &resource,
                "metadata.resourceVersion",
                &format!("field must not be set for a create request (found '{rv}')"),
            ));
        }
        normalise_namespace(&mut resource);
        resource.apply_defaults();
        resource.validate()?;
        let id = ResourceId::of(&resource);
        self.check_references(&resource).await?;
        let meta = resource.metadata_mut();
        meta.uid = Some(uuid::Uuid::new_v4().to_string());
        meta.creation_timestamp = Some(rfc3339_now());
        let value = encode(&resource)?;
        let revision = self
            .store
            .create(&id.key(), &value)
            .await
            .map_err(|e| name_error(e, &id))?;
        resource.metadata_mut().resource_version = Some(revision.to_string());
        Ok(resource)
    }

    /// Replaces an existing resource, compare-and-swap on `metadata.resourceVersion` when set
    /// (else on the revision just read, retrying a few times if another writer got in
    /// between). uid and creationTimestamp are kept from the stored resource; an IPPool's
    /// CIDR and block size cannot change. `Error::NotFound` if absent, `Error::Conflict` if
    /// it changed meanwhile.
    pub async fn update(&self, mut resource: Resource) -> Result<Resource> {
        normalise_namespace(&mut resource);
        let expected = match resource.metadata().resource_version.as_deref() {
            Some(rv) => Some(rv.parse::<Revision>().map_err(|_| {
                invalid(
                    &resource,
                    "metadata.resourceVersion",
                    &format!("'{rv}' is not a revision number"),
                )
            })?),
            None => None,
        };
        let mut attempt = 1;
        loop {
            match self.update_once(resource.clone(), expected).await {
                Err(Error::Conflict { .. }) if expected.is_none() && attempt < UPDATE_ATTEMPTS => {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn update_once(
        &self,
        mut resource: Resource,
        expected: Option<Revision>,
    ) -> Result<Resource> {
        let id = ResourceId::of(&resource);
        let current = self.get_id(&id).await?;
        let current_revision = revision_of(&current)?;
        let expected = expected.unwrap_or(current_revision);
        if expected != current_revision {
            return Err(Error::Conflict {
                key: id.to_string(),
                expected,
                actual: current_revision,
            });
        }
        resource.apply_defaults();
        resource.validate()?;
        check_immutable(&current, &resource)?;
        self.check_references(&resource).await?;
        let kept = current.metadata();
        let (uid, created) = (kept.uid.clone(), kept.creation_timestamp.clone());
        let meta = resource.metadata_mut();
        meta.uid = uid;
        meta.creation_timestamp = created;
        meta.resource_version = None;
        let value = encode(&resource)?;
        let revision = self
            .store
            .update(&id.key(), &value, expected)
            .await
            .map_err(|e| name_error(e, &id))?;
        resource.metadata_mut().resource_version = Some(revision.to_string());
        Ok(resource)
    }

    /// Creates the resource, or updates it if it already exists (honouring a resourceVersion
    /// given in the resource for the update).
    pub async fn apply(&self, resource: Resource) -> Result<Resource> {
        let mut fresh = resource.clone();
        fresh.metadata_mut().resource_version = None;
        match self.create(fresh).await {
            Err(Error::AlreadyExists { .. }) => self.update(resource).await,
            other => other,
        }
    }

    /// Deletes a resource (only at `revision` when given) and returns what was stored.
    pub async fn delete(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        revision: Option<Revision>,
    ) -> Result<Resource> {
        let id = ResourceId::new(kind, namespace, name);
        if kind == Kind::Tier && is_builtin_tier(name) {
            return Err(Error::Invalid(api::Error::Validation {
                kind,
                name: name.to_string(),
                field: "metadata.name".to_string(),
                reason: "the built-in tier cannot be deleted".to_string(),
            }));
        }
        let kv = self
            .store
            .delete(&id.key(), revision)
            .await
            .map_err(|e| name_error(e, &id))?;
        decode_kv(kind, &kv)
    }

    /// Streams every change to resources of `kind` after store revision `after`.
    pub async fn watch(&self, kind: Kind, after: Revision) -> Result<ResourceWatch> {
        let prefix = format!("{RESOURCE_PREFIX}{}/", kind.plural());
        let inner = self.store.watch(&prefix, after).await?;
        Ok(ResourceWatch { kind, inner })
    }

    async fn get_id(&self, id: &ResourceId) -> Result<Resource> {
        match self.store.get(&id.key()).await? {
            Some(kv) => decode_kv(id.kind, &kv),
            None => Err(Error::NotFound {
                key: id.to_string(),
            }),
        }
    }

    /// Rules that need other resources: enabled pools must not overlap other pools, and a
    /// policy's tier must exist.
    async fn check_references(&self, resource: &Resource) -> Result<()> {
        match resource {
            Resource::IPPool(pool) => {
                // The pool's own stored version (same name) is skipped by the check.
                let others: Vec<api::IPPool> = self
                    .list(Kind::IPPool, None, "")
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|r| match r {
                        Resource::IPPool(p) => Some(p),
                        _ => None,
                    })
                    .collect();
                api::check_pool_overlap(pool, &others)?;
                Ok(())
            }
            Resource::NetworkPolicy(_) | Resource::GlobalNetworkPolicy(_) => {
                let json = resource.to_json();
                let tier = json["spec"]["tier"].as_str().unwrap_or(api::DEFAULT_TIER);
                if is_builtin_tier(tier) {
                    return Ok(());
                }
                let tier_id = ResourceId::new(Kind::Tier, None, tier);
                if self.store.get(&tier_id.key()).await?.is_some() {
                    return Ok(());
                }
                Err(invalid(
                    resource,
                    "spec.tier",
                    &format!("tier \"{tier}\" does not exist"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Fields that cannot change once a resource exists: an IPPool's CIDR and block size.
fn check_immutable(current: &Resource, new: &Resource) -> Result<()> {
    if let (Resource::IPPool(old), Resource::IPPool(pool)) = (current, new) {
        if old.spec.network() != pool.spec.network() {
            let reason = format!("cannot be changed (was {})", old.spec.cidr);
            return Err(invalid(new, "spec.cidr", &reason));
        }
        if old.spec.effective_block_size() != pool.spec.effective_block_size() {
            let was = old.spec.effective_block_size();
            return Err(invalid(
                new,
                "spec.blockSize",
                &format!("cannot be changed (was {was})"),
            ));
        }
    }
    Ok(())
}

/// The tiers that always exist, whether or not a Tier resource is stored for them.
fn is_builtin_tier(name: &str) -> bool {
    api::BUILTIN_TIERS
        .iter()
        .any(|(builtin, _, _)| *builtin == name)
}

/// Namespaced kinds default to `default`. (A namespace on a cluster-scoped kind is left for
/// validation to reject.)
fn normalise_namespace(resource: &mut Resource) {
    if resource.kind().namespaced() {
        resource
            .metadata_mut()
            .namespace
            .get_or_insert_with(|| DEFAULT_NAMESPACE.to_string());
    }
}

fn invalid(resource: &Resource, field: &str, reason: &str) -> Error {
    let id = ResourceId::of(resource);
    let name = match id.namespace {
        Some(ns) => format!("{ns}/{}", id.name),
        None => id.name,
    };
    Error::Invalid(api::Error::Validation {
        kind: id.kind,
        name,
        field: field.to_string(),
        reason: reason.to_string(),
    })
}

/// Replaces the raw key in store errors with the resource's name as calicoctl prints it.
fn name_error(error: Error, id: &ResourceId) -> Error {
    let key = id.to_string();
    match error {
        Error::NotFound { .. } => Error::NotFound { key },
        Error::AlreadyExists { .. } => Error::AlreadyExists { key },
        Error::Conflict {
            expected, actual, ..
        } => Error::Conflict {
            key,
            expected,
            actual,
        },
        other => other,
    }
}
