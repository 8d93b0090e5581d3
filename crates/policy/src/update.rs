//! The events the model consumes: a resource was created or changed, or one
//! was deleted.

use api::{Kind, Resource};

/// One datastore change.
// Updates are built, moved into `Model::apply` and consumed; boxing the
// resource would only add an allocation and noise at every call site.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// A resource was created or replaced.
    Put(Resource),
    /// A resource was deleted.
    Delete {
        /// Its kind.
        kind: Kind,
        /// Its namespace, for namespaced kinds.
        namespace: Option<String>,
        /// Its name.
        name: String,
    },
}

impl Update {
    /// A delete of a cluster-scoped resource.
    pub fn delete(kind: Kind, name: impl Into<String>) -> Update {
        Update::Delete {
            kind,
            namespace: None,
            name: name.into(),
        }
    }

    /// A delete of a namespaced resource.
    pub fn delete_namespaced(
        kind: Kind,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Update {
        Update::Delete {
            kind,
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }
}
