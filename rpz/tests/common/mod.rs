//! Test helpers: a tiny zone-text reader (one record per line) and query builders.
//!
//! Line format: `owner [ttl] [CH] TYPE rdata...`. A relative owner is completed with the
//! zone apex, `@` is the apex. Types: SOA, NS, CNAME, DNAME, A, AAAA, TXT, MX, PTR, RRSIG
//! (as opaque data), anything else is an error in the test itself.
#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::{CNAME, MX, NS, NULL, PTR, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use sekisho_rpz::*;

/// Parses an absolute name.
pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap_or_else(|e| panic!("bad test name {s:?}: {e}"))
}

/// Completes a possibly relative name with `origin`.
fn full(s: &str, origin: &Name) -> Name {
    if s == "@" {
        return origin.clone();
    }
    if s.ends_with('.') {
        return name(s);
    }
    let mut n = Name::from_ascii(s).expect("relative name");
    n.set_fqdn(false);
    n.append_domain(origin).expect("name fits")
}

/// Records from zone text under `apex`.
pub fn records(apex: &str, text: &str) -> Vec<Record> {
    let origin = name(apex);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let mut f: Vec<&str> = line.split_whitespace().collect();
        let owner = full(f.remove(0), &origin);
        let mut ttl = 300;
        if let Ok(t) = f[0].parse::<u32>() {
            ttl = t;
            f.remove(0);
        }
        let mut class = DNSClass::IN;
        if f[0] == "CH" {
            class = DNSClass::CH;
            f.remove(0);
        }
        let rtype = f.remove(0);
        let data = match rtype {
            "SOA" => RData::SOA(SOA::new(
                full(f[0], &origin),
                full(f[1], &origin),
                f[2].parse().expect("serial"),
                3600,
                600,
                86400,
                f.get(3).map_or(60, |m| m.parse().expect("minimum")),
            )),
            "NS" => RData::NS(NS(full(f[0], &origin))),
            "CNAME" => RData::CNAME(CNAME(full(f[0], &origin))),
            "DNAME" => RData::Unknown {
                code: RecordType::DNAME,
                rdata: NULL::with(vec![0]),
            },
            "PTR" => RData::PTR(PTR(full(f[0], &origin))),
            "A" | "AAAA" => match f[0].parse::<IpAddr>().expect("address") {
                IpAddr::V4(a) => RData::A(a.into()),
                IpAddr::V6(a) => RData::AAAA(a.into()),
            },
            "TXT" => RData::TXT(TXT::new(vec![f.join(" ").trim_matches('"').to_string()])),
            "MX" => RData::MX(MX::new(f[0].parse().expect("pref"), full(f[1], &origin))),
            "RRSIG" => RData::Unknown {
                code: RecordType::RRSIG,
                rdata: NULL::with(vec![0; 20]),
            },
            other => panic!("test helper does not know type {other}"),
        };
        let mut r = Record::from_rdata(owner, ttl, data);
        r.dns_class = class;
        out.push(r);
    }
    out
}

/// The SOA line every test zone starts with.
pub const SOA: &str = "@ 3600 SOA ns.invalid. hostmaster.invalid. 42";

/// Compiles a zone from text with default settings (the SOA line is added).
pub fn zone(apex: &str, text: &str) -> ZoneRules {
    zone_with(ZoneSettings::new(name(apex)), text)
}

/// Compiles a zone from text with the given settings (the SOA line is added).
pub fn zone_with(settings: ZoneSettings, text: &str) -> ZoneRules {
    let apex = settings.name.to_ascii();
    let recs = records(&apex, &format!("{SOA}\n{text}"));
    let (z, warnings) = ZoneRules::compile(settings, recs);
    assert!(
        warnings.is_empty(),
        "unexpected warnings: {:?}",
        warnings.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    z
}

/// A set of zones in order, default options (qname-wait-recurse on).
pub fn set(zones: Vec<ZoneRules>) -> PolicySet {
    PolicySet::new(
        zones.into_iter().map(Arc::new).collect(),
        SetOptions::default(),
    )
}

/// A recursive, non-DNSSEC query from 192.0.2.1.
pub fn query(qname: &Name, qtype: RecordType) -> PolicyQuery<'_> {
    PolicyQuery {
        client: "192.0.2.1".parse().expect("addr"),
        qname,
        qname_wire: None,
        qtype,
        recursion_desired: true,
        dnssec_ok: false,
    }
}

/// The decision for `qname`/`qtype` with the given response facts.
pub fn decide(set: &PolicySet, qname: &str, qtype: RecordType, facts: &ResponseFacts) -> Decision {
    let n = name(qname);
    set.check_response(&query(&n, qtype), facts)
}

/// The applied hit for `qname`/`qtype` with no response facts.
pub fn hit(set: &PolicySet, qname: &str, qtype: RecordType) -> Option<Hit> {
    decide(set, qname, qtype, &ResponseFacts::default())
        .hit()
        .cloned()
}

/// A client request message for `qname`/`qtype` (RD=1, with EDNS when `edns`).
pub fn request(qname: &str, qtype: RecordType, edns: bool) -> Message {
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), qtype));
    if edns {
        m.edns = Some(Edns::new());
    }
    m
}

/// The rewritten message for a hit (panics unless it is an answer).
pub fn answer(hit: &Hit, req: &Message, real: Option<&Message>) -> (Message, Option<Name>) {
    match hit.rewrite(req, real, Transport::Udp) {
        Rewrite::Answer { message, chase } => (message, chase),
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// Facts with answer addresses only.
pub fn addrs(list: &[&str]) -> ResponseFacts {
    ResponseFacts {
        addresses: list.iter().map(|a| a.parse().expect("addr")).collect(),
        ..ResponseFacts::default()
    }
}
