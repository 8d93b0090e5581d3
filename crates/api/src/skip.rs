//! Predicates for `skip_serializing_if`, mirroring Go's `omitempty`.

/// True for `false`.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// True for zero.
pub(crate) fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
