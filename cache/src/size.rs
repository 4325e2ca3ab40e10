//! Heap bytes of the values the caches keep, for their byte bounds.
//!
//! Estimates, computed once when a value is stored: the sizes of the inline
//! parts (`size_of`) plus what sits on the heap behind them, each heap block
//! with the allocator's header ([`ALLOC_HEADER`]). Vectors are charged for
//! their length, not their spare capacity. The point is a bound that tracks
//! real memory within a small factor, not an exact accounting.

use std::mem::size_of;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use sekisho_rpz::{Delegation, ResponseFacts};

use crate::clock::ALLOC_HEADER;

/// Labels a [`Name`] keeps inline before its label bytes move to the heap
/// (hickory's `TinyVec<[u8; 32]>`).
const NAME_INLINE_BYTES: usize = 32;
/// Label ends a [`Name`] keeps inline (hickory's `TinyVec<[u8; 24]>`).
const NAME_INLINE_LABELS: usize = 24;

/// Heap bytes behind a [`Name`] (its inline part is its owner's).
pub fn name_heap(name: &Name) -> usize {
    let labels = usize::from(name.num_labels());
    // `len` counts the label bytes plus one dot per label.
    let data = name.len().saturating_sub(labels.max(1));
    let mut n = 0;
    if data > NAME_INLINE_BYTES {
        n += data + ALLOC_HEADER;
    }
    if labels > NAME_INLINE_LABELS {
        n += labels + ALLOC_HEADER;
    }
    n
}

/// Heap bytes of a vector's buffer holding `len` items of `T`.
pub fn vec_heap<T>(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len * size_of::<T>() + ALLOC_HEADER
    }
}

/// Heap bytes behind a vector of names.
pub fn names_heap(names: &[Name]) -> usize {
    vec_heap::<Name>(names.len()) + names.iter().map(name_heap).sum::<usize>()
}

/// Heap bytes behind a [`Record`]: its owner name's and its data's. The data
/// is charged its wire length (addresses, being inline, nothing), which is
/// close to what the decoded fields hold.
pub fn record_heap(record: &Record) -> usize {
    let data = match &record.data {
        RData::A(_) | RData::AAAA(_) => 0,
        RData::NS(n) => name_heap(&n.0),
        RData::CNAME(n) => name_heap(&n.0),
        RData::PTR(n) => name_heap(&n.0),
        other => {
            let mut buf = Vec::new();
            let mut enc = BinEncoder::new(&mut buf);
            match other.emit(&mut enc) {
                Ok(()) => buf.len() + ALLOC_HEADER,
                // Not encodable: charge the largest RDATA there is.
                Err(_) => usize::from(u16::MAX),
            }
        }
    };
    name_heap(&record.name) + data
}

/// Heap bytes behind a vector of records (their inline parts included).
pub fn records_heap(records: &[Record]) -> usize {
    vec_heap::<Record>(records.len()) + records.iter().map(record_heap).sum::<usize>()
}

/// Heap bytes of an `Arc<ResponseFacts>` (the shared block and what it owns).
pub fn facts_heap(facts: &ResponseFacts) -> usize {
    // Two reference counts in front of the value.
    let block = size_of::<ResponseFacts>() + 2 * size_of::<usize>() + ALLOC_HEADER;
    block
        + names_heap(&facts.cnames)
        + vec_heap::<IpAddr>(facts.addresses.len())
        + vec_heap::<Delegation>(facts.delegations.len())
        + facts
            .delegations
            .iter()
            .map(|d| {
                name_heap(&d.zone)
                    + names_heap(&d.ns_names)
                    + vec_heap::<IpAddr>(d.ns_addresses.len())
            })
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, TXT};
    use std::str::FromStr;

    #[test]
    fn long_names_and_big_rdata_are_charged_their_heap_bytes() {
        let short = Name::from_str("www.example.").expect("name");
        assert_eq!(name_heap(&short), 0, "fits inline");
        let long = Name::from_str(&format!("{}.example.", "a".repeat(60))).expect("name");
        assert!(name_heap(&long) > 60);
        let a = Record::from_rdata(short.clone(), 300, RData::A(A::new(192, 0, 2, 1)));
        assert_eq!(record_heap(&a), 0);
        let txt = Record::from_rdata(short, 300, RData::TXT(TXT::new(vec!["x".repeat(500)])));
        assert!(record_heap(&txt) > 500);
        assert!(records_heap(&[a, txt]) > 500 + 2 * size_of::<Record>());
    }
}
