//! Sekisho server library (modules arrive with the resolver core).
