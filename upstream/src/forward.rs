//! The `forward-zone` table: which upstream group serves a name.
//!
//! Longest suffix wins, as in Unbound and BIND: a query for
//! `www.corp.example.jp` goes to the `corp.example.jp` zone if there is one,
//! else `example.jp`, `jp`, and finally `.`. Zones are kept by their
//! lower-cased wire name, so a lookup hashes one suffix per label of the
//! query name: O(labels), independent of the number of zones.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Group;

/// Forward zones by lower-cased wire name.
#[derive(Debug, Default)]
pub struct ForwardTable {
    /// Zone apex (lower-case wire) → its upstream group.
    zones: HashMap<Box<[u8]>, Arc<Group>>,
}

impl ForwardTable {
    /// A table from (zone wire name, group) pairs; later duplicates win.
    pub fn new(zones: impl IntoIterator<Item = (Vec<u8>, Arc<Group>)>) -> ForwardTable {
        let zones = zones
            .into_iter()
            .map(|(mut name, g)| {
                name.make_ascii_lowercase();
                (name.into_boxed_slice(), g)
            })
            .collect();
        ForwardTable { zones }
    }

    /// The group for a lower-cased wire `qname`, by longest suffix.
    pub fn lookup(&self, qname: &[u8]) -> Option<&Arc<Group>> {
        let mut pos = 0;
        while pos < qname.len() {
            if let Some(g) = self.zones.get(&qname[pos..]) {
                return Some(g);
            }
            let len = usize::from(qname[pos]);
            if len == 0 {
                break;
            }
            pos += len + 1;
        }
        None
    }

    /// All groups (for probes and status).
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Arc<Group>)> {
        self.zones.iter().map(|(k, v)| (&k[..], v))
    }

    /// True when no zone is configured.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Selection;
    use std::time::Duration;

    fn group() -> Arc<Group> {
        Arc::new(Group::new(
            vec![],
            Selection::Ordered,
            Duration::from_secs(1),
            vec![],
            Duration::from_secs(1),
        ))
    }

    #[test]
    fn the_longest_matching_suffix_wins_and_root_catches_the_rest() {
        let (root, jp, corp) = (group(), group(), group());
        let t = ForwardTable::new([
            (b"\x00".to_vec(), root.clone()),
            (b"\x02JP\x00".to_vec(), jp.clone()),
            (b"\x04corp\x07example\x02jp\x00".to_vec(), corp.clone()),
        ]);
        let pick = |n: &[u8]| t.lookup(n).map(Arc::as_ptr);
        assert_eq!(
            pick(b"\x03www\x04corp\x07example\x02jp\x00"),
            Some(Arc::as_ptr(&corp))
        );
        assert_eq!(
            pick(b"\x04corp\x07example\x02jp\x00"),
            Some(Arc::as_ptr(&corp))
        );
        assert_eq!(
            pick(b"\x03www\x07example\x02jp\x00"),
            Some(Arc::as_ptr(&jp))
        );
        assert_eq!(
            pick(b"\x03www\x07example\x03com\x00"),
            Some(Arc::as_ptr(&root))
        );
    }

    #[test]
    fn without_a_root_zone_unmatched_names_have_no_group() {
        let t = ForwardTable::new([(b"\x02jp\x00".to_vec(), group())]);
        assert!(t.lookup(b"\x03com\x00").is_none());
        assert!(t.lookup(b"\x00").is_none());
    }
}
