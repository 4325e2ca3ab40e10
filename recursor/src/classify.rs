//! What an authoritative answer means: the sans-I/O core of iteration.
//!
//! ```text
//!  response + (question, zone the server was asked as)
//!     ├─ data for the question, or a CNAME/DNAME chain from it ─▶ Answer
//!     ├─ NXDOMAIN                                               ─▶ NxDomain
//!     ├─ NS for a zone strictly between `zone` and the name     ─▶ Referral (+ in-bailiwick glue)
//!     ├─ NOERROR, nothing, SOA or AA                            ─▶ NoData
//!     └─ anything else (REFUSED, SERVFAIL, upward referral, ...) ─▶ Lame
//! ```
//!
//! RFC 1034 section 5.3.3 step 4 and RFC 2181 section 5.4.1 (data ranking):
//! records are only believed when they lie within the zone the server was
//! asked as ("bailiwick"). Glue for a name server outside that zone is
//! dropped, so a server cannot point us elsewhere for names it does not own.

use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The meaning of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Class {
    /// The answer section answers the question (possibly through aliases).
    Answer,
    /// The name does not exist.
    NxDomain,
    /// The name exists without data of this type.
    NoData,
    /// Go ask the servers of `child`.
    Referral {
        /// The delegated zone.
        child: Name,
        /// Its name servers.
        ns: Vec<Name>,
        /// Addresses of those name servers found in the additional section,
        /// in bailiwick of the zone asked.
        glue: Vec<(Name, IpAddr)>,
        /// How many glue records were dropped as out of bailiwick.
        dropped_glue: usize,
        /// The lowest TTL of the NS set.
        ttl: u32,
    },
    /// The server cannot help for this name; try another.
    Lame(&'static str),
}

/// Classify `msg`, the answer of a server of `zone` to (`qname`, `qtype`).
pub(crate) fn classify(msg: &Message, qname: &Name, qtype: RecordType, zone: &Name) -> Class {
    let rcode = msg.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return Class::Lame("error rcode");
    }
    let answers_question = msg.answers.iter().any(|r| {
        r.name == *qname
            && (r.record_type() == qtype
                || r.record_type() == RecordType::CNAME
                || qtype == RecordType::ANY)
    }) || msg
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::DNAME && r.name.zone_of(qname) && r.name != *qname);
    if answers_question {
        if !zone.zone_of(qname) {
            return Class::Lame("answer out of bailiwick");
        }
        return Class::Answer;
    }
    let has_soa = msg
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    if rcode == ResponseCode::NXDomain {
        // Only an authority may say a name does not exist (RFC 1034 section 4.3.1:
        // AA, or at least its SOA for negative caching); anything else is lame.
        if msg.metadata.authoritative || has_soa {
            return Class::NxDomain;
        }
        return Class::Lame("NXDOMAIN without authority");
    }
    // A referral: NS records in authority for a cut below the zone asked.
    let ns: Vec<&Record> = msg
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .collect();
    if !msg.metadata.authoritative {
        if let Some(first) = ns.first() {
            let child = first.name.clone();
            if child == *zone || !zone.zone_of(&child) {
                // Upward or sideways: a referral loop or a lame server (RFC 1034 section 5.3.3:
                // the delegation must be "closer" to the answer).
                return Class::Lame("referral not closer");
            }
            if !child.zone_of(qname) {
                return Class::Lame("referral to an unrelated zone");
            }
            let names: Vec<Name> = ns
                .iter()
                .filter(|r| r.name == child)
                .filter_map(|r| match &r.data {
                    RData::NS(n) => Some(n.0.clone()),
                    _ => None,
                })
                .collect();
            let ttl = ns.iter().map(|r| r.ttl).min().unwrap_or(0);
            let mut glue = Vec::new();
            let mut dropped_glue = 0;
            for r in &msg.additionals {
                let Some(ip) = r.data.ip_addr() else { continue };
                if !names.contains(&r.name) {
                    continue;
                }
                if zone.zone_of(&r.name) {
                    glue.push((r.name.clone(), ip));
                } else {
                    dropped_glue += 1;
                }
            }
            return Class::Referral {
                child,
                ns: names,
                glue,
                dropped_glue,
                ttl,
            };
        }
    }
    if msg.metadata.authoritative || has_soa {
        return Class::NoData;
    }
    Class::Lame("no answer and no referral")
}

/// Where an answer section leads, for a question (`qname`, `qtype`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Chain {
    /// The records of the chain (CNAMEs, DNAMEs and the final data), in
    /// order, RRSIGs included, all in bailiwick of the zone.
    pub(crate) records: Vec<Record>,
    /// An alias target the response did not resolve (to be asked for next).
    pub(crate) next: Option<Name>,
    /// Names the chain went through (qname first).
    pub(crate) names: Vec<Name>,
}

/// Follow the answer section from `qname` through CNAMEs (and DNAMEs) while
/// the names stay within `zone`; at most `max_links` aliases.
pub(crate) fn follow_chain(
    msg: &Message,
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
    max_links: usize,
) -> Chain {
    let mut chain = Chain::default();
    let mut cur = qname.clone();
    let sigs_for = |owner: &Name, covered: RecordType| -> Vec<Record> {
        msg.answers
            .iter()
            .filter(|r| r.name == *owner && rrsig_covers(r) == Some(covered))
            .cloned()
            .collect()
    };
    for _ in 0..=max_links {
        chain.names.push(cur.clone());
        let data: Vec<Record> = msg
            .answers
            .iter()
            .filter(|r| {
                r.name == cur
                    && (r.record_type() == qtype || qtype == RecordType::ANY)
                    && r.record_type() != RecordType::RRSIG
            })
            .cloned()
            .collect();
        if !data.is_empty() {
            chain.records.extend(data);
            chain.records.extend(sigs_for(&cur, qtype));
            return chain;
        }
        // DNAME at an ancestor (RFC 6672 section 3.2): keep it and its signature; the
        // synthesised CNAME follows (unsigned, checked against the DNAME below).
        let dname = msg.answers.iter().find_map(|r| {
            let t = dname_target(r)?;
            (r.name.zone_of(&cur) && r.name != cur).then_some((r, t))
        });
        if let Some((rec, target)) = &dname {
            chain.records.push((*rec).clone());
            chain.records.extend(sigs_for(&rec.name, RecordType::DNAME));
            let _ = target;
        }
        let cname = msg.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == cur => Some((r.clone(), c.0.clone())),
            _ => None,
        });
        let next = match (cname, dname) {
            (Some((rec, target)), d) => {
                if let Some((drec, dtarget)) = d {
                    // The synthesised CNAME must be what the DNAME says.
                    if synthesise(&cur, &drec.name, &dtarget).as_ref() != Some(&target) {
                        return chain;
                    }
                }
                chain.records.push(rec);
                chain.records.extend(sigs_for(&cur, RecordType::CNAME));
                target
            }
            (None, Some((drec, dtarget))) => match synthesise(&cur, &drec.name, &dtarget) {
                Some(t) => t,
                None => return chain,
            },
            (None, None) => return chain,
        };
        if qtype == RecordType::CNAME {
            return chain;
        }
        if chain.names.contains(&next) {
            // A loop inside one response: stop, the caller sees no data.
            return chain;
        }
        if !zone.zone_of(&next) {
            chain.names.push(next.clone());
            chain.next = Some(next);
            return chain;
        }
        // Inside the zone but not answered: ask for it next.
        if !msg.answers.iter().any(|r| r.name == next) {
            chain.names.push(next.clone());
            chain.next = Some(next);
            return chain;
        }
        cur = next;
    }
    chain
}

/// The NSEC and NSEC3 records of the authority section within `zone`, with
/// their RRSIGs: with an answer, the proof that a wildcard expansion was
/// due (RFC 4035 section 3.1.3.3, RFC 5155 section 7.2.6).
pub(crate) fn denial_records(msg: &Message, zone: &Name) -> Vec<Record> {
    msg.authorities
        .iter()
        .filter(|r| zone.zone_of(&r.name))
        .filter(|r| {
            matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3)
                || matches!(rrsig_covers(r), Some(RecordType::NSEC | RecordType::NSEC3))
        })
        .cloned()
        .collect()
}

/// The type an RRSIG record covers.
pub(crate) fn rrsig_covers(r: &Record) -> Option<RecordType> {
    match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => {
            Some(s.input().type_covered)
        }
        _ => None,
    }
}

/// The target of a DNAME record (hickory-proto keeps DNAME as unknown
/// RDATA; RFC 6672 section 2.5 forbids compressing the target, so the
/// bytes are a plain wire name).
pub(crate) fn dname_target(r: &Record) -> Option<Name> {
    use hickory_proto::serialize::binary::BinDecodable;
    match &r.data {
        RData::Unknown { code, rdata } if *code == RecordType::DNAME => {
            Name::from_bytes(&rdata.anything).ok()
        }
        _ => None,
    }
}

/// `name` with its `owner` suffix replaced by `target` (DNAME substitution).
fn synthesise(name: &Name, owner: &Name, target: &Name) -> Option<Name> {
    let keep = usize::from(name.num_labels()) - usize::from(owner.num_labels());
    let labels: Vec<Vec<u8>> = name.iter().take(keep).map(<[u8]>::to_vec).collect();
    Name::from_labels(labels).ok()?.append_domain(target).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("name")
    }

    fn rec(owner: &str, data: RData) -> Record {
        Record::from_rdata(n(owner), 300, data)
    }

    fn msg() -> Message {
        Message::new(1, MessageType::Response, OpCode::Query)
    }

    #[test]
    fn a_referral_keeps_in_bailiwick_glue_and_drops_the_rest() {
        let mut m = msg();
        m.add_authority(rec("corp.example.", RData::NS(NS(n("ns1.corp.example.")))));
        m.add_authority(rec("corp.example.", RData::NS(NS(n("ns.elsewhere.test.")))));
        m.add_additional(rec("ns1.corp.example.", RData::A(A::new(127, 0, 20, 5))));
        m.add_additional(rec("ns.elsewhere.test.", RData::A(A::new(192, 0, 2, 1))));
        let c = classify(&m, &n("www.corp.example."), RecordType::A, &n("example."));
        match c {
            Class::Referral {
                child,
                ns,
                glue,
                dropped_glue,
                ..
            } => {
                assert_eq!(child, n("corp.example."));
                assert_eq!(ns.len(), 2);
                assert_eq!(
                    glue,
                    vec![(n("ns1.corp.example."), "127.0.20.5".parse().expect("ip"))]
                );
                assert_eq!(dropped_glue, 1);
            }
            other => panic!("expected a referral, got {other:?}"),
        }
    }

    #[test]
    fn a_referral_to_the_same_zone_or_upwards_is_lame() {
        let mut m = msg();
        m.add_authority(rec("example.", RData::NS(NS(n("ns1.example.")))));
        assert_eq!(
            classify(&m, &n("www.loop.example."), RecordType::A, &n("example.")),
            Class::Lame("referral not closer")
        );
        let mut m = msg();
        m.add_authority(rec(".", RData::NS(NS(n("a.root-servers.test.")))));
        assert_eq!(
            classify(
                &m,
                &n("www.loop.example."),
                RecordType::A,
                &n("loop.example.")
            ),
            Class::Lame("referral not closer")
        );
    }

    #[test]
    fn refused_and_servfail_are_lame_and_soa_without_data_is_nodata() {
        let mut m = msg();
        m.metadata.response_code = ResponseCode::Refused;
        assert!(matches!(
            classify(&m, &n("a.example."), RecordType::A, &n("example.")),
            Class::Lame(_)
        ));
        let mut m = msg();
        let soa = SOA::new(n("ns1.example."), n("h.example."), 1, 1, 1, 1, 60);
        m.add_authority(rec("example.", RData::SOA(soa)));
        assert_eq!(
            classify(&m, &n("a.example."), RecordType::A, &n("example.")),
            Class::NoData
        );
    }

    #[test]
    fn nxdomain_counts_only_from_an_authority() {
        let mut m = msg();
        m.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(
            classify(&m, &n("a.example."), RecordType::A, &n("example.")),
            Class::Lame("NXDOMAIN without authority")
        );
        m.metadata.authoritative = true;
        assert_eq!(
            classify(&m, &n("a.example."), RecordType::A, &n("example.")),
            Class::NxDomain
        );
    }

    #[test]
    fn a_chain_inside_the_zone_is_followed_and_one_leaving_it_stops() {
        let mut m = msg();
        m.add_answer(rec(
            "chain1.corp.example.",
            RData::CNAME(CNAME(n("chain2.corp.example."))),
        ));
        m.add_answer(rec(
            "chain2.corp.example.",
            RData::CNAME(CNAME(n("chain3.cdn.example."))),
        ));
        let c = follow_chain(
            &m,
            &n("chain1.corp.example."),
            RecordType::A,
            &n("corp.example."),
            8,
        );
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.next, Some(n("chain3.cdn.example.")));
    }

    #[test]
    fn a_cname_loop_inside_one_response_ends() {
        let mut m = msg();
        m.add_answer(rec("a.example.", RData::CNAME(CNAME(n("b.example.")))));
        m.add_answer(rec("b.example.", RData::CNAME(CNAME(n("a.example.")))));
        let c = follow_chain(&m, &n("a.example."), RecordType::A, &n("example."), 8);
        assert_eq!(c.next, None);
        assert_eq!(c.records.len(), 2);
    }

    #[test]
    fn dname_substitution_replaces_the_owner_suffix() {
        assert_eq!(
            synthesise(
                &n("www.a.old.example."),
                &n("old.example."),
                &n("new.test.")
            ),
            Some(n("www.a.new.test."))
        );
    }
}
