//! The typed resource layer: `projectcalico.org/v3` resources stored under
//! `/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>` in any [`Store`].
//!
//! Stored values are the resource's JSON without `metadata.resourceVersion`; that field is the
//! key's revision, filled in (as a decimal string) on every read. Writes validate the resource,
//! apply defaults and check the rules that span resources (pools must not overlap, a policy's
//! tier must exist); updates are compare-and-swap on the revision.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use api::{Kind, Resource};

use crate::{Error, EventKind, KeyValue, Result, Revision, Store, Watch};

/// Every resource key starts with this.
pub const RESOURCE_PREFIX: &str = "/calico/resources/v3/projectcalico.org/";

/// How often an update without a resourceVersion is tried when other writers keep winning.
const UPDATE_ATTEMPTS: u32 = 5;

/// The namespace given to namespaced resources that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Which resource a request is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub kind: Kind,
    /// `Some` exactly for namespaced kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl ResourceId {
    /// The id of `kind`/`name`, placing namespaced kinds in `namespace` (or `default`) and
    /// ignoring `namespace` for cluster-scoped kinds.
    pub fn new(kind: Kind, namespace: Option<&str>, name: &str) -> Self {
        let namespace = kind
            .namespaced()
            .then(|| namespace.unwrap_or(DEFAULT_NAMESPACE).to_string());
        ResourceId {
            kind,
            namespace,
            name: name.to_string(),
        }
    }

    /// The id of a resource as written (namespace defaulted for namespaced kinds).
    pub fn of(resource: &Resource) -> Self {
        let meta = resource.metadata();
        ResourceId::new(resource.kind(), meta.namespace.as_deref(), &meta.name)
    }

    /// The datastore key.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{RESOURCE_PREFIX}{}/{ns}/{}", self.kind.plural(), self.name),
            None => format!("{RESOURCE_PREFIX}{}/{}", self.kind.plural(), self.name),
        }
    }

    /// Parses a datastore key of `kind` back into an id.
    fn from_key(kind: Kind, key: &str) -> Option<Self> {
        let rest = key
            .strip_prefix(RESOURCE_PREFIX)?
            .strip_prefix(kind.plural())?
            .strip_prefix('/')?;
        match (kind.namespaced(), rest.split_once('/')) {
            (true, Some((ns, name))) => Some(ResourceId::new(kind, Some(ns), name)),
            (false, None) => Some(ResourceId::new(kind, None, rest)),
            _ => None,
        }
    }
}

/// Prints as calicoctl names resources in messages: `IPPool(pool1)`, `NetworkPolicy(ns1/p)`.
impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}({ns}/{})", self.kind, self.name),
            None => write!(f, "{}({})", self.kind, self.name),
        }
    }
}

/// The result of a list: matching resources in key order and the store revision it was read at.
#[derive(Clone, Debug)]
pub struct ResourceList {
    pub items: Vec<Resource>,
    pub revision: Revision,
}

/// One change seen by a [`ResourceWatch`].
#[derive(Clone, Debug)]
pub enum ResourceEvent {
    /// The resource was created or updated; it carries its new resourceVersion.
    Applied(Box<Resource>),
    /// The resource was deleted at `revision`.
    Deleted { id: ResourceId, revision: Revision },
}

/// A running watch over one kind; dropping it cancels the watch.
pub struct ResourceWatch {
    kind: Kind,
    inner: Watch,
}

impl ResourceWatch {
    /// The next change, in revision order; `None` when the backend closed the watch.
    pub async fn next(&mut self) -> Option<Result<ResourceEvent>> {
        let event = match self.inner.next().await? {
            Ok(event) => event,
            Err(e) => return Some(Err(e)),
        };
        let Some(id) = ResourceId::from_key(self.kind, &event.key) else {
            return Some(Err(Error::Corrupt {
                key: event.key,
                reason: format!("not a key of a {} resource", self.kind),
            }));
        };
        Some(match (event.kind, event.value) {
            (EventKind::Put, Some(value)) => decode(self.kind, &event.key, &value, event.revision)
                .map(|r| ResourceEvent::Applied(Box::new(r))),
            (EventKind::Put, None) => Err(Error::Corrupt {
                key: event.key,
                reason: "put event without a value".to_string(),
            }),
            (EventKind::Delete, _) => Ok(ResourceEvent::Deleted {
                id,
                revision: event.revision,
            }),
        })
    }
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
    /// Sets the namespace (`default` when unset), uid and creationTimestamp.
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

/// Namespaced kinds default to `default`; cluster-scoped kinds never carry one.
fn normalise_namespace(resource: &mut Resource) {
    let namespaced = resource.kind().namespaced();
    let meta = resource.metadata_mut();
    if namespaced {
        meta.namespace
            .get_or_insert_with(|| DEFAULT_NAMESPACE.to_string());
    } else {
        meta.namespace = None;
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

fn revision_of(resource: &Resource) -> Result<Revision> {
    let rv = resource
        .metadata()
        .resource_version
        .as_deref()
        .unwrap_or("");
    rv.parse().map_err(|_| Error::Corrupt {
        key: ResourceId::of(resource).key(),
        reason: format!("resourceVersion '{rv}' is not a revision"),
    })
}

fn encode(resource: &Resource) -> Result<Vec<u8>> {
    let mut json = resource.to_json();
    if let Some(meta) = json.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&json).map_err(|e| Error::Corrupt {
        key: ResourceId::of(resource).key(),
        reason: e.to_string(),
    })
}

fn decode_kv(kind: Kind, kv: &KeyValue) -> Result<Resource> {
    decode(kind, &kv.key, &kv.value, kv.revision)
}

fn decode(kind: Kind, key: &str, value: &[u8], revision: Revision) -> Result<Resource> {
    let corrupt = |reason: String| Error::Corrupt {
        key: key.to_string(),
        reason,
    };
    let json: serde_json::Value =
        serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
    let mut resource = Resource::from_json(json).map_err(|e| corrupt(e.to_string()))?;
    if resource.kind() != kind {
        return Err(corrupt(format!("holds a {}", resource.kind())));
    }
    resource.metadata_mut().resource_version = Some(revision.to_string());
    Ok(resource)
}

/// The current time as RFC 3339 UTC with second precision, e.g. `2024-05-01T12:00:00Z`.
fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn keys_round_trip() {
        let np = ResourceId::new(Kind::NetworkPolicy, Some("ns1"), "allow-x");
        assert_eq!(
            np.key(),
            "/calico/resources/v3/projectcalico.org/networkpolicies/ns1/allow-x"
        );
        assert_eq!(np.to_string(), "NetworkPolicy(ns1/allow-x)");
        assert_eq!(
            ResourceId::from_key(Kind::NetworkPolicy, &np.key()),
            Some(np)
        );
        let pool = ResourceId::new(Kind::IPPool, Some("ignored"), "pool1");
        assert_eq!(
            pool.key(),
            "/calico/resources/v3/projectcalico.org/ippools/pool1"
        );
        assert_eq!(pool.to_string(), "IPPool(pool1)");
        assert_eq!(ResourceId::from_key(Kind::IPPool, &pool.key()), Some(pool));
        assert_eq!(
            ResourceId::new(Kind::NetworkSet, None, "n")
                .namespace
                .as_deref(),
            Some("default")
        );
        assert_eq!(ResourceId::from_key(Kind::IPPool, "/other/ippools/x"), None);
    }
}
