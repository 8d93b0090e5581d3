//! Key-range arithmetic for etcd: the `[start, end)` range covering a prefix, and the first key
//! after a given one (where the next page of a list begins).

/// The range of every key starting with `prefix`; the empty prefix covers the whole keyspace
/// (etcd's `key = range_end = "\0"` convention).
pub(crate) fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let start = prefix.as_bytes().to_vec();
    let mut end = start.clone();
    match end.last_mut() {
        // UTF-8 never contains 0xff, so the last byte can always be incremented.
        Some(last) => *last += 1,
        None => return (vec![0], vec![0]),
    }
    (start, end)
}

/// The smallest key greater than `key`.
pub(crate) fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(
            prefix_range("/calico/"),
            (b"/calico/".to_vec(), b"/calico0".to_vec())
        );
        assert_eq!(prefix_range("a"), (b"a".to_vec(), b"b".to_vec()));
        assert_eq!(prefix_range(""), (vec![0], vec![0]));
    }

    #[test]
    fn successor_sorts_right_after() {
        let next = successor(b"/a/b");
        assert!(next.as_slice() > b"/a/b".as_slice());
        assert!(next.as_slice() < b"/a/b!".as_slice());
        assert!(next.as_slice() < b"/a/c".as_slice());
    }
}
