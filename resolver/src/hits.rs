//! Where a policy hit goes, and how each output shows the client.
//!
//! ```text
//!  pipeline rewrite ─▶ Outputs::hit ─┬─ main log: BIND's `rpz` line (target "rpz"), if the zone logs
//!                                    ├─ rpz-log: JSON or BIND record ─▶ queue ─▶ file (rotated) | syslog
//!                                    ├─ heavy hitters per zone: clients, names (`rpz top-clients|top-names`)
//!                                    └─ dnstap client-response: the answer with the policy (crate::dispatch)
//! ```
//!
//! Every output shows the client as the zone's `log-client-ip` says
//! (`none`, `masked`, `keyed-hash`, `full`; `logging.log-client-ip` for
//! zones that do not set it and for lines that belong to no zone, such as
//! the query log). The rule is applied here, once per hit, so no output can
//! forget it: a child-abuse list with `none` leaves no address in the log,
//! the records, dnstap or the top-clients table, while a malware list with
//! `keyed-hash` lets the operator follow one subscriber through a day.
//!
//! Nothing here waits: the record queue and dnstap drop (and count) what
//! does not fit, and the heavy-hitter tables are bounded whatever the
//! number of clients. Prometheus keeps totals only, never a client label.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use sekisho_conf::{
    ClientIpLog, Config, DnstapDestination, Logging, ResponsePolicy, RpzLog, RpzLogFormat,
};
use sekisho_dnstap::{Dnstap, Event, Kind, PolicyHit};
use sekisho_hitlog::{
    ClientPolicy, ClientView, Destination, HeavyHitters, HitLog, HitRecord, KeyRing, SyslogTarget,
    Top,
};
use sekisho_recursor::{Exchange, ExchangeFuture, Transport as RecursorTransport};
use sekisho_rpz::{Action, Hit, Trigger, TriggerKind};
use sekisho_upstream::{Observer, Transport as UpstreamTransport, UpstreamSpec};

use crate::metrics::Proto;

/// Records waiting for the writer thread; more are dropped and counted.
const RECORD_QUEUE: usize = 65_536;
/// dnstap frames waiting for the writer thread; more are dropped and counted.
const FRAME_QUEUE: usize = 65_536;
/// Heavy-hitter counters per time bucket and table.
const TOP_CAPACITY: usize = 512;
/// One heavy-hitter bucket covers this long...
const TOP_BUCKET: Duration = Duration::from_secs(300);
/// ...and this many are kept: 24 hours.
const TOP_BUCKETS: usize = 288;
/// Facility of syslog records: local0.
const SYSLOG_FACILITY: u8 = 16;

/// The client address policies in force, with each zone's heavy hitters;
/// swapped whole by a reload. The zones are the running ones: a reload
/// changes their policies but adds or removes none (that takes a restart).
#[derive(Debug)]
struct Privacy {
    /// `logging.log-client-ip` with its prefix lengths.
    default: ClientPolicy,
    /// Each running zone's policy and tables, by zone name.
    zones: HashMap<Name, ZoneOut>,
}

/// One policy zone's outputs.
#[derive(Debug, Clone)]
struct ZoneOut {
    /// Its `log-client-ip`.
    policy: ClientPolicy,
    /// Its heavy hitters.
    tops: Arc<ZoneTops>,
}

impl Privacy {
    /// The policies `config` asks for, with empty tables.
    fn of(config: &Config) -> Privacy {
        let l = &config.logging;
        Privacy {
            default: client_policy(l.log_client_ip, l),
            zones: config
                .response_policy
                .zones
                .iter()
                .map(|z| {
                    let out = ZoneOut {
                        policy: client_policy(z.log_client_ip, l),
                        tops: Arc::new(ZoneTops::new()),
                    };
                    (z.name.clone(), out)
                })
                .collect(),
        }
    }

    /// A reload: the zones of `running` (the policy zones in force after
    /// it) with the policies `config` gives them. A zone kept keeps its
    /// tables, but a zone whose policy changed starts its client table
    /// afresh, so a tightened policy shows nothing the old one allowed.
    fn reload(&self, config: &Config, running: &ResponsePolicy) -> Privacy {
        let l = &config.logging;
        let wanted: HashMap<&Name, ClientIpLog> = config
            .response_policy
            .zones
            .iter()
            .map(|z| (&z.name, z.log_client_ip))
            .collect();
        let zones = running
            .zones
            .iter()
            .map(|z| {
                let word = wanted.get(&z.name).copied().unwrap_or(z.log_client_ip);
                let policy = client_policy(word, l);
                let tops = match self.zones.get(&z.name) {
                    Some(out) if out.policy == policy => out.tops.clone(),
                    Some(out) => Arc::new(ZoneTops {
                        clients: ZoneTops::table(),
                        names: out.tops.names.clone(),
                    }),
                    None => Arc::new(ZoneTops::new()),
                };
                (z.name.clone(), ZoneOut { policy, tops })
            })
            .collect();
        Privacy {
            default: client_policy(l.log_client_ip, l),
            zones,
        }
    }

    /// The policy of `zone` (`None`: a line of no zone).
    fn policy(&self, zone: Option<&Name>) -> ClientPolicy {
        zone.and_then(|z| self.zones.get(z))
            .map_or(self.default, |z| z.policy)
    }
}

/// How strict a policy is: the lower, the less it shows.
fn strictness(policy: ClientPolicy) -> u8 {
    match policy {
        ClientPolicy::None => 0,
        ClientPolicy::KeyedHash => 1,
        ClientPolicy::Masked { .. } => 2,
        ClientPolicy::Full => 3,
    }
}

/// The hit outputs' policy for a `log-client-ip` word.
fn client_policy(word: ClientIpLog, l: &Logging) -> ClientPolicy {
    match word {
        ClientIpLog::None => ClientPolicy::None,
        ClientIpLog::Masked => ClientPolicy::Masked {
            v4: l.log_client_ipv4_prefix,
            v6: l.log_client_ipv6_prefix,
        },
        ClientIpLog::KeyedHash => ClientPolicy::KeyedHash,
        ClientIpLog::Full => ClientPolicy::Full,
    }
}

/// One zone's heavy hitters.
#[derive(Debug)]
struct ZoneTops {
    /// Clients as the zone's policy shows them (nothing under `none`).
    clients: Arc<HeavyHitters>,
    /// Query names that hit.
    names: Arc<HeavyHitters>,
}

impl ZoneTops {
    /// Empty tables.
    fn new() -> ZoneTops {
        ZoneTops {
            clients: ZoneTops::table(),
            names: ZoneTops::table(),
        }
    }

    /// One empty table.
    fn table() -> Arc<HeavyHitters> {
        Arc::new(HeavyHitters::new(TOP_CAPACITY, TOP_BUCKET, TOP_BUCKETS))
    }
}

/// The hit outputs of one daemon.
#[derive(Debug)]
pub struct Outputs {
    /// Keys of `keyed-hash` pseudonyms.
    keys: KeyRing,
    /// Who is shown how.
    privacy: ArcSwap<Privacy>,
    /// `rpz-log`, with its record format.
    log: Option<(HitLog, RpzLogFormat)>,
    /// dnstap, when a collector is configured.
    tap: Option<Dnstap>,
}

/// A hit, as the pipeline reports it once the answer is known.
#[derive(Debug)]
pub struct HitReport<'a> {
    /// The hit.
    pub hit: &'a Hit,
    /// The client's query name and type.
    pub qname: &'a Name,
    /// The client's query type.
    pub qtype: RecordType,
    /// The client (the PROXY or HTTP proxy's client when one is trusted).
    pub client: IpAddr,
    /// The transport the query came on.
    pub proto: Proto,
    /// The answer the policy made (`None`: DROP sends nothing, PASSTHRU the real answer).
    pub answer: Option<&'a [u8]>,
}

/// The recursor's exchanges with authorities, written to dnstap as
/// resolver-query and resolver-response frames when those are asked for.
/// The query frame is written when the query leaves, the response frame
/// when the answer comes (none on a timeout); our side's address is left
/// out (each query has a random port of its own).
#[derive(Debug)]
pub struct TappedExchange<E> {
    /// The exchange that does the work.
    inner: E,
    /// Where the frames go.
    tap: Dnstap,
}

impl<E: Exchange> TappedExchange<E> {
    /// `inner`, tapped when `outputs` write resolver frames (`Err(inner)`
    /// otherwise, to be used as it is).
    pub fn wrap(inner: E, outputs: &Outputs) -> Result<TappedExchange<E>, E> {
        match &outputs.tap {
            Some(tap) if tap.wants(Kind::ResolverQuery) || tap.wants(Kind::ResolverResponse) => {
                Ok(TappedExchange {
                    inner,
                    tap: tap.clone(),
                })
            }
            _ => Err(inner),
        }
    }
}

impl<E: Exchange> Exchange for TappedExchange<E> {
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        transport: RecursorTransport,
        timeout: Duration,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let sent = SystemTime::now();
            let mut event = Event {
                kind: Kind::ResolverQuery,
                transport: match transport {
                    RecursorTransport::Udp => sekisho_dnstap::Transport::Udp,
                    RecursorTransport::Tcp => sekisho_dnstap::Transport::Tcp,
                },
                query_address: None,
                response_address: server,
                query_time: Some(sent),
                response_time: None,
                query_zone: None,
                message: query,
                policy: None,
                extra: None,
            };
            self.tap.send(&event);
            let answer = self.inner.exchange(server, query, transport, timeout).await;
            if let Ok(bytes) = &answer {
                event.kind = Kind::ResolverResponse;
                event.response_time = Some(SystemTime::now());
                event.message = bytes;
                self.tap.send(&event);
            }
            answer
        })
    }
}

/// dnstap's forwarder-query and forwarder-response frames, as the upstream
/// crate's observer of every query sent to a forwarder.
#[derive(Debug)]
struct ForwarderTap(Dnstap);

impl ForwarderTap {
    /// A frame of `kind` for an exchange with `spec`'s server.
    fn send(&self, kind: Kind, spec: &UpstreamSpec, message: &[u8], sent: SystemTime) {
        if !self.0.wants(kind) {
            return;
        }
        let response = kind == Kind::ForwarderResponse;
        self.0.send(&Event {
            kind,
            transport: match spec.transport {
                UpstreamTransport::Udp => sekisho_dnstap::Transport::Udp,
                UpstreamTransport::Tcp => sekisho_dnstap::Transport::Tcp,
                UpstreamTransport::Tls => sekisho_dnstap::Transport::Dot,
                UpstreamTransport::Https => sekisho_dnstap::Transport::Doh,
            },
            query_address: None,
            response_address: spec.addr,
            query_time: Some(sent),
            response_time: response.then(SystemTime::now),
            query_zone: None,
            message,
            policy: None,
            extra: None,
        });
    }
}

impl Observer for ForwarderTap {
    fn query(&self, spec: &UpstreamSpec, query: &[u8], sent: SystemTime) {
        self.send(Kind::ForwarderQuery, spec, query, sent);
    }

    fn answer(&self, spec: &UpstreamSpec, _query: &[u8], answer: &[u8], sent: SystemTime) {
        self.send(Kind::ForwarderResponse, spec, answer, sent);
    }
}

/// What dnstap's client frames carry of the policy that decided an answer.
#[derive(Debug)]
pub struct PolicyNote {
    /// The hit, for the answer frame's `policy` (`None`: not wanted, or a
    /// would-be hit of a disabled zone).
    hit: Option<TapHit>,
    /// The client as the deciding zone's policy shows it.
    view: ClientView,
    /// Whether that policy is `full` (the client's port is shown too).
    full: bool,
}

/// A policy hit as dnstap's `Policy` field carries it.
#[derive(Debug)]
struct TapHit {
    /// The policy zone.
    zone: String,
    /// The rule's owner, wire format.
    rule: Vec<u8>,
    /// What matched.
    trigger: sekisho_dnstap::Trigger,
    /// What was done.
    action: sekisho_dnstap::Action,
    /// The name (wire) or address (bytes) that matched; a client address
    /// only as the zone's policy shows it.
    value: Vec<u8>,
}

/// dnstap's word for an RPZ trigger.
fn tap_trigger(kind: TriggerKind) -> sekisho_dnstap::Trigger {
    use sekisho_dnstap::Trigger as T;
    match kind {
        TriggerKind::Qname => T::Qname,
        TriggerKind::ClientIp => T::ClientIp,
        TriggerKind::ResponseIp => T::ResponseIp,
        TriggerKind::NsDname => T::NsName,
        TriggerKind::NsIp => T::NsIp,
    }
}

/// dnstap's word for an RPZ action (a CNAME rewrite is local data to it).
fn tap_action(action: &Action) -> sekisho_dnstap::Action {
    use sekisho_dnstap::Action as A;
    match action {
        Action::Nxdomain => A::Nxdomain,
        Action::Nodata => A::Nodata,
        Action::Passthru => A::Pass,
        Action::Drop => A::Drop,
        Action::TcpOnly => A::Truncate,
        Action::LocalData(_) | Action::Cname { .. } => A::LocalData,
    }
}

/// Why the outputs could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    /// `logging.log-client-key-file` could not be used.
    #[error("logging.log-client-key-file: {0}")]
    Key(#[from] sekisho_hitlog::KeyError),
    /// The dnstap writer thread could not be started.
    #[error("dnstap: {0}")]
    Dnstap(#[source] std::io::Error),
}

/// The dnstap output `config` asks for (`None`: no collector named). The
/// collector need not be there yet: the writer connects when it can.
fn dnstap(config: &Config) -> Result<Option<Dnstap>, OutputsError> {
    let Some(dest) = &config.dnstap.destination else {
        return Ok(None);
    };
    let destination = match dest {
        DnstapDestination::Unix(path) => sekisho_dnstap::Destination::Unix(path.clone()),
        DnstapDestination::Tcp(addr) => sekisho_dnstap::Destination::Tcp(*addr),
    };
    let kinds = config
        .dnstap
        .messages
        .iter()
        .filter_map(|m| Kind::from_word(m.as_str()))
        .collect();
    // The names `hostname.bind` and `version.bind` answer with.
    let chaos = crate::chaos::ChaosConfig::from_server(&config.server);
    sekisho_dnstap::Dnstap::start(sekisho_dnstap::Config {
        destination,
        identity: chaos.identity.into_bytes(),
        version: chaos.version.into_bytes(),
        kinds,
        queue: FRAME_QUEUE,
    })
    .map(Some)
    .map_err(OutputsError::Dnstap)
}

impl Outputs {
    /// Outputs for `config`: opens nothing that can fail at start except the
    /// key file (a missing log directory or syslog is a state the writer
    /// recovers from, not a reason to refuse to serve).
    pub fn build(config: &Config) -> Result<Outputs, OutputsError> {
        let l = &config.logging;
        let keys = match &l.log_client_key_file {
            Some(path) => KeyRing::from_file(path, l.log_client_key_rotate)?,
            None => KeyRing::random(l.log_client_key_rotate),
        };
        let log = l.rpz_log.as_ref().map(|dest| {
            let destination = match dest {
                RpzLog::File(path) => Destination::File {
                    path: path.clone(),
                    rotate_size: l.rotate_size,
                    rotate_keep: l.rotate_keep,
                    rotate_interval: l.rotate_interval,
                },
                RpzLog::Syslog => Destination::Syslog {
                    target: SyslogTarget::Unix(l.syslog_socket.clone()),
                    facility: SYSLOG_FACILITY,
                    app_name: "sekisho".into(),
                },
            };
            (HitLog::start(destination, RECORD_QUEUE), l.rpz_log_format)
        });
        Ok(Outputs {
            keys,
            privacy: ArcSwap::from_pointee(Privacy::of(config)),
            log,
            tap: dnstap(config)?,
        })
    }

    /// Outputs that only write the main log's line, masked as by default
    /// (tests and benches that build a pipeline by hand).
    pub fn main_log_only() -> Outputs {
        let config = Config::embedded_default();
        Outputs {
            keys: KeyRing::random(config.logging.log_client_key_rotate),
            privacy: ArcSwap::from_pointee(Privacy::of(&config)),
            log: None,
            tap: None,
        }
    }

    /// A reload: the client address policies of `config` from now on, for
    /// the policy zones of `running` (those in force after the reload).
    pub fn reconfigure(&self, config: &Config, running: &ResponsePolicy) {
        let privacy = self.privacy.load().reload(config, running);
        self.privacy.store(Arc::new(privacy));
    }

    /// The BIND-style client label of a line that belongs to no zone.
    pub fn label(&self, client: IpAddr) -> String {
        let policy = self.privacy.load().default;
        ClientView::of(policy, &self.keys, client, SystemTime::now()).bind_label()
    }

    /// Would-be hits in zones with `policy disabled`: BIND logs them,
    /// nothing else counts them. When no enabled zone decided the answer,
    /// dnstap shows the client as the strictest of these zones says
    /// (returned as a note without a policy; `None` when dnstap is off or
    /// there were none).
    pub fn disabled_hits(
        &self,
        hits: &[Hit],
        qname: &Name,
        qtype: RecordType,
        client: IpAddr,
    ) -> Option<PolicyNote> {
        let privacy = self.privacy.load();
        for hit in hits.iter().filter(|h| h.zone.settings().log) {
            let view = ClientView::of(
                privacy.policy(Some(hit.zone.name())),
                &self.keys,
                client,
                SystemTime::now(),
            );
            tracing::info!(target: "rpz", "client {} ({}): {}", view.bind_label(), qname_text(qname), hit.log_line(qname, qtype));
        }
        self.tap.as_ref()?;
        let strictest = hits
            .iter()
            .map(|h| privacy.policy(Some(h.zone.name())))
            .min_by_key(|p| strictness(*p))?;
        Some(PolicyNote {
            hit: None,
            view: ClientView::of(strictest, &self.keys, client, SystemTime::now()),
            full: strictest == ClientPolicy::Full,
        })
    }

    /// A hit that decided an answer: to every output. Returns what dnstap's
    /// client frames need of it (`None` when dnstap is off).
    pub fn hit(&self, report: &HitReport<'_>) -> Option<PolicyNote> {
        let hit = report.hit;
        let zone = hit.zone.name();
        let privacy = self.privacy.load();
        let out = privacy.zones.get(zone);
        let policy = out.map_or(privacy.default, |z| z.policy);
        let view = ClientView::of(policy, &self.keys, report.client, SystemTime::now());
        let detail = || hit.log_line(report.qname, report.qtype).to_string();
        let qname = qname_text(report.qname);
        if hit.zone.settings().log {
            tracing::info!(target: "rpz", "client {} ({}): {}", view.bind_label(), qname, detail());
        }
        if let Some((log, format)) = &self.log {
            let zone_text = trim_dot(zone.to_ascii());
            let rule = trim_dot(hit.owner.to_ascii());
            let qtype = report.qtype.to_string();
            let rcode = answer_rcode(report.answer);
            let ede = report.answer.and(hit.zone.settings().ede);
            let record = HitRecord {
                time: SystemTime::now(),
                zone: &zone_text,
                rule: &rule,
                trigger: hit.kind().as_str(),
                action: hit.action.as_str(),
                qname: &qname,
                qtype: &qtype,
                client: &view,
                transport: transport_word(report.proto),
                rcode,
                ede,
            };
            log.write(match format {
                RpzLogFormat::Json => record.to_json(),
                RpzLogFormat::Bind => record.bind_line(&detail()),
            });
        }
        if let Some(out) = out {
            let now = Instant::now();
            out.tops.names.record(&qname, now);
            if let Some(key) = view.json() {
                out.tops.clients.record(&key, now);
            }
        }
        let tap = self.tap.as_ref()?;
        let full = policy == ClientPolicy::Full;
        if !tap.wants(Kind::ClientResponse) {
            // The query frame needs only the view.
            return Some(PolicyNote {
                hit: None,
                view,
                full,
            });
        }
        let address_bytes = |address: &IpAddr| match address {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let value = match &hit.trigger {
            Trigger::Qname { name, .. } | Trigger::NsDname { ns: name, .. } => {
                name.to_bytes().unwrap_or_default()
            }
            // What matched a client-IP rule is the client: shown only as
            // the zone's policy shows the client.
            Trigger::ClientIp { .. } => view
                .address()
                .as_ref()
                .map(address_bytes)
                .unwrap_or_default(),
            Trigger::ResponseIp { address, .. } | Trigger::NsIp { address, .. } => {
                address_bytes(address)
            }
        };
        Some(PolicyNote {
            hit: Some(TapHit {
                zone: zone.to_ascii(),
                rule: hit.owner.to_bytes().unwrap_or_default(),
                trigger: tap_trigger(hit.kind()),
                action: tap_action(&hit.action),
                value,
            }),
            view,
            full,
        })
    }

    /// dnstap: the client's query and our answer (`None`: nothing sent) as
    /// two frames, written when the answer is known, so the client is shown
    /// as the policy that decided the answer says (the query frame of a name
    /// on a list whose zone shows no client carries no address either).
    /// `received` is when the query came; `local` the listener's address.
    #[allow(clippy::too_many_arguments)]
    pub fn tap_client(
        &self,
        query: &[u8],
        answer: Option<&[u8]>,
        client: SocketAddr,
        local: SocketAddr,
        proto: Proto,
        received: SystemTime,
        note: Option<&PolicyNote>,
    ) {
        let Some(tap) = &self.tap else { return };
        let wants_query = tap.wants(Kind::ClientQuery);
        let wants_answer = answer.is_some() && tap.wants(Kind::ClientResponse);
        if !wants_query && !wants_answer {
            return;
        }
        let own;
        let (view, full) = match note {
            Some(n) => (&n.view, n.full),
            None => {
                let policy = self.privacy.load().default;
                own = ClientView::of(policy, &self.keys, client.ip(), SystemTime::now());
                (&own, policy == ClientPolicy::Full)
            }
        };
        let query_address = view.address().map(|ip| {
            // The port says as much as the address: kept with the full address only.
            SocketAddr::new(ip, if full { client.port() } else { 0 })
        });
        let extra = match view {
            ClientView::Pseudonym(p) => Some(format!("client={p}")),
            _ => None,
        };
        let transport = match proto {
            Proto::Udp => sekisho_dnstap::Transport::Udp,
            Proto::Tcp => sekisho_dnstap::Transport::Tcp,
            Proto::Tls => sekisho_dnstap::Transport::Dot,
            Proto::Https => sekisho_dnstap::Transport::Doh,
        };
        let policy = note.and_then(|n| n.hit.as_ref()).map(|h| PolicyHit {
            zone: &h.zone,
            rule: &h.rule,
            trigger: h.trigger,
            action: h.action,
            value: &h.value,
        });
        let mut event = Event {
            kind: Kind::ClientQuery,
            transport,
            query_address,
            response_address: local,
            query_time: Some(received),
            response_time: None,
            query_zone: None,
            message: query,
            policy: None,
            extra: extra.as_deref().map(str::as_bytes),
        };
        if wants_query {
            tap.send(&event);
        }
        if let (true, Some(answer)) = (wants_answer, answer) {
            event.kind = Kind::ClientResponse;
            event.response_time = Some(SystemTime::now());
            event.message = answer;
            event.policy = policy;
            tap.send(&event);
        }
    }

    /// `rpz top-clients ZONE`: the clients with most hits in `zone` within
    /// `since`, as the zone's policy shows them (none under `none`).
    /// `None`: no such zone.
    pub fn top_clients(&self, zone: &Name, since: Duration, n: usize) -> Option<Vec<Top>> {
        let privacy = self.privacy.load();
        let out = privacy.zones.get(zone)?;
        if out.policy == ClientPolicy::None {
            return Some(Vec::new());
        }
        Some(out.tops.clients.top(since, n, Instant::now()))
    }

    /// `rpz top-names ZONE`: the query names with most hits in `zone`.
    pub fn top_names(&self, zone: &Name, since: Duration, n: usize) -> Option<Vec<Top>> {
        let out = self.privacy.load().zones.get(zone)?.tops.clone();
        Some(out.names.top(since, n, Instant::now()))
    }

    /// `sekishoctl reopen-logs` and SIGHUP: the record file is closed and
    /// opened again before the next record (logrotate's move-then-reopen).
    pub fn reopen(&self) {
        if let Some((log, _)) = &self.log {
            log.reopen();
        }
    }

    /// Records written and dropped so far (`None`: no `rpz-log`).
    pub fn record_counts(&self) -> Option<(u64, u64)> {
        self.log.as_ref().map(|(log, _)| {
            let s = log.stats();
            (s.written, s.dropped)
        })
    }

    /// dnstap frames sent and dropped so far (`None`: no dnstap).
    pub fn frame_counts(&self) -> Option<(u64, u64)> {
        self.tap.as_ref().map(|tap| {
            let s = tap.stats();
            (s.sent, s.dropped)
        })
    }

    /// The observer that writes dnstap's forwarder frames, when they are
    /// asked for.
    pub fn forwarder_observer(&self) -> Option<Arc<dyn Observer>> {
        let tap = self.tap.as_ref()?;
        if !tap.wants(Kind::ForwarderQuery) && !tap.wants(Kind::ForwarderResponse) {
            return None;
        }
        Some(Arc::new(ForwarderTap(tap.clone())))
    }

    /// The dnstap output, when a collector is configured.
    pub fn tap(&self) -> Option<&Dnstap> {
        self.tap.as_ref()
    }

    /// Writes what is queued, within `limit` (shutdown).
    pub fn shutdown(&self, limit: Duration) {
        if let Some((log, _)) = &self.log {
            log.shutdown(limit);
        }
        if let Some(tap) = &self.tap {
            tap.shutdown(limit);
        }
    }
}

/// The rcode of the answer the policy made (`"-"`: none: DROP, or PASSTHRU,
/// whose real answer is sent unchanged).
fn answer_rcode(answer: Option<&[u8]>) -> &'static str {
    match answer.and_then(|wire| wire.get(3)) {
        Some(&low) => crate::metrics::rcode_word(low & 0x0f),
        None => "-",
    }
}

/// The transport word of hit records.
pub fn transport_word(proto: Proto) -> &'static str {
    match proto {
        Proto::Udp => "udp",
        Proto::Tcp => "tcp",
        Proto::Tls => "dot",
        Proto::Https => "doh",
    }
}

/// A name as BIND's log shows it: no trailing dot, except the root.
fn trim_dot(text: String) -> String {
    if text.len() > 1 {
        text.trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The query name for log lines and records.
fn qname_text(name: &Name) -> String {
    trim_dot(name.to_ascii())
}
