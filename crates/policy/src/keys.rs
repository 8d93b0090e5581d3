//! Identities of the things the model tracks: endpoints, policies, and the
//! IP-bearing items (endpoints and network sets) that rule selectors match.

use std::fmt;

use serde::Serialize;

/// A workload or host endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum EndpointKey {
    /// A `WorkloadEndpoint` (namespaced).
    Workload {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A `HostEndpoint` (cluster scoped).
    Host {
        /// Its name.
        name: String,
    },
}

impl EndpointKey {
    /// A workload endpoint key.
    pub fn workload(namespace: impl Into<String>, name: impl Into<String>) -> EndpointKey {
        EndpointKey::Workload {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A host endpoint key.
    pub fn host(name: impl Into<String>) -> EndpointKey {
        EndpointKey::Host { name: name.into() }
    }
}

impl fmt::Display for EndpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointKey::Workload { namespace, name } => {
                write!(f, "WorkloadEndpoint({namespace}/{name})")
            }
            EndpointKey::Host { name } => write!(f, "HostEndpoint({name})"),
        }
    }
}

/// A NetworkPolicy (with namespace) or GlobalNetworkPolicy (without).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PolicyKey {
    /// Set for NetworkPolicy, `None` for GlobalNetworkPolicy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The policy name.
    pub name: String,
}

impl PolicyKey {
    /// A GlobalNetworkPolicy key.
    pub fn global(name: impl Into<String>) -> PolicyKey {
        PolicyKey {
            namespace: None,
            name: name.into(),
        }
    }

    /// A NetworkPolicy key.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> PolicyKey {
        PolicyKey {
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }
}

impl fmt::Display for PolicyKey {
    /// `namespace/name` or `name`: also the tie-break sort key within an order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Anything with addresses that a rule selector can match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ItemKey {
    Endpoint(EndpointKey),
    NetworkSet { namespace: String, name: String },
    GlobalNetworkSet { name: String },
}
