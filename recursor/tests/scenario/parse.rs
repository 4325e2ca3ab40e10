//! The scenario file format (documented in `testdata/recursor/README.md`):
//! text to a [`Scenario`], with every error naming its line.
//!
//! Line-based: a block opens with a keyword at the start of a line
//! (`config`, `hints`, `zone`, `reply`, `query`) and ends at `end`;
//! `title` and `server` are single lines. `#` starts a comment outside
//! zone data; inside a zone block only whole-line `#` comments are
//! dropped (zone files use `;`). Records are zone-file presentation
//! format, read by `sekisho-zonefile`.

use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use sekisho_limits::Limit;
use sekisho_recursor::{DnssecResult, Transport};
use sekisho_zonefile::ParseOptions;

/// TTL of records written without one.
pub(crate) const DEFAULT_TTL: u32 = 300;

/// One parsed scenario file.
#[derive(Debug, Default)]
pub(crate) struct Scenario {
    /// What it shows.
    pub(crate) title: String,
    /// Recursor settings.
    pub(crate) config: Config,
    /// The root hints (NS for `.` and the addresses of those names).
    pub(crate) hints: Vec<Record>,
    /// Zone data.
    pub(crate) zones: Vec<ZoneSpec>,
    /// Scripted authoritative servers.
    pub(crate) servers: Vec<ServerSpec>,
    /// Explicit answers, tried before zone data.
    pub(crate) replies: Vec<ReplySpec>,
    /// Client questions, asked in order of the same recursor.
    pub(crate) queries: Vec<QuerySpec>,
}

/// The `config` block.
#[derive(Debug)]
pub(crate) struct Config {
    /// `validate yes|no`.
    pub(crate) validate: bool,
    /// `qname-minimisation yes|no`.
    pub(crate) qname_minimisation: bool,
    /// `domain-insecure NAME` lines.
    pub(crate) domain_insecure: Vec<Name>,
    /// `max-queries N`.
    pub(crate) max_queries: u32,
    /// `fetches-per-zone N` (0 = off).
    pub(crate) fetches_per_zone: usize,
    /// `fetches-per-server N` (0 = off).
    pub(crate) fetches_per_server: usize,
    /// `max-ns-address-queries N`.
    pub(crate) max_ns_address_queries: u32,
    /// `max-validations N`: signature checks per client query.
    pub(crate) max_validations: u32,
    /// `max-nsec3-hashes N`: NSEC3 hash rounds per client query.
    pub(crate) max_nsec3_hashes: u32,
    /// `bogus-ttl SECONDS`: how long failed validations are remembered.
    pub(crate) bogus_ttl: u64,
    /// `trust-anchor ds|dnskey|wrong|none`; `None` = ds when the root is signed.
    pub(crate) trust_anchor: Option<Anchor>,
    /// `aggressive-nsec yes|no`: RFC 8198 answers from validated denials.
    pub(crate) aggressive_nsec: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            validate: true,
            qname_minimisation: true,
            domain_insecure: Vec::new(),
            max_queries: 200,
            fetches_per_zone: 200,
            fetches_per_server: 400,
            max_ns_address_queries: 10,
            max_validations: 32,
            max_nsec3_hashes: 150,
            bogus_ttl: 60,
            trust_anchor: None,
            aggressive_nsec: true,
        }
    }
}

/// What the recursor is given as the root's trust anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The DS (SHA-256) of the root's key.
    Ds,
    /// The root's DNSKEY itself.
    Dnskey,
    /// The DS of a key that never signs the root.
    Wrong,
    /// No anchor: nothing can be proven secure.
    None,
}

/// Which DS the parent publishes for a signed zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DsMode {
    /// The DS of the zone's key.
    Yes,
    /// No DS: an insecure delegation.
    None,
    /// The DS of a key the zone does not use.
    Wrong,
}

/// Validity window of a zone's signatures, relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigWindow {
    /// From an hour ago to 30 days ahead.
    Valid,
    /// Ended 30 days ago.
    Expired,
    /// Starts in 30 days.
    Future,
}

/// A `zone` block.
#[derive(Debug)]
pub(crate) struct ZoneSpec {
    /// The apex.
    pub(crate) name: Name,
    /// Signed at load time.
    pub(crate) signed: bool,
    /// The DS in the parent zone.
    pub(crate) ds: DsMode,
    /// Signature validity.
    pub(crate) sigs: SigWindow,
    /// The records as written.
    pub(crate) records: Vec<Record>,
    /// RRsets that replace the signed ones, keeping the old RRSIGs.
    pub(crate) after_signing: Vec<Record>,
    /// Where the block starts.
    pub(crate) line: usize,
}

/// Misbehaviours of a server or of one reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modes {
    /// Never answer.
    pub(crate) timeout: bool,
    /// Over UDP, answer with TC=1 and no records.
    pub(crate) truncate: bool,
    /// Answer with another message ID.
    pub(crate) wrong_id: bool,
    /// Answer for another question.
    pub(crate) wrong_question: bool,
    /// FORMERR to any query with EDNS.
    pub(crate) no_edns: bool,
}

impl Modes {
    /// Both sets of misbehaviours.
    pub(crate) fn union(self, o: Modes) -> Modes {
        Modes {
            timeout: self.timeout || o.timeout,
            truncate: self.truncate || o.truncate,
            wrong_id: self.wrong_id || o.wrong_id,
            wrong_question: self.wrong_question || o.wrong_question,
            no_edns: self.no_edns || o.no_edns,
        }
    }

    /// Set the mode named `word`; false when there is none.
    fn set(&mut self, word: &str) -> bool {
        match word {
            "timeout" => self.timeout = true,
            "truncate" => self.truncate = true,
            "wrong-id" => self.wrong_id = true,
            "wrong-question" => self.wrong_question = true,
            "no-edns" => self.no_edns = true,
            _ => return false,
        }
        true
    }
}

/// A `server` line.
#[derive(Debug)]
pub(crate) struct ServerSpec {
    /// Its address (port 53).
    pub(crate) addr: IpAddr,
    /// The zones it serves.
    pub(crate) zones: Vec<Name>,
    /// How it misbehaves.
    pub(crate) modes: Modes,
    /// Where it is declared.
    pub(crate) line: usize,
}

/// Which query names a `reply` or a log expectation matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NamePattern {
    /// `*`: any name.
    Any,
    /// This name.
    Exact(Name),
    /// `*.NAME`: NAME or any name below it.
    Subtree(Name),
}

impl NamePattern {
    /// Parse `*`, `*.name.` or `name.`.
    fn parse(s: &str) -> Result<NamePattern, String> {
        if s == "*" {
            return Ok(NamePattern::Any);
        }
        if let Some(rest) = s.strip_prefix("*.") {
            return Ok(NamePattern::Subtree(name(rest)?));
        }
        Ok(NamePattern::Exact(name(s)?))
    }

    /// True when `n` matches.
    pub(crate) fn matches(&self, n: &Name) -> bool {
        match self {
            NamePattern::Any => true,
            NamePattern::Exact(x) => x == n,
            NamePattern::Subtree(x) => x.zone_of(n),
        }
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamePattern::Any => f.write_str("*"),
            NamePattern::Exact(n) => write!(f, "{n}"),
            NamePattern::Subtree(n) => write!(f, "*.{n}"),
        }
    }
}

/// A `reply` block: what one server says to matching questions.
#[derive(Debug)]
pub(crate) struct ReplySpec {
    /// The server.
    pub(crate) addr: IpAddr,
    /// Question names it applies to.
    pub(crate) qname: NamePattern,
    /// Question type it applies to (`None` = any).
    pub(crate) qtype: Option<RecordType>,
    /// RCODE (NOERROR unless given).
    pub(crate) rcode: ResponseCode,
    /// AA flag.
    pub(crate) aa: bool,
    /// Answer section.
    pub(crate) answer: Vec<Record>,
    /// Authority section.
    pub(crate) authority: Vec<Record>,
    /// Additional section.
    pub(crate) additional: Vec<Record>,
    /// Misbehaviours of this reply.
    pub(crate) modes: Modes,
    /// `signed`: records the server's zones hold carry their RRSIGs (DO=1).
    pub(crate) signed: bool,
    /// `replay QNAME`: the zone's answer for QNAME, its answer owners renamed
    /// to the question (a replayed wildcard answer).
    pub(crate) replay: Option<Name>,
    /// `renamed FROM TYPE TO`: the zone's RRset (FROM, TYPE) with its RRSIGs
    /// (signed zones, DO=1), owners renamed to TO, added to the authority
    /// section: a record signed at a wildcard owner "expanded" to a name an
    /// attacker picks (the RRSIG still verifies, as a wildcard expansion).
    pub(crate) renamed: Vec<(Name, RecordType, Name)>,
    /// Where the block starts.
    pub(crate) line: usize,
}

/// A query the scripted servers must (or must not) have seen.
#[derive(Debug, Clone)]
pub(crate) struct LogPattern {
    /// Server address (`None` = any).
    pub(crate) addr: Option<IpAddr>,
    /// Question name.
    pub(crate) qname: NamePattern,
    /// Question type (`None` = any).
    pub(crate) qtype: Option<RecordType>,
    /// Transport (`None` = either).
    pub(crate) transport: Option<Transport>,
    /// With or without an OPT record (`None` = either).
    pub(crate) edns: Option<bool>,
}

impl std::fmt::Display for LogPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            Some(a) => write!(f, "{a}")?,
            None => f.write_str("*")?,
        }
        write!(f, " {}", self.qname)?;
        match self.qtype {
            Some(t) => write!(f, " {t}")?,
            None => f.write_str(" *")?,
        }
        if let Some(t) = self.transport {
            write!(f, " {}", t.as_str())?;
        }
        match self.edns {
            Some(true) => f.write_str(" edns")?,
            Some(false) => f.write_str(" no-edns")?,
            None => {}
        }
        Ok(())
    }
}

/// One expectation on the outcome of a client query.
#[derive(Debug)]
pub(crate) enum Expect {
    /// `rcode NAME`.
    Rcode(ResponseCode),
    /// `ad yes|no`.
    Ad(bool),
    /// `ede N|none`: the Extended DNS Error the client gets.
    Ede(Option<u16>),
    /// `dnssec secure|insecure|bogus|nta|none`: the validator's verdict as counted.
    Dnssec(Option<DnssecResult>),
    /// `answer RECORD`: in the answer section (TTL not compared).
    Answer(Record),
    /// `answer-exact`: nothing but the `answer` records (RRSIGs aside).
    AnswerExact,
    /// `no-answer`: an empty answer section.
    NoAnswer,
    /// `authority TYPE`: a record of this type in the authority section.
    Authority(RecordType),
    /// `rrsig yes|no`: RRSIGs in the response.
    Rrsig(bool),
    /// `queries <= N` or `queries == N`: upstream queries for this question.
    Queries {
        /// The bound.
        n: usize,
        /// `==` rather than `<=`.
        exact: bool,
    },
    /// `checks|hashes <=|== N`, `drops LIMIT N`: validation work and limit
    /// drops counted during this question.
    Count {
        /// What is counted.
        what: Counted,
        /// The bound.
        n: u64,
        /// `==` rather than `<=`.
        exact: bool,
    },
    /// `sent ADDR QNAME QTYPE [udp|tcp]`: some server saw this query.
    Sent(LogPattern),
    /// `not-sent ...`: no server saw a query like this.
    NotSent(LogPattern),
    /// `log ...` lines: the exact sequence of queries.
    Log(LogPattern),
}

/// A counter read before and after a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// Signature checks.
    Checks,
    /// NSEC3 hash rounds.
    Hashes,
    /// Drops counted for this limit.
    Drops(sekisho_limits::Limit),
    /// Answers synthesised from validated denials (RFC 8198).
    Aggressive,
}

/// What is done to the recursor before a question (`flush` and `wait` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// `flush all`: `Recursor::flush`.
    FlushAll,
    /// `flush name NAME`: `Recursor::flush_name`.
    FlushName(Name),
    /// `flush tree NAME`: `Recursor::flush_tree`.
    FlushTree(Name),
    /// `wait SECONDS`: let time pass (really: TTLs run on the clock).
    Wait(u64),
}

/// A `query` block.
#[derive(Debug)]
pub(crate) struct QuerySpec {
    /// The question.
    pub(crate) qname: Name,
    /// Its type.
    pub(crate) qtype: RecordType,
    /// DO bit.
    pub(crate) dnssec_ok: bool,
    /// CD bit.
    pub(crate) cd: bool,
    /// AD bit (RFC 6840 section 5.7: a client without DO asks for AD this way).
    pub(crate) ad: bool,
    /// Expectations with their lines.
    pub(crate) expect: Vec<(usize, Expect)>,
    /// `flush` and `wait` lines written before the block, done first.
    pub(crate) before: Vec<Action>,
    /// Where the block starts.
    pub(crate) line: usize,
}

/// A parse error at a line.
fn at(line: usize, msg: impl std::fmt::Display) -> String {
    format!("line {line}: {msg}")
}

/// An absolute name (a trailing dot is added when missing).
pub(crate) fn name(s: &str) -> Result<Name, String> {
    let s = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_str(&s).map_err(|e| format!("bad name {s:?}: {e}"))
}

/// A decimal number.
fn number<T: FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad number {s:?}"))
}

/// A limit by its label (`sekisho_limit_drops_total{limit}`).
fn limit(s: &str) -> Result<Limit, String> {
    Limit::ALL
        .into_iter()
        .find(|l| l.as_label() == s)
        .ok_or_else(|| format!("unknown limit {s:?}"))
}

/// `yes`/`no`.
fn yes_no(s: &str) -> Result<bool, String> {
    match s {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected yes or no, found {s:?}")),
    }
}

/// A record type, or `*` for any.
fn qtype_pattern(s: &str) -> Result<Option<RecordType>, String> {
    if s == "*" {
        return Ok(None);
    }
    record_type(s).map(Some)
}

/// A record type by mnemonic.
fn record_type(s: &str) -> Result<RecordType, String> {
    RecordType::from_str(&s.to_ascii_uppercase()).map_err(|_| format!("unknown type {s:?}"))
}

/// An RCODE by mnemonic.
pub(crate) fn rcode(s: &str) -> Result<ResponseCode, String> {
    Ok(match s.to_ascii_uppercase().as_str() {
        "NOERROR" => ResponseCode::NoError,
        "FORMERR" => ResponseCode::FormErr,
        "SERVFAIL" => ResponseCode::ServFail,
        "NXDOMAIN" => ResponseCode::NXDomain,
        "NOTIMP" => ResponseCode::NotImp,
        "REFUSED" => ResponseCode::Refused,
        _ => return Err(format!("unknown rcode {s:?}")),
    })
}

/// An address.
fn addr(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("bad address {s:?}"))
}

/// Records in zone-file text, with `origin`; `first_line` is the file line
/// of the text's first line, so errors point into the scenario file.
pub(crate) fn records(text: &str, origin: &Name, first_line: usize) -> Result<Vec<Record>, String> {
    let padded = format!("{}{text}", "\n".repeat(first_line.saturating_sub(1)));
    sekisho_zonefile::parse_str(
        &padded,
        ParseOptions::with_origin(origin.clone()).default_ttl(DEFAULT_TTL),
    )
    .map_err(|e| e.to_string().replace("<input>:", "line "))
}

/// One record written on one line.
fn record(text: &str, line: usize) -> Result<Record, String> {
    let mut r = records(text, &Name::root(), line)?;
    match (r.pop(), r.is_empty()) {
        (Some(rec), true) => Ok(rec),
        _ => Err(at(line, "expected exactly one record")),
    }
}

/// `line` without a trailing `#` comment (outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted && prev_blank => return &line[..i],
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    line
}

/// Parse a whole scenario.
pub(crate) fn parse(text: &str) -> Result<Scenario, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut sc = Scenario::default();
    // `flush` and `wait` lines waiting for the next query block.
    let mut pending: Vec<Action> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let no = i + 1;
        let line = strip_comment(lines[i]).trim();
        i += 1;
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[0] {
            "title" => sc.title = line["title".len()..].trim().to_string(),
            "config" => {
                let (body, next) = block(&lines, i, no)?;
                i = next;
                for (n, l) in body {
                    config_line(&mut sc.config, strip_comment(l).trim()).map_err(|e| at(n, e))?;
                }
            }
            "hints" => {
                let (body, next) = block(&lines, i, no)?;
                i = next;
                sc.hints = records(&join(&body), &Name::root(), no + 1)?;
            }
            "zone" => {
                let (body, next) = block(&lines, i, no)?;
                i = next;
                sc.zones.push(zone(&words, &body, no).map_err(|e| {
                    if e.starts_with("line ") {
                        e
                    } else {
                        at(no, e)
                    }
                })?);
            }
            "server" => sc.servers.push(server(&words, no).map_err(|e| at(no, e))?),
            "reply" => {
                let (body, next) = block(&lines, i, no)?;
                i = next;
                sc.replies.push(reply(&words, &body, no)?);
            }
            "query" => {
                let (body, next) = block(&lines, i, no)?;
                i = next;
                let mut q = query(&words, &body, no)?;
                q.before = std::mem::take(&mut pending);
                sc.queries.push(q);
            }
            "flush" | "wait" => pending.push(action(&words).map_err(|e| at(no, e))?),
            other => return Err(at(no, format!("unknown keyword {other:?}"))),
        }
    }
    if sc.queries.is_empty() {
        return Err("no query block: a scenario must ask something".into());
    }
    if !pending.is_empty() {
        return Err("flush or wait after the last query block".into());
    }
    if sc.hints.is_empty() {
        return Err("no hints block: the recursor needs root hints".into());
    }
    Ok(sc)
}

/// Numbered lines of a block.
type Body<'a> = Vec<(usize, &'a str)>;

/// The lines of a block opened at line `open` (1-based), up to its `end`,
/// with their numbers; and the index after `end`.
fn block<'a>(lines: &[&'a str], from: usize, open: usize) -> Result<(Body<'a>, usize), String> {
    let mut body = Vec::new();
    for (k, l) in lines.iter().enumerate().skip(from) {
        if strip_comment(l).trim() == "end" {
            return Ok((body, k + 1));
        }
        body.push((k + 1, *l));
    }
    Err(at(open, "block has no `end`"))
}

/// Block lines back to text, whole-line `#` comments blanked and the
/// block's common indentation removed (so that, as in any zone file, only
/// a line indented further continues the previous owner).
fn join(body: &[(usize, &str)]) -> String {
    let keep = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let indent = body
        .iter()
        .filter(|(_, l)| keep(l))
        .map(|(_, l)| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut s = String::new();
    for (_, l) in body {
        if keep(l) {
            s.push_str(l.get(indent..).unwrap_or(l));
        }
        s.push('\n');
    }
    s
}

/// A `flush all|name NAME|tree NAME` or `wait SECONDS` line.
fn action(words: &[&str]) -> Result<Action, String> {
    Ok(match words {
        ["flush", "all"] => Action::FlushAll,
        ["flush", "name", n] => Action::FlushName(name(n)?),
        ["flush", "tree", n] => Action::FlushTree(name(n)?),
        ["wait", s] => Action::Wait(number(s)?),
        _ => return Err("flush all|name NAME|tree NAME, or wait SECONDS".into()),
    })
}

/// One line of the `config` block.
fn config_line(c: &mut Config, line: &str) -> Result<(), String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    match w.as_slice() {
        [] => {}
        ["validate", v] => c.validate = yes_no(v)?,
        ["qname-minimisation", v] => c.qname_minimisation = yes_no(v)?,
        ["aggressive-nsec", v] => c.aggressive_nsec = yes_no(v)?,
        ["domain-insecure", n] => c.domain_insecure.push(name(n)?),
        ["max-queries", n] => c.max_queries = number(n)?,
        ["fetches-per-zone", n] => c.fetches_per_zone = number(n)?,
        ["fetches-per-server", n] => c.fetches_per_server = number(n)?,
        ["max-ns-address-queries", n] => c.max_ns_address_queries = number(n)?,
        ["max-validations", n] => {
            c.max_validations = n.parse().map_err(|_| format!("bad number {n:?}"))?;
        }
        ["max-nsec3-hashes", n] => {
            c.max_nsec3_hashes = n.parse().map_err(|_| format!("bad number {n:?}"))?;
        }
        ["bogus-ttl", n] => {
            c.bogus_ttl = n.parse().map_err(|_| format!("bad number {n:?}"))?;
        }
        ["trust-anchor", a] => {
            c.trust_anchor = Some(match *a {
                "ds" => Anchor::Ds,
                "dnskey" => Anchor::Dnskey,
                "wrong" => Anchor::Wrong,
                "none" => Anchor::None,
                _ => {
                    return Err(format!(
                        "trust-anchor: ds, dnskey, wrong or none, not {a:?}"
                    ))
                }
            });
        }
        _ => return Err(format!("unknown config line {line:?}")),
    }
    Ok(())
}

/// A `zone NAME [signed] [ds=..] [sigs=..]` block.
fn zone(words: &[&str], body: &[(usize, &str)], no: usize) -> Result<ZoneSpec, String> {
    let apex = name(words.get(1).ok_or("zone needs a name")?)?;
    let mut z = ZoneSpec {
        name: apex.clone(),
        signed: false,
        ds: DsMode::Yes,
        sigs: SigWindow::Valid,
        records: Vec::new(),
        after_signing: Vec::new(),
        line: no,
    };
    for w in &words[2..] {
        match *w {
            "signed" => z.signed = true,
            "ds=yes" => z.ds = DsMode::Yes,
            "ds=none" => z.ds = DsMode::None,
            "ds=wrong" => z.ds = DsMode::Wrong,
            "sigs=valid" => z.sigs = SigWindow::Valid,
            "sigs=expired" => z.sigs = SigWindow::Expired,
            "sigs=future" => z.sigs = SigWindow::Future,
            _ => return Err(format!("unknown zone option {w:?}")),
        }
    }
    let split = body
        .iter()
        .position(|(_, l)| strip_comment(l).trim() == "after-signing");
    let (data, after) = match split {
        Some(k) => (&body[..k], &body[k + 1..]),
        None => (body, &body[body.len()..]),
    };
    z.records = records(&join(data), &apex, no + 1)?;
    if let Some(((first, _), _)) = after.split_first() {
        z.after_signing = records(&join(after), &apex, *first)?;
    }
    for r in z.records.iter().chain(&z.after_signing) {
        if !apex.zone_of(&r.name) {
            return Err(format!("{} is outside zone {apex}", r.name));
        }
    }
    Ok(z)
}

/// A `server ADDR [ZONE...] [MODE...]` line: words ending in a dot are
/// zones, the others modes.
fn server(words: &[&str], no: usize) -> Result<ServerSpec, String> {
    let addr = addr(words.get(1).ok_or("server needs an address")?)?;
    let mut s = ServerSpec {
        addr,
        zones: Vec::new(),
        modes: Modes::default(),
        line: no,
    };
    for w in &words[2..] {
        if w.ends_with('.') {
            s.zones.push(name(w)?);
        } else if !s.modes.set(w) {
            return Err(format!(
                "unknown server mode {w:?} (zones end with a dot; modes: timeout, truncate, wrong-id, wrong-question, no-edns)"
            ));
        }
    }
    Ok(s)
}

/// A `reply ADDR QNAME QTYPE` block.
fn reply(words: &[&str], body: &[(usize, &str)], no: usize) -> Result<ReplySpec, String> {
    let [_, a, q, t] = words else {
        return Err(at(no, "reply ADDR QNAME QTYPE"));
    };
    let mut r = ReplySpec {
        addr: addr(a).map_err(|e| at(no, e))?,
        qname: NamePattern::parse(q).map_err(|e| at(no, e))?,
        qtype: qtype_pattern(t).map_err(|e| at(no, e))?,
        rcode: ResponseCode::NoError,
        aa: false,
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        modes: Modes::default(),
        signed: false,
        replay: None,
        renamed: Vec::new(),
        line: no,
    };
    for (n, l) in body {
        let l = strip_comment(l).trim();
        let Some((key, rest)) = l.split_once(char::is_whitespace).or(Some((l, ""))) else {
            continue;
        };
        let rest = rest.trim();
        match key {
            "" => {}
            "rcode" => r.rcode = rcode(rest).map_err(|e| at(*n, e))?,
            "flags" => {
                for f in rest.split_whitespace() {
                    match f {
                        "aa" => r.aa = true,
                        _ => return Err(at(*n, format!("unknown flag {f:?} (aa)"))),
                    }
                }
            }
            "mode" => {
                for m in rest.split_whitespace() {
                    if !r.modes.set(m) {
                        return Err(at(*n, format!("unknown mode {m:?}")));
                    }
                }
            }
            "answer" => r.answer.push(record(rest, *n)?),
            "authority" => r.authority.push(record(rest, *n)?),
            "additional" => r.additional.push(record(rest, *n)?),
            "signed" => r.signed = true,
            "replay" => r.replay = Some(name(rest).map_err(|e| at(*n, e))?),
            "renamed" => {
                let [from, t, to] = rest.split_whitespace().collect::<Vec<_>>()[..] else {
                    return Err(at(*n, "renamed FROM TYPE TO"));
                };
                r.renamed.push((
                    name(from).map_err(|e| at(*n, e))?,
                    record_type(t).map_err(|e| at(*n, e))?,
                    name(to).map_err(|e| at(*n, e))?,
                ));
            }
            _ => return Err(at(*n, format!("unknown reply line {l:?}"))),
        }
    }
    Ok(r)
}

/// `ADDR|* QNAME|* QTYPE|* [udp|tcp] [edns|no-edns]`.
fn log_pattern(w: &[&str]) -> Result<LogPattern, String> {
    let [a, q, t, more @ ..] = w else {
        return Err("expected ADDR QNAME QTYPE [udp|tcp] [edns|no-edns]".into());
    };
    let mut p = LogPattern {
        addr: if *a == "*" { None } else { Some(addr(a)?) },
        qname: NamePattern::parse(q)?,
        qtype: qtype_pattern(t)?,
        transport: None,
        edns: None,
    };
    for m in more {
        match *m {
            "udp" => p.transport = Some(Transport::Udp),
            "tcp" => p.transport = Some(Transport::Tcp),
            "edns" => p.edns = Some(true),
            "no-edns" => p.edns = Some(false),
            x => return Err(format!("udp, tcp, edns or no-edns, not {x:?}")),
        }
    }
    Ok(p)
}

/// A `query QNAME QTYPE [DO] [CD] [AD]` block.
fn query(words: &[&str], body: &[(usize, &str)], no: usize) -> Result<QuerySpec, String> {
    let (Some(q), Some(t)) = (words.get(1), words.get(2)) else {
        return Err(at(no, "query QNAME QTYPE [DO] [CD] [AD]"));
    };
    let mut spec = QuerySpec {
        qname: name(q).map_err(|e| at(no, e))?,
        qtype: record_type(t).map_err(|e| at(no, e))?,
        dnssec_ok: false,
        cd: false,
        ad: false,
        expect: Vec::new(),
        before: Vec::new(),
        line: no,
    };
    for f in &words[3..] {
        match *f {
            "DO" => spec.dnssec_ok = true,
            "CD" => spec.cd = true,
            "AD" => spec.ad = true,
            _ => return Err(at(no, format!("unknown query flag {f:?} (DO, CD, AD)"))),
        }
    }
    for (n, l) in body {
        let l = strip_comment(l).trim();
        if l.is_empty() {
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        let rest = l[w[0].len()..].trim();
        let e = match w.as_slice() {
            ["rcode", r] => Expect::Rcode(rcode(r).map_err(|e| at(*n, e))?),
            ["ad", v] => Expect::Ad(yes_no(v).map_err(|e| at(*n, e))?),
            ["rrsig", v] => Expect::Rrsig(yes_no(v).map_err(|e| at(*n, e))?),
            ["ede", "none"] => Expect::Ede(None),
            ["ede", c] => Expect::Ede(Some(
                c.parse()
                    .map_err(|_| at(*n, format!("bad EDE code {c:?}")))?,
            )),
            ["dnssec", v] => Expect::Dnssec(match *v {
                "secure" => Some(DnssecResult::Secure),
                "insecure" => Some(DnssecResult::Insecure),
                "bogus" => Some(DnssecResult::Bogus),
                "nta" => Some(DnssecResult::Nta),
                "none" => None,
                _ => return Err(at(*n, format!("unknown verdict {v:?}"))),
            }),
            ["answer-exact"] => Expect::AnswerExact,
            ["no-answer"] => Expect::NoAnswer,
            ["answer", ..] => Expect::Answer(record(rest, *n)?),
            ["authority", t] => Expect::Authority(record_type(t).map_err(|e| at(*n, e))?),
            ["queries", op, k] => Expect::Queries {
                n: k.parse().map_err(|_| at(*n, format!("bad number {k:?}")))?,
                exact: match *op {
                    "<=" => false,
                    "==" => true,
                    _ => return Err(at(*n, "queries <= N or queries == N")),
                },
            },
            ["checks" | "hashes" | "aggressive", op, k] => Expect::Count {
                what: match w[0] {
                    "checks" => Counted::Checks,
                    "hashes" => Counted::Hashes,
                    _ => Counted::Aggressive,
                },
                n: k.parse().map_err(|_| at(*n, format!("bad number {k:?}")))?,
                exact: match *op {
                    "<=" => false,
                    "==" => true,
                    _ => return Err(at(*n, "checks|hashes|aggressive <= N or == N")),
                },
            },
            ["drops", l, k] => Expect::Count {
                what: Counted::Drops(limit(l).map_err(|e| at(*n, e))?),
                n: k.parse().map_err(|_| at(*n, format!("bad number {k:?}")))?,
                exact: true,
            },
            ["sent", p @ ..] => Expect::Sent(log_pattern(p).map_err(|e| at(*n, e))?),
            ["not-sent", p @ ..] => Expect::NotSent(log_pattern(p).map_err(|e| at(*n, e))?),
            ["log", p @ ..] => Expect::Log(log_pattern(p).map_err(|e| at(*n, e))?),
            _ => return Err(at(*n, format!("unknown expectation {l:?}"))),
        };
        spec.expect.push((*n, e));
    }
    if !spec
        .expect
        .iter()
        .any(|(_, e)| matches!(e, Expect::Rcode(_)))
    {
        return Err(at(
            no,
            "a query block needs at least an `rcode` expectation",
        ));
    }
    Ok(spec)
}
