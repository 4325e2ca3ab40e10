//! Property test: compiling a zone from wire-form records ([`WireCompiler`]) gives the same
//! rules, warnings, counts and index as compiling the same records as hickory records
//! ([`ZoneRules::compile`]), whatever mix of owners, types, cases and duplicates it holds.

mod common;

use common::name;
use hickory_proto::rr::rdata::{CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use proptest::prelude::*;
use sekisho_rpz::*;

const APEX: &str = "Rpz.Test.";

/// Owner text relative to the apex (`@` is the apex, a trailing dot is absolute).
fn owner() -> impl Strategy<Value = String> {
    let label = prop::sample::select(vec!["a", "B", "c", "xn--d", "*"]);
    let front = prop::collection::vec(label, 1..4).prop_map(|v| v.join("."));
    let suffix = prop::sample::select(vec![
        "",
        "",
        "",
        ".rpz-nsdname",
        ".rpz-ip",
        ".rpz-client-ip",
        ".rpz-nsip",
    ]);
    prop_oneof![
        8 => (front, suffix).prop_map(|(f, s)| format!("{f}{s}")),
        1 => Just("32.1.0.0.10.rpz-ip".to_string()),
        1 => Just("24.0.0.10.RPZ-CLIENT-IP".to_string()),
        1 => Just("rpz-nsdname".to_string()),
        1 => Just("@".to_string()),
        1 => Just("x.outside.".to_string()),
    ]
}

/// One record's data, given the owner (for the PASSTHRU forms).
fn data(owner: &Name) -> impl Strategy<Value = (RData, bool)> {
    let trigger = {
        let labels: Vec<&[u8]> = owner.iter().collect();
        let keep = labels
            .len()
            .saturating_sub(name(APEX).num_labels() as usize);
        Name::from_labels(labels[..keep].to_vec()).unwrap_or_else(|_| Name::root())
    };
    let targets = vec![
        Name::root(),
        name("*."),
        name("rpz-passthru."),
        name("RPZ-DROP."),
        name("rpz-tcp-only."),
        name("rpz-bogus."),
        name("Warn.Example."),
        name("*.warn.example."),
        trigger,
        owner.clone(),
    ];
    let cname = prop::sample::select(targets).prop_map(|t| RData::CNAME(CNAME(t)));
    let v4 = prop::sample::select(vec!["192.0.2.10", "192.0.2.11", "10.0.0.1"])
        .prop_map(|a| RData::A(a.parse().expect("v4")));
    let v6 = prop::sample::select(vec!["2001:db8::10", "2001:db8::11"])
        .prop_map(|a| RData::AAAA(a.parse().expect("v6")));
    let other = prop::sample::select(vec![
        RData::TXT(TXT::new(vec!["blocked".into()])),
        RData::MX(MX::new(10, name("mail.example."))),
        RData::NS(NS(name("ns.example."))),
        RData::SOA(SOA::new(
            name("ns.rpz.test."),
            name("hostmaster.rpz.test."),
            7,
            3600,
            600,
            86400,
            60,
        )),
    ]);
    let rdata = prop_oneof![5 => cname, 4 => v4, 2 => v6, 1 => other];
    (rdata, prop::bool::weighted(0.05))
}

/// Absolute owner name of owner text.
fn absolute(text: &str) -> Name {
    match text {
        "@" => name(APEX),
        t if t.ends_with('.') => name(t),
        t => name(&format!("{t}.{APEX}")),
    }
}

/// A zone: owner groups of 1 to 3 records (owners may repeat, in other case).
fn zone() -> impl Strategy<Value = Vec<Record>> {
    let group = owner().prop_flat_map(|o| {
        let owner = absolute(&o);
        let recs = prop::collection::vec((data(&owner), 30u32..300), 1..4);
        (Just(owner), recs, any::<bool>())
    });
    prop::collection::vec(group, 0..24).prop_map(|groups| {
        let mut out = Vec::new();
        for (owner, recs, upper) in groups {
            let owner = if upper {
                Name::from_ascii(owner.to_ascii().to_uppercase()).expect("name")
            } else {
                owner
            };
            for ((rdata, chaos), ttl) in recs {
                let mut r = Record::from_rdata(owner.clone(), ttl, rdata);
                if chaos {
                    r.dns_class = DNSClass::CH;
                }
                out.push(r);
            }
        }
        out
    })
}

/// Uncompressed wire form of a name, case kept.
fn name_wire(n: &Name) -> Vec<u8> {
    let mut out = Vec::new();
    for l in n.iter() {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

/// Uncompressed wire RDATA, as the zone-file parser produces it.
fn rdata_wire(d: &RData) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    d.emit(&mut enc).expect("encodes");
    buf
}

/// Everything observable about a compiled zone, names in the case they are kept in.
fn observe(z: &ZoneRules, w: &[Warning]) -> (Vec<String>, Vec<String>, String, usize) {
    let mut rules: Vec<String> = z.rules().iter().map(|r| format!("{r:?}")).collect();
    rules.sort();
    // The kept counts agree with the rules actually listed.
    let mut listed = RuleCounts::default();
    for r in z.rules() {
        *match r.kind {
            TriggerKind::Qname => &mut listed.qname,
            TriggerKind::ClientIp => &mut listed.client_ip,
            TriggerKind::ResponseIp => &mut listed.response_ip,
            TriggerKind::NsDname => &mut listed.nsdname,
            TriggerKind::NsIp => &mut listed.nsip,
        } += 1;
    }
    assert_eq!(z.counts(), listed);
    let meta = format!("{:?} {:?} {:?}", z.counts(), z.serial(), z.soa());
    let warnings = w.iter().map(|w| format!("{w:?}")).collect();
    (rules, warnings, meta, z.heap_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wire_and_record_compiles_agree(records in zone()) {
        let settings = ZoneSettings::new(name(APEX));
        let (by_records, w1) = ZoneRules::compile(settings.clone(), records.clone());
        let mut c = WireCompiler::new(settings, records.len());
        for r in &records {
            c.add(&name_wire(&r.name), r.record_type(), r.dns_class, r.ttl, &rdata_wire(&r.data));
        }
        let (by_wire, w2) = c.finish();
        prop_assert_eq!(observe(&by_wire, &w2), observe(&by_records, &w1));
    }
}

#[test]
fn data_that_does_not_decode_is_warned_about_and_skipped() {
    let mut c = WireCompiler::new(ZoneSettings::new(name(APEX)), 2);
    let owner = name_wire(&absolute("bad.example"));
    c.add(
        &owner,
        hickory_proto::rr::RecordType::MX,
        DNSClass::IN,
        60,
        b"\x00",
    );
    c.add(
        &name_wire(&absolute("ok.example")),
        hickory_proto::rr::RecordType::CNAME,
        DNSClass::IN,
        60,
        b"\x00",
    );
    let (z, w) = c.finish();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].reason, WarningReason::BadRdata);
    assert_eq!(w[0].owner, absolute("bad.example"));
    assert_eq!(z.counts().total(), 1);
}

#[test]
fn an_owner_that_is_not_a_name_is_warned_about_under_the_zone_name() {
    let mut c = WireCompiler::new(ZoneSettings::new(name(APEX)), 1);
    c.add(
        b"\x03bad",
        hickory_proto::rr::RecordType::A,
        DNSClass::IN,
        60,
        &[192, 0, 2, 1],
    );
    let (z, w) = c.finish();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].reason, WarningReason::BadOwner);
    assert_eq!(w[0].owner, name(APEX));
    assert_eq!(z.counts().total(), 0);
}
