//! Unit tests of the pure BGP computations.
