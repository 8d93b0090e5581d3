//! The agent's in-memory copy of the datastore, fed only by syncer updates: every synced
//! resource and IPAM block by key, counts by kind, and whether it is a complete, current
//! copy. The policy, dataplane and BGP parts read their inputs from here.

use std::collections::BTreeMap;

use api::{Kind, Node, Resource};

use crate::syncer::{SyncKey, SyncStatus, SyncUpdate, SyncValue};

/// The name IPAM blocks are counted under.
pub const IPAM_BLOCK_KIND: &str = "IPAMBlock";

/// What the agent knows of the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    items: BTreeMap<SyncKey, SyncValue>,
    counts: BTreeMap<String, usize>,
    in_sync: bool,
}

/// What applying one update changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A stored item was added, replaced or removed.
    Item(SyncKey),
    /// The in-sync state flipped to this value.
    InSync(bool),
    /// Nothing the model holds changed.
    None,
}

impl Model {
    /// Applies one syncer update.
    pub fn apply(&mut self, update: SyncUpdate) -> Change {
        match update {
            SyncUpdate::Put { key, value, .. } => {
                if self.items.insert(key.clone(), value).is_none() {
                    *self.counts.entry(count_name(&key)).or_default() += 1;
                }
                Change::Item(key)
            }
            SyncUpdate::Delete { key, .. } => {
                if self.items.remove(&key).is_none() {
                    return Change::None;
                }
                let name = count_name(&key);
                if let Some(n) = self.counts.get_mut(&name) {
                    *n -= 1;
                    if *n == 0 {
                        self.counts.remove(&name);
                    }
                }
                Change::Item(key)
            }
            SyncUpdate::Status { status } => {
                let in_sync = matches!(status, SyncStatus::InSync { .. });
                if in_sync == self.in_sync {
                    return Change::None;
                }
                self.in_sync = in_sync;
                Change::InSync(in_sync)
            }
        }
    }

    /// Whether the model is a complete copy as of the syncer's last list or watch event.
    pub fn in_sync(&self) -> bool {
        self.in_sync
    }

    /// How many items of each kind the model holds.
    pub fn counts(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }

    /// One item.
    pub fn get(&self, key: &SyncKey) -> Option<&SyncValue> {
        self.items.get(key)
    }

    /// Every item, in key order.
    pub fn items(&self) -> impl Iterator<Item = (&SyncKey, &SyncValue)> {
        self.items.iter()
    }

    /// The Node resource called `name`, if known.
    pub fn node(&self, name: &str) -> Option<&Node> {
        let key = SyncKey::Resource {
            kind: Kind::Node,
            namespace: None,
            name: name.to_string(),
        };
        match self.items.get(&key) {
            Some(SyncValue::Resource(r)) => match r.as_ref() {
                Resource::Node(node) => Some(node),
                _ => None,
            },
            _ => None,
        }
    }
}

fn count_name(key: &SyncKey) -> String {
    match key {
        SyncKey::Resource { kind, .. } => kind.as_str().to_string(),
        SyncKey::IpamBlock { .. } => IPAM_BLOCK_KIND.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use api::ObjectMeta;

    use super::*;

    fn node_put(name: &str, rev: i64) -> SyncUpdate {
        SyncUpdate::Put {
            key: SyncKey::Resource {
                kind: Kind::Node,
                namespace: None,
                name: name.into(),
            },
            revision: rev,
            value: SyncValue::Resource(Box::new(Resource::Node(Node {
                metadata: ObjectMeta::named(name),
                ..Default::default()
            }))),
        }
    }

    #[test]
    fn applies_puts_deletes_and_status() {
        let mut m = Model::default();
        assert!(!m.in_sync());
        m.apply(node_put("a", 1));
        m.apply(node_put("b", 2));
        m.apply(node_put("a", 3));
        assert_eq!(m.counts().get("Node"), Some(&2));
        assert!(m.node("a").is_some());
        assert_eq!(
            m.apply(SyncUpdate::Status {
                status: SyncStatus::InSync { revision: 3 }
            }),
            Change::InSync(true)
        );
        let key = SyncKey::Resource {
            kind: Kind::Node,
            namespace: None,
            name: "a".into(),
        };
        assert_eq!(
            m.apply(SyncUpdate::Delete {
                key: key.clone(),
                revision: 4
            }),
            Change::Item(key.clone())
        );
        assert_eq!(
            m.apply(SyncUpdate::Delete { key, revision: 5 }),
            Change::None
        );
        assert!(m.node("a").is_none());
        assert_eq!(m.items().count(), 1);
        m.apply(SyncUpdate::Delete {
            key: SyncKey::Resource {
                kind: Kind::Node,
                namespace: None,
                name: "b".into(),
            },
            revision: 6,
        });
        assert!(m.counts().is_empty());
    }
}
