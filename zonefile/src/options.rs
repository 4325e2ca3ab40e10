//! Parser options: starting context and resource limits.
//!
//! The limits exist because zone files arrive from outside (RPZ feeds, transfers saved to
//! disk): a broken or hostile file must be refused with a clear error, not exhaust memory.
//! Memory use is bounded by `max_entry_len` (one entry is held at a time), the `BufRead`
//! buffer and `max_include_depth` open files, whatever the file size.

use hickory_proto::rr::{DNSClass, Name};

/// Default longest physical line: 64 KiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;

/// Default longest entry (lines joined by parentheses): 256 KiB, room for the base64 text
/// of the largest possible RDATA (65535 bytes encode to about 87 KiB) with comments.
pub const DEFAULT_MAX_ENTRY_LEN: usize = 256 * 1024;

/// Default `$INCLUDE` nesting limit (BIND has no lower one).
pub const DEFAULT_MAX_INCLUDE_DEPTH: usize = 8;

/// How to read a zone file and how much of it to accept.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Origin before any `$ORIGIN`: completes relative names and `@`. `None` makes relative
    /// names an error until a `$ORIGIN` line sets one.
    pub origin: Option<Name>,
    /// TTL for records without one before any `$TTL` line, as if the file began with `$TTL`.
    pub default_ttl: Option<u32>,
    /// Class for records without one when no earlier record named a class.
    pub default_class: DNSClass,
    /// How deep `$INCLUDE` may nest. 0 forbids `$INCLUDE`.
    pub max_include_depth: usize,
    /// Longest physical line in bytes.
    pub max_line_len: usize,
    /// Longest entry (one record's text, lines joined by parentheses) in bytes.
    pub max_entry_len: usize,
    /// Most records to return (generated ones included); `None` for no limit.
    pub max_records: Option<u64>,
    /// Most bytes to read over all files; `None` for no limit.
    pub max_bytes: Option<u64>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            origin: None,
            default_ttl: None,
            default_class: DNSClass::IN,
            max_include_depth: DEFAULT_MAX_INCLUDE_DEPTH,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_entry_len: DEFAULT_MAX_ENTRY_LEN,
            max_records: None,
            max_bytes: None,
        }
    }
}

impl ParseOptions {
    /// Default options with `origin` set: the usual way to load a zone named `origin`.
    pub fn with_origin(origin: Name) -> Self {
        Self {
            origin: Some(origin),
            ..Self::default()
        }
    }

    /// Sets the origin.
    pub fn origin(mut self, origin: Name) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Sets the default TTL.
    pub fn default_ttl(mut self, ttl: u32) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// Sets the default class.
    pub fn default_class(mut self, class: DNSClass) -> Self {
        self.default_class = class;
        self
    }

    /// Sets the `$INCLUDE` depth limit (0 forbids `$INCLUDE`).
    pub fn max_include_depth(mut self, depth: usize) -> Self {
        self.max_include_depth = depth;
        self
    }

    /// Sets the longest physical line.
    pub fn max_line_len(mut self, len: usize) -> Self {
        self.max_line_len = len;
        self
    }

    /// Sets the longest entry.
    pub fn max_entry_len(mut self, len: usize) -> Self {
        self.max_entry_len = len;
        self
    }

    /// Sets the record limit.
    pub fn max_records(mut self, limit: Option<u64>) -> Self {
        self.max_records = limit;
        self
    }

    /// Sets the byte limit.
    pub fn max_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_bytes = limit;
        self
    }
}
