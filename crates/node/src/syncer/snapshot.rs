//! What the syncer's consumer has been told, by datastore key and revision, and the pure diff
//! between that and a fresh listing: after a re-list only real differences are delivered,
//! so a consumer never sees a resource vanish and come back.

use std::collections::BTreeMap;

use datastore::Revision;

/// The revision of every key the consumer currently holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    revisions: BTreeMap<String, Revision>,
}

/// The changes that turn the consumer's view into a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Indexes into the listing of entries that are new or changed.
    pub changed: Vec<usize>,
    /// Keys the consumer holds that the listing no longer has.
    pub removed: Vec<String>,
}

impl Snapshot {
    /// What differs between the consumer's view and `listed` (key, revision) pairs.
    pub fn diff(&self, listed: &[(&str, Revision)]) -> Diff {
        let changed = listed
            .iter()
            .enumerate()
            .filter(|(_, (key, rev))| self.revisions.get(*key) != Some(rev))
            .map(|(i, _)| i)
            .collect();
        let present: std::collections::BTreeSet<&str> = listed.iter().map(|(k, _)| *k).collect();
        let removed = self
            .revisions
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .cloned()
            .collect();
        Diff { changed, removed }
    }

    /// Whether the consumer already holds `key` at `revision` (a replayed event).
    pub fn holds(&self, key: &str, revision: Revision) -> bool {
        self.revisions.get(key) == Some(&revision)
    }

    /// The consumer has been given `key` at `revision`.
    pub fn record(&mut self, key: &str, revision: Revision) {
        self.revisions.insert(key.to_string(), revision);
    }

    /// The consumer no longer holds `key`; returns whether it did.
    pub fn forget(&mut self, key: &str) -> bool {
        self.revisions.remove(key).is_some()
    }

    /// How many keys the consumer holds.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_only_real_changes() {
        let mut s = Snapshot::default();
        assert_eq!(s.len(), 0);
        s.record("/a", 1);
        s.record("/b", 2);
        s.record("/c", 3);
        assert_eq!(s.len(), 3);
        let listed = [("/a", 1), ("/b", 5), ("/d", 6)];
        assert_eq!(
            s.diff(&listed),
            Diff {
                changed: vec![1, 2],
                removed: vec!["/c".to_string()],
            }
        );
        assert_eq!(s.diff(&[("/a", 1), ("/b", 2), ("/c", 3)]), Diff::default());
    }

    #[test]
    fn holds_record_forget() {
        let mut s = Snapshot::default();
        assert!(!s.holds("/a", 1));
        s.record("/a", 1);
        assert!(s.holds("/a", 1));
        assert!(!s.holds("/a", 2));
        assert!(s.forget("/a"));
        assert!(!s.forget("/a"));
    }
}
