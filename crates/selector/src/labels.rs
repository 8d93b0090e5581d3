//! The `Labels` trait: anything a selector can read label values from.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A source of labels (key → value). Lookups must not allocate: selectors are
/// evaluated millions of times by the policy engine.
pub trait Labels {
    /// The value of label `key`, or `None` when the label is absent.
    fn get_label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: BuildHasher> Labels for HashMap<String, String, S> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<T: Labels + ?Sized> Labels for &T {
    fn get_label(&self, key: &str) -> Option<&str> {
        (**self).get_label(key)
    }
}
