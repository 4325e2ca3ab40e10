//! The recursive answer in wire form, written straight from the chain's
//! records.
//!
//! ```text
//!  steps' records (kept for the client) ──▶ header · question · answers · authority
//!                                            names compressed against the ones
//!                                            written before (RFC 1035 section 4.1.4)
//! ```
//!
//! Why not hickory's `Message` encoder: building a `Message` copied every
//! record of the chain, and its encoder looks for a compression target by
//! comparing each name against a list of every label sequence written so
//! far, as decompressed byte vectors it allocates. Together that was about a
//! tenth of an unsigned cache miss's instructions; this writes the same
//! response (the same records, sections, header bits and compression of the
//! names a resolver compresses) in a few hundred.
//!
//! Which names are compressed: every owner name and the question, and the
//! names inside the RDATA of the RFC 1035 types (CNAME, NS, PTR, MX, SOA),
//! which RFC 3597 section 4 lets a server compress. Every other type's RDATA
//! is written by hickory with its names uncompressed, as RFC 3597 requires
//! for types a receiver may not know (and RFC 4034 for the DNSSEC ones).
//! A pointer is only made to an offset below 0x4000 (14 bits); past it a
//! name is written out.

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

/// Header flags of an answer: QR, RD and RA set (opcode QUERY, AA, TC and
/// CD clear), AD as given, and the RCODE.
fn flags(ad: bool, rcode: u8) -> [u8; 2] {
    [0x81, 0x80 | if ad { 0x20 } else { 0 } | (rcode & 0x0f)]
}

/// The response (ID 0, no OPT) to (`qname`, `qtype`, IN) with these records
/// in the answer and authority sections; `None` when it cannot be written (a
/// section of more than 65,535 records, a message past 65,535 octets, an
/// RDATA hickory cannot encode).
pub(crate) fn response(
    qname: &Name,
    qtype: RecordType,
    rcode: u8,
    ad: bool,
    answers: &[&Record],
    authority: &[&Record],
) -> Option<Vec<u8>> {
    let mut w = Writer {
        out: Vec::with_capacity(512),
        targets: [0; MAX_TARGETS],
        count: 0,
    };
    w.out.extend_from_slice(&[0, 0]);
    w.out.extend_from_slice(&flags(ad, rcode));
    w.out.extend_from_slice(&[0, 1]);
    w.out
        .extend_from_slice(&u16::try_from(answers.len()).ok()?.to_be_bytes());
    w.out
        .extend_from_slice(&u16::try_from(authority.len()).ok()?.to_be_bytes());
    w.out.extend_from_slice(&[0, 0]);
    w.name(qname);
    w.out.extend_from_slice(&u16::from(qtype).to_be_bytes());
    w.out.extend_from_slice(&1u16.to_be_bytes());
    for r in answers.iter().chain(authority) {
        w.record(r)?;
    }
    (w.out.len() <= usize::from(u16::MAX)).then_some(w.out)
}

/// Label offsets remembered as pointer targets, at most: past them (a
/// response of dozens of distinct names) a name is compressed only against
/// the first ones.
const MAX_TARGETS: usize = 64;

/// The message being written and where its names start.
struct Writer {
    /// The message so far.
    out: Vec<u8>,
    /// Offsets of the labels written out (not as a pointer) so far, each
    /// the start of a name a later one may point to (the first `count`).
    targets: [u16; MAX_TARGETS],
    /// Entries of `targets` used.
    count: usize,
}

impl Writer {
    /// One record: owner, type, class, TTL, RDLENGTH and RDATA.
    fn record(&mut self, r: &Record) -> Option<()> {
        self.name(&r.name);
        self.out
            .extend_from_slice(&u16::from(r.record_type()).to_be_bytes());
        self.out
            .extend_from_slice(&u16::from(r.dns_class).to_be_bytes());
        self.out.extend_from_slice(&r.ttl.to_be_bytes());
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        match &r.data {
            RData::A(a) => self.out.extend_from_slice(&a.0.octets()),
            RData::AAAA(a) => self.out.extend_from_slice(&a.0.octets()),
            RData::CNAME(n) => self.name(&n.0),
            RData::NS(n) => self.name(&n.0),
            RData::PTR(n) => self.name(&n.0),
            RData::MX(mx) => {
                self.out.extend_from_slice(&mx.preference.to_be_bytes());
                self.name(&mx.exchange);
            }
            RData::SOA(soa) => {
                self.name(&soa.mname);
                self.name(&soa.rname);
                self.out.extend_from_slice(&soa.serial.to_be_bytes());
                for v in [soa.refresh, soa.retry, soa.expire] {
                    self.out.extend_from_slice(&v.to_be_bytes());
                }
                self.out.extend_from_slice(&soa.minimum.to_be_bytes());
            }
            other => {
                let at = u32::try_from(self.out.len()).ok()?;
                let mut e = BinEncoder::with_offset(&mut self.out, at);
                e.set_name_encoding(NameEncoding::Uncompressed);
                other.emit(&mut e).ok()?;
            }
        }
        let len = u16::try_from(self.out.len() - len_at - 2).ok()?;
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
        Some(())
    }

    /// `name`: its longest suffix already in the message as a pointer,
    /// the labels before it written out.
    fn name(&mut self, name: &Name) {
        // A name has at most 127 labels (255 octets); no allocation for them.
        let mut all: [&[u8]; 128] = [&[]; 128];
        let mut count = 0;
        for (slot, label) in all.iter_mut().zip(name.iter()) {
            *slot = label;
            count += 1;
        }
        let labels = &all[..count];
        let mut first = labels.len();
        let mut pointer = None;
        for i in 0..labels.len() {
            if let Some(&at) = self.targets[..self.count]
                .iter()
                .find(|&&at| same_name(&self.out, at, &labels[i..]))
            {
                first = i;
                pointer = Some(at);
                break;
            }
        }
        for label in &labels[..first] {
            if let Ok(at) = u16::try_from(self.out.len()) {
                if at < 0x4000 && self.count < MAX_TARGETS {
                    self.targets[self.count] = at;
                    self.count += 1;
                }
            }
            // A label is at most 63 octets (hickory checks it when it builds a name).
            self.out.push(label.len() as u8);
            self.out.extend_from_slice(label);
        }
        match pointer {
            Some(at) => self.out.extend_from_slice(&(0xc000 | at).to_be_bytes()),
            None => self.out.push(0),
        }
    }
}

/// Whether the name at offset `at` of `msg` (pointers followed) is `labels`
/// then the root, ignoring ASCII case.
fn same_name(msg: &[u8], mut at: u16, labels: &[&[u8]]) -> bool {
    let mut rest = labels.iter();
    // Pointers only go backwards and every one was written here, but a
    // bound keeps a mistake from looping.
    for _ in 0..256 {
        let at_us = usize::from(at);
        let Some(&len) = msg.get(at_us) else {
            return false;
        };
        if len & 0xc0 == 0xc0 {
            let Some(&low) = msg.get(at_us + 1) else {
                return false;
            };
            at = u16::from_be_bytes([len & 0x3f, low]);
            continue;
        }
        if len == 0 {
            return rest.next().is_none();
        }
        let Some(label) = rest.next() else {
            return false;
        };
        let Some(here) = msg.get(at_us + 1..at_us + 1 + usize::from(len)) else {
            return false;
        };
        if !here.eq_ignore_ascii_case(label) {
            return false;
        }
        at += 1 + u16::from(len);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, SRV, TXT};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn rec(name: &str, data: RData) -> Record {
        Record::from_rdata(n(name), 300, data)
    }

    /// hickory's encoding of the same response.
    fn hickory(
        qname: &Name,
        qtype: RecordType,
        rcode: ResponseCode,
        ad: bool,
        answers: &[&Record],
        authority: &[&Record],
    ) -> Vec<u8> {
        let mut m = Message::response(0, OpCode::Query);
        m.metadata.message_type = MessageType::Response;
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.metadata.authentic_data = ad;
        m.metadata.response_code = rcode;
        m.add_query(Query::query(qname.clone(), qtype));
        m.add_answers(answers.iter().map(|r| (*r).clone()));
        m.add_authorities(authority.iter().map(|r| (*r).clone()));
        m.to_vec().expect("hickory encodes")
    }

    /// Both encodings decode to the same message, and ours is no longer.
    fn same(
        qname: &str,
        qtype: RecordType,
        rcode: ResponseCode,
        answers: &[Record],
        auth: &[Record],
    ) {
        let a: Vec<&Record> = answers.iter().collect();
        let b: Vec<&Record> = auth.iter().collect();
        for ad in [false, true] {
            let ours =
                response(&n(qname), qtype, u16::from(rcode) as u8, ad, &a, &b).expect("written");
            let theirs = hickory(&n(qname), qtype, rcode, ad, &a, &b);
            let (x, y) = (
                Message::from_vec(&ours).expect("ours decodes"),
                Message::from_vec(&theirs).expect("hickory's decodes"),
            );
            assert_eq!(x.metadata, y.metadata, "{qname}");
            assert_eq!(x.queries, y.queries, "{qname}");
            assert_eq!(x.answers, y.answers, "{qname}");
            assert_eq!(x.authorities, y.authorities, "{qname}");
            assert!(x.additionals.is_empty() && x.edns.is_none());
            assert!(
                ours.len() <= theirs.len(),
                "{qname}: {} octets, hickory {}",
                ours.len(),
                theirs.len()
            );
        }
    }

    #[test]
    fn answers_decode_as_hickorys_encoding_of_the_same_records() {
        let soa = || {
            RData::SOA(SOA::new(
                n("ns1.example."),
                n("hostmaster.example."),
                2024010101,
                3600,
                600,
                86400,
                300,
            ))
        };
        same(
            "www.example.",
            RecordType::A,
            ResponseCode::NoError,
            &[rec("www.example.", RData::A(A::new(192, 0, 2, 1)))],
            &[],
        );
        same(
            "Www.Example.",
            RecordType::A,
            ResponseCode::NoError,
            &[
                rec(
                    "www.example.",
                    RData::CNAME(CNAME(n("web.cdn.example.net."))),
                ),
                rec(
                    "web.cdn.example.net.",
                    RData::CNAME(CNAME(n("edge.cdn.example.net."))),
                ),
                rec("edge.cdn.example.net.", RData::A(A::new(192, 0, 2, 2))),
                rec("edge.cdn.example.net.", RData::A(A::new(192, 0, 2, 3))),
            ],
            &[rec(
                "cdn.example.net.",
                RData::NS(NS(n("ns.cdn.example.net."))),
            )],
        );
        same(
            "nx.example.",
            RecordType::AAAA,
            ResponseCode::NXDomain,
            &[],
            &[rec("example.", soa())],
        );
        same(
            "example.",
            RecordType::MX,
            ResponseCode::NoError,
            &[
                rec("example.", RData::MX(MX::new(10, n("mail.example.")))),
                rec("example.", RData::MX(MX::new(20, n("mail2.other.test.")))),
            ],
            &[],
        );
        same(
            "v6.example.",
            RecordType::AAAA,
            ResponseCode::NoError,
            &[rec(
                "v6.example.",
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            )],
            &[],
        );
        same(
            "_sip._udp.example.",
            RecordType::SRV,
            ResponseCode::NoError,
            &[rec(
                "_sip._udp.example.",
                RData::SRV(SRV::new(1, 2, 5060, n("sip.example."))),
            )],
            &[],
        );
        same(
            "t.example.",
            RecordType::TXT,
            ResponseCode::NoError,
            &[rec(
                "t.example.",
                RData::TXT(TXT::new(vec!["a b".into(), "c".into()])),
            )],
            &[],
        );
        same(
            ".",
            RecordType::SOA,
            ResponseCode::NoError,
            &[rec(".", soa())],
            &[],
        );
        same(
            "empty.example.",
            RecordType::A,
            ResponseCode::ServFail,
            &[],
            &[],
        );
    }

    #[test]
    fn a_name_written_before_is_a_pointer_and_case_does_not_stop_it() {
        let a = rec("WWW.example.", RData::A(A::new(192, 0, 2, 1)));
        let wire =
            response(&n("www.example."), RecordType::A, 0, false, &[&a], &[]).expect("written");
        // Header, question (13 + 4), then the owner: a pointer to offset 12.
        assert_eq!(&wire[29..31], &[0xc0, 12]);
        let cname = rec("x.example.", RData::CNAME(CNAME(n("y.other.example."))));
        let wire =
            response(&n("x.example."), RecordType::A, 0, false, &[&cname], &[]).expect("written");
        // The target's `example.` points into the question (`x.` is at 12).
        let rdata = &wire[wire.len() - 10..];
        assert_eq!(rdata, b"\x01y\x05other\xc0\x0e");
    }

    #[test]
    fn a_name_that_points_to_a_pointer_compares_through_it() {
        let msg = b"\x00\x00\x03www\x07example\x00\x01a\xc0\x06".to_vec();
        assert!(same_name(&msg, 2, &[b"www", b"example"]));
        assert!(same_name(&msg, 15, &[b"a", b"EXAMPLE"]));
        assert!(same_name(&msg, 17, &[b"example"]));
        assert!(!same_name(&msg, 15, &[b"a", b"example", b"com"]));
        assert!(!same_name(&msg, 15, &[b"a"]));
        // A pointer to itself ends, false.
        assert!(!same_name(b"\xc0\x00", 0, &[b"x"]));
    }
}
