//! A fast hasher for the model's dense integer ids (items, selectors,
//! policies): the ids are small sequential integers chosen by the model, not
//! by users, so DoS-resistant SipHash buys nothing on these hot maps.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplicative (Fibonacci) hashing of one integer.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let mixed = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = mixed ^ (mixed >> 29);
    }
}

/// `HashMap` keyed by a model id.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// `HashSet` of model ids.
pub(crate) type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_ids_spread_over_buckets() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let mut low_bits = HashSet::new();
        for id in 0u32..1024 {
            low_bits.insert(build.hash_one(id) & 1023);
        }
        // A good spread hits most of the 1024 buckets (identity would hit all,
        // a broken mix only a handful).
        assert!(low_bits.len() > 600, "{}", low_bits.len());
        assert_ne!(build.hash_one(1u32), build.hash_one(2u32));
    }
}
