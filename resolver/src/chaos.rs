//! Queries of every class but IN, answered in front of the query pipeline.
//!
//! A resolver serves the Internet class: only IN goes on to the pipeline (access
//! lists, policy, cache, resolution). The CHAOS class carries the de facto
//! server-identification queries, `version.bind` and `hostname.bind` (BIND), and
//! `version.server` and `id.server` (RFC 4892): they are answered here from the
//! configuration, so they are never resolved, never cached next to IN data, and never
//! seen by response policy (BIND 9.18 answers them from its built-in `_bind` view,
//! which has no `response-policy`). Everything else is answered as BIND 9.18 answers it
//! as a resolver (measured against `named` 9.18.49):
//!
//! ```text
//!  class   query                                          answer
//!  CH      TXT version.bind / version.server              NOERROR AA, TXT `server.version`, TTL 0
//!  CH      TXT hostname.bind / id.server                  NOERROR AA, TXT `server.identity`, TTL 0
//!  CH      the same with hide-version / hide-identity     REFUSED
//!  CH      anything else                                  REFUSED
//!  CH      from outside allow-query                       REFUSED, EDE 18 (Prohibited)
//!  HS                                                     REFUSED, EDE 18 (BIND: no view serves HS)
//!  NONE, ANY, 0                                           FORMERR (meta-classes, not a question)
//!  any other                                              NOTIMP
//! ```
//!
//! Every reply echoes the question exactly (name case, type, class), copies RD and
//! CD, and never sets RA: BIND's CHAOS view does not recurse, and the other classes
//! are served by no view at all. An answer to an RD=0 query carries the zone's NS
//! record in AUTHORITY (`version.bind. 0 CH NS version.bind.`), as BIND's does.
//! `allow-query` applies to CHAOS queries and `allow-recursion` does not: BIND's
//! `_bind` view inherits the global `allow-query`, and a client that may query but
//! not recurse gets `version.bind` from BIND too.

use std::io::Read;

use sekisho_wire::{self as wire, class, rcode, Query, HEADER_LEN};

use crate::metrics::Refusal;

/// RR type TXT.
const TYPE_TXT: u16 = 16;
/// RR type NS.
const TYPE_NS: u16 = 2;
/// Longest text of one TXT character-string (RFC 1035 section 3.3).
const TXT_STRING_MAX: usize = 255;
/// RFC 8914 INFO-CODE 18, Prohibited: BIND 9.18's code for a query its access
/// lists (or its views) do not admit.
pub const EDE_PROHIBITED: u16 = 18;

/// The four names answered, in wire form (lower case), and what each answers with.
const NAMES: [(&[u8], Text); 4] = [
    (b"\x07version\x04bind\x00", Text::Version),
    (b"\x07version\x06server\x00", Text::Version),
    (b"\x08hostname\x04bind\x00", Text::Identity),
    (b"\x02id\x06server\x00", Text::Identity),
];

/// Which configured text a name answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    /// `server.version`.
    Version,
    /// `server.identity`.
    Identity,
}

/// The CHAOS answers' settings (`[server]` identity, version, hide-identity,
/// hide-version), with the empty defaults already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosConfig {
    /// `hostname.bind` / `id.server` text.
    pub identity: String,
    /// `version.bind` / `version.server` text.
    pub version: String,
    /// REFUSED for `hostname.bind` / `id.server`.
    pub hide_identity: bool,
    /// REFUSED for `version.bind` / `version.server`.
    pub hide_version: bool,
}

impl ChaosConfig {
    /// The settings of `[server]`; an empty identity is the host name, an empty
    /// version `sekisho <version>`.
    pub fn from_server(server: &sekisho_conf::Server) -> ChaosConfig {
        ChaosConfig::new(
            &server.identity,
            &server.version,
            server.hide_identity,
            server.hide_version,
        )
    }

    /// These settings, with the empty defaults filled in (the host name is read
    /// here, once).
    pub fn new(
        identity: &str,
        version: &str,
        hide_identity: bool,
        hide_version: bool,
    ) -> ChaosConfig {
        ChaosConfig {
            identity: if identity.is_empty() {
                host_name()
            } else {
                identity.to_owned()
            },
            version: if version.is_empty() {
                default_version()
            } else {
                version.to_owned()
            },
            hide_identity,
            hide_version,
        }
    }
}

impl Default for ChaosConfig {
    /// The defaults: the host name, `sekisho <version>`, nothing hidden.
    fn default() -> ChaosConfig {
        ChaosConfig::new("", "", false, false)
    }
}

/// `sekisho <version>`, the default `version.bind` text.
pub fn default_version() -> String {
    format!("sekisho {}", env!("CARGO_PKG_VERSION"))
}

/// The host name: `/proc/sys/kernel/hostname` (Linux), else the output of
/// `uname -n`, else `localhost`. Read once when the answers are set up, before
/// the listeners open (a procfs read does not wait on a disk).
pub fn host_name() -> String {
    let mut text = String::new();
    let from_proc = std::fs::File::open("/proc/sys/kernel/hostname")
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_ok();
    if !from_proc || text.trim().is_empty() {
        text = std::process::Command::new("uname")
            .arg("-n")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
    }
    let name = text.trim();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name.to_owned()
    }
}

/// What [`answer`] sent, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The RCODE of the reply.
    pub rcode: u8,
    /// The `sekisho_queries_refused_total` reason, when the query is one the
    /// pipeline would count there too (access list, FORMERR, NOTIMP).
    pub refused: Option<Refusal>,
}

/// Answer `query`, whose class is not IN, into `out`. `query_allowed` says
/// whether the client is in `allow-query`; `our_buffer` is our EDNS payload size.
pub fn answer(
    config: &ChaosConfig,
    query: &Query<'_>,
    query_allowed: bool,
    our_buffer: u16,
    out: &mut Vec<u8>,
) -> Outcome {
    let (rc, ede, refused) = match query.qclass {
        // Meta-classes are not a question (BIND: FORMERR, whoever asks).
        0 | class::NONE | class::ANY => (rcode::FORMERR, false, Some(Refusal::Malformed)),
        class::HS => (rcode::REFUSED, true, None),
        class::CH if !query_allowed => (rcode::REFUSED, true, Some(Refusal::Acl)),
        class::CH => match chaos_text(config, query) {
            Some(text) => {
                txt_answer(query, text, our_buffer, out);
                return Outcome {
                    rcode: rcode::NOERROR,
                    refused: None,
                };
            }
            None => (rcode::REFUSED, false, None),
        },
        _ => (rcode::NOTIMP, false, Some(Refusal::NotImp)),
    };
    *out = no_recursion_error(query, rc, ede, our_buffer);
    Outcome { rcode: rc, refused }
}

/// The text answering `query` (CH), or `None` when it is to be refused.
fn chaos_text<'c>(config: &'c ChaosConfig, query: &Query<'_>) -> Option<&'c str> {
    if query.qtype != TYPE_TXT {
        return None;
    }
    let qname = query.qname_wire();
    let (_, which) = NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(qname))?;
    match which {
        Text::Version if !config.hide_version => Some(&config.version),
        Text::Identity if !config.hide_identity => Some(&config.identity),
        _ => None,
    }
}

/// An error reply as BIND sends it from no view or a view without recursion:
/// the question echoed, RD and CD copied, RA clear, and EDE 18 when `prohibited`
/// and the query had EDNS.
pub fn no_recursion_error(query: &Query<'_>, rc: u8, prohibited: bool, our_buffer: u16) -> Vec<u8> {
    let mut out = wire::error_response(query.packet, Some(query), rc, our_buffer);
    out[3] &= !0x80;
    if prohibited {
        sekisho_recursor::append_ede(&mut out, &sekisho_recursor::Ede::new(EDE_PROHIBITED, ""));
    }
    out
}

/// The CH TXT answer with `text` (TTL 0, AA, RA clear), plus the zone's NS in
/// AUTHORITY for an RD=0 query, as BIND's built-in zones give it.
fn txt_answer(query: &Query<'_>, text: &str, our_buffer: u16, out: &mut Vec<u8>) {
    let p = query.packet;
    let text = &text.as_bytes()[..text.len().min(TXT_STRING_MAX)];
    out.clear();
    out.extend_from_slice(&p[..2]);
    // QR, the opcode and RD copied, AA; TC and RA clear; CD copied, RCODE 0.
    out.push(0x80 | (p[2] & 0x79) | 0x04);
    out.push(p[3] & 0x10);
    let authority = !query.rd;
    out.extend_from_slice(&[
        0,
        1,
        0,
        1,
        0,
        u8::from(authority),
        0,
        u8::from(query.edns.is_some()),
    ]);
    out.extend_from_slice(query.question_wire());
    // The owner points at the question name, so it keeps the client's letter case.
    out.extend_from_slice(&[0xc0, HEADER_LEN as u8]);
    push_fixed(out, TYPE_TXT, text.len() + 1);
    out.push(text.len() as u8);
    out.extend_from_slice(text);
    if authority {
        // The zone apex (the name itself, lower case), NS pointing at itself.
        let owner = out.len();
        wire::lowercase_name_into(query.qname_wire(), out);
        push_fixed(out, TYPE_NS, 2);
        out.extend_from_slice(&(0xc000 | owner as u16).to_be_bytes());
    }
    if let Some(e) = query.edns {
        wire::push_opt(out, our_buffer, e.dnssec_ok, 0);
    }
}

/// TYPE, CLASS CH, TTL 0 and RDLENGTH of a record whose owner is written.
fn push_fixed(out: &mut Vec<u8>, rtype: u16, rdlength: usize) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class::CH.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(rdlength as u16).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::{DNSClass, RData, RecordType};

    /// A query packet: `name` as written (case kept), type, class, RD, and EDNS
    /// with this DO bit when `edns` is set.
    fn packet(name: &str, qtype: u16, qclass: u16, rd: bool, edns: Option<bool>) -> Vec<u8> {
        let mut p = vec![0xab, 0xcd, u8::from(rd), 0x10, 0, 1, 0, 0, 0, 0, 0];
        p.push(u8::from(edns.is_some()));
        for label in name.split('.').filter(|l| !l.is_empty()) {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&qclass.to_be_bytes());
        if let Some(d) = edns {
            wire::push_opt(&mut p, 1232, d, 0);
        }
        p
    }

    fn config() -> ChaosConfig {
        ChaosConfig::new("resolver-7", "ISP DNS 1.0", false, false)
    }

    /// Answers `p` with `config` and returns the outcome and the decoded reply.
    fn ask(config: &ChaosConfig, p: &[u8], allowed: bool) -> (Outcome, Vec<u8>, Message) {
        let q = wire::parse_query(p).expect("valid query");
        let mut out = Vec::new();
        let o = answer(config, &q, allowed, 1232, &mut out);
        let m = Message::from_vec(&out).expect("the reply decodes");
        (o, out, m)
    }

    fn txt(m: &Message) -> Vec<String> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    fn ede(m: &Message) -> Vec<u16> {
        m.edns
            .iter()
            .flat_map(|e| e.options().options.iter())
            .filter_map(|(_, o)| match o {
                EdnsOption::Unknown(15, d) if d.len() >= 2 => {
                    Some(u16::from_be_bytes([d[0], d[1]]))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_four_names_answer_with_the_configured_text_as_bind_does() {
        for (name, want) in [
            ("version.bind", "ISP DNS 1.0"),
            ("VERSION.Server", "ISP DNS 1.0"),
            ("hostname.bind", "resolver-7"),
            ("id.server", "resolver-7"),
        ] {
            let p = packet(name, TYPE_TXT, class::CH, true, Some(false));
            let (o, out, m) = ask(&config(), &p, true);
            assert_eq!(o.rcode, rcode::NOERROR, "{name}");
            assert_eq!(txt(&m), [want], "{name}");
            // BIND 9.18: `flags: qr aa rd` (CD copied here too), TTL 0, class CH.
            assert!(m.metadata.authoritative && m.metadata.recursion_desired);
            assert!(!m.metadata.recursion_available && !m.metadata.truncation);
            assert!(m.metadata.checking_disabled, "CD copied");
            let r = &m.answers[0];
            assert_eq!((r.ttl, r.dns_class), (0, DNSClass::CH));
            assert_eq!(
                r.name.to_ascii(),
                format!("{name}."),
                "owner keeps the case"
            );
            assert!(m.authorities.is_empty(), "RD=1: no AUTHORITY (BIND)");
            // The question is the query's, byte for byte.
            let q = wire::parse_query(&p).expect("valid");
            assert_eq!(&out[..2], &p[..2]);
            assert_eq!(&out[12..12 + q.question_wire().len()], q.question_wire());
            assert!(m.edns.is_some(), "OPT answered with OPT");
        }
    }

    #[test]
    fn an_rd0_answer_carries_the_zone_ns_and_no_opt_without_edns() {
        let p = packet("Version.Bind", TYPE_TXT, class::CH, false, None);
        let (_, _, m) = ask(&config(), &p, true);
        assert!(!m.metadata.recursion_desired);
        assert!(m.edns.is_none());
        assert_eq!(m.authorities.len(), 1);
        let ns = &m.authorities[0];
        assert_eq!(ns.record_type(), RecordType::NS);
        assert_eq!((ns.ttl, ns.dns_class), (0, DNSClass::CH));
        assert_eq!(ns.name.to_ascii(), "version.bind.");
        assert_eq!(ns.data.to_string(), "version.bind.");
    }

    #[test]
    fn hidden_names_other_names_and_other_types_are_refused_with_class_ch_echoed() {
        let hidden = ChaosConfig::new("x", "y", true, true);
        for (cfg, name, qtype) in [
            (&hidden, "version.bind", TYPE_TXT),
            (&hidden, "version.server", TYPE_TXT),
            (&hidden, "hostname.bind", TYPE_TXT),
            (&hidden, "id.server", TYPE_TXT),
            (&config(), "authors.bind", TYPE_TXT),
            (&config(), "www.example.jp", 1),
            (&config(), "version.bind", 1),
            (&config(), "x.version.bind", TYPE_TXT),
        ] {
            let p = packet(name, qtype, class::CH, true, Some(false));
            let (o, out, m) = ask(cfg, &p, true);
            assert_eq!(
                o,
                Outcome {
                    rcode: rcode::REFUSED,
                    refused: None
                },
                "{name}"
            );
            assert_eq!(m.metadata.response_code, ResponseCode::Refused);
            assert!(m.answers.is_empty());
            assert!(!m.metadata.recursion_available && !m.metadata.authoritative);
            assert!(ede(&m).is_empty(), "BIND sends no EDE here");
            assert_eq!(m.queries[0].query_class(), DNSClass::CH, "{name}");
            // The last four bytes before the OPT are QTYPE and QCLASS.
            assert_eq!(
                u16::from_be_bytes([out[out.len() - 13], out[out.len() - 12]]),
                class::CH
            );
        }
        // Hiding one does not hide the other.
        let c = ChaosConfig::new("x", "y", true, false);
        let (o, _, _) = ask(
            &c,
            &packet("version.bind", TYPE_TXT, class::CH, true, None),
            true,
        );
        assert_eq!(o.rcode, rcode::NOERROR);
    }

    #[test]
    fn other_classes_get_bind_9_18s_rcodes_and_outsiders_get_prohibited() {
        let c = config();
        for (qclass, allowed, rc, with_ede) in [
            (class::CH, false, rcode::REFUSED, true),
            (class::HS, true, rcode::REFUSED, true),
            (class::HS, false, rcode::REFUSED, true),
            (class::NONE, true, rcode::FORMERR, false),
            (class::ANY, false, rcode::FORMERR, false),
            (0, true, rcode::FORMERR, false),
            (42, false, rcode::NOTIMP, false),
            (65280, true, rcode::NOTIMP, false),
        ] {
            let p = packet("version.bind", TYPE_TXT, qclass, true, Some(true));
            let (o, _, m) = ask(&c, &p, allowed);
            assert_eq!(o.rcode, rc, "class {qclass}");
            assert_eq!(
                ede(&m),
                if with_ede {
                    vec![EDE_PROHIBITED]
                } else {
                    vec![]
                },
                "class {qclass}"
            );
            assert!(!m.metadata.recursion_available, "class {qclass}: no RA");
            assert_eq!(
                u16::from(m.queries[0].query_class()),
                qclass,
                "class echoed"
            );
            assert!(
                m.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
                "DO echoed"
            );
        }
    }

    #[test]
    fn text_longer_than_one_string_is_cut_and_empty_settings_take_the_defaults() {
        let long = ChaosConfig::new(&"h".repeat(300), "", false, false);
        let (_, _, m) = ask(
            &long,
            &packet("id.server", TYPE_TXT, class::CH, true, None),
            true,
        );
        assert_eq!(txt(&m)[0].len(), TXT_STRING_MAX);
        assert_eq!(long.version, default_version());
        assert!(default_version().starts_with("sekisho "));
        let d = ChaosConfig::default();
        assert_eq!(d.identity, host_name());
        assert!(!d.identity.is_empty());
    }
}
