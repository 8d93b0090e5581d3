//! The small stored IPAM records beside blocks: a host's affinity to a block and a handle's
//! per-block allocation counts, in Calico's JSON shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Lifecycle of a host's claim on a block: `pending -> confirmed -> pendingDeletion -> gone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AffinityState {
    /// The claim is in progress (block may not exist yet); not yet an owner.
    Pending,
    /// The host owns the block.
    Confirmed,
    /// The host is giving the block up; nobody may claim it until the key is gone.
    PendingDeletion,
}

/// Value stored at `/calico/ipam/v2/host/<host>/ipvX/block/<block>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAffinity {
    pub state: AffinityState,
    #[serde(default)]
    pub deleted: bool,
}

impl BlockAffinity {
    /// An affinity in `state`.
    pub fn new(state: AffinityState) -> Self {
        BlockAffinity {
            state,
            deleted: false,
        }
    }
}

/// Value stored at `/calico/ipam/v2/handle/<id>`: how many addresses the handle holds in each
/// block (keyed by block CIDR, e.g. `10.0.0.0/26`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamHandle {
    #[serde(default)]
    pub block: BTreeMap<String, i64>,
    #[serde(default)]
    pub deleted: bool,
}

impl IpamHandle {
    /// Adds `delta` (may be negative) to the count of `block`, dropping zero counts.
    pub fn adjust(&mut self, block: &str, delta: i64) {
        let count = self.block.entry(block.to_string()).or_insert(0);
        *count += delta;
        if *count <= 0 {
            self.block.remove(block);
        }
    }

    /// True when the handle holds nothing any more.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_shapes() {
        let a = BlockAffinity::new(AffinityState::PendingDeletion);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"state":"pendingDeletion","deleted":false}"#
        );
        let mut h = IpamHandle::default();
        h.adjust("10.0.0.0/26", 2);
        h.adjust("10.0.0.64/26", 1);
        h.adjust("10.0.0.64/26", -1);
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"block":{"10.0.0.0/26":2},"deleted":false}"#
        );
        h.adjust("10.0.0.0/26", -2);
        assert!(h.is_empty());
    }
}
