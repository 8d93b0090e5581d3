//! Attribute interning: every distinct attribute set is stored once and
//! shared by `Arc` across all prefixes and RIBs that carry it.

use std::sync::Arc;

use super::hash::FastSet;
use crate::codec::PathAttributes;

/// A set of shared attribute sets.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: FastSet<Arc<PathAttributes>>,
    swept_at: usize,
}

impl Interner {
    /// The shared copy of `attrs`.
    pub(crate) fn intern(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        if let Some(found) = self.set.get(&attrs) {
            return found.clone();
        }
        let arc = Arc::new(attrs);
        self.set.insert(arc.clone());
        if self.set.len() > 2 * self.swept_at.max(512) {
            self.sweep();
        }
        arc
    }

    /// Drops attribute sets no route refers to any more.
    pub(crate) fn sweep(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.swept_at = self.set.len();
    }

    /// Number of distinct attribute sets held.
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}
