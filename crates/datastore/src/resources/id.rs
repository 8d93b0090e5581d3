//! Naming resources: `ResourceId` (kind, namespace, name), its datastore key
//! `/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>` and the
//! `Kind(namespace/name)` form calicoctl's messages use.

use api::{Kind, Resource};

/// Every resource key starts with this.
pub const RESOURCE_PREFIX: &str = "/calico/resources/v3/projectcalico.org/";

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
    pub(super) fn from_key(kind: Kind, key: &str) -> Option<Self> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
