//! Shared helpers for the Sekisho benches (bench targets are under benches/).
