//! Longest-prefix match for the IP triggers (`rpz-client-ip`, `rpz-ip`, `rpz-nsip`).
//!
//! One path-compressed binary trie over 128-bit keys. IPv4 addresses live in the IPv4-mapped
//! range `::ffff:0:0/96`, so an IPv4 `/24` is a `/120` here: that is exactly BIND's rule that
//! "IPv4 counts as prefix+96" when prefixes of both families are compared.
//!
//! ```text
//!          (root /0)
//!           /     \
//!      (/96 ::ffff:0:0)        every node: key, prefix length, optional rule, two children
//!        /        \
//!  (/120 192.0.2)  (/128 ::ffff:127.0.0.1)
//! ```
//!
//! Nodes sit in one `Vec` and point at each other by index: no per-node allocation, at most
//! two nodes per prefix. A lookup walks at most one node per distinct prefix length on the path.

use std::net::IpAddr;

/// "No rule at this node".
const NONE: u32 = u32::MAX;

/// Maps an address to its 128-bit trie key (IPv4 as IPv4-mapped IPv6).
pub(crate) fn key_of(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Keeps the first `len` bits of `key`.
#[inline]
pub(crate) fn mask(key: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        key & (u128::MAX << (128 - u32::from(len)))
    }
}

/// Bit `i` of `key`, counting from the most significant bit.
#[inline]
fn bit(key: u128, i: u8) -> usize {
    ((key >> (127 - u32::from(i))) & 1) as usize
}

/// One trie node (40 bytes).
#[derive(Clone, Copy, Debug)]
struct Node {
    /// The prefix, host bits zero.
    key: u128,
    /// Prefix length in bits (0..=128).
    len: u8,
    /// Rule stored at exactly this prefix, or [`NONE`].
    value: u32,
    /// Children by the bit after the prefix; 0 means none (0 is the root, never a child).
    child: [u32; 2],
}

/// An immutable-after-build prefix trie mapping prefixes to rule numbers.
#[derive(Clone, Debug, Default)]
pub(crate) struct IpTrie {
    /// Node arena; index 0 is the root (`::/0`) once anything is inserted.
    nodes: Vec<Node>,
    /// Number of prefixes stored.
    len: usize,
}

impl IpTrie {
    /// Number of prefixes stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the node arena.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
    }

    /// Stores `value` at `key/len` (host bits must be zero) and returns the value it replaced.
    pub(crate) fn insert(&mut self, key: u128, len: u8, value: u32) -> Option<u32> {
        debug_assert_eq!(mask(key, len), key);
        if self.nodes.is_empty() {
            self.nodes.push(Node {
                key: 0,
                len: 0,
                value: NONE,
                child: [0, 0],
            });
        }
        let mut idx = 0usize;
        loop {
            let node = self.nodes[idx];
            if node.len == len {
                let old = node.value;
                self.nodes[idx].value = value;
                if old == NONE {
                    self.len += 1;
                    return None;
                }
                return Some(old);
            }
            // Invariant: node.len < len and node.key is a prefix of key.
            let b = bit(key, node.len);
            let c = node.child[b] as usize;
            if c == 0 {
                let new = self.push(key, len, value);
                self.nodes[idx].child[b] = new;
                self.len += 1;
                return None;
            }
            let child = self.nodes[c];
            let diff = (key ^ child.key).leading_zeros().min(128) as u8;
            let common = diff.min(len).min(child.len);
            if common == child.len {
                idx = c;
                continue;
            }
            if common == len {
                // The new prefix sits between `node` and `child`.
                let new = self.push(key, len, value);
                self.nodes[new as usize].child[bit(child.key, len)] = c as u32;
                self.nodes[idx].child[b] = new;
                self.len += 1;
                return None;
            }
            // The new prefix and `child` part ways at `common`: add a branch node.
            let leaf = self.push(key, len, value);
            let branch = self.push(mask(key, common), common, NONE);
            self.nodes[branch as usize].child[bit(key, common)] = leaf;
            self.nodes[branch as usize].child[bit(child.key, common)] = c as u32;
            self.nodes[idx].child[b] = branch;
            self.len += 1;
            return None;
        }
    }

    /// Appends a node and returns its index.
    fn push(&mut self, key: u128, len: u8, value: u32) -> u32 {
        self.nodes.push(Node {
            key,
            len,
            value,
            child: [0, 0],
        });
        (self.nodes.len() - 1) as u32
    }

    /// Calls `f(prefix_len, value)` for every stored prefix containing `addr`, shortest first.
    pub(crate) fn for_each_match(&self, addr: u128, mut f: impl FnMut(u8, u32)) {
        if self.len == 0 {
            return;
        }
        let mut idx = 0usize;
        loop {
            let node = &self.nodes[idx];
            if mask(addr, node.len) != node.key {
                return;
            }
            if node.value != NONE {
                f(node.len, node.value);
            }
            if node.len == 128 {
                return;
            }
            let c = node.child[bit(addr, node.len)] as usize;
            if c == 0 {
                return;
            }
            idx = c;
        }
    }

    /// The value stored at exactly `key/len`.
    pub(crate) fn get(&self, key: u128, len: u8) -> Option<u32> {
        let mut found = None;
        self.for_each_match(key, |l, v| {
            if l == len {
                found = Some(v);
            }
        });
        found
    }

    /// The longest stored prefix containing `addr`: `(prefix_len, value)`.
    pub(crate) fn longest(&self, addr: u128) -> Option<(u8, u32)> {
        let mut best = None;
        self.for_each_match(addr, |len, v| best = Some((len, v)));
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u128 {
        key_of(s.parse().expect("test address"))
    }

    #[test]
    fn longest_prefix_wins_and_ipv4_prefixes_count_plus_96() {
        let mut t = IpTrie::default();
        t.insert(mask(v4("192.0.2.0"), 96 + 24), 96 + 24, 1);
        t.insert(mask(v4("192.0.0.0"), 96 + 16), 96 + 16, 2);
        t.insert(v4("192.0.2.77"), 128, 3);
        assert_eq!(t.longest(v4("192.0.2.77")), Some((128, 3)));
        assert_eq!(t.longest(v4("192.0.2.1")), Some((120, 1)));
        assert_eq!(t.longest(v4("192.0.9.1")), Some((112, 2)));
        assert_eq!(t.longest(v4("10.0.0.1")), None);
    }

    #[test]
    fn inserting_the_same_prefix_twice_replaces_the_value() {
        let mut t = IpTrie::default();
        assert_eq!(t.insert(v4("10.0.0.0"), 104, 1), None);
        assert_eq!(t.insert(v4("10.0.0.0"), 104, 2), Some(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.longest(v4("10.1.2.3")), Some((104, 2)));
    }

    #[test]
    fn a_shorter_prefix_inserted_after_a_longer_one_becomes_its_ancestor() {
        let mut t = IpTrie::default();
        t.insert(v4("10.1.2.0"), 120, 1);
        t.insert(v4("10.1.0.0"), 112, 2);
        t.insert(v4("10.0.0.0"), 104, 3);
        let mut seen = Vec::new();
        t.for_each_match(v4("10.1.2.3"), |l, v| seen.push((l, v)));
        assert_eq!(seen, vec![(104, 3), (112, 2), (120, 1)]);
    }
}
