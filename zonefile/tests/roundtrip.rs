//! Property: whatever record the writer writes, the parser reads back the same record,
//! byte for byte (owner case, TTL, class and RDATA included).

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict,
};
use proptest::prelude::*;
use sekisho_zonefile::{parse_str, write_record, ParseOptions};

/// A label of any bytes: dots, backslashes, quotes, blanks and non-ASCII included.
fn label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..=12),
        "[a-z0-9-]{1,20}".prop_map(String::into_bytes),
        Just(b"*".to_vec()),
    ]
}

/// A name of up to four labels.
fn name() -> impl Strategy<Value = Name> {
    proptest::collection::vec(label(), 0..=4).prop_map(|labels| {
        let mut name = Name::root();
        for label in labels {
            name = name
                .append_label(label.as_slice())
                .expect("short labels fit");
        }
        name
    })
}

/// A character string of any bytes.
fn char_string() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=40)
}

/// Wire RDATA of `rtype` made from arbitrary bytes, kept only if hickory decodes it, and
/// normalised through one encode/decode so the value is a fixed point of hickory's codec.
fn from_wire(rtype: RecordType, bytes: &[u8]) -> Option<RData> {
    let decode = |wire: &[u8]| {
        let mut decoder = BinDecoder::new(wire);
        let len = u16::try_from(wire.len()).ok()?;
        let rdata = RData::read(&mut decoder, rtype, Restrict::new(len)).ok()?;
        (decoder.index() == wire.len()).then_some(rdata)
    };
    let first = decode(bytes)?;
    let mut wire = Vec::new();
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    first.emit(&mut encoder).ok()?;
    decode(&wire)
}

/// Appends the uncompressed wire form of `name`.
fn push_name(wire: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
}

/// Appends an NSEC type bitmap for `types` (RFC 4034 section 4.1.2).
fn push_bitmap(wire: &mut Vec<u8>, types: &[u16]) {
    let mut types = types.to_vec();
    types.sort_unstable();
    types.dedup();
    let mut i = 0;
    while i < types.len() {
        let window = types[i] >> 8;
        let mut bits = [0u8; 32];
        let mut used = 0;
        while i < types.len() && types[i] >> 8 == window {
            let low = usize::from(types[i] & 0xff);
            bits[low / 8] |= 0x80 >> (low % 8);
            used = used.max(low / 8 + 1);
            i += 1;
        }
        wire.push(window as u8);
        wire.push(used as u8);
        wire.extend_from_slice(&bits[..used]);
    }
}

/// Well-formed wire RDATA for the types random bytes rarely hit: DNAME, NSEC, NSEC3,
/// NSEC3PARAM and RRSIG.
fn structured_wire() -> impl Strategy<Value = RData> {
    let types = proptest::collection::vec(any::<u16>(), 0..6);
    let bytes = |max| proptest::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        name().prop_map(|n| {
            let mut wire = Vec::new();
            push_name(&mut wire, &n);
            (39u16, wire)
        }),
        (name(), types.clone()).prop_map(|(n, t)| {
            let mut wire = Vec::new();
            push_name(&mut wire, &n);
            push_bitmap(&mut wire, &t);
            (47, wire)
        }),
        (
            any::<[u8; 4]>(),
            bytes(20),
            proptest::collection::vec(any::<u8>(), 1..32),
            types
        )
            .prop_map(|(head, salt, hash, t)| {
                let mut wire = head.to_vec();
                wire.push(salt.len() as u8);
                wire.extend_from_slice(&salt);
                wire.push(hash.len() as u8);
                wire.extend_from_slice(&hash);
                push_bitmap(&mut wire, &t);
                (50, wire)
            }),
        (any::<[u8; 4]>(), bytes(20)).prop_map(|(head, salt)| {
            let mut wire = head.to_vec();
            wire.push(salt.len() as u8);
            wire.extend_from_slice(&salt);
            (51, wire)
        }),
        (
            any::<[u8; 18]>(),
            name(),
            proptest::collection::vec(any::<u8>(), 1..64)
        )
            .prop_map(|(head, signer, sig)| {
                let mut wire = head.to_vec();
                push_name(&mut wire, &signer);
                wire.extend_from_slice(&sig);
                (46, wire)
            }),
    ]
    .prop_filter_map("hickory rejects these bytes", |(code, wire)| {
        from_wire(RecordType::from(code), &wire)
    })
}

/// RDATA of many types: built from values for the common ones, from random wire bytes for
/// the rest (DNSSEC types, SVCB, generic types).
fn rdata() -> impl Strategy<Value = RData> {
    let structured = prop_oneof![
        any::<u32>().prop_map(|v| RData::A(A(Ipv4Addr::from(v)))),
        any::<u128>().prop_map(|v| RData::AAAA(AAAA(Ipv6Addr::from(v)))),
        name().prop_map(|n| RData::CNAME(CNAME(n))),
        name().prop_map(|n| RData::NS(NS(n))),
        name().prop_map(|n| RData::PTR(PTR(n))),
        (any::<u16>(), name()).prop_map(|(p, n)| RData::MX(MX::new(p, n))),
        proptest::collection::vec(char_string(), 1..=3).prop_map(|strings| RData::TXT(
            TXT::from_bytes(strings.iter().map(Vec::as_slice).collect())
        )),
        (
            name(),
            name(),
            any::<u32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<u32>()
        )
            .prop_map(|(m, r, s, a, b, c, d)| RData::SOA(SOA::new(m, r, s, a, b, c, d))),
        (any::<u16>(), any::<u16>(), any::<u16>(), name())
            .prop_map(|(p, w, port, n)| RData::SRV(SRV::new(p, w, port, n))),
    ];
    let codes: &[u16] = &[
        13, 35, 39, 43, 44, 46, 47, 48, 50, 51, 52, 59, 60, 61, 62, 63, 64, 65, 99, 65280, 65534,
    ];
    let wire = (
        proptest::sample::select(codes),
        proptest::collection::vec(any::<u8>(), 0..=48),
    )
        .prop_filter_map("hickory rejects these bytes", |(code, bytes)| {
            from_wire(RecordType::from(code), &bytes)
        });
    prop_oneof![3 => structured, 2 => wire, 2 => structured_wire()]
}

/// A class: the usual three or any number.
fn class() -> impl Strategy<Value = DNSClass> {
    prop_oneof![
        Just(DNSClass::IN),
        Just(DNSClass::CH),
        Just(DNSClass::HS),
        any::<u16>().prop_map(DNSClass::from)
    ]
}

/// The record as wire bytes: compares owner case, TTL, class and RDATA exactly.
fn exact(record: &Record) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    record.emit(&mut encoder).expect("encodes");
    wire
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn written_records_parse_back_identically(
        owner in name(), ttl in any::<u32>(), class in class(), data in rdata()
    ) {
        let mut record = Record::from_rdata(owner, ttl, data);
        record.dns_class = class;
        let mut text = Vec::new();
        write_record(&mut text, &record).expect("writes");
        let text = String::from_utf8(text).expect("the writer emits ASCII");
        let parsed = parse_str(&text, ParseOptions::default())
            .unwrap_or_else(|err| panic!("{err}\n{text}"));
        prop_assert_eq!(parsed.len(), 1, "{}", text);
        prop_assert_eq!(exact(&parsed[0]), exact(&record), "{}", text);
    }
}

/// Bytes that the text form of a character string must quote or escape: quote,
/// backslash, blanks, the comment and grouping characters, line ends, NUL, DEL,
/// high bytes, the directive and origin characters and the label separator.
const AWKWARD: &[u8] = b"\"\\ \t;()\n\r\x00\x7f\x80\xff$@.";

/// A character string built to be hard to write: empty, short with many awkward
/// bytes, or at (and near) the 255-octet limit.
fn hard_char_string() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => proptest::sample::select(AWKWARD),
        2 => proptest::char::range('a', 'z').prop_map(|c| c as u8),
        1 => any::<u8>(),
    ];
    prop_oneof![
        1 => Just(Vec::new()),
        4 => proptest::collection::vec(byte.clone(), 1..=40),
        1 => proptest::collection::vec(byte.clone(), 255..=255),
        1 => proptest::collection::vec(byte, 250..=255),
    ]
}

/// Appends `s` as a length-prefixed character string.
fn push_char_string(wire: &mut Vec<u8>, s: &[u8]) {
    wire.push(u8::try_from(s.len()).expect("at most 255 octets"));
    wire.extend_from_slice(s);
}

/// RDATA made of character strings: TXT and SPF with zero to eight strings, HINFO
/// (two), and NAPTR (flags, services and regexp, then a name).
fn char_string_rdata() -> impl Strategy<Value = RData> {
    let strings = proptest::collection::vec(hard_char_string(), 0..=8);
    let flags = proptest::collection::vec(proptest::char::range('A', 'z'), 0..=3).prop_map(|c| {
        c.into_iter()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    });
    prop_oneof![
        (prop_oneof![Just(16u16), Just(99u16)], strings).prop_map(|(code, strings)| {
            let mut wire = Vec::new();
            for s in &strings {
                push_char_string(&mut wire, s);
            }
            (code, wire)
        }),
        (hard_char_string(), hard_char_string()).prop_map(|(cpu, os)| {
            let mut wire = Vec::new();
            push_char_string(&mut wire, &cpu);
            push_char_string(&mut wire, &os);
            (13, wire)
        }),
        (
            any::<[u8; 4]>(),
            flags,
            hard_char_string(),
            hard_char_string(),
            name()
        )
            .prop_map(|(head, flags, services, regexp, replacement)| {
                let mut wire = head.to_vec();
                push_char_string(&mut wire, flags.as_bytes());
                push_char_string(&mut wire, &services);
                push_char_string(&mut wire, &regexp);
                push_name(&mut wire, &replacement);
                (35, wire)
            }),
    ]
    .prop_map(|(code, wire)| {
        from_wire(RecordType::from(code), &wire)
            .unwrap_or_else(|| panic!("hickory decodes type {code} RDATA {wire:?}"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn character_strings_round_trip_exactly(owner in name(), data in char_string_rdata()) {
        let record = Record::from_rdata(owner, 3600, data);
        let mut text = Vec::new();
        write_record(&mut text, &record).expect("writes");
        let text = String::from_utf8(text).expect("the writer emits ASCII");
        prop_assert_eq!(text.lines().count(), 1, "one line: {}", text);
        let parsed = parse_str(&text, ParseOptions::default())
            .unwrap_or_else(|err| panic!("{err}\n{text}"));
        prop_assert_eq!(parsed.len(), 1, "{}", text);
        prop_assert_eq!(exact(&parsed[0]), exact(&record), "{}", text);
    }
}
