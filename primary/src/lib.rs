//! The primary role: Sekisho serves its policy zones to secondaries by AXFR
//! ([RFC 5936](https://www.rfc-editor.org/rfc/rfc5936)) and IXFR
//! ([RFC 1995](https://www.rfc-editor.org/rfc/rfc1995)) on its own listeners,
//! TSIG-signed ([RFC 8945](https://www.rfc-editor.org/rfc/rfc8945)), and sends NOTIFY
//! ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)) to `also-notify` on every change.
//!
//! ```text
//!  PolicyStore::load (file) ─┐ records of the new version    (VersionSink, sekisho-policy)
//!  secondary install ────────┤ (when Sekisho is itself a secondary; through the store)
//!                            ▼
//!  Primary::publish ── encode (blocking thread) ── diff with the previous version
//!  IXFR in / DNS UPDATE ──── the changes alone (version.rs; UPDATE: update.rs) ─┐
//!                            │                                                   ▼
//!                            ├─▶ Journal (bounded) ─▶ FILE.jnl on disk (jfile.rs, durable.rs)
//!                            ├─▶ current version (Arc, swapped under a short lock)
//!                            └─▶ wake the NOTIFY sender (notify.rs) ─▶ also-notify, retried
//!
//!  listener ─▶ transfer layer in front of the query pipeline (qtype AXFR/IXFR, SOA at a served apex)
//!     ─▶ parse_request: drop responses; FORMERR; TSIG ─▶ NOTAUTH + BADKEY/BADSIG/BADTIME
//!     ─▶ zone served?            no ─▶ NOTAUTH
//!     ─▶ allow-transfer (address or key)? no ─▶ REFUSED (counted, logged once per peer)
//!     ─▶ TCP: AXFR = SOA, records, SOA; IXFR from a journalled serial = the differences;
//!             IXFR from the current serial (or newer) = the SOA alone; else AXFR-style
//!        UDP: IXFR = the SOA alone (RFC 1995 section 2: "use TCP"); AXFR = TC
//!     ─▶ each message signed (every one, not only each 100th) when the request was
//! ```
//!
//! Each secondary's last serial (from its IXFR requests; the served serial after an
//! AXFR) is kept per peer address for `sekishoctl zones`.
//!
//! A reload (`reconfig.rs`) adds and removes served zones and swaps each kept
//! zone's `allow-transfer`, `also-notify` and key, and the keys requests are
//! verified with, without re-reading or re-serving a zone.

mod durable;
mod jfile;
mod journal;
mod notify;
mod reconfig;
mod update;
mod version;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use prometheus::{IntCounterVec, Opts};
use sekisho_api::{JournalStatus, SecondaryStatus};
use sekisho_conf::Config;
use sekisho_xfr::serve::{self, MessageWriter, ServeError, XfrKind, XfrRequest};
use sekisho_xfr::{Delta, Serial, TsigKey};
use tokio::sync::{mpsc, watch};

pub use jfile::JournalFileError;
pub use journal::{Journal, JournalEntry, MAX_VERSIONS};
pub use reconfig::Reconfigured;
pub use update::{Updates, UPDATE_TOTAL};
pub use version::ZoneVersion;

/// Metric: transfer requests served, by zone, type and result.
pub const XFR_SERVED_TOTAL: &str = "sekisho_xfr_requests_total";
/// Metric: NOTIFY messages sent to secondaries, by zone and result.
pub const NOTIFY_SENT_TOTAL: &str = "sekisho_notify_sent_total";
/// Most distinct peers remembered (log-once and status); later ones are only counted.
const MAX_PEERS: usize = 4096;

/// What the TCP listener must do with a transfer request.
#[derive(Debug)]
pub enum Answer {
    /// One message (errors, refusals, UDP answers).
    One(Vec<u8>),
    /// Nothing (a response, or undecodable).
    Nothing,
    /// A transfer of several messages: run [`Primary::stream`].
    Stream(Box<Plan>),
}

/// A transfer ready to be written: the request and the data snapshot.
#[derive(Debug)]
pub struct Plan {
    /// The verified request.
    request: XfrRequest,
    /// What to send.
    body: Body,
}

/// The records a transfer sends.
#[derive(Debug)]
enum Body {
    /// SOA, every record, SOA.
    Full(Arc<ZoneVersion>),
    /// SOA(new), then per difference SOA(old) removed.. SOA(new) added.., SOA(new).
    Incremental(Arc<ZoneVersion>, Vec<Arc<JournalEntry>>),
    /// The current SOA alone (the client is current, or must use TCP).
    SoaOnly(Arc<ZoneVersion>),
}

impl Body {
    /// Metric label.
    fn label(&self) -> &'static str {
        match self {
            Body::Full(_) => "axfr",
            Body::Incremental(..) => "ixfr",
            Body::SoaOnly(_) => "up_to_date",
        }
    }
}

/// Per-zone data the transfers read.
#[derive(Debug, Default)]
struct ZoneData {
    /// The version served now (`None` until the zone first loads).
    current: Option<Arc<ZoneVersion>>,
    /// Differences leading to `current`.
    journal: Option<Journal>,
}

/// One served zone.
#[derive(Debug)]
struct Served {
    /// Zone apex.
    name: Name,
    /// Name as text (bounded metric label: from config).
    label: String,
    /// Who may transfer it and who is notified (swapped whole by a reload).
    access: Mutex<Arc<Access>>,
    /// Turned true when a reload stops serving the zone (its NOTIFY task ends).
    retired: watch::Sender<bool>,
    /// Journal bound in bytes.
    journal_size: usize,
    /// Current version and journal.
    data: Mutex<ZoneData>,
    /// Secondaries seen, by address.
    peers: Mutex<HashMap<IpAddr, SecondaryStatus>>,
    /// Bumped on every new version; the NOTIFY sender watches it.
    changed: watch::Sender<u64>,
    /// The zone file (resolved), if any: the journal is kept next to it.
    file: Option<std::path::PathBuf>,
    /// `allow-update` prefixes.
    allow_update: Vec<ipnet::IpNet>,
    /// `allow-update` key names.
    allow_update_keys: Vec<Name>,
    /// The journal on disk (touched by blocking threads only; held across a whole
    /// commit so disk and memory agree).
    jfile: Mutex<Option<jfile::JournalFile>>,
    /// The serial the zone file holds (a zone changed by UPDATE is behind until
    /// its file is written).
    written: Mutex<Option<Serial>>,
    /// Serialises writes of the zone file (background and before a reload).
    writing: tokio::sync::Mutex<()>,
}

/// The settings of a served zone that a reload swaps.
#[derive(Debug, PartialEq, Eq)]
struct Access {
    /// `allow-transfer` prefixes.
    allow: Vec<ipnet::IpNet>,
    /// `allow-transfer` key names.
    allow_keys: Vec<Name>,
    /// `also-notify` targets.
    also_notify: Vec<SocketAddr>,
    /// The zone's key, signing NOTIFYs.
    key: Option<TsigKey>,
}

impl Access {
    /// The settings of zone `z`, with its key from `config`.
    fn of(z: &sekisho_conf::PolicyZone, config: &Config) -> Access {
        Access {
            allow: z.allow_transfer.clone(),
            allow_keys: z.allow_transfer_keys.clone(),
            also_notify: z.also_notify.clone(),
            key: z.key.as_deref().and_then(|k| config.key(k)).map(tsig_key),
        }
    }
}

impl Served {
    /// Whether a request from `ip`, signed by `key`, may transfer the zone.
    fn allows(&self, ip: IpAddr, key: Option<&TsigKey>) -> bool {
        let access = self.access();
        sekisho_conf::allows(&access.allow, ip)
            || key.is_some_and(|k| access.allow_keys.contains(&k.name))
    }

    /// Its `allow-transfer`, `also-notify` and key now.
    fn access(&self) -> Arc<Access> {
        self.access
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records a request from `ip`.
    fn saw(&self, ip: IpAddr, serial: Option<u32>, what: &str) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= MAX_PEERS && !peers.contains_key(&ip) {
            return;
        }
        let e = peers.entry(ip).or_default();
        e.address = ip.to_string();
        if serial.is_some() {
            e.serial = serial;
        }
        e.last_seen = unix_now();
        e.last_request = what.to_owned();
    }

    /// Whether `ip`, or a request signed by `key`, may change the zone by UPDATE.
    fn allows_update(&self, ip: IpAddr, key: Option<&TsigKey>) -> bool {
        sekisho_conf::allows(&self.allow_update, ip)
            || key.is_some_and(|k| self.allow_update_keys.contains(&k.name))
    }

    /// Whether the zone takes UPDATEs (and so has its file written back).
    fn takes_updates(&self) -> bool {
        !self.allow_update.is_empty() || !self.allow_update_keys.is_empty()
    }

    /// The current version.
    fn current(&self) -> Option<Arc<ZoneVersion>> {
        self.data
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .clone()
    }
}

/// The primary role. See the module docs.
#[derive(Debug)]
pub struct Primary {
    /// Zones with `allow-transfer` or `also-notify` (replaced whole by a reload).
    zones: Mutex<Arc<Vec<Arc<Served>>>>,
    /// Every configured key, to verify signed requests (replaced whole by a reload).
    keys: Mutex<Arc<Vec<TsigKey>>>,
    /// Our listen addresses, to send NOTIFY from (secondaries check the source).
    listen: Vec<SocketAddr>,
    /// `sekisho_xfr_requests_total{zone,type,result}`.
    served_total: IntCounterVec,
    /// `sekisho_notify_sent_total{zone,result}`.
    notify_total: IntCounterVec,
    /// Refused peers already logged.
    refused_logged: Mutex<HashSet<IpAddr>>,
}

/// Whether `ip` is refused for the first time (bounded: past `MAX_PEERS` peers,
/// refusals are only counted): the WARN line is logged once per peer.
fn first_refusal(seen: &Mutex<HashSet<IpAddr>>, ip: IpAddr) -> bool {
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    seen.len() < MAX_PEERS && seen.insert(ip)
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A configured key in the xfr crate's form (the secret goes nowhere else).
fn tsig_key(key: &sekisho_conf::Key) -> TsigKey {
    let algorithm = match key.algorithm {
        sekisho_conf::TsigAlgorithm::HmacSha1 => sekisho_xfr::TsigAlgorithm::HmacSha1,
        sekisho_conf::TsigAlgorithm::HmacSha256 => sekisho_xfr::TsigAlgorithm::HmacSha256,
        sekisho_conf::TsigAlgorithm::HmacSha384 => sekisho_xfr::TsigAlgorithm::HmacSha384,
        sekisho_conf::TsigAlgorithm::HmacSha512 => sekisho_xfr::TsigAlgorithm::HmacSha512,
    };
    TsigKey::new(key.name.clone(), algorithm, key.secret.as_bytes().to_vec())
}

impl Primary {
    /// The primary role for `config`'s served zones, its metrics registered in `registry`.
    pub fn new(
        config: &Config,
        registry: &prometheus::Registry,
    ) -> Result<Arc<Primary>, prometheus::Error> {
        let served_total = IntCounterVec::new(
            Opts::new(
                XFR_SERVED_TOTAL,
                "Zone transfer requests received for served policy zones, by zone (\"unknown\" \
                 for others), type (axfr, ixfr, soa) and result.",
            ),
            &["zone", "type", "result"],
        )?;
        registry.register(Box::new(served_total.clone()))?;
        let notify_total = IntCounterVec::new(
            Opts::new(
                NOTIFY_SENT_TOTAL,
                "NOTIFY messages sent to also-notify secondaries, by zone and result.",
            ),
            &["zone", "result"],
        )?;
        registry.register(Box::new(notify_total.clone()))?;
        let zones = config
            .response_policy
            .zones
            .iter()
            .filter(|z| z.is_served())
            .map(|z| Served::new(z, config))
            .collect();
        Ok(Arc::new(Primary {
            zones: Mutex::new(Arc::new(zones)),
            keys: Mutex::new(Arc::new(config.keys.iter().map(tsig_key).collect())),
            listen: config.server.listen.clone(),
            served_total,
            notify_total,
            refused_logged: Mutex::new(HashSet::new()),
        }))
    }

    /// The served zone called `name`.
    fn zone(&self, name: &Name) -> Option<Arc<Served>> {
        self.zones().iter().find(|z| z.name == *name).cloned()
    }

    /// The served zones now (a snapshot: a reload replaces the list).
    fn zones(&self) -> Arc<Vec<Arc<Served>>> {
        self.zones.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The configured keys now (a snapshot: a reload replaces them).
    fn keys(&self) -> Arc<Vec<TsigKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether zone `name` is served (its records must be captured on load).
    pub fn serves(&self, name: &Name) -> bool {
        self.zone(name).is_some()
    }

    /// Start-up, before the first policy load: opens each served zone's journal
    /// file, brings a zone file that lags its journal up to date, and keeps the
    /// journal for IXFR (see `durable.rs`).
    pub async fn recover(&self) {
        self.recover_where(|_| true).await;
    }

    /// After a reload, before the load that follows it: [`Primary::recover`]
    /// for the zones it started serving (`Reconfigured::added`), so that their
    /// journal is on disk from their first version, as at start-up.
    pub async fn recover_added(&self, added: &[String]) {
        self.recover_where(|z| added.contains(&z.label)).await;
    }

    /// [`Primary::recover`] for the served zones `pick` chooses.
    async fn recover_where(&self, pick: impl Fn(&Served) -> bool) {
        for zone in self.zones().iter().filter(|z| pick(z)) {
            let z = zone.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || z.recover()).await {
                tracing::error!(zone = %zone.label, error = %e, "journal recovery failed");
            }
        }
    }

    // ----- new versions ------------------------------------------------------------------

    /// Publishes a new version of zone `name` from its records (the SOA among them);
    /// the encoding and the difference run on a blocking thread.
    pub async fn publish(&self, name: &Name, records: Arc<Vec<Record>>) {
        let Some(zone) = self.zone(name) else {
            return;
        };
        let label = zone.label.clone();
        let done = tokio::task::spawn_blocking(move || publish_blocking(&zone, &records)).await;
        match done {
            Ok(Ok(summary)) => tracing::info!(zone = %label, "{summary}"),
            Ok(Err(e)) => {
                tracing::error!(zone = %label, error = %e, "served zone not updated; secondaries keep the previous version")
            }
            Err(e) => tracing::error!(zone = %label, error = %e, "served zone update failed"),
        }
    }

    /// Publishes zone `name` as just loaded from `path` with `serial`. The file is read
    /// a second time here (the compiler keeps no records): when it no longer has
    /// `serial` (edited again meanwhile), nothing is published and the next reload
    /// catches up, so a served version always matches an enforced one.
    pub async fn publish_file(&self, name: &Name, path: std::path::PathBuf, serial: u32) {
        let Some(zone) = self.zone(name) else {
            return;
        };
        let label = zone.label.clone();
        let done = tokio::task::spawn_blocking(move || {
            let reader = sekisho_zonefile::ZoneReader::open(
                &path,
                sekisho_zonefile::ParseOptions::with_origin(zone.name.clone()),
            )
            .map_err(|e| e.to_string())?;
            let mut records = Vec::new();
            for r in reader {
                match r {
                    Ok(rec) => records.push(rec),
                    Err(e) if e.is_fatal() => return Err(e.to_string()),
                    Err(_) => {} // skipped by the load too, and reported there
                }
            }
            let found = records.iter().find_map(|r| match &r.data {
                RData::SOA(soa) if r.name == zone.name => Some(soa.serial),
                _ => None,
            });
            if found != Some(serial) {
                return Err(format!(
                    "{} changed after the load (serial {found:?}, loaded {serial}); served at the next reload",
                    path.display()
                ));
            }
            let summary = publish_blocking(&zone, &records)?;
            *zone.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(Serial(serial));
            Ok(summary)
        })
        .await;
        match done {
            Ok(Ok(summary)) => tracing::info!(zone = %label, "{summary}"),
            Ok(Err(e)) => {
                tracing::error!(zone = %label, error = %e, "served zone not updated; secondaries keep the previous version")
            }
            Err(e) => tracing::error!(zone = %label, error = %e, "served zone update failed"),
        }
    }

    /// Publishes the version reached by applying IXFR `deltas` (Sekisho as a secondary)
    /// to the current one; `soa` is the new SOA. Without a current version nothing
    /// can be applied and the next full transfer publishes the zone.
    pub async fn publish_deltas(&self, name: &Name, deltas: &[Delta], soa: &Record) {
        let Some(zone) = self.zone(name) else {
            return;
        };
        let Some(current) = zone.current() else {
            return;
        };
        let deltas = deltas.to_vec();
        let soa = soa.clone();
        let label = zone.label.clone();
        let done = tokio::task::spawn_blocking(move || {
            // The changes are known: the new version costs them, not the zone.
            let mut version = current;
            let mut summary = String::new();
            for (i, d) in deltas.iter().enumerate() {
                let removed: Vec<&Record> = d.removed.iter().filter(|r| r.record_type() != RecordType::SOA).collect();
                let added: Vec<&Record> = d.added.iter().filter(|r| r.record_type() != RecordType::SOA).collect();
                let new_soa = if i + 1 == deltas.len() {
                    soa.clone()
                } else {
                    d.added
                        .iter()
                        .find(|r| r.record_type() == RecordType::SOA)
                        .cloned()
                        .unwrap_or_else(|| soa.clone())
                };
                let (next, entry) = apply_changes(&version, &new_soa, &removed, &added)?;
                summary = format!(
                    "served zone now at serial {} ({} records; {} changes from serial {} journalled)",
                    next.serial.get(),
                    next.len(),
                    entry.changes(),
                    entry.from.get()
                );
                zone.commit(next.clone(), Some(entry), false)
                    .map_err(|e| e.to_string())?;
                version = next;
            }
            Ok::<_, String>(summary)
        })
        .await;
        match done {
            Ok(Ok(summary)) => tracing::info!(zone = %label, "{summary}"),
            Ok(Err(e)) => tracing::error!(zone = %label, error = %e, "served zone not updated"),
            Err(e) => tracing::error!(zone = %label, error = %e, "served zone update failed"),
        }
    }

    // ----- requests ----------------------------------------------------------------------

    /// Whether a query of `qtype` is for the primary role: AXFR and IXFR always; SOA
    /// at a served apex when the peer may transfer the zone or the query is signed
    /// (secondaries check the serial before they transfer; anyone else's SOA query
    /// stays on the resolver path).
    pub fn wants(&self, qtype: u16, packet: &[u8], client: IpAddr) -> bool {
        match RecordType::from(qtype) {
            RecordType::AXFR | RecordType::IXFR => true,
            RecordType::SOA if !self.zones().is_empty() => {
                match serve::parse_request(packet, &self.keys(), unix_now()) {
                    Ok(r) => self
                        .zone(&r.zone)
                        .is_some_and(|z| z.allows(client, r.key())),
                    Err(ServeError::Tsig(_)) => true,
                    Err(_) => false,
                }
            }
            _ => false,
        }
    }

    /// Answers a transfer or SOA request that arrived over UDP (always one message).
    pub fn answer_udp(&self, packet: &[u8], client: SocketAddr) -> Option<Vec<u8>> {
        match self.prepare(packet, client, false) {
            Answer::One(m) => Some(m),
            Answer::Nothing => None,
            Answer::Stream(plan) => {
                // Only IXFR reaches here: RFC 1995 section 2, "If the UDP reply does not
                // fit, the query is responded to with a single SOA record of the server's
                // current version to inform the client that a TCP query should be initiated."
                let v = match &plan.body {
                    Body::Full(v) | Body::Incremental(v, _) | Body::SoaOnly(v) => v.clone(),
                };
                let mut w = MessageWriter::new(&plan.request);
                let now = unix_now();
                w.push(&v.soa, now).ok()?;
                w.finish(now).ok()
            }
        }
    }

    /// Checks a request and decides what to send: one message, or a stream.
    pub fn prepare(&self, packet: &[u8], client: SocketAddr, tcp: bool) -> Answer {
        let now = unix_now();
        let keys = self.keys();
        let request = match serve::parse_request(packet, &keys, now) {
            Ok(r) => r,
            Err(e) => {
                self.count("unknown", "unknown", e.as_metrics_label());
                tracing::debug!(peer = %client, error = %e, "transfer request rejected");
                return match serve::error_response(packet, &e, &keys, now) {
                    Some(m) => Answer::One(m),
                    None => Answer::Nothing,
                };
            }
        };
        let kind = match &request.kind {
            XfrKind::Soa => "soa",
            XfrKind::Axfr => "axfr",
            XfrKind::Ixfr { .. } => "ixfr",
        };
        let one = |rcode| match serve::refusal(&request, rcode, now) {
            Ok(m) => Answer::One(m),
            Err(_) => Answer::Nothing,
        };
        let Some(zone) = self.zone(&request.zone) else {
            self.count("unknown", kind, "notauth");
            return one(ResponseCode::NotAuth);
        };
        if !zone.allows(client.ip(), request.key()) {
            self.count(&zone.label, kind, "refused");
            self.log_refused(client, &zone, kind);
            zone.saw(client.ip(), None, "refused");
            return one(ResponseCode::Refused);
        }
        let Some(current) = zone.current() else {
            self.count(&zone.label, kind, "not_loaded");
            return one(ResponseCode::ServFail);
        };
        if request.kind == XfrKind::Soa {
            self.count(&zone.label, kind, "success");
            zone.saw(client.ip(), None, "soa");
            let mut w = MessageWriter::new(&request);
            return match w.push(&current.soa, now).and_then(|_| w.finish(now)) {
                Ok(m) => Answer::One(m),
                Err(_) => Answer::Nothing,
            };
        }
        let body = match &request.kind {
            XfrKind::Soa => return Answer::Nothing, // answered above
            XfrKind::Axfr if !tcp => {
                // AXFR is not defined over UDP (RFC 5936 section 4.2): ask for TCP.
                self.count(&zone.label, kind, "udp");
                return match serve::truncated(&request, now) {
                    Ok(m) => Answer::One(m),
                    Err(_) => Answer::Nothing,
                };
            }
            XfrKind::Axfr => {
                zone.saw(client.ip(), Some(current.serial.get()), "axfr");
                Body::Full(current)
            }
            XfrKind::Ixfr { serial } => {
                zone.saw(client.ip(), Some(serial.get()), "ixfr");
                if *serial == current.serial || serial.is_newer_than(current.serial) {
                    Body::SoaOnly(current)
                } else {
                    let chain = zone
                        .data
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .journal
                        .as_ref()
                        .and_then(|j| j.chain_from(*serial, current.serial));
                    match chain {
                        Some(c) => Body::Incremental(current, c),
                        None => Body::Full(current),
                    }
                }
            }
        };
        self.count(&zone.label, kind, body.label());
        Answer::Stream(Box::new(Plan { request, body }))
    }

    /// Writes a planned transfer as messages into `tx` (the connection's writer),
    /// waiting for room between messages so a slow secondary holds one message, not
    /// the zone.
    pub async fn stream(&self, plan: Plan, peer: SocketAddr, tx: mpsc::Sender<Vec<u8>>) {
        let Plan { request, body } = plan;
        let started = std::time::Instant::now();
        let zone = request.zone.to_ascii();
        let kind = body.label();
        let mut out = Outbox::new(&request);
        let mut alive = true;
        match &body {
            Body::Full(v) => {
                out.push(&v.soa);
                let mut records = v.iter();
                loop {
                    let mut n = 0;
                    for r in records.by_ref().take(256) {
                        out.push(r);
                        n += 1;
                    }
                    if !out.flush(&tx).await {
                        alive = false;
                        break;
                    }
                    if n < 256 {
                        break;
                    }
                }
                out.push(&v.soa);
            }
            Body::Incremental(v, chain) => {
                // RFC 1995 section 4: new SOA, then per difference the old SOA, the
                // deletions, the new SOA, the additions; the new SOA again at the end.
                out.push(&v.soa);
                for e in chain {
                    out.push(&e.old_soa);
                    e.removed.iter().for_each(|r| out.push(r));
                    out.push(&e.new_soa);
                    e.added.iter().for_each(|r| out.push(r));
                    if !out.flush(&tx).await {
                        alive = false;
                        break;
                    }
                }
                out.push(&v.soa);
            }
            Body::SoaOnly(v) => out.push(&v.soa),
        }
        let (records, messages) = (out.records, out.messages + 1);
        let done = alive && out.finish(&tx).await;
        if done {
            // The secondary now holds what was sent (IXFR requests carry the old serial).
            let sent = match &body {
                Body::Full(v) | Body::Incremental(v, _) | Body::SoaOnly(v) => v.serial,
            };
            if let Some(z) = self.zone(&request.zone) {
                z.saw(peer.ip(), Some(sent.get()), kind);
            }
            tracing::info!(
                %zone,
                %peer,
                kind,
                records,
                messages,
                signed = request.key().is_some(),
                seconds = started.elapsed().as_secs_f64(),
                "zone transfer served"
            );
        } else {
            tracing::warn!(%zone, %peer, kind, "zone transfer cut short (connection closed or signing failed)");
        }
    }

    // ----- status ------------------------------------------------------------------------

    /// The secondaries seen for zone `name`, by address.
    pub fn secondaries(&self, name: &Name) -> Vec<SecondaryStatus> {
        let Some(zone) = self.zone(name) else {
            return Vec::new();
        };
        let mut v: Vec<SecondaryStatus> = zone
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.address.cmp(&b.address));
        v
    }

    /// The journal of zone `name`.
    pub fn journal_status(&self, name: &Name) -> Option<JournalStatus> {
        let zone = self.zone(name)?;
        let data = zone.data.lock().unwrap_or_else(|p| p.into_inner());
        let j = data.journal.as_ref()?;
        Some(JournalStatus {
            versions: j.len(),
            bytes: j.bytes(),
            oldest_serial: j.oldest().map(Serial::get),
        })
    }

    /// Counts a request.
    fn count(&self, zone: &str, kind: &str, result: &str) {
        self.served_total
            .with_label_values(&[zone, kind, result])
            .inc();
    }

    /// Logs a refused transfer at WARN once per peer.
    fn log_refused(&self, peer: SocketAddr, zone: &Served, kind: &str) {
        if first_refusal(&self.refused_logged, peer.ip()) {
            tracing::warn!(%peer, zone = %zone.label, kind, "zone transfer refused: not in allow-transfer (further ones from this peer are only counted)");
        } else {
            tracing::debug!(%peer, zone = %zone.label, kind, "zone transfer refused");
        }
    }
}

/// Messages of one transfer on their way to the connection's writer.
struct Outbox {
    /// Cuts and signs messages.
    writer: MessageWriter,
    /// Full messages not yet handed to the writer task.
    ready: Vec<Vec<u8>>,
    /// Records pushed.
    records: usize,
    /// Messages handed over.
    messages: usize,
    /// Signing time (one per transfer, as BIND does).
    now: u64,
    /// A message could not be signed.
    failed: bool,
}

impl Outbox {
    /// An outbox for the answer to `request`.
    fn new(request: &XfrRequest) -> Outbox {
        Outbox {
            writer: MessageWriter::new(request),
            ready: Vec::new(),
            records: 0,
            messages: 0,
            now: unix_now(),
            failed: false,
        }
    }

    /// Adds one encoded record.
    fn push(&mut self, rr: &[u8]) {
        self.records += 1;
        match self.writer.push(rr, self.now) {
            Ok(Some(m)) => self.ready.push(m),
            Ok(None) => {}
            Err(_) => self.failed = true,
        }
    }

    /// Hands the full messages over; false when the connection is gone.
    async fn flush(&mut self, tx: &mpsc::Sender<Vec<u8>>) -> bool {
        for m in self.ready.drain(..) {
            self.messages += 1;
            if tx.send(m).await.is_err() {
                return false;
            }
        }
        !self.failed
    }

    /// Sends the rest and the last message.
    async fn finish(mut self, tx: &mpsc::Sender<Vec<u8>>) -> bool {
        if !self.flush(tx).await {
            return false;
        }
        match self.writer.finish(self.now) {
            Ok(m) => tx.send(m).await.is_ok(),
            Err(_) => false,
        }
    }
}

/// Encodes `records` (SOA among them) and installs them as the new version.
fn publish_blocking(zone: &Served, records: &[Record]) -> Result<String, String> {
    let soa = records
        .iter()
        .find(|r| r.record_type() == RecordType::SOA && r.name == zone.name)
        .ok_or("no SOA at the apex")?;
    let mut encoded = Vec::with_capacity(records.len());
    for r in records
        .iter()
        .filter(|r| r.record_type() != RecordType::SOA)
    {
        match serve::encode_record(r) {
            Ok(w) => encoded.push(w.into_boxed_slice()),
            Err(e) => {
                tracing::warn!(zone = %zone.label, owner = %r.name, error = %e, "record not served: cannot encode")
            }
        }
    }
    install_version(zone, soa, encoded)
}

/// Makes `records` with `soa` the current version, journals the difference with the
/// previous one (time in proportion to the zone) and wakes the NOTIFY sender.
/// Returns a summary for the log.
fn install_version(zone: &Served, soa: &Record, records: Vec<Box<[u8]>>) -> Result<String, String> {
    let RData::SOA(rdata) = &soa.data else {
        return Err("SOA record without SOA data".into());
    };
    let soa_wire = serve::encode_record(soa)
        .map_err(|e| e.to_string())?
        .into_boxed_slice();
    let new = Arc::new(ZoneVersion::full(Serial(rdata.serial), soa_wire, records));
    let old = zone.current();
    // The difference is computed without the lock: transfers keep starting meanwhile.
    let entry = old.as_ref().map(|o| JournalEntry::between(o, &new));
    if let (Some(old), Some(e)) = (&old, &entry) {
        if old.serial == new.serial && e.changes() == 0 {
            return Ok(format!(
                "served zone unchanged at serial {}",
                new.serial.get()
            ));
        }
    }
    let summary = match &entry {
        Some(e) => format!(
            "served zone now at serial {} ({} records; {} changes from serial {} journalled)",
            new.serial.get(),
            new.len(),
            e.changes(),
            e.from.get()
        ),
        None => format!(
            "served zone now at serial {} ({} records)",
            new.serial.get(),
            new.len()
        ),
    };
    zone.commit(new.clone(), entry, false)
        .map_err(|e| e.to_string())?;
    if zone.takes_updates() {
        // The first UPDATE must not pay for the index of a million records.
        new.prepare_index();
    }
    Ok(summary)
}

/// The version after `removed` and `added` (hickory records, SOA excluded) with
/// `soa` as its SOA, and its journal entry. Records to remove that the version
/// does not hold are skipped, records to add that it holds with the same TTL too
/// (an IXFR from a primary that journals differently must not break the chain);
/// a TTL change is a removal plus an addition. Time in proportion to the changes.
fn apply_changes(
    current: &ZoneVersion,
    soa: &Record,
    removed: &[&Record],
    added: &[&Record],
) -> Result<(Arc<ZoneVersion>, JournalEntry), String> {
    let RData::SOA(rdata) = &soa.data else {
        return Err("SOA record without SOA data".into());
    };
    let encode = |r: &Record| {
        serve::encode_record(r)
            .map(Vec::into_boxed_slice)
            .map_err(|e| e.to_string())
    };
    let mut gone: Vec<Box<[u8]>> = Vec::new();
    let mut gone_set: HashSet<Box<[u8]>> = HashSet::new();
    let mut new: Vec<Box<[u8]>> = Vec::new();
    let mut new_set: HashSet<Vec<u8>> = HashSet::new();
    for r in removed {
        if let Some(held) = current.find(&encode(r)?) {
            if gone_set.insert(Box::from(held)) {
                gone.push(Box::from(held));
            }
        }
    }
    for r in added {
        let w = encode(r)?;
        if let Some(held) = current.find(&w) {
            if !gone_set.contains(held) {
                if *held == w[..] {
                    continue; // held as it is: nothing to do
                }
                // The same record with another TTL: replaced.
                gone_set.insert(Box::from(held));
                gone.push(Box::from(held));
            }
        }
        if new_set.insert(version::identity(&w)) {
            new.push(w);
        }
    }
    let soa_wire = encode(soa)?;
    let next = Arc::new(current.with_changes(Serial(rdata.serial), soa_wire, &gone, &new));
    let entry = JournalEntry::from_changes(current, &next, gone, new);
    Ok((next, entry))
}

/// The store tells the primary role of every new version of a zone it serves.
impl sekisho_policy::VersionSink for Primary {
    fn serves(&self, zone: &Name) -> bool {
        Primary::serves(self, zone)
    }

    fn loaded_file<'a>(
        &'a self,
        zone: &'a Name,
        file: std::path::PathBuf,
        serial: u32,
    ) -> sekisho_policy::SinkFuture<'a> {
        Box::pin(self.publish_file(zone, file, serial))
    }

    fn transferred<'a>(
        &'a self,
        zone: &'a Name,
        records: Arc<Vec<Record>>,
    ) -> sekisho_policy::SinkFuture<'a> {
        Box::pin(self.publish(zone, records))
    }

    fn patched<'a>(
        &'a self,
        zone: &'a Name,
        deltas: &'a [Delta],
        soa: &'a Record,
    ) -> sekisho_policy::SinkFuture<'a> {
        Box::pin(self.publish_deltas(zone, deltas, soa))
    }

    fn before_load<'a>(&'a self, zone: &'a Name) -> sekisho_policy::SinkFuture<'a> {
        Box::pin(self.write_pending(zone))
    }

    fn describe(&self, zone: &Name, status: &mut sekisho_policy::ZoneStatus) {
        status.secondaries = self.secondaries(zone);
        status.journal = self.journal_status(zone);
    }
}
