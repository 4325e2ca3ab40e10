//! (crate documentation follows with its first module)
