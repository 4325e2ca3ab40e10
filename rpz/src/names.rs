//! The flat name table behind QNAME and NSDNAME triggers.
//!
//! ```text
//!  query  a.Bad.example.          labels ["a", "Bad", "example"]
//!         suffix hashes, built right to left in one pass (lower-cased on the fly):
//!           h3 = H(root)   h2 = H(h3, "example")   h1 = H(h2, "bad")   h0 = H(h1, "a")
//!         probes:  exact  h0                  ─┐
//!                  wild   H(h1,"*"), H(h2,"*") ├─▶ slots: [tag|name] (one Vec, open addressing)
//!                                             ─┘              │
//!                                                  arena: [wire bytes][action] ... (one Vec<u8>)
//!                                                                            │
//!                                                  actions: [(value, ttl)] ◀─┘ (at most 191)
//! ```
//!
//! Every key is a lower-cased owner name *relative to the policy zone apex*, stored once in a
//! byte arena in wire form without the root label. A slot holds a 32-bit hash tag and the
//! arena offset of the key (8 bytes). The key's value (the encoded action, see `zone.rs`) and
//! TTL follow it in the arena as one *action code* octet: an index into a table of the
//! table's distinct (value, TTL) pairs, which are few in a policy zone (`CNAME .` at one TTL
//! for nearly every rule); a code of 255 means the pair follows in full (eight octets), for
//! tables with more than 191 pairs. Codes start at 64, above every label length, so the code
//! also ends the key's labels and no length octet is stored. A key costs its wire bytes plus
//! one octet in the arena and 8 bytes of slot (at load 2/3, 12). There are no per-rule heap
//! objects, so a million rules cost two allocations.
//!
//! The hash of a name is computed label by label from the right, so the hashes of all suffixes
//! of a query name fall out of one pass: a lookup costs one probe per candidate key, O(labels),
//! whatever the number of rules. Two bitmasks record at which label counts exact and wildcard
//! keys exist, so most wildcard probes are skipped without touching the table.

use hickory_proto::rr::Name;

/// Most labels a DNS name can have (255 octets, two octets per label at least).
pub(crate) const MAX_LABELS: usize = 128;

/// Seed of the suffix hash (the hash of the root name).
const SEED: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime, mixes the label length into the suffix hash.
const PRIME: u64 = 0x0000_0100_0000_01b3;
/// Arena offset that marks an empty slot.
const EMPTY: u32 = u32::MAX;
/// Action code of a key whose (value, TTL) pair follows in the arena (eight octets, LE).
const EXPLICIT: u8 = u8::MAX;
/// The first action code, for the pair `actions[0]`: labels are at most 63 octets, so an
/// octet from 64 where a label length would be ends a key.
const FIRST_CODE: u8 = 64;
/// How many action codes a build looks up by a scan before its map: a zone's first pairs are
/// its common ones.
const SCANNED_CODES: usize = 8;

/// Extends the hash of a suffix by one more label on its left, lower-casing ASCII.
///
/// Works on eight octets at a time (lower-cased with [`lower8`]); the finaliser in
/// [`finish`] spreads the bits before a slot is picked.
#[inline]
pub(crate) fn hash_label(h: u64, label: &[u8]) -> u64 {
    hash_label_in(h, label, 0, label.len())
}

/// [`hash_label`] of the label `buf[start..start + len]`. The octets around the label, where
/// `buf` has them, let its last partial word be read with one eight-octet load instead of
/// octet by octet (the hash is the same: the extra octets are shifted or masked away).
#[inline(always)]
fn hash_label_in(mut h: u64, buf: &[u8], start: usize, len: usize) -> u64 {
    let end = start + len;
    // The label length goes in first so that label boundaries are part of the hash.
    h = (h ^ len as u64).wrapping_mul(PRIME);
    let mut at = start;
    while at + 8 <= end {
        h = step(h, word_at(buf, at));
        at += 8;
    }
    let rest = end - at;
    if rest == 0 {
        return h;
    }
    // Little-endian, as the full words: octet k of the rest is bits 8k..8k+8.
    let w = if end >= 8 {
        word_at(buf, end - 8) >> (8 * (8 - rest))
    } else if at + 8 <= buf.len() {
        word_at(buf, at) & ((1u64 << (8 * rest)) - 1)
    } else {
        // A byte loop, not a variable-length copy (which compiles to a `memcpy` call).
        buf[at..end]
            .iter()
            .enumerate()
            .fold(0u64, |w, (k, &b)| w | u64::from(b) << (8 * k))
    };
    step(h, w)
}

/// The eight octets of `buf` at `at` as a little-endian word (`at + 8 <= buf.len()`).
#[inline]
fn word_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// One eight-octet step of [`hash_label`].
#[inline]
fn step(h: u64, w: u64) -> u64 {
    (h ^ lower8(w)).wrapping_mul(MIX).rotate_left(29)
}

/// Multiplier of the eight-octet steps (odd, from splitmix64).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Lower-cases the ASCII letters among eight octets at once (other octets unchanged).
#[inline]
fn lower8(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = w & LOW7;
    // Per octet (no carries: x <= 0x7f): high bit set iff x >= 'A', resp. x > 'Z'.
    let ge_a = x.wrapping_add(0x3f3f_3f3f_3f3f_3f3f);
    let gt_z = x.wrapping_add(0x2525_2525_2525_2525);
    let upper = ge_a & !gt_z & !w & HIGH;
    w | (upper >> 2)
}

/// Spreads a suffix hash over 64 bits before it picks a slot (murmur3 finaliser).
#[inline]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of a whole label sequence (left to right order, as in the name).
pub(crate) fn hash_labels(labels: &[&[u8]]) -> u64 {
    labels.iter().rev().fold(SEED, |h, l| hash_label(h, l))
}

/// [`hash_labels`] of wire labels (no root label), without collecting them on the heap:
/// rehashing a table of a million keys would otherwise allocate a million vectors.
fn hash_wire(wire: &[u8]) -> u64 {
    let mut inline: [&[u8]; INLINE_HASHES] = [&[]; INLINE_HASHES];
    let mut n = 0;
    for label in key_labels(wire) {
        if n == inline.len() {
            return hash_labels(&wire_labels(wire));
        }
        inline[n] = label;
        n += 1;
    }
    hash_labels(&inline[..n])
}

/// Inline room for suffix hashes; longer names spill to the heap.
const INLINE_HASHES: usize = 17;

/// A query name with the hash of every suffix, computed once per lookup and shared by all
/// zones (every table uses the same hash function).
///
/// `hash(i)` is the hash of the name without its first `i` labels; `hash(len)` is the hash of
/// the root. Names of up to 16 labels need no allocation.
///
/// A probe built [from wire form](NameProbe::fill_from_wire_or_name) reads the labels from the query's
/// bytes: walking a hickory name label by label (an out-of-line call per label) was a
/// quarter of a policy check.
pub(crate) struct NameProbe<'a> {
    /// The probed name.
    name: &'a Name,
    /// The name in uncompressed wire form, when the probe was built from it.
    wire: Option<&'a [u8]>,
    /// With `wire`: offset of each label's length octet.
    starts: [u8; INLINE_HASHES],
    /// Number of labels (the root label not counted).
    len: usize,
    /// Suffix hashes for short names.
    inline: [u64; INLINE_HASHES],
    /// Suffix hashes for names with more than 16 labels.
    spill: Vec<u64>,
}

impl<'a> NameProbe<'a> {
    /// Hashes all suffixes of `name` in one right-to-left pass.
    #[inline]
    pub(crate) fn new(name: &'a Name) -> Self {
        let mut p = Self::blank(name);
        p.fill_from_name();
        p
    }

    /// [`NameProbe::new`] into this blank probe (or one whose wire fill failed).
    #[inline]
    pub(crate) fn fill_from_name(&mut self) {
        let name = self.name;
        let len = name.iter().len().min(MAX_LABELS);
        self.len = len;
        self.wire = None;
        if len < INLINE_HASHES {
            // Short names (nearly all): labels collected front to back, hashed back to front.
            let mut labels: [&[u8]; INLINE_HASHES] = [&[]; INLINE_HASHES];
            for (slot, l) in labels.iter_mut().zip(name.iter()) {
                *slot = l;
            }
            self.inline[len] = SEED;
            for i in (0..len).rev() {
                self.inline[i] = hash_label(self.inline[i + 1], labels[i]);
            }
            return;
        }
        let mut spill = vec![SEED; len + 1];
        let mut i = len;
        for label in name.iter().rev() {
            if i == 0 {
                break;
            }
            spill[i - 1] = hash_label(spill[i], label);
            i -= 1;
        }
        self.spill = spill;
    }

    /// Fills this blank probe from `wire`, the uncompressed wire form of its name in any case
    /// (the resolver has the query name's bytes at hand), or from the name when the bytes
    /// cannot serve (long or malformed input).
    ///
    /// In place, as every constructor here: a probe returned from two paths (wire or name)
    /// was copied into the caller's frame, 216 bytes through `memcpy` per check.
    #[inline(always)]
    pub(crate) fn fill_from_wire_or_name(&mut self, wire: &'a [u8]) {
        let name = self.name;
        // Cheap agreement checks (O(1) on a hickory name); the contract is that the two
        // are the same name, which debug builds check label by label below.
        if self.fill_from_wire(wire)
            && name.iter().len() == self.len
            && name.len() + 1 == wire.len()
        {
            debug_assert!(
                name.iter()
                    .zip(WireLabels::new(wire, self.len))
                    .all(|(a, b)| a.eq_ignore_ascii_case(b)),
                "probe wire {wire:?} is not {name}"
            );
            return;
        }
        self.fill_from_name();
    }

    /// A probe of no labels, to be filled in place (the probe is some 200 bytes: built where
    /// it is used, it is not copied from one stack frame to the next).
    #[inline]
    pub(crate) fn blank(name: &'a Name) -> Self {
        Self {
            name,
            wire: None,
            starts: [0; INLINE_HASHES],
            len: 0,
            inline: [0; INLINE_HASHES],
            spill: Vec::new(),
        }
    }

    /// Hashes the labels of `wire` into this blank probe (false, leaving it unusable, for
    /// names of 17 or more labels or bytes that are not one well-formed name). A probe filled
    /// this way alone answers [`NameProbe::name`] with the name it was made blank with: only
    /// for callers that never build a hit's names from it.
    #[inline(always)]
    pub(crate) fn fill_from_wire(&mut self, wire: &'a [u8]) -> bool {
        let starts = &mut self.starts;
        let Some(len) = walk_wire_labels(wire, |i, at, _| {
            // Offsets fit in a byte: a name is at most 255 octets.
            *starts.get_mut(i).filter(|_| i + 1 < INLINE_HASHES)? = u8::try_from(at).ok()?;
            Some(())
        }) else {
            return false;
        };
        self.inline[len] = SEED;
        for i in (0..len).rev() {
            let s = usize::from(self.starts[i]);
            self.inline[i] = hash_label_in(self.inline[i + 1], wire, s + 1, usize::from(wire[s]));
        }
        self.len = len;
        self.wire = Some(wire);
        true
    }

    /// Number of labels of the probed name.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The probed name.
    pub(crate) fn name(&self) -> &'a Name {
        self.name
    }

    /// Hash of the suffix that drops the first `i` labels.
    #[inline]
    pub(crate) fn hash(&self, i: usize) -> u64 {
        if self.len < INLINE_HASHES {
            self.inline[i]
        } else {
            self.spill[i]
        }
    }

    /// The labels of the suffix that drops the first `i` labels.
    pub(crate) fn labels_from(&self, i: usize) -> ProbeLabels<'a> {
        match self.wire {
            Some(wire) if i < self.len => ProbeLabels::Wire(WireLabels::new(
                &wire[usize::from(self.starts[i])..],
                self.len - i,
            )),
            Some(_) => ProbeLabels::Wire(WireLabels::new(&[], 0)),
            None => ProbeLabels::Name(self.name.iter().skip(i)),
        }
    }
}

/// Walks the labels of `wire`, which must be exactly one uncompressed name: `each(index,
/// offset of the length octet, label)` for every label but the root, which may stop the walk
/// with `None`. The number of labels, or `None` if the walk stopped or the bytes are not one
/// well-formed name.
#[inline]
pub(crate) fn walk_wire_labels<'w>(
    wire: &'w [u8],
    mut each: impl FnMut(usize, usize, &'w [u8]) -> Option<()>,
) -> Option<usize> {
    let mut at = 0;
    let mut n = 0;
    loop {
        let len = usize::from(*wire.get(at)?);
        if len == 0 {
            return (at + 1 == wire.len()).then_some(n);
        }
        if len > 63 {
            return None;
        }
        each(n, at, wire.get(at + 1..at + 1 + len)?)?;
        n += 1;
        at += 1 + len;
    }
}

/// The labels of a probe suffix, from whichever form the probe was built from.
pub(crate) enum ProbeLabels<'a> {
    /// From a hickory name.
    Name(std::iter::Skip<hickory_proto::rr::domain::LabelIter<'a>>),
    /// From wire form.
    Wire(WireLabels<'a>),
}

impl<'a> Iterator for ProbeLabels<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Name(it) => it.next(),
            Self::Wire(it) => it.next(),
        }
    }
}

/// The first `left` labels of uncompressed wire bytes (checked by whoever counted them),
/// leftmost first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireLabels<'w> {
    rest: &'w [u8],
    left: usize,
}

impl<'w> WireLabels<'w> {
    /// The first `left` labels of `wire`.
    pub(crate) fn new(wire: &'w [u8], left: usize) -> Self {
        Self { rest: wire, left }
    }
}

impl<'w> Iterator for WireLabels<'w> {
    type Item = &'w [u8];

    #[inline]
    fn next(&mut self) -> Option<&'w [u8]> {
        if self.left == 0 {
            return None;
        }
        let (&len, tail) = self.rest.split_first()?;
        let (label, rest) = tail.split_at_checked(usize::from(len))?;
        self.rest = rest;
        self.left -= 1;
        Some(label)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for WireLabels<'_> {}

/// One slot of the open-addressing table (8 bytes; the key's value is in the arena).
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// High 32 bits of the finished hash, compared before the name bytes.
    tag: u32,
    /// Offset of the key in the arena, or [`EMPTY`].
    name: u32,
}

/// The empty slot.
const EMPTY_SLOT: Slot = Slot {
    tag: 0,
    name: EMPTY,
};

/// Which key shape a probe looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyShape {
    /// The name itself.
    Exact,
    /// `*.` followed by the name.
    Wildcard,
}

/// A match found in a [`NameTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NameMatch {
    /// Arena offset of the key that matched (identifies the rule; its value is read with
    /// [`NameTable::key_value`] when needed, so that a "does anything match?" check never
    /// loads the key's arena bytes).
    pub(crate) key: u32,
    /// For a wildcard key, the number of labels of the suffix below `*`; for an exact key the
    /// number of labels of the name.
    pub(crate) labels: usize,
    /// Whether the key is a wildcard.
    pub(crate) shape: KeyShape,
}

/// Result of [`NameTable::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The key was new.
    New,
    /// The key was already present with this value, which was left in place.
    Existing {
        /// Slot of the existing key (valid until the next insert).
        slot: usize,
        /// Arena offset of the existing key.
        key: u32,
        /// Its value.
        value: u32,
    },
}

/// The flat name table: open addressing with linear probing over one `Vec` of slots, keys
/// in one byte arena. Filled once while a zone compiles, immutable afterwards.
#[derive(Clone, Default)]
pub(crate) struct NameTable {
    /// Open-addressing slots (any length; the home slot is picked by fast range).
    slots: Vec<Slot>,
    /// Keys: `[lower-cased wire labels, no root][action code u8]`, and after a code of
    /// [`EXPLICIT`] `[value u32 LE][ttl u32 LE]`.
    arena: Vec<u8>,
    /// The (value, TTL) pair of each action code.
    actions: Vec<(u32, u32)>,
    /// While building: the action code of each pair in `actions`.
    action_codes: std::collections::HashMap<(u32, u32), u8>,
    /// Number of keys.
    len: usize,
    /// Bit `n` set: an exact key with `n` labels exists (names of 127+ labels share bit 127).
    exact_depths: u128,
    /// Bit `n` set: a wildcard key whose suffix has `n` labels exists.
    wild_depths: u128,
    /// Interior nodes: every proper suffix of a key (its ancestors below the apex), with the
    /// number of keys below it. Wildcards follow the closest-encloser rule, which needs them.
    ents: Vec<EntSlot>,
    /// Number of entries in `ents`.
    ent_len: usize,
    /// Bit `n` set: an entry of `ents` with `n` labels exists.
    ent_depths: u128,
    /// Reused buffer for the wire form of keys being inserted.
    scratch: Vec<u8>,
    /// Reused buffer for the suffix hashes of keys being inserted.
    suffix_hashes: Vec<u64>,
    /// Bulk build: keys pushed but not placed yet (see [`NameTable::push`]).
    pending: Vec<Pending>,
    /// Blocked Bloom filter over the keys of a bulk-built table (empty: none). A probe for
    /// an absent key usually stops here, in a table of about one byte per key that stays
    /// in cache, instead of loading a random slot of a table twenty times larger.
    filter: Vec<u64>,
}

/// A key waiting for its slot during a bulk build (its value is in the arena already).
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// The finished hash.
    f: u64,
    /// Arena offset of the key.
    off: u32,
}

/// One interior node of the name tree (an ancestor of at least one key).
///
/// The node's name is not stored: it is the tail of a key already in the arena, from `start`
/// to the key's action code, so an ancestor costs 12 bytes whatever its length.
#[derive(Clone, Copy, Debug)]
struct EntSlot {
    /// High 32 bits of the finished hash of the node name.
    tag: u32,
    /// Arena offset of the node's wire labels (inside some key), or [`EMPTY`].
    start: u32,
    /// Keys below the node; in an overlay, the change against the base (may be negative).
    count: i32,
}

/// The empty interior-node slot.
const EMPTY_ENT: EntSlot = EntSlot {
    tag: 0,
    start: EMPTY,
    count: 0,
};

impl std::fmt::Debug for NameTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameTable")
            .field("keys", &self.len)
            .field("slots", &self.slots.len())
            .field("arena_bytes", &self.arena.len())
            .field("interior_nodes", &self.ent_len)
            .finish()
    }
}

/// The bit for a label count in the depth masks.
#[inline]
fn depth_bit(n: usize) -> u128 {
    1u128 << n.min(127)
}

/// Most words of a filter (2^24: 128 MiB, for over 100M keys at 8 bits each).
const MAX_FILTER_WORDS: usize = 1 << 24;

/// The three bits a finished hash sets in its filter word (from its low 18 bits).
#[inline]
fn filter_bits(f: u64) -> u64 {
    (1u64 << (f & 63)) | (1u64 << ((f >> 6) & 63)) | (1u64 << ((f >> 12) & 63))
}

/// Picks the home slot for a finished hash among `n` slots (Lemire's fast range).
#[inline]
fn home(finished: u64, n: usize) -> usize {
    (((finished & 0xffff_ffff) * n as u64) >> 32) as usize
}

/// Home slot of an interior node among `n` slots, from its tag (the high half of the
/// finished hash): the interior-node table can then be resized from the tags alone, with no
/// key bytes read and no hash recomputed (a million nodes are rehashed several times while
/// a big list loads). Equal tags still mean equal names but for a 2^-32 chance, which the
/// byte comparison settles.
#[inline]
fn ent_home(tag: u32, n: usize) -> usize {
    ((u64::from(tag) * n as u64) >> 32) as usize
}

impl NameTable {
    /// An empty table for a bulk build ([`NameTable::push`], then
    /// [`NameTable::place_pending`]) of about `n` keys of about `avg_len` wire bytes.
    pub(crate) fn for_bulk(n: usize, avg_len: usize) -> Self {
        Self {
            arena: Vec::with_capacity(n * (avg_len + 2)),
            pending: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Appends a key to the arena and the depth masks; returns its offset. `wire`, when
    /// given, is `labels` in wire form (any case), copied in one piece.
    fn append_key(&mut self, labels: &[&[u8]], wire: Option<&[u8]>, value: u32, ttl: u32) -> u32 {
        let off = self.arena.len() as u32;
        match wire {
            Some(wire) => self.arena.extend_from_slice(wire),
            None => {
                for l in labels {
                    self.arena.push(l.len() as u8);
                    self.arena.extend_from_slice(l);
                }
            }
        }
        // Lower-cased in place in one pass over the key (length octets, at most 63, are
        // below 'A'), before its action code (64 and up) is written: a copy octet by octet
        // through `to_ascii_lowercase` took about 220 instructions a key.
        self.arena[off as usize..].make_ascii_lowercase();
        self.push_action(value, ttl);
        match labels.first() {
            Some(first) if *first == b"*" => self.wild_depths |= depth_bit(labels.len() - 1),
            _ => self.exact_depths |= depth_bit(labels.len()),
        }
        off
    }

    /// Bulk build: adds a key without looking for an equal one. Keys get their slots in
    /// [`NameTable::place_pending`], in home-slot order (a sequential pass over the slot
    /// array instead of one cache miss per key), where duplicates are found and merged.
    pub(crate) fn push(&mut self, labels: &[&[u8]], ttl: u32, value: u32) {
        self.push_key(labels, None, ttl, value);
    }

    /// [`NameTable::push`] of a key whose wire form is at hand: `wire` is exactly `labels`
    /// in wire form (no root label, any case), e.g. the front of an owner name's bytes.
    pub(crate) fn push_wire(&mut self, wire: &[u8], labels: &[&[u8]], ttl: u32, value: u32) {
        debug_assert!(
            wire.eq_ignore_ascii_case(&wire_of(labels)),
            "{wire:?} is not {labels:?}"
        );
        self.push_key(labels, Some(wire), ttl, value);
    }

    /// [`NameTable::push`] and [`NameTable::push_wire`].
    fn push_key(&mut self, labels: &[&[u8]], wire: Option<&[u8]>, ttl: u32, value: u32) {
        let off = self.append_key(labels, wire, value, ttl);
        // One pass of suffix hashes serves the key (the whole name) and its ancestors. The
        // labels are hashed where they now lie in the arena, so that a short label is read
        // with one eight-octet load instead of octet by octet (see `hash_label_in`).
        let mut hashes = std::mem::take(&mut self.suffix_hashes);
        hashes.clear();
        hashes.resize(labels.len() + 1, SEED);
        let mut end = off as usize + labels.iter().map(|l| 1 + l.len()).sum::<usize>();
        for (k, l) in labels.iter().enumerate().rev() {
            let start = end - l.len();
            hashes[k] = hash_label_in(hashes[k + 1], &self.arena, start, l.len());
            end = start - 1;
        }
        let f = finish(hashes[0]);
        self.pending.push(Pending { f, off });
        self.count_ancestors(labels, &hashes, off, 1);
        self.suffix_hashes = hashes;
    }

    /// Places the pushed keys. For a key pushed twice (compared ignoring case) `merge(key
    /// wire, (value, ttl) kept, (value, ttl) dropped)` gives the value and TTL to keep.
    pub(crate) fn place_pending(
        &mut self,
        mut merge: impl FnMut(&[u8], (u32, u32), (u32, u32)) -> (u32, u32),
    ) {
        let mut p = std::mem::take(&mut self.pending);
        if p.is_empty() {
            return;
        }
        // Home slots grow with the low 32 bits of the hash (fast range), so sorting by
        // (low, high) sorts by home slot and puts equal hashes next to each other.
        p.sort_unstable_by_key(|e| e.f.rotate_left(32));
        let mut w = 0usize;
        for r in 0..p.len() {
            let e = p[r];
            let mut dup = None;
            let mut j = w;
            while j > 0 && p[j - 1].f == e.f {
                j -= 1;
                if self.key_bytes(p[j].off) == self.key_bytes(e.off) {
                    dup = Some(j);
                    break;
                }
            }
            match dup {
                Some(j) => {
                    let kept = p[j];
                    let wire = self.key_bytes(kept.off).to_vec();
                    let (v, t) = merge(&wire, self.key_action(kept.off), self.key_action(e.off));
                    p[j].off = self.set_action(kept.off, v, t);
                    // The dropped copy's ancestors were counted when it was pushed.
                    self.add_ancestors(e.off, -1);
                }
                None => {
                    p[w] = e;
                    w += 1;
                }
            }
        }
        let n = key_slots_for(w);
        self.slots = vec![EMPTY_SLOT; n];
        // About 8-16 bits per key, 3 of them set: 2-5% of absent keys get past it.
        self.filter = vec![0; w.div_ceil(8).next_power_of_two().min(MAX_FILTER_WORDS)];
        let mut next = 0usize;
        let mut wrapped = Vec::new();
        for e in &p[..w] {
            // Linear probing in home order: each key goes to the first free slot at or
            // after its home, which is the slot after the previous key at the latest.
            let i = home(e.f, n).max(next);
            if i >= n {
                wrapped.push(*e);
                continue;
            }
            self.slots[i] = Slot {
                tag: (e.f >> 32) as u32,
                name: e.off,
            };
            self.filter_add(e.f);
            next = i + 1;
        }
        for e in wrapped {
            self.place(e.f, e.off);
        }
        self.len = w;
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The filter word of a finished hash (from its top bits; `filter` non-empty).
    #[inline]
    fn filter_word(&self, f: u64) -> usize {
        (f >> 40) as usize & (self.filter.len() - 1)
    }

    /// Whether a key with finished hash `f` may be in the table (no filter: always).
    #[inline]
    fn may_contain(&self, f: u64) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let bits = filter_bits(f);
        self.filter[self.filter_word(f)] & bits == bits
    }

    /// Records a key with finished hash `f` in the filter, if the table has one.
    fn filter_add(&mut self, f: u64) {
        if !self.filter.is_empty() {
            let w = self.filter_word(f);
            self.filter[w] |= filter_bits(f);
        }
    }

    /// Bytes held by the table (slots and arena), for memory reports.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + self.actions.capacity() * std::mem::size_of::<(u32, u32)>()
            + self.ents.capacity() * std::mem::size_of::<EntSlot>()
            + self.filter.capacity() * std::mem::size_of::<u64>()
    }

    /// The exact match for the probed name.
    #[inline]
    ///
    /// With `verify` false a key whose 32-bit tag and home slot agree counts as found without
    /// comparing its bytes: a "no" is still exact, a "yes" may be a false positive (odds of
    /// about 2^-50 at a million keys), which is what a "may anything match?" check needs.
    pub(crate) fn exact(&self, probe: &NameProbe<'_>, verify: bool) -> Option<NameMatch> {
        if self.exact_depths & depth_bit(probe.len) == 0 {
            return None;
        }
        self.find(probe.hash(0), KeyShape::Exact, probe, 0, verify, true)
            .map(|key| NameMatch {
                key,
                labels: probe.len,
                shape: KeyShape::Exact,
            })
    }

    /// Whether a wildcard key over a suffix of `n` labels may exist (cheap pre-check).
    #[inline]
    pub(crate) fn may_have_wildcard(&self, n: usize) -> bool {
        self.wild_depths & depth_bit(n) != 0
    }

    /// The wildcard key `*.<probe without its first i labels>`, if present.
    #[inline]
    /// (`verify` as for [`NameTable::exact`].)
    pub(crate) fn wildcard_at(
        &self,
        probe: &NameProbe<'_>,
        i: usize,
        verify: bool,
    ) -> Option<NameMatch> {
        self.wildcard_probe(probe, i, verify, true)
    }

    /// [`NameTable::wildcard_at`]; `filtered` false skips the filter, for a candidate whose
    /// home slot is already being loaded (see [`NameTable::touch_wildcard_slots`]): reading
    /// that slot costs nothing more, and the filter word would be one more load to wait for.
    #[inline]
    fn wildcard_probe(
        &self,
        probe: &NameProbe<'_>,
        i: usize,
        verify: bool,
        filtered: bool,
    ) -> Option<NameMatch> {
        let suffix_labels = probe.len - i;
        if !self.may_have_wildcard(suffix_labels) {
            return None;
        }
        let h = hash_label(probe.hash(i), b"*");
        self.find(h, KeyShape::Wildcard, probe, i, verify, filtered)
            .map(|key| NameMatch {
                key,
                labels: suffix_labels,
                shape: KeyShape::Wildcard,
            })
    }

    /// The best match for a query name, matched as DNS wildcards are (RFC 4592, as BIND
    /// does for policy zones): the exact key; else, if the name is an interior node, nothing;
    /// else only `*.<closest encloser>` can match. The closest encloser is the longest suffix
    /// that is a key or an interior node (the apex at worst).
    #[cfg(test)]
    pub(crate) fn best(&self, probe: &NameProbe<'_>) -> Option<NameMatch> {
        self.best_with(probe, true)
    }

    /// [`NameTable::best`]; with `verify` false the exact or wildcard key found may be a
    /// false positive (see [`NameTable::exact`]), never a false negative: the nodes that
    /// stop a wildcard are always verified.
    pub(crate) fn best_with(&self, probe: &NameProbe<'_>, verify: bool) -> Option<NameMatch> {
        if self.len == 0 {
            return None;
        }
        let touched = self.exact_depths & depth_bit(probe.len) != 0;
        if touched {
            self.touch_wildcard_slots(probe);
        }
        if let Some(m) = self.exact(probe, verify) {
            return Some(m);
        }
        // The wildcard with the longest suffix is the only candidate: a node between it and
        // the name would be a closer encloser without a wildcard.
        let m = (1..=probe.len).find_map(|i| self.wildcard_probe(probe, i, verify, !touched))?;
        let j = probe.len - m.labels;
        let blocked = (0..j).any(|i| {
            self.ent_count_at(probe, i) > 0 || (i > 0 && self.exact_at(probe, i).is_some())
        });
        (!blocked).then_some(m)
    }

    /// Reads the home slot of every wildcard candidate before the exact probe, so that their
    /// cache misses overlap the exact probe's instead of following it (the loads do not
    /// depend on each other; the values are discarded).
    #[inline]
    fn touch_wildcard_slots(&self, probe: &NameProbe<'_>) {
        let n = self.slots.len();
        let mut acc = 0u32;
        for i in 1..=probe.len {
            if self.may_have_wildcard(probe.len - i) {
                // Not filtered first: the filter word would be one more load for this one to
                // wait on; both are issued at once this way.
                let f = finish(hash_label(probe.hash(i), b"*"));
                acc ^= self.slots[home(f, n)].tag;
            }
        }
        std::hint::black_box(acc);
    }

    /// The exact key equal to the probe without its first `i` labels, as (key, value).
    #[inline]
    pub(crate) fn exact_at(&self, probe: &NameProbe<'_>, i: usize) -> Option<(u32, u32)> {
        if self.exact_depths & depth_bit(probe.len - i) == 0 {
            return None;
        }
        self.find(probe.hash(i), KeyShape::Exact, probe, i, true, true)
            .map(|key| (key, self.key_value(key)))
    }

    /// The interior-node count of the probe without its first `i` labels (0 if it is not
    /// an interior node of this table).
    #[inline]
    pub(crate) fn ent_count_at(&self, probe: &NameProbe<'_>, i: usize) -> i32 {
        if self.ent_depths & depth_bit(probe.len - i) == 0 || self.ents.is_empty() {
            return 0;
        }
        let f = finish(probe.hash(i));
        let tag = (f >> 32) as u32;
        let n = self.ents.len();
        let mut k = ent_home(tag, n);
        loop {
            let e = self.ents[k];
            if e.start == EMPTY {
                return 0;
            }
            if e.tag == tag && wire_equals(self.ent_bytes(e), probe.labels_from(i)) {
                return e.count;
            }
            k += 1;
            if k == n {
                k = 0;
            }
        }
    }

    /// The wire bytes of an interior node: the rest of the key it lies in.
    fn ent_bytes(&self, e: EntSlot) -> &[u8] {
        &self.arena[e.start as usize..self.action_at(e.start)]
    }

    /// Whether the interior node `e` is the name whose wire labels are the arena's
    /// `start..start + len` (whole labels, ending where its key's labels end): its first
    /// `len` octets are those and its key's labels end right after them. No walk to the
    /// end of `e` first, as [`NameTable::ent_bytes`] would do.
    fn ent_is(&self, e: EntSlot, start: usize, len: usize) -> bool {
        let at = e.start as usize;
        self.arena.get(at..at + len) == Some(&self.arena[start..start + len])
            && self.arena.get(at + len).is_some_and(|&b| b >= FIRST_CODE)
    }

    /// Adds `d` to the count of the interior node whose wire labels are at `start..start+len`
    /// in the arena (hash `f` finished, `depth` labels), creating it if needed.
    fn ent_add(&mut self, f: u64, start: u32, len: u32, depth: usize, d: i32) {
        if (self.ent_len + 1) * 5 > self.ents.len() * 3 {
            self.ent_resize(slots_for((self.ent_len + 1) * 2));
        }
        let tag = (f >> 32) as u32;
        let n = self.ents.len();
        let mut k = ent_home(tag, n);
        let (start_at, len_at) = (start as usize, len as usize);
        loop {
            let e = self.ents[k];
            if e.start == EMPTY {
                self.ents[k] = EntSlot {
                    tag,
                    start,
                    count: d,
                };
                self.ent_len += 1;
                self.ent_depths |= depth_bit(depth);
                return;
            }
            if e.tag == tag && self.ent_is(e, start_at, len_at) {
                self.ents[k].count += d;
                return;
            }
            k += 1;
            if k == n {
                k = 0;
            }
        }
    }

    /// Rehashes the interior nodes into `slots` slots.
    fn ent_resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.ents, vec![EMPTY_ENT; slots]);
        let m = self.ents.len();
        for e in old.into_iter().filter(|e| e.start != EMPTY) {
            let mut k = ent_home(e.tag, m);
            while self.ents[k].start != EMPTY {
                k += 1;
                if k == m {
                    k = 0;
                }
            }
            self.ents[k] = e;
        }
    }

    /// Counts the ancestors of the key at arena offset `off` (`d` = +1 added, -1 removed).
    fn add_ancestors(&mut self, off: u32, d: i32) {
        let wire = self.key_bytes(off).to_vec();
        self.add_ancestors_of(&wire_labels(&wire), off, d);
    }

    /// Makes the interior-node counts of this overlay table the *changes* against `base`:
    /// for every key here, +1 on its ancestors if it is live here but not in `base`, -1 if
    /// `base` has it and it is removed here (`live(value)` false: a tombstone).
    pub(crate) fn recount_ents_against(&mut self, base: &NameTable, live: impl Fn(u32) -> bool) {
        self.ents = Vec::new();
        self.ent_len = 0;
        self.ent_depths = 0;
        let keys: Vec<(u32, u32)> = self.iter().collect();
        for (off, value) in keys {
            let in_base = base.get_stored(self.key_bytes(off)).is_some();
            let d = i32::from(live(value)) - i32::from(in_base);
            if d != 0 {
                self.add_ancestors(off, d);
            }
        }
    }

    /// Looks up one key by its suffix hash, comparing the stored bytes on a tag match; the
    /// key's arena offset.
    #[inline]
    fn find(
        &self,
        h: u64,
        shape: KeyShape,
        probe: &NameProbe<'_>,
        from: usize,
        verify: bool,
        filtered: bool,
    ) -> Option<u32> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let f = finish(h);
        if filtered && !self.may_contain(f) {
            return None;
        }
        let tag = (f >> 32) as u32;
        let mut i = home(f, n);
        loop {
            let slot = self.slots[i];
            if slot.name == EMPTY {
                return None;
            }
            if slot.tag == tag
                && (!verify || self.key_equals(slot.name, shape, probe.labels_from(from)))
            {
                return Some(slot.name);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Whether the key at `off` is `labels` (with a leading `*` for a wildcard shape).
    fn key_equals<'l>(
        &self,
        off: u32,
        shape: KeyShape,
        labels: impl Iterator<Item = &'l [u8]>,
    ) -> bool {
        let key = self.key_bytes(off);
        if shape == KeyShape::Wildcard {
            if key.len() < 2 || key[0] != 1 || key[1] != b'*' {
                return false;
            }
            return wire_equals(&key[2..], labels);
        }
        wire_equals(key, labels)
    }

    /// The wire bytes (lower case, no root label) of the key at `off`.
    pub(crate) fn key_bytes(&self, off: u32) -> &[u8] {
        &self.arena[off as usize..self.action_at(off)]
    }

    /// The TTL stored with the key at `off`.
    pub(crate) fn key_ttl(&self, off: u32) -> u32 {
        self.key_action(off).1
    }

    /// The value stored with the key at `off`.
    #[inline]
    pub(crate) fn key_value(&self, off: u32) -> u32 {
        self.key_action(off).0
    }

    /// The (value, TTL) pair stored with the key at `off`.
    #[inline]
    pub(crate) fn key_action(&self, off: u32) -> (u32, u32) {
        let at = self.action_at(off);
        match self.arena[at] {
            EXPLICIT => (self.arena_u32(at + 1), self.arena_u32(at + 5)),
            code => self.actions[usize::from(code - FIRST_CODE)],
        }
    }

    /// Offset of the action code of the key at `off`: the first octet from [`FIRST_CODE`]
    /// where a label length would be.
    #[inline]
    fn action_at(&self, off: u32) -> usize {
        let mut at = off as usize;
        while self.arena[at] < FIRST_CODE {
            at += 1 + usize::from(self.arena[at]);
        }
        at
    }

    /// The little-endian `u32` at `at` in the arena.
    #[inline]
    fn arena_u32(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.arena[at..at + 4]);
        u32::from_le_bytes(b)
    }

    /// The action code of (value, TTL), given one if the table has room; `None` when all
    /// 191 codes are taken by other pairs.
    #[inline]
    fn code_for(&mut self, value: u32, ttl: u32) -> Option<u8> {
        let pair = (value, ttl);
        // A scan of the first few: nearly every key of a zone uses one of them.
        if let Some(i) = self.actions[..self.actions.len().min(SCANNED_CODES)]
            .iter()
            .position(|&a| a == pair)
        {
            return u8::try_from(i).ok().map(|i| FIRST_CODE + i);
        }
        if self.actions.len() <= SCANNED_CODES {
            // Fewer pairs than the scan covers: none of the map's is this one.
        } else if let Some(&code) = self.action_codes.get(&pair) {
            return Some(code);
        }
        let code = u8::try_from(self.actions.len())
            .ok()
            .filter(|&i| i < EXPLICIT - FIRST_CODE)?
            + FIRST_CODE;
        self.actions.push(pair);
        self.action_codes.insert(pair, code);
        Some(code)
    }

    /// Appends the action of (value, TTL) to the arena, after a key.
    fn push_action(&mut self, value: u32, ttl: u32) {
        match self.code_for(value, ttl) {
            Some(code) => self.arena.push(code),
            None => {
                self.arena.push(EXPLICIT);
                self.arena.extend_from_slice(&value.to_le_bytes());
                self.arena.extend_from_slice(&ttl.to_le_bytes());
            }
        }
    }

    /// Replaces the (value, TTL) of the key at `off`; returns the key's offset, which is new
    /// when a one-octet code had to become an explicit pair: the key is then copied to the
    /// end of the arena (its old bytes stay, as interior nodes may point into them) and the
    /// caller puts the new offset in its slot.
    fn set_action(&mut self, off: u32, value: u32, ttl: u32) -> u32 {
        let at = self.action_at(off);
        if self.arena[at] == EXPLICIT {
            self.arena[at + 1..at + 5].copy_from_slice(&value.to_le_bytes());
            self.arena[at + 5..at + 9].copy_from_slice(&ttl.to_le_bytes());
            return off;
        }
        if let Some(code) = self.code_for(value, ttl) {
            self.arena[at] = code;
            return off;
        }
        let new = self.arena.len();
        self.arena.extend_from_within(off as usize..at);
        self.arena.push(EXPLICIT);
        self.arena.extend_from_slice(&value.to_le_bytes());
        self.arena.extend_from_slice(&ttl.to_le_bytes());
        new as u32
    }

    /// All keys with their values, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.name != EMPTY)
            .map(|s| (s.name, self.key_value(s.name)))
    }

    /// Looks up a key given as relative labels (a leading `*` label makes a wildcard key).
    pub(crate) fn get(&self, labels: &[&[u8]]) -> Option<(u32, u32)> {
        let slot = self.find_slot(finish(hash_labels(labels)), &wire_of(labels))?;
        let s = self.slots[slot];
        Some((s.name, self.key_value(s.name)))
    }

    /// [`Self::get`] of a key in the stored form (lower-cased wire labels, as another
    /// table's `key_bytes`), without splitting it into labels.
    pub(crate) fn get_stored(&self, wire: &[u8]) -> Option<(u32, u32)> {
        let slot = self.find_slot(finish(hash_wire(wire)), wire)?;
        let s = self.slots[slot];
        Some((s.name, self.key_value(s.name)))
    }

    /// The slot holding the key `labels` (hash `f` already finished).
    fn find_slot(&self, f: u64, wire: &[u8]) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let tag = (f >> 32) as u32;
        let mut i = home(f, n);
        loop {
            let slot = self.slots[i];
            if slot.name == EMPTY {
                return None;
            }
            if slot.tag == tag && self.key_bytes(slot.name) == wire {
                return Some(i);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Adds a key given as relative labels (a leading `*` label makes a wildcard key). An
    /// existing equal key (compared case-insensitively) is left alone and reported.
    pub(crate) fn insert(&mut self, labels: &[&[u8]], ttl: u32, value: u32) -> Inserted {
        let f = finish(hash_labels(labels));
        let mut wire = std::mem::take(&mut self.scratch);
        wire.clear();
        for l in labels {
            wire.push(l.len() as u8);
            wire.extend(l.iter().map(u8::to_ascii_lowercase));
        }
        if let Some(i) = self.find_slot(f, &wire) {
            self.scratch = wire;
            let s = self.slots[i];
            return Inserted::Existing {
                slot: i,
                key: s.name,
                value: self.key_value(s.name),
            };
        }
        if (self.len + 1) * 5 > self.slots.len() * 3 {
            self.resize(slots_for((self.len + 1) * 2));
        }
        let off = self.arena.len() as u32;
        self.arena.extend_from_slice(&wire);
        self.push_action(value, ttl);
        self.scratch = wire;
        match labels.first() {
            Some(first) if *first == b"*" => self.wild_depths |= depth_bit(labels.len() - 1),
            _ => self.exact_depths |= depth_bit(labels.len()),
        }
        self.place(f, off);
        self.len += 1;
        self.add_ancestors_of(labels, off, 1);
        Inserted::New
    }

    /// Counts the proper suffixes of the key `labels`, stored at arena offset `off`, as
    /// interior nodes (`d` = +1 added, -1 removed).
    fn add_ancestors_of(&mut self, labels: &[&[u8]], off: u32, d: i32) {
        if labels.len() < 2 {
            return;
        }
        let mut hashes = std::mem::take(&mut self.suffix_hashes);
        suffix_hashes_into(labels, &mut hashes);
        self.count_ancestors(labels, &hashes, off, d);
        self.suffix_hashes = hashes;
    }

    /// [`Self::add_ancestors_of`] with the suffix hashes of `labels` already computed.
    fn count_ancestors(&mut self, labels: &[&[u8]], hashes: &[u64], off: u32, d: i32) {
        let wire_len: usize = labels.iter().map(|l| 1 + l.len()).sum();
        let mut pos = 0usize;
        for k in 1..labels.len() {
            pos += 1 + labels[k - 1].len();
            let start = off + pos as u32;
            let len = (wire_len - pos) as u32;
            self.ent_add(finish(hashes[k]), start, len, labels.len() - k, d);
        }
    }

    /// Replaces the value in `slot` (from [`Inserted::Existing`], before any further insert).
    pub(crate) fn set_value(&mut self, slot: usize, value: u32) {
        let ttl = self.key_ttl(self.slots[slot].name);
        self.set_rule(slot, value, ttl);
    }

    /// Replaces the value and TTL of the key in `slot` (from [`Inserted::Existing`], before
    /// any further insert). The key's arena offset may change (see `set_action`).
    pub(crate) fn set_rule(&mut self, slot: usize, value: u32, ttl: u32) {
        let off = self.slots[slot].name;
        self.slots[slot].name = self.set_action(off, value, ttl);
    }

    /// Puts a key into its slot (the caller ensures there is room).
    fn place(&mut self, f: u64, off: u32) {
        self.filter_add(f);
        let n = self.slots.len();
        let mut i = home(f, n);
        while self.slots[i].name != EMPTY {
            i += 1;
            if i == n {
                i = 0;
            }
        }
        self.slots[i] = Slot {
            tag: (f >> 32) as u32,
            name: off,
        };
    }

    /// Rehashes all keys into `n` slots.
    fn resize(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; n.max(8)]);
        for s in old.into_iter().filter(|s| s.name != EMPTY) {
            let f = finish(hash_wire(self.key_bytes(s.name)));
            self.place(f, s.name);
        }
    }

    /// Trims spare capacity once building is done (load factor back to about 3/5).
    pub(crate) fn finish_build(&mut self) {
        let want = key_slots_for(self.len);
        if self.len == 0 {
            self.slots = Vec::new();
        } else if self.slots.len() > want + want / 4 {
            self.resize(want);
        }
        self.arena.shrink_to_fit();
        if self.ent_len == 0 {
            self.ents = Vec::new();
        } else if self.ents.len() > key_slots_for(self.ent_len) * 5 / 4 {
            self.ent_resize(key_slots_for(self.ent_len));
        }
        self.scratch = Vec::new();
        self.suffix_hashes = Vec::new();
        self.action_codes = std::collections::HashMap::new();
        self.actions.shrink_to_fit();
    }
}

/// Whether lower-cased wire bytes (no root label) spell `labels` (compared ignoring ASCII case).
fn wire_equals<'l>(wire: &[u8], labels: impl Iterator<Item = &'l [u8]>) -> bool {
    let mut pos = 0;
    for label in labels {
        let len = label.len();
        if wire.len() < pos + 1 + len || wire[pos] as usize != len {
            return false;
        }
        if !wire[pos + 1..pos + 1 + len].eq_ignore_ascii_case(label) {
            return false;
        }
        pos += 1 + len;
    }
    pos == wire.len()
}

/// The hash of every suffix of `labels`: `out[k]` hashes `labels[k..]` (`out[len]` the root).
fn suffix_hashes_into(labels: &[&[u8]], out: &mut Vec<u64>) {
    out.clear();
    out.resize(labels.len() + 1, SEED);
    for k in (0..labels.len()).rev() {
        out[k] = hash_label(out[k + 1], labels[k]);
    }
}

/// Slot count for `n` keys at a load factor of 3/5. Linear probing scans on average
/// (1 + 1/(1-a)^2)/2 slots for an absent key: 8.5 slots (two cache lines) at a = 3/4,
/// 3.6 (one line) at 3/5, for 4 more bytes per key.
fn slots_for(n: usize) -> usize {
    (n * 5 / 3 + 1).max(8)
}

/// Slot count for `n` keys (or interior nodes) of a finished table: a load factor of 2/3.
/// An absent key that gets past the filter scans 5 slots on average (1 + 1/(1-a)^2)/2, 40
/// bytes of 8-byte slots: no more than the 3.6 slots of 12 bytes that the table had at 3/5,
/// for 1.3 bytes less per key than 3/5 now costs. Interior nodes (12-byte slots, looked up
/// only below a wildcard candidate) are trimmed to the same load.
fn key_slots_for(n: usize) -> usize {
    (n * 3 / 2 + 1).max(8)
}

/// Lower-cased wire form (no root label) of relative labels.
pub(crate) fn wire_of(labels: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.iter().map(|l| l.len() + 1).sum());
    for l in labels {
        out.push(l.len() as u8);
        out.extend(l.iter().map(u8::to_ascii_lowercase));
    }
    out
}

/// Splits wire bytes (no root label) into labels.
pub(crate) fn wire_labels(wire: &[u8]) -> Vec<&[u8]> {
    key_labels(wire).collect()
}

/// The labels of wire bytes with no root label (a table key), leftmost first; a length
/// octet that overruns the bytes takes what is left.
pub(crate) fn key_labels(mut wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = wire.split_first()?;
        let (label, tail) = rest.split_at(usize::from(len).min(rest.len()));
        wire = tail;
        Some(label)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[(&str, u32)]) -> NameTable {
        let mut t = NameTable::default();
        for (k, v) in keys {
            let labels: Vec<&[u8]> = k.split('.').map(str::as_bytes).collect();
            assert_eq!(t.insert(&labels, 60, *v), Inserted::New);
        }
        t.finish_build();
        t
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    #[test]
    fn wire_hash_equals_the_label_hash_for_short_and_long_names() {
        for n in [1usize, 2, 5, INLINE_HASHES, INLINE_HASHES + 1, 40] {
            let labels: Vec<Vec<u8>> = (0..n).map(|i| format!("L{i}x").into_bytes()).collect();
            let refs: Vec<&[u8]> = labels.iter().map(Vec::as_slice).collect();
            assert_eq!(hash_wire(&wire_of(&refs)), hash_labels(&refs), "{n} labels");
        }
        assert_ne!(hash_wire(b"\x01a\x01b"), hash_wire(b"\x01b\x01a"));
    }

    #[test]
    fn a_label_hashed_inside_its_buffer_hashes_as_the_label_alone() {
        // Every label length 0..=63 at every offset in buffers a little longer than it, with
        // octets around it that must not leak into the hash (capitals, to catch lower-casing
        // of the window too).
        let fill: Vec<u8> = (0..96u8).map(|i| b'A' + i % 26).collect();
        for len in 0..=63usize {
            for start in 0..=(96 - len) {
                for total in [start + len, (start + len + 3).min(96), 96] {
                    let buf = &fill[..total];
                    let label = &buf[start..start + len];
                    assert_eq!(
                        hash_label_in(7, buf, start, len),
                        hash_label(7, label),
                        "len {len} at {start} in {total}"
                    );
                }
            }
        }
        // And a label alone hashes as before the window reads (octet by octet).
        let byte_wise = |label: &[u8]| {
            let mut h = (7u64 ^ label.len() as u64).wrapping_mul(PRIME);
            for c in label.chunks(8) {
                let w = c
                    .iter()
                    .enumerate()
                    .fold(0u64, |w, (k, &b)| w | u64::from(b) << (8 * k));
                h = step(h, w);
            }
            h
        };
        for len in 0..=63usize {
            assert_eq!(
                hash_label(7, &fill[..len]),
                byte_wise(&fill[..len]),
                "{len}"
            );
        }
    }

    #[test]
    fn eight_octet_lower_casing_touches_only_ascii_capitals() {
        for b in 0u8..=255 {
            let w = u64::from_le_bytes([b, b'A', b'Z', b'@', b'[', b'z', 0xc1, b]);
            let want: Vec<u8> = w.to_le_bytes().iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(lower8(w).to_le_bytes().to_vec(), want, "octet {b:#x}");
        }
    }

    #[test]
    fn exact_key_matches_only_that_name_in_any_case() {
        let t = table(&[("bad.example", 7)]);
        let n = name("BaD.Example.");
        let m = t.best(&NameProbe::new(&n)).expect("hit");
        assert_eq!((t.key_value(m.key), m.shape), (7, KeyShape::Exact));
        assert!(t.best(&NameProbe::new(&name("x.bad.example."))).is_none());
        assert!(t.best(&NameProbe::new(&name("example."))).is_none());
    }

    #[test]
    fn wildcard_key_matches_below_but_not_the_name_itself() {
        let t = table(&[("*.evil.test", 1)]);
        assert!(t.best(&NameProbe::new(&name("evil.test."))).is_none());
        let m = t
            .best(&NameProbe::new(&name("a.b.evil.test.")))
            .expect("deep hit");
        assert_eq!((t.key_value(m.key), m.labels), (1, 2));
    }

    #[test]
    fn wildcard_with_more_labels_wins_over_shorter_one() {
        let t = table(&[("*.test", 1), ("*.evil.test", 2)]);
        let m = t.best(&NameProbe::new(&name("a.evil.test."))).expect("hit");
        assert_eq!(t.key_value(m.key), 2);
        let m = t.best(&NameProbe::new(&name("a.good.test."))).expect("hit");
        assert_eq!(t.key_value(m.key), 1);
    }

    #[test]
    fn inserting_an_existing_key_in_other_case_reports_it_and_keeps_the_value() {
        let mut t = table(&[("dup.example", 1)]);
        let labels: [&[u8]; 2] = [b"DUP", b"Example"];
        match t.insert(&labels, 5, 2) {
            Inserted::Existing { slot, value, .. } => {
                assert_eq!(value, 1);
                t.set_value(slot, 9);
            }
            Inserted::New => panic!("duplicate not detected"),
        }
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(&labels).map(|(_, v)| v), Some(9));
    }

    #[test]
    fn key_ttl_and_bytes_round_trip_through_the_arena() {
        let t = table(&[("Mixed.Case", 3)]);
        let (off, v) = t.iter().next().expect("one key");
        assert_eq!(v, 3);
        assert_eq!(t.key_bytes(off), b"\x05mixed\x04case");
        assert_eq!(t.key_ttl(off), 60);
    }

    #[test]
    fn values_and_ttls_past_the_191_action_codes_are_stored_in_full() {
        // 300 distinct (value, TTL) pairs: the first 191 get codes, the rest are explicit.
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}.x")).collect();
        let mut t = NameTable::default();
        for (i, k) in keys.iter().enumerate() {
            let labels: Vec<&[u8]> = k.split('.').map(str::as_bytes).collect();
            assert_eq!(t.insert(&labels, 1000 + i as u32, i as u32), Inserted::New);
        }
        assert_eq!(t.actions.len(), 191);
        let check = |t: &NameTable, i: usize, value: u32, ttl: u32| {
            let labels: Vec<&[u8]> = keys[i].split('.').map(str::as_bytes).collect();
            let (key, v) = t.get(&labels).expect("present");
            assert_eq!((v, t.key_ttl(key)), (value, ttl), "{}", keys[i]);
            let n = name(&format!("{}.", keys[i]));
            assert_eq!(
                t.best(&NameProbe::new(&n)).map(|m| t.key_value(m.key)),
                Some(value)
            );
        };
        for i in 0..300 {
            check(&t, i, i as u32, 1000 + i as u32);
        }
        // A coded key given a pair with no code left moves to an explicit copy; an explicit
        // one is rewritten in place; a pair that has a code keeps the octet.
        for (i, value, ttl) in [(3, 7777, 1), (280, 8888, 2), (4, 0, 1000)] {
            let labels: Vec<&[u8]> = keys[i].split('.').map(str::as_bytes).collect();
            let slot = t.find_slot(finish(hash_labels(&labels)), &wire_of(&labels));
            t.set_rule(slot.expect("slot"), value, ttl);
            check(&t, i, value, ttl);
        }
        t.finish_build();
        for i in (0..300).filter(|i| ![3, 4, 280].contains(i)) {
            check(&t, i, i as u32, 1000 + i as u32);
        }
        check(&t, 3, 7777, 1);
        check(&t, 280, 8888, 2);
        assert_eq!(t.iter().count(), 300);
    }

    #[test]
    fn a_bulk_merge_past_the_action_codes_keeps_the_merged_pair() {
        let mut t = NameTable::for_bulk(600, 8);
        for i in 0..300u32 {
            let k = format!("k{i}.x");
            let labels: Vec<&[u8]> = k.split('.').map(str::as_bytes).collect();
            t.push(&labels, 1000 + i, i);
        }
        let dup: [&[u8]; 2] = [b"K1", b"X"];
        t.push(&dup, 5, 5000);
        t.place_pending(|_, kept, dropped| (kept.0 + dropped.0, kept.1.min(dropped.1)));
        t.finish_build();
        assert_eq!(t.len(), 300);
        let (key, v) = t.get(&dup).expect("merged");
        assert_eq!((v, t.key_ttl(key)), (5001, 5));
        let n = name("k1.x.");
        assert_eq!(
            t.best(&NameProbe::new(&n)).map(|m| t.key_value(m.key)),
            Some(5001)
        );
    }

    #[test]
    fn a_table_full_of_colliding_home_slots_still_finds_every_key() {
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}.x")).collect();
        let pairs: Vec<(&str, u32)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i as u32))
            .collect();
        let t = table(&pairs);
        for (i, k) in keys.iter().enumerate() {
            let n = name(&format!("{k}."));
            assert_eq!(
                t.best(&NameProbe::new(&n)).map(|m| t.key_value(m.key)),
                Some(i as u32)
            );
        }
        assert!(t.best(&NameProbe::new(&name("k1000.x."))).is_none());
    }

    #[test]
    fn a_bulk_built_table_filters_most_absent_keys_and_never_a_present_one() {
        let mut t = NameTable::for_bulk(20_000, 8);
        let keys: Vec<String> = (0..20_000).map(|i| format!("in{i}.x")).collect();
        for (i, k) in keys.iter().enumerate() {
            let labels: Vec<&[u8]> = k.split('.').map(str::as_bytes).collect();
            t.push(&labels, 60, i as u32);
        }
        t.place_pending(|_, kept, _| kept);
        t.finish_build();
        assert!(!t.filter.is_empty());
        for (i, k) in keys.iter().enumerate() {
            let n = name(&format!("{}.", k.to_uppercase()));
            let p = NameProbe::new(&n);
            assert!(t.may_contain(finish(p.hash(0))), "{k}");
            assert_eq!(t.best(&p).map(|m| t.key_value(m.key)), Some(i as u32));
        }
        let passed = (0..20_000)
            .filter(|i| {
                let n = name(&format!("out{i}.x."));
                t.may_contain(finish(NameProbe::new(&n).hash(0)))
            })
            .count();
        // 8-16 bits per key with 3 set: a few percent get through.
        assert!(
            passed < 1_500,
            "{passed} of 20000 absent keys passed the filter"
        );
        assert!(t.best(&NameProbe::new(&name("out1.x."))).is_none());
    }
}
