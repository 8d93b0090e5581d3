//! Typed watches: store events under one kind's prefix turned into resources.

use api::{Kind, Resource};

use super::id::ResourceId;
use super::stored::decode;
use crate::{Error, EventKind, Result, Revision, Watch};

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
    pub(super) kind: Kind,
    pub(super) inner: Watch,
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
