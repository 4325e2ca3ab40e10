//! The scenario harness: a scenario file in, the recursor run against
//! scripted authorities, every unmet expectation out.
//!
//! ```text
//!  file ─▶ parse ─▶ zones loaded + signed (zone) ─▶ Scripted (exchange)
//!                                                     │
//!  RecursorConfig (hints, anchor, config block) ─▶ Recursor::with_exchange
//!  each query block: client query ─▶ sekisho_recursor::fetch (the pipeline's entry)
//!                    ─▶ response, EDE, verdict + the servers' query log ─▶ expectations
//! ```

pub(crate) mod exchange;
pub(crate) mod parse;
pub(crate) mod zone;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_cache::{CacheLimits, PacketCache};
use sekisho_limits::{Limit, Limits};
use sekisho_recursor::{Recursor, RecursorConfig};

use exchange::{Logged, Scripted};
use parse::{Action, Counted, Expect, LogPattern, QuerySpec};

/// Run the scenario in `path`: `Ok` with a one-line summary, or every
/// failure with the query log.
pub(crate) fn run_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    run_text(&text)
}

/// Run a scenario given as text.
pub(crate) fn run_text(text: &str) -> Result<String, String> {
    let mut sc = parse::parse(text)?;
    let (zones, anchors) = zone::load_all(&sc.zones, sc.config.trust_anchor)?;
    let scripted = Scripted::new(&mut sc, zones)?;
    let limits = Arc::new(Limits::new());
    let config = RecursorConfig {
        root_hints: hints(&sc.hints)?,
        anchors,
        validate: sc.config.validate,
        domain_insecure: sc.config.domain_insecure.clone(),
        qname_minimisation: sc.config.qname_minimisation,
        allow_ipv6: false,
        port: 53,
        max_queries: sc.config.max_queries,
        fetches_per_zone: sc.config.fetches_per_zone,
        fetches_per_server: sc.config.fetches_per_server,
        max_ns_address_queries: sc.config.max_ns_address_queries,
        limits: limits.clone(),
        max_ttl: Duration::from_secs(86_400),
        max_cache_bytes: 64 << 20,
        max_validations: sc.config.max_validations,
        validation_threads: 2,
        max_nsec3_hashes: sc.config.max_nsec3_hashes,
        bogus_ttl: Duration::from_secs(sc.config.bogus_ttl),
        aggressive_nsec: sc.config.aggressive_nsec,
    };
    let recursor = Recursor::with_exchange(config, scripted.clone());
    let cache = PacketCache::new(CacheLimits {
        max_entries: 1000,
        min_ttl: 0,
        max_ttl: 86_400,
        max_negative_ttl: 3600,
        servfail_ttl: 0,
        max_bytes: 64 << 20,
        max_stale: 0,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut failures = String::new();
    let mut total = 0;
    let counters = |l: &Limits| {
        let (checks, hashes) = recursor.validation_work();
        Counters {
            checks,
            hashes,
            aggressive: recursor.aggressive_answers(),
            drops: Limit::ALL.map(|x| l.drops(x)),
        }
    };
    for q in &sc.queries {
        for a in &q.before {
            match a {
                Action::FlushAll => recursor.flush(),
                Action::FlushName(n) => {
                    recursor.flush_name(n);
                }
                Action::FlushTree(n) => {
                    recursor.flush_tree(n);
                }
                Action::Wait(s) => std::thread::sleep(Duration::from_secs(*s)),
            }
        }
        let before = counters(&limits);
        let outcome = rt.block_on(ask(&recursor, &cache, q));
        let after = counters(&limits);
        let log = scripted.take_log();
        total += log.len();
        let errors = match outcome {
            Ok(mut o) => {
                o.counted = after.minus(&before);
                check(q, &o, &log)
            }
            Err(e) => vec![e],
        };
        if !errors.is_empty() {
            let _ = writeln!(
                failures,
                "  query at line {} ({} {}{}{}{}):",
                q.line,
                q.qname,
                q.qtype,
                if q.dnssec_ok { " DO" } else { "" },
                if q.cd { " CD" } else { "" },
                if q.ad { " AD" } else { "" }
            );
            for e in errors {
                let _ = writeln!(failures, "    - {e}");
            }
            let _ = writeln!(failures, "    queries the servers saw:");
            for l in &log {
                let _ = writeln!(failures, "      {l}");
            }
        }
    }
    if failures.is_empty() {
        Ok(format!(
            "{} ({} questions, {total} upstream queries)",
            sc.title,
            sc.queries.len()
        ))
    } else {
        Err(failures)
    }
}

/// The drop counters of every limit, in [`Limit::ALL`] order.
/// Root hints from the `hints` block: NS names of `.` with their addresses.
fn hints(records: &[Record]) -> Result<Vec<(Name, Vec<IpAddr>)>, String> {
    let out: Vec<(Name, Vec<IpAddr>)> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) if r.name.is_root() => Some(ns.0.clone()),
            _ => None,
        })
        .map(|n| {
            let addrs = records
                .iter()
                .filter(|r| r.name == n)
                .filter_map(|r| r.data.ip_addr())
                .collect();
            (n, addrs)
        })
        .collect();
    if out.iter().all(|(_, a)| a.is_empty()) {
        return Err("hints: no NS of . with an address".into());
    }
    Ok(out)
}

/// Work and drop counters, read around a question.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    /// Signature checks.
    checks: u64,
    /// NSEC3 hash rounds.
    hashes: u64,
    /// Answers synthesised from validated denials.
    aggressive: u64,
    /// Drops per limit, in [`Limit::ALL`] order.
    drops: [u64; Limit::ALL.len()],
}

impl Counters {
    /// What was added since `before`.
    fn minus(&self, before: &Counters) -> Counters {
        Counters {
            checks: self.checks - before.checks,
            hashes: self.hashes - before.hashes,
            aggressive: self.aggressive - before.aggressive,
            drops: std::array::from_fn(|i| self.drops[i] - before.drops[i]),
        }
    }

    /// One counter.
    fn get(&self, what: Counted) -> u64 {
        match what {
            Counted::Checks => self.checks,
            Counted::Hashes => self.hashes,
            Counted::Aggressive => self.aggressive,
            Counted::Drops(l) => Limit::ALL
                .iter()
                .position(|x| *x == l)
                .map_or(0, |i| self.drops[i]),
        }
    }
}

/// What the client got.
struct Outcome {
    /// The response.
    msg: Message,
    /// The EDE code added to it.
    ede: Option<u16>,
    /// The validator's verdict.
    dnssec: Option<sekisho_recursor::DnssecResult>,
    /// Validation work and limit drops during the question.
    counted: Counters,
}

/// Ask `q` through the pipeline's entry point, as a client would.
async fn ask(recursor: &Recursor, cache: &PacketCache, q: &QuerySpec) -> Result<Outcome, String> {
    let mut m = Message::new(0x5ec1, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.checking_disabled = q.cd;
    m.metadata.authentic_data = q.ad;
    m.add_query(Query::query(q.qname.clone(), q.qtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(q.dnssec_ok);
    m.set_edns(e);
    let wire = m.to_vec().map_err(|e| format!("encode: {e}"))?;
    let query = sekisho_wire::parse_query(&wire).map_err(|e| format!("parse_query: {e:?}"))?;
    let mut lower = Vec::new();
    sekisho_wire::lowercase_name_into(query.qname_wire(), &mut lower);
    let mut key = Vec::new();
    PacketCache::key_into(
        query.qname_wire(),
        query.qtype,
        query.qclass,
        query.dnssec_ok(),
        query.cd,
        &mut key,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let f = sekisho_recursor::fetch(
        recursor,
        cache,
        sekisho_recursor::FactsWanted::No,
        &key,
        &lower,
        &query,
        deadline,
    )
    .await
    .ok_or("fetch gave no answer")?;
    let msg = Message::from_vec(&f.wire).map_err(|e| format!("response does not decode: {e}"))?;
    Ok(Outcome {
        msg,
        ede: f.ede.map(|e| e.code),
        dnssec: f.dnssec,
        counted: Counters::default(),
    })
}

/// True when `l` matches `p`.
fn log_matches(p: &LogPattern, l: &Logged) -> bool {
    p.addr.is_none_or(|a| a == l.addr)
        && p.qname.matches(&l.qname)
        && p.qtype.is_none_or(|t| t == l.qtype)
        && p.transport.is_none_or(|t| t == l.transport)
        && p.edns.is_none_or(|e| e == l.edns)
}

/// Same owner, type and data (TTL aside).
fn same_record(a: &Record, b: &Record) -> bool {
    a.name == b.name && a.record_type() == b.record_type() && a.data == b.data
}

/// A record as one line.
fn show(r: &Record) -> String {
    format!("{} {} {}", r.name, r.record_type(), r.data)
}

/// Every unmet expectation of `q`; `dropped` holds the drops each limit
/// counted for it, in [`Limit::ALL`] order.
fn check(q: &QuerySpec, o: &Outcome, log: &[Logged]) -> Vec<String> {
    let mut errs = Vec::new();
    let m = &o.msg;
    let data: Vec<&Record> = m
        .answers
        .iter()
        .filter(|r| r.record_type() != RecordType::RRSIG)
        .collect();
    let summary = || {
        format!(
            "got {:?} ad={} ede={:?} dnssec={:?} answer=[{}] authority=[{}]",
            m.metadata.response_code,
            m.metadata.authentic_data,
            o.ede,
            o.dnssec,
            data.iter().map(|r| show(r)).collect::<Vec<_>>().join("; "),
            m.authorities
                .iter()
                .map(|r| r.record_type().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let wanted: Vec<&Record> = q
        .expect
        .iter()
        .filter_map(|(_, e)| match e {
            Expect::Answer(r) => Some(r),
            _ => None,
        })
        .collect();
    let sequence: Vec<&LogPattern> = q
        .expect
        .iter()
        .filter_map(|(_, e)| match e {
            Expect::Log(p) => Some(p),
            _ => None,
        })
        .collect();
    for (line, e) in &q.expect {
        let fail = match e {
            Expect::Rcode(r) => (m.metadata.response_code != *r).then(|| format!("rcode {r:?}")),
            Expect::Ad(v) => (m.metadata.authentic_data != *v).then(|| format!("ad {v}")),
            Expect::Ede(c) => (o.ede != *c).then(|| format!("ede {c:?}")),
            Expect::Dnssec(d) => (o.dnssec != *d).then(|| format!("dnssec {d:?}")),
            Expect::Answer(r) => {
                (!data.iter().any(|x| same_record(x, r))).then(|| format!("answer {}", show(r)))
            }
            Expect::AnswerExact => (data.len() != wanted.len()
                || !data
                    .iter()
                    .all(|x| wanted.iter().any(|w| same_record(x, w))))
            .then(|| "answer-exact: the answer holds other records".to_string()),
            Expect::NoAnswer => (!m.answers.is_empty()).then(|| "no-answer".to_string()),
            Expect::Authority(t) => (!m.authorities.iter().any(|r| r.record_type() == *t))
                .then(|| format!("authority {t}")),
            Expect::Rrsig(v) => {
                let has = m
                    .answers
                    .iter()
                    .chain(&m.authorities)
                    .any(|r| r.record_type() == RecordType::RRSIG);
                (has != *v).then(|| format!("rrsig {v}"))
            }
            Expect::Queries { n, exact } => {
                let bad = if *exact {
                    log.len() != *n
                } else {
                    log.len() > *n
                };
                bad.then(|| {
                    format!(
                        "queries {} {n}: the servers saw {}",
                        if *exact { "==" } else { "<=" },
                        log.len()
                    )
                })
            }
            Expect::Count { what, n, exact } => {
                let got = o.counted.get(*what);
                let bad = if *exact { got != *n } else { got > *n };
                bad.then(|| {
                    format!(
                        "{what:?} {} {n}: counted {got}",
                        if *exact { "==" } else { "<=" }
                    )
                })
            }
            Expect::Sent(p) => {
                (!log.iter().any(|l| log_matches(p, l))).then(|| format!("sent {p}: no such query"))
            }
            Expect::NotSent(p) => log
                .iter()
                .find(|l| log_matches(p, l))
                .map(|l| format!("not-sent {p}: but {l} was sent")),
            Expect::Log(_) => None,
        };
        if let Some(f) = fail {
            errs.push(format!("line {line}: expected {f}; {}", summary()));
        }
    }
    if !sequence.is_empty() {
        let ok =
            sequence.len() == log.len() && sequence.iter().zip(log).all(|(p, l)| log_matches(p, l));
        if !ok {
            let want: Vec<String> = sequence.iter().map(|p| p.to_string()).collect();
            errs.push(format!(
                "log: expected exactly these queries in order:\n      {}",
                want.join("\n      ")
            ));
        }
    }
    errs
}
