//! DNS UPDATE ([RFC 2136](https://www.rfc-editor.org/rfc/rfc2136)) to a served zone
//! that has `allow-update` (BIND's word and default: nobody), applied in time
//! proportional to the change.
//!
//! ```text
//!  listener ─▶ dispatch (opcode UPDATE) ─▶ Updates::answer
//!    parse_update: drop responses; FORMERR; TSIG ─▶ NOTAUTH + BADKEY/BADSIG/BADTIME
//!    zone not served ─▶ NOTAUTH │ not in allow-update (address or key) ─▶ REFUSED
//!    store.exclusive() (one change at a time, also against file reloads)
//!    blocking thread:
//!      prerequisites (section 3.2) ─▶ NXDOMAIN / YXDOMAIN / NXRRSET / YXRRSET
//!      prescan (section 3.4.1)     ─▶ NOTZONE / FORMERR
//!      changes on the current version (owner index: cost of the touched owners)
//!      nothing changed ─▶ NOERROR, same serial
//!      serial + 1 (RFC 1982; 0 skipped) ─▶ new version (base shared, overlay copied)
//!      commit: journal entry appended and fdatasync'd ── fails ─▶ SERVFAIL, nothing changed
//!              current version swapped, NOTIFY to also-notify
//!      ZoneRules::apply_delta (the secondary's IXFR path) ─▶ PolicyStore::install
//!    NOERROR (signed with the request's key)
//!  in the background: the zone file written (2 s after the last change, 30 s at most
//!  after the first unwritten one; before a reload; at shutdown), as BIND writes a
//!  dynamic zone's file from its journal; a restart loads file + journal.
//! ```
//!
//! Not proportional, and said so in docs/operations.md: prerequisites and deletions
//! by name cost the records of that owner (an index, not a scan); the background file
//! write and the occasional compaction of the version and of the compiled rules cost
//! the zone, off the update path.
//!
//! SOA records in the update section are ignored (the serial is Sekisho's to step,
//! as BIND's `serial-update-method increment`), and the apex NS RRset is never
//! deleted, as RFC 2136 section 3.4.2.3 and 3.4.2.4 ask.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use prometheus::{IntCounterVec, Opts};
use sekisho_policy::PolicyStore;
use sekisho_xfr::serve;
use sekisho_xfr::update::{self, UpdateRequest};
use sekisho_xfr::Serial;
use tokio::sync::watch;

use crate::durable::decode;
use crate::journal::JournalEntry;
use crate::version::{identity, owner_of, same_owner, type_of, ZoneVersion};
use crate::{first_refusal, unix_now, Primary, Served};

/// Metric: UPDATE requests, by zone and result.
pub const UPDATE_TOTAL: &str = "sekisho_update_requests_total";
/// The zone file is written this long after the last change...
const QUIET: Duration = Duration::from_secs(2);
/// ...or this long after the first unwritten one, whichever comes first.
const MAX_DELAY: Duration = Duration::from_secs(30);
/// Compiled-rule overlay past which the rules are recompiled from the written file
/// (as the secondary does), so each further change stays cheap.
const RULES_RECOMPILE: usize = 100_000;
/// Version overlay past which the version is compacted after the file write.
const VERSION_COMPACT: usize = 100_000;

/// The UPDATE side of the primary role. Built after the policy store, which it
/// publishes the changed rules through.
#[derive(Debug)]
pub struct Updates {
    /// The served zones and keys.
    primary: Arc<Primary>,
    /// The policy store (compiled rules, status).
    store: Arc<PolicyStore>,
    /// `sekisho_update_requests_total{zone,result}`.
    total: IntCounterVec,
    /// Refused peers already logged.
    refused_logged: Mutex<HashSet<IpAddr>>,
}

/// A change ready to commit.
struct Prepared {
    /// The new version.
    next: Arc<ZoneVersion>,
    /// Its journal entry.
    entry: JournalEntry,
    /// Removed records, for the compiled rules.
    removed: Vec<Record>,
    /// Added records and the new SOA, for the compiled rules.
    added: Vec<Record>,
}

impl Updates {
    /// The UPDATE side for `primary`'s zones, publishing through `store`; `None`
    /// when no zone has `allow-update`.
    pub fn new(
        primary: Arc<Primary>,
        store: Arc<PolicyStore>,
        registry: &prometheus::Registry,
    ) -> Result<Option<Arc<Updates>>, prometheus::Error> {
        if !primary.zones().iter().any(|z| z.takes_updates()) {
            return Ok(None);
        }
        let total = IntCounterVec::new(
            Opts::new(
                UPDATE_TOTAL,
                "DNS UPDATE requests received, by zone (\"unknown\" for others) and result.",
            ),
            &["zone", "result"],
        )?;
        registry.register(Box::new(total.clone()))?;
        Ok(Some(Arc::new(Updates {
            primary,
            store,
            total,
            refused_logged: Mutex::new(HashSet::new()),
        })))
    }

    /// Counts a request.
    fn count(&self, zone: &str, result: &str) {
        self.total.with_label_values(&[zone, result]).inc();
    }

    /// Answers an UPDATE from `client`; `None` means send nothing.
    pub async fn answer(&self, packet: &[u8], client: SocketAddr) -> Option<Vec<u8>> {
        let now = unix_now();
        let req = match update::parse_update(packet, &self.primary.keys(), now) {
            Ok(r) => r,
            Err(e) => {
                self.count("unknown", e.as_metrics_label());
                tracing::info!(peer = %client, error = %e, "UPDATE rejected");
                return update::error_response(packet, &e, &self.primary.keys(), now);
            }
        };
        let reply = |req: &UpdateRequest, rcode| update::respond(req, rcode, unix_now()).ok();
        let Some(zone) = self.primary.zone(&req.zone) else {
            self.count("unknown", "notauth");
            return reply(&req, ResponseCode::NotAuth);
        };
        if !zone.allows_update(client.ip(), req.key()) {
            self.count(&zone.label, "refused");
            self.log_refused(client, &zone);
            return reply(&req, ResponseCode::Refused);
        }
        let started = Instant::now();
        let _one_at_a_time = self.store.exclusive().await;
        let (Some(current), Some(rules)) = (zone.current(), self.store.zone_rules(&zone.name))
        else {
            self.count(&zone.label, "not_loaded");
            return reply(&req, ResponseCode::ServFail);
        };
        let (z, prereqs, updates) = (zone.clone(), req.prerequisites.clone(), req.updates.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            let prepared = prepare(&z, &current, &prereqs, &updates)?;
            let Some(p) = prepared else {
                return Ok(None);
            };
            if let Err(e) = z.commit(p.next.clone(), Some(p.entry), true) {
                tracing::error!(zone = %z.label, error = %e, "UPDATE not applied: the journal could not be written");
                return Err(ResponseCode::ServFail);
            }
            // The compiled rules follow by the path an incoming IXFR takes.
            let (compiled, warnings) = rules.apply_delta(&p.removed, &p.added);
            Ok(Some((p.next, compiled, warnings.len(), p.removed.len(), p.added.len() - 1)))
        })
        .await
        .unwrap_or(Err(ResponseCode::ServFail));
        match prepared {
            Err(rcode) => {
                self.count(&zone.label, rcode_label(rcode));
                tracing::info!(zone = %zone.label, peer = %client, rcode = %rcode, "UPDATE not applied");
                reply(&req, rcode)
            }
            Ok(None) => {
                self.count(&zone.label, "unchanged");
                tracing::info!(zone = %zone.label, peer = %client, "UPDATE changed nothing; serial kept");
                reply(&req, ResponseCode::NoError)
            }
            Ok(Some((next, compiled, skipped, removed, added))) => {
                let count = compiled.counts().total();
                let serial = next.serial.get();
                let at = unix_now();
                self.store.install(Arc::new(compiled), |st| {
                    st.serial = Some(serial);
                    st.rules = count;
                    st.last_load = Some(at);
                    st.load_seconds = Some(started.elapsed().as_secs_f64());
                    st.last_error = None;
                });
                self.count(&zone.label, "success");
                tracing::info!(
                    zone = %zone.label,
                    peer = %client,
                    key = %req.key().map(|k| k.name.to_ascii()).unwrap_or_default(),
                    serial,
                    removed,
                    added,
                    skipped,
                    rules = count,
                    seconds = started.elapsed().as_secs_f64(),
                    "policy zone updated (DNS UPDATE), journalled and live"
                );
                reply(&req, ResponseCode::NoError)
            }
        }
    }

    /// Logs a refused UPDATE at WARN once per peer.
    fn log_refused(&self, peer: SocketAddr, zone: &Served) {
        if first_refusal(&self.refused_logged, peer.ip()) {
            tracing::warn!(%peer, zone = %zone.label, "UPDATE refused: not in allow-update (further ones from this peer are only counted)");
        } else {
            tracing::debug!(%peer, zone = %zone.label, "UPDATE refused");
        }
    }

    /// Starts, in `tasks`, one task per zone with `allow-update` that writes its
    /// file after changes (coalesced), and once more when `stop` turns true; the
    /// daemon waits for `tasks` when it stops, so a clean stop leaves the files
    /// up to date.
    pub fn spawn_writers(
        self: &Arc<Self>,
        stop: &watch::Receiver<bool>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        for zone in self.primary.zones().iter().filter(|z| z.takes_updates()) {
            let span = tracing::info_span!("zone_file_writer", zone = %zone.label);
            tasks.spawn(tracing::Instrument::instrument(
                self.clone().write_loop(zone.clone(), stop.clone()),
                span,
            ));
        }
    }

    /// Waits for new versions of `zone` and writes its file once changes stop coming.
    async fn write_loop(self: Arc<Self>, zone: Arc<Served>, mut stop: watch::Receiver<bool>) {
        let mut changed = zone.changed.subscribe();
        loop {
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = stop.changed() => {
                    zone.sync_file().await;
                    return;
                }
            }
            let first = Instant::now();
            loop {
                let left = MAX_DELAY.saturating_sub(first.elapsed());
                match tokio::time::timeout(QUIET.min(left), changed.changed()).await {
                    Ok(Ok(())) if !left.is_zero() => continue,
                    Ok(Err(_)) => return,
                    _ => break,
                }
            }
            changed.borrow_and_update();
            zone.sync_file().await;
            self.recompile_if_large(&zone).await;
        }
    }

    /// Rebuilds the zone's compiled rules from its file once their incremental
    /// overlay has grown large (as the secondary does after many IXFRs).
    async fn recompile_if_large(&self, zone: &Served) {
        let Some(rules) = self.store.zone_rules(&zone.name) else {
            return;
        };
        let Some(path) = zone.file.clone() else {
            return;
        };
        if rules.overlay_len() <= RULES_RECOMPILE {
            return;
        }
        let _guard = self.store.exclusive().await;
        let settings = rules.settings().clone();
        let started = Instant::now();
        let loaded =
            tokio::task::spawn_blocking(move || sekisho_policy::load_file(settings, &path)).await;
        let live = self.store.zone_rules(&zone.name).and_then(|r| r.serial());
        match loaded {
            Ok(Ok((fresh, _))) if fresh.serial() == live => {
                self.store.install(Arc::new(fresh), |_| {});
                tracing::info!(zone = %zone.label, seconds = started.elapsed().as_secs_f64(), "policy zone recompiled from its file (incremental overlay was large)");
            }
            Ok(Ok(_)) => {} // changed again meanwhile: the next write tries again
            Ok(Err(e)) => {
                tracing::warn!(zone = %zone.label, error = %e, "recompiling from the zone file failed; the incremental version stays")
            }
            Err(e) => tracing::warn!(zone = %zone.label, error = %e, "recompile thread failed"),
        }
    }
}

impl Primary {
    /// Writes zone `name`'s file now if it lags the served version (a zone changed
    /// by UPDATE); the store calls this before it reads the file.
    pub async fn write_pending(&self, name: &Name) {
        if let Some(zone) = self.zone(name).filter(|z| z.takes_updates()) {
            zone.sync_file().await;
        }
    }
}

impl Served {
    /// Writes the current version to the zone file unless the file already holds
    /// it; compacts a version whose overlay grew large.
    pub(crate) async fn sync_file(self: &Arc<Self>) {
        let _one_writer = self.writing.lock().await;
        let Some(current) = self.current() else {
            return;
        };
        if *self.written.lock().unwrap_or_else(|p| p.into_inner()) == Some(current.serial) {
            return;
        }
        let zone = self.clone();
        let started = Instant::now();
        let done = tokio::task::spawn_blocking(move || {
            let n = zone.write_file(&current)?;
            *zone.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(current.serial);
            if current.overlay_len() > VERSION_COMPACT {
                let compact = Arc::new(current.compact());
                let mut data = zone.data.lock().unwrap_or_else(|p| p.into_inner());
                if data
                    .current
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(c, &current))
                {
                    data.current = Some(compact);
                }
            }
            Ok::<_, String>((n, current.serial))
        })
        .await;
        match done {
            Ok(Ok((records, serial))) => tracing::info!(
                zone = %self.label,
                file = %self.file.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                serial = serial.get(),
                records,
                seconds = started.elapsed().as_secs_f64(),
                "zone file written with the changes made by UPDATE"
            ),
            Ok(Err(e)) => {
                tracing::error!(zone = %self.label, error = %e, "zone file not written; the changes are in the journal and are applied to the file at the next start")
            }
            Err(e) => tracing::error!(zone = %self.label, error = %e, "zone file writer failed"),
        }
    }
}

/// A bounded metric label for an UPDATE's RCODE.
fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::FormErr => "formerr",
        ResponseCode::ServFail => "servfail",
        ResponseCode::NXDomain => "nxdomain",
        ResponseCode::YXDomain => "yxdomain",
        ResponseCode::YXRRSet => "yxrrset",
        ResponseCode::NXRRSet => "nxrrset",
        ResponseCode::NotZone => "notzone",
        ResponseCode::Refused => "refused",
        _ => "other",
    }
}

/// Whether `t` is a meta type that never sits in a zone (RFC 2136 section 3.4.1.3).
fn is_meta(t: RecordType) -> bool {
    // OPT, and the range RFC 6895 section 3.1 reserves for QTYPEs and meta-TYPEs
    // (TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY among them).
    let v = u16::from(t);
    v == 41 || (128..=255).contains(&v)
}

/// The uncompressed wire form of `name`.
fn wire_name(name: &Name) -> Result<Vec<u8>, ResponseCode> {
    name.to_bytes().map_err(|_| ResponseCode::FormErr)
}

/// `r` with class IN, encoded (update records carry ANY or NONE).
fn encode_in(r: &Record) -> Result<Box<[u8]>, ResponseCode> {
    let mut r = r.clone();
    r.dns_class = DNSClass::IN;
    serve::encode_record(&r)
        .map(Vec::into_boxed_slice)
        .map_err(|_| ResponseCode::FormErr)
}

/// Checks the prerequisites, applies the updates to `current` and builds the
/// next version; `Ok(None)` when nothing changes.
fn prepare(
    zone: &Served,
    current: &ZoneVersion,
    prereqs: &[Record],
    updates: &[Record],
) -> Result<Option<Prepared>, ResponseCode> {
    check_prerequisites(zone, current, prereqs)?;
    prescan(zone, updates)?;
    let mut w = Working::new(current);
    let apex = wire_name(&zone.name)?;
    for u in updates {
        let owner = wire_name(&u.name)?;
        let at_apex = same_owner(&owner, &apex);
        let t = u.record_type();
        match u.dns_class {
            DNSClass::IN => {
                if t == RecordType::SOA {
                    continue; // the serial is ours to step
                }
                let rr = encode_in(u)?;
                let here = w.owner_records(&owner);
                let cname = u16::from(RecordType::CNAME);
                let has_cname = here.iter().any(|r| type_of(r) == Some(cname));
                let has_other = here.iter().any(|r| type_of(r) != Some(cname));
                // RFC 2136 section 3.4.2.2: CNAME and other data do not mix.
                if (t == RecordType::CNAME && has_other) || (t != RecordType::CNAME && has_cname) {
                    continue;
                }
                if t == RecordType::CNAME {
                    for r in here.iter().filter(|r| identity(r) != identity(&rr)) {
                        w.set(r, None);
                    }
                }
                w.set(&rr, Some(rr.clone()));
            }
            DNSClass::ANY => {
                for r in w.owner_records(&owner) {
                    let rt = type_of(&r).map(RecordType::from);
                    let keep_apex = at_apex && matches!(rt, Some(RecordType::SOA | RecordType::NS));
                    if !keep_apex && (t == RecordType::ANY || rt == Some(t)) {
                        w.set(&r, None);
                    }
                }
            }
            DNSClass::NONE => {
                if t == RecordType::SOA {
                    continue;
                }
                let rr = encode_in(u)?;
                if at_apex && t == RecordType::NS {
                    let ns = u16::from(RecordType::NS);
                    let left = w
                        .owner_records(&owner)
                        .iter()
                        .filter(|r| type_of(r) == Some(ns))
                        .count();
                    if left <= 1 {
                        continue; // the last apex NS stays
                    }
                }
                if let Some(held) = w.get(&rr) {
                    w.set(&held, None);
                }
            }
            _ => return Err(ResponseCode::FormErr),
        }
    }
    let (removed, added) = w.changes();
    if removed.is_empty() && added.is_empty() {
        return Ok(None);
    }
    // RFC 1982 addition; BIND's increment skips 0.
    let mut serial = current.serial.add(1).unwrap_or(current.serial);
    if serial.get() == 0 {
        serial = Serial(1);
    }
    let mut soa = current.soa.to_vec();
    // The SOA is uncompressed: its RDATA ends with SERIAL REFRESH RETRY EXPIRE MINIMUM.
    let at = soa.len().checked_sub(20).ok_or(ResponseCode::ServFail)?;
    soa[at..at + 4].copy_from_slice(&serial.get().to_be_bytes());
    let soa_record = decode(&soa).ok_or(ResponseCode::ServFail)?;
    let decode_all = |list: &[Box<[u8]>]| {
        list.iter()
            .map(|r| decode(r).ok_or(ResponseCode::ServFail))
            .collect::<Result<Vec<_>, _>>()
    };
    let removed_records = decode_all(&removed)?;
    let mut added_records = decode_all(&added)?;
    added_records.push(soa_record);
    let next = Arc::new(current.with_changes(serial, soa.into_boxed_slice(), &removed, &added));
    let entry = JournalEntry::from_changes(current, &next, removed, added);
    Ok(Some(Prepared {
        next,
        entry,
        removed: removed_records,
        added: added_records,
    }))
}

/// RFC 2136 section 3.2.
fn check_prerequisites(
    zone: &Served,
    current: &ZoneVersion,
    prereqs: &[Record],
) -> Result<(), ResponseCode> {
    let apex = wire_name(&zone.name)?;
    // Value-dependent prerequisites, gathered by RRset and compared at the end.
    let mut wanted: HashMap<(Vec<u8>, u16), HashSet<Vec<u8>>> = HashMap::new();
    for p in prereqs {
        if !zone.name.zone_of(&p.name) {
            return Err(ResponseCode::NotZone);
        }
        let owner = wire_name(&p.name)?;
        let t = p.record_type();
        let empty = matches!(p.data, RData::Update0(_));
        let held = || current.owner_records(&owner).collect::<Vec<_>>();
        let in_use = || same_owner(&owner, &apex) || !held().is_empty();
        let rrset = || {
            (same_owner(&owner, &apex) && t == RecordType::SOA)
                || held().iter().any(|r| type_of(r) == Some(u16::from(t)))
        };
        match p.dns_class {
            DNSClass::ANY | DNSClass::NONE if p.ttl != 0 || !empty => {
                return Err(ResponseCode::FormErr)
            }
            DNSClass::ANY if t == RecordType::ANY && !in_use() => {
                return Err(ResponseCode::NXDomain)
            }
            DNSClass::ANY if t != RecordType::ANY && !rrset() => return Err(ResponseCode::NXRRSet),
            DNSClass::NONE if t == RecordType::ANY && in_use() => {
                return Err(ResponseCode::YXDomain)
            }
            DNSClass::NONE if t != RecordType::ANY && rrset() => return Err(ResponseCode::YXRRSet),
            DNSClass::ANY | DNSClass::NONE => {}
            DNSClass::IN if p.ttl != 0 || empty => return Err(ResponseCode::FormErr),
            DNSClass::IN => {
                let key = (owner.to_ascii_lowercase(), u16::from(t));
                wanted
                    .entry(key)
                    .or_default()
                    .insert(identity(&encode_in(p)?));
            }
            _ => return Err(ResponseCode::FormErr),
        }
    }
    for ((owner, t), want) in wanted {
        let have: HashSet<Vec<u8>> = current
            .owner_records(&owner)
            .filter(|r| type_of(r) == Some(t))
            .map(identity)
            .collect();
        if have != want {
            return Err(ResponseCode::NXRRSet);
        }
    }
    Ok(())
}

/// RFC 2136 section 3.4.1: the update section is checked whole before anything changes.
fn prescan(zone: &Served, updates: &[Record]) -> Result<(), ResponseCode> {
    for u in updates {
        if !zone.name.zone_of(&u.name) {
            return Err(ResponseCode::NotZone);
        }
        let t = u.record_type();
        let empty = matches!(u.data, RData::Update0(_));
        let ok = match u.dns_class {
            DNSClass::IN => !is_meta(t) && !empty,
            DNSClass::ANY => u.ttl == 0 && empty && (t == RecordType::ANY || !is_meta(t)),
            DNSClass::NONE => u.ttl == 0 && !is_meta(t) && !empty,
            _ => false,
        };
        if !ok {
            return Err(ResponseCode::FormErr);
        }
    }
    Ok(())
}

/// Encoded records.
type Records = Vec<Box<[u8]>>;

/// One touched record: as `current` holds it, and as it is now (`None`: absent).
type Touched = (Option<Box<[u8]>>, Option<Box<[u8]>>);

/// The records one UPDATE touches, as they were and as they are now.
struct Working<'a> {
    /// The version the UPDATE applies to.
    current: &'a ZoneVersion,
    /// By record identity: (held in `current`, held now).
    state: HashMap<Vec<u8>, Touched>,
    /// Identities in the order they were first touched.
    order: Vec<Vec<u8>>,
    /// Identities touched, by lower-cased owner.
    by_owner: HashMap<Vec<u8>, Vec<Vec<u8>>>,
}

impl<'a> Working<'a> {
    /// Nothing touched yet.
    fn new(current: &'a ZoneVersion) -> Working<'a> {
        Working {
            current,
            state: HashMap::new(),
            order: Vec::new(),
            by_owner: HashMap::new(),
        }
    }

    /// The record held now that is the same record as `rr`.
    fn get(&self, rr: &[u8]) -> Option<Box<[u8]>> {
        match self.state.get(&identity(rr)) {
            Some((_, now)) => now.clone(),
            None => self.current.find(rr).map(Box::from),
        }
    }

    /// Makes the record `rr` identifies be `now` (`None`: gone).
    fn set(&mut self, rr: &[u8], now: Option<Box<[u8]>>) {
        let id = identity(rr);
        if let Some(slot) = self.state.get_mut(&id) {
            slot.1 = now;
            return;
        }
        let held = self.current.find(rr).map(Box::from);
        self.state.insert(id.clone(), (held, now));
        self.by_owner
            .entry(owner_of(rr).to_ascii_lowercase())
            .or_default()
            .push(id.clone());
        self.order.push(id);
    }

    /// The records of `owner` held now.
    fn owner_records(&self, owner: &[u8]) -> Vec<Box<[u8]>> {
        let mut out: Vec<Box<[u8]>> = self
            .current
            .owner_records(owner)
            .filter(|r| !self.state.contains_key(&identity(r)))
            .map(Box::from)
            .collect();
        if let Some(ids) = self.by_owner.get(&owner.to_ascii_lowercase()) {
            out.extend(
                ids.iter()
                    .filter_map(|id| self.state.get(id).and_then(|s| s.1.clone())),
            );
        }
        out
    }

    /// What changed: records removed from `current` and records added to it.
    fn changes(self) -> (Records, Records) {
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let mut state = self.state;
        for id in &self.order {
            if let Some((held, now)) = state.remove(id) {
                if held != now {
                    removed.extend(held);
                    added.extend(now);
                }
            }
        }
        (removed, added)
    }
}
