//! Prometheus metrics: an explicit registry and pre-resolved handles.
//!
//! Names follow docs/operations.md and Prometheus rules: `sekisho_`
//! prefix, base units (seconds), `_total` counters. Labels are bounded: the
//! protocol, address family, a fixed list of common query types plus
//! `other`, the rcode, where the answer came from, and upstream labels taken
//! from the configuration. Never a query name or a client address.
//!
//! Every label combination used on the query path is resolved to a handle
//! when the registry is built, so counting a query is one atomic add, not a
//! hash lookup. Gauges that describe state (cache entries, upstream up) are
//! refreshed at scrape time by [`Metrics::render`]'s caller.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sekisho_limits::{Limit, Limits};

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Query types counted by name; everything else is `other`.
const QTYPES: [(u16, &str); 14] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (2, "NS"),
    (12, "PTR"),
    (6, "SOA"),
    (33, "SRV"),
    (16, "TXT"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (43, "DS"),
    (48, "DNSKEY"),
    (255, "ANY"),
];

/// Transport of a client query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// DNS over TLS (RFC 7858).
    Tls,
    /// DNS over HTTPS (RFC 8484).
    Https,
}

impl Proto {
    /// Every transport, in the order of the query counters.
    pub const ALL: [Proto; 4] = [Proto::Udp, Proto::Tcp, Proto::Tls, Proto::Https];

    /// Label value.
    pub fn as_label(&self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Https => "https",
        }
    }

    /// Whether answers go back on a byte stream with RFC 7766 framing (no
    /// truncation, zone transfers possible).
    pub fn is_stream(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Tls)
    }
}

/// Where an answer came from (label `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The packet cache.
    Cache,
    /// A forwarder upstream.
    Upstream,
    /// Our own recursion.
    Recursion,
    /// A policy (RPZ) rewrite.
    Policy,
    /// Made here: errors, refusals.
    Local,
}

/// All sources, in index order.
const SOURCES: [Source; 5] = [
    Source::Cache,
    Source::Upstream,
    Source::Recursion,
    Source::Policy,
    Source::Local,
];

impl Source {
    /// Label value.
    pub fn as_label(&self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Upstream => "upstream",
            Source::Recursion => "recursion",
            Source::Policy => "policy",
            Source::Local => "local",
        }
    }
}

/// Rcode label values by rcode number 0..=5; others are `other`.
const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
];

/// The mnemonic of an answer's rcode (its header's low four bits) as the
/// `rcode` label and hit records write it: `other` beyond REFUSED.
pub fn rcode_word(rcode: u8) -> &'static str {
    RCODES[usize::from(rcode).min(RCODES.len() - 1)]
}

/// Why a query was refused or dropped before resolution (label `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Outside `allow-query` or `allow-recursion`.
    Acl,
    /// Undecodable: FORMERR, or dropped when too short to answer.
    Malformed,
    /// An opcode we do not implement.
    NotImp,
    /// Past `tcp-max-connections`.
    TcpLimit,
    /// A response sent to us (dropped: reflection).
    Response,
    /// An EDNS version above 0.
    BadVers,
    /// A policy DROP action.
    PolicyDrop,
}

impl Refusal {
    /// Every reason, in index order.
    const ALL: [Refusal; 7] = [
        Refusal::Acl,
        Refusal::Malformed,
        Refusal::NotImp,
        Refusal::TcpLimit,
        Refusal::Response,
        Refusal::BadVers,
        Refusal::PolicyDrop,
    ];

    /// Label value.
    pub fn as_label(&self) -> &'static str {
        match self {
            Refusal::Acl => "acl",
            Refusal::Malformed => "malformed",
            Refusal::NotImp => "notimp",
            Refusal::TcpLimit => "tcp_limit",
            Refusal::Response => "response",
            Refusal::BadVers => "badvers",
            Refusal::PolicyDrop => "policy_drop",
        }
    }
}

/// The registry and every handle the query path uses.
#[derive(Debug)]
pub struct Metrics {
    /// The registry served at `/metrics`.
    registry: Registry,
    /// queries_total by [proto][family][qtype index].
    queries: Vec<IntCounter>,
    /// responses_total by [rcode][source].
    responses: Vec<IntCounter>,
    /// Time from receipt to answer.
    pub request_duration: Histogram,
    /// Refusals and drops, indexed like [`Refusal::ALL`].
    refused: Vec<IntCounter>,
    /// Cache hits by kind.
    pub cache_hits_success: IntCounter,
    /// Cache hits on denials.
    pub cache_hits_denial: IntCounter,
    /// Cache misses.
    pub cache_misses: IntCounter,
    /// Cached entries (set at scrape).
    pub cache_entries: IntGauge,
    /// Evictions (set at scrape from the cache's counter).
    pub cache_evictions: IntCounter,
    /// Answers the recursor synthesised from validated NSEC/NSEC3 (RFC 8198;
    /// set at scrape from its counter).
    pub aggressive_answers: IntCounter,
    /// Policy hit records written to `rpz-log` or dropped (set at scrape).
    rpz_log_records: IntCounterVec,
    /// dnstap frames sent or dropped (set at scrape).
    dnstap_frames: IntCounterVec,
    /// Per-upstream families (registered by the upstream crate).
    pub upstreams: sekisho_upstream::UpstreamFamily,
    /// Config reloads by result.
    pub config_reloads: IntCounterVec,
    /// Validator verdicts, by result.
    dnssec_validations: IntCounterVec,
    /// Policy rewrites by zone, trigger and action.
    rpz_hits: IntCounterVec,
    /// Per policy zone: SOA serial.
    zone_serial: IntGaugeVec,
    /// Per policy zone: rules.
    zone_rules: IntGaugeVec,
    /// Per policy zone: Unix time of the last successful load or transfer.
    zone_last_success: IntGaugeVec,
    /// Per transferred policy zone: Unix time its copy expires without a primary.
    zone_expiry: IntGaugeVec,
    /// Per transferred policy zone: Unix time the primaries last confirmed our copy.
    zone_last_refresh: IntGaugeVec,
    /// Per transferred policy zone: its refresh interval (SOA refresh, clamped).
    zone_refresh_interval: IntGaugeVec,
    /// Per policy zone: seconds the last successful load took.
    zone_load_duration: GaugeVec,
    /// Per policy zone: failed loads or transfers.
    zone_failures: IntCounterVec,
    /// Drops and use of the limits on hostile traffic, shared with every part
    /// that enforces one; exported at scrape by [`LimitsCollector`].
    pub limits: Arc<Limits>,
    /// Bytes held by the caches (set at scrape).
    pub cache_bytes: IntGauge,
    /// What the last scrape saw of monotonic sources (to turn them into counter increments).
    scrape: Scrape,
}

/// Exports [`Limits`] at scrape time: `sekisho_limit_drops_total{limit}` for
/// every limit from the start, `sekisho_limit_held{limit}` and
/// `sekisho_recursions_in_flight`. Read from the atomics the limits count
/// in, so the query path pays nothing for the export.
#[derive(Debug)]
struct LimitsCollector {
    /// The counters.
    limits: Arc<Limits>,
    /// Descriptions of the three families.
    descs: Vec<prometheus::core::Desc>,
}

/// Help text of `sekisho_limit_drops_total`.
const LIMIT_DROPS_HELP: &str =
    "Queries or connections dropped or answered SERVFAIL by a limit on hostile traffic, by limit";
/// Help text of `sekisho_limit_held`.
const LIMIT_HELD_HELP: &str = "What a limit holds now (in flight, waiting, open), by limit";
/// Help text of `sekisho_limit_zone_drops_total`.
const ZONE_DROPS_HELP: &str = "Drops by a per-zone limit (fetches-per-zone, max-validations, nsec3-hashes), by limit and zone; only the zones `sekishoctl limits` still holds (at most 1,024, released ones forgotten first)";
/// Help text of `sekisho_recursions_in_flight`.
const IN_FLIGHT_HELP: &str =
    "Client queries being resolved now (bounded by server.recursive-clients)";

impl LimitsCollector {
    /// A collector over `limits`.
    fn new(limits: Arc<Limits>) -> Result<LimitsCollector, prometheus::Error> {
        use prometheus::core::Desc;
        let label = vec!["limit".to_owned()];
        let descs = vec![
            Desc::new(
                "sekisho_limit_drops_total".into(),
                LIMIT_DROPS_HELP.into(),
                label.clone(),
                HashMap::new(),
            )?,
            Desc::new(
                "sekisho_limit_held".into(),
                LIMIT_HELD_HELP.into(),
                label,
                HashMap::new(),
            )?,
            Desc::new(
                "sekisho_limit_zone_drops_total".into(),
                ZONE_DROPS_HELP.into(),
                vec!["limit".to_owned(), "zone".to_owned()],
                HashMap::new(),
            )?,
            Desc::new(
                "sekisho_recursions_in_flight".into(),
                IN_FLIGHT_HELP.into(),
                Vec::new(),
                HashMap::new(),
            )?,
        ];
        Ok(LimitsCollector { limits, descs })
    }

    /// The families, built fresh from the counters.
    fn families(&self) -> Result<Vec<prometheus::proto::MetricFamily>, prometheus::Error> {
        use prometheus::core::Collector;
        let drops = IntCounterVec::new(
            Opts::new("sekisho_limit_drops_total", LIMIT_DROPS_HELP),
            &["limit"],
        )?;
        let held = IntGaugeVec::new(Opts::new("sekisho_limit_held", LIMIT_HELD_HELP), &["limit"])?;
        for l in Limit::ALL {
            drops
                .with_label_values(&[l.as_label()])
                .inc_by(self.limits.drops(l));
            held.with_label_values(&[l.as_label()])
                .set(self.limits.held(l));
        }
        let in_flight = IntGauge::new("sekisho_recursions_in_flight", IN_FLIGHT_HELP)?;
        in_flight.set(self.limits.held(Limit::RecursiveClients));
        let zones = IntCounterVec::new(
            Opts::new("sekisho_limit_zone_drops_total", ZONE_DROPS_HELP),
            &["limit", "zone"],
        )?;
        let mut any_zone = false;
        for k in self.limits.report().keys {
            if Limit::ALL
                .iter()
                .any(|l| l.keyed_by_zone() && l.as_label() == k.limit)
            {
                zones
                    .with_label_values(&[k.limit.as_str(), k.key.as_str()])
                    .inc_by(k.drops);
                any_zone = true;
            }
        }
        let mut out = drops.collect();
        out.extend(held.collect());
        if any_zone {
            out.extend(zones.collect());
        }
        out.extend(in_flight.collect());
        Ok(out)
    }
}

impl prometheus::core::Collector for LimitsCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.families().unwrap_or_default()
    }
}

/// Values seen at the previous scrape.
#[derive(Debug, Default)]
struct Scrape {
    /// Cache evictions.
    evictions: AtomicU64,
    /// Answers synthesised from validated denials.
    aggressive: AtomicU64,
    /// Hit records written and dropped, as last exported.
    records: [AtomicU64; 2],
    /// dnstap frames sent and dropped, as last exported.
    frames: [AtomicU64; 2],
    /// Failures per zone.
    zone_failures: Mutex<HashMap<String, u64>>,
}

impl Metrics {
    /// A new registry with every metric registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new("sekisho_build_info", "Build information, always 1"),
            &["version"],
        )?;
        registry.register(Box::new(build.clone()))?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        let queries_vec = IntCounterVec::new(
            Opts::new(
                "sekisho_queries_total",
                "Client queries received, by transport, address family and type",
            ),
            &["proto", "family", "qtype"],
        )?;
        registry.register(Box::new(queries_vec.clone()))?;
        let mut queries = Vec::new();
        for proto in Proto::ALL {
            for family in ["ipv4", "ipv6"] {
                for (_, name) in QTYPES.iter().chain(std::iter::once(&(0, "other"))) {
                    queries.push(queries_vec.with_label_values(&[proto.as_label(), family, name]));
                }
            }
        }
        let responses_vec = IntCounterVec::new(
            Opts::new(
                "sekisho_responses_total",
                "Responses sent, by rcode and by where the answer came from",
            ),
            &["rcode", "source"],
        )?;
        registry.register(Box::new(responses_vec.clone()))?;
        let mut responses = Vec::new();
        for rcode in RCODES {
            for s in SOURCES {
                responses.push(responses_vec.with_label_values(&[rcode, s.as_label()]));
            }
        }
        let request_duration = Histogram::with_opts(
            HistogramOpts::new(
                "sekisho_request_duration_seconds",
                "Time from receiving a query to sending its answer",
            )
            .buckets(vec![
                0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
                4.0, 8.0,
            ]),
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        let refused = IntCounterVec::new(
            Opts::new(
                "sekisho_queries_refused_total",
                "Queries refused or dropped before resolution, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        // Every reason exported from the start, and counted without a label lookup.
        let refused: Vec<IntCounter> = Refusal::ALL
            .iter()
            .map(|r| refused.with_label_values(&[r.as_label()]))
            .collect();
        let hits = IntCounterVec::new(
            Opts::new(
                "sekisho_cache_hits_total",
                "Queries answered from the packet cache, by kind of answer",
            ),
            &["type"],
        )?;
        registry.register(Box::new(hits.clone()))?;
        let cache_misses = IntCounter::new(
            "sekisho_cache_misses_total",
            "Queries not found in the packet cache",
        )?;
        registry.register(Box::new(cache_misses.clone()))?;
        let cache_entries = IntGauge::new(
            "sekisho_cache_entries",
            "Responses held in the packet cache",
        )?;
        registry.register(Box::new(cache_entries.clone()))?;
        let cache_evictions = IntCounter::new(
            "sekisho_cache_evictions_total",
            "Cache entries evicted to stay within max-entries",
        )?;
        registry.register(Box::new(cache_evictions.clone()))?;
        let aggressive_answers = IntCounter::new(
            "sekisho_recursor_aggressive_answers_total",
            "NXDOMAIN and NODATA answers synthesised from validated NSEC/NSEC3 records without a query (RFC 8198, dnssec.aggressive-nsec)",
        )?;
        registry.register(Box::new(aggressive_answers.clone()))?;
        let rpz_log_records = IntCounterVec::new(
            Opts::new(
                "sekisho_rpz_log_records_total",
                "Policy hit records written to logging.rpz-log, or dropped (queue full, file or syslog unwritable)",
            ),
            &["result"],
        )?;
        registry.register(Box::new(rpz_log_records.clone()))?;
        let dnstap_frames = IntCounterVec::new(
            Opts::new(
                "sekisho_dnstap_frames_total",
                "dnstap frames sent to the collector, or dropped (queue full, collector slow or absent)",
            ),
            &["result"],
        )?;
        registry.register(Box::new(dnstap_frames.clone()))?;
        let cache_bytes = IntGauge::new(
            "sekisho_cache_bytes",
            "Bytes held by the caches (answers, and the recursor's records, delegations and keys); bounded by cache.max-cache-size",
        )?;
        registry.register(Box::new(cache_bytes.clone()))?;
        let limits = Arc::new(Limits::new());
        registry.register(Box::new(LimitsCollector::new(limits.clone())?))?;
        let upstreams = sekisho_upstream::UpstreamFamily::register(&registry)?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "sekisho_config_reloads_total",
                "Configuration reloads, by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(config_reloads.clone()))?;
        let dnssec_validations = IntCounterVec::new(
            Opts::new(
                "sekisho_dnssec_validations_total",
                "Answers judged by the DNSSEC validator, by result (nta: exempted by domain-insecure)",
            ),
            &["result"],
        )?;
        registry.register(Box::new(dnssec_validations.clone()))?;
        // Every result exported from the start, so rates work from the first scrape.
        for r in ["secure", "insecure", "bogus", "nta"] {
            dnssec_validations.with_label_values(&[r]);
        }
        let rpz_hits = IntCounterVec::new(
            Opts::new(
                "sekisho_rpz_hits_total",
                "Policy (RPZ) rewrites, by policy zone, trigger and action",
            ),
            &["zone", "trigger", "action"],
        )?;
        registry.register(Box::new(rpz_hits.clone()))?;
        let zone_serial = IntGaugeVec::new(
            Opts::new(
                "sekisho_rpz_zone_serial",
                "SOA serial of the live version of a policy zone",
            ),
            &["zone"],
        )?;
        let zone_rules = IntGaugeVec::new(
            Opts::new(
                "sekisho_rpz_zone_rules",
                "Rules in the live version of a policy zone",
            ),
            &["zone"],
        )?;
        let zone_last_success = IntGaugeVec::new(
            Opts::new(
                "sekisho_rpz_zone_last_success_timestamp_seconds",
                "Unix time of the last successful load or transfer of a policy zone",
            ),
            &["zone"],
        )?;
        let zone_expiry = IntGaugeVec::new(
            Opts::new(
                "sekisho_rpz_zone_expiry_timestamp_seconds",
                "Unix time a transferred policy zone expires if no primary answers (SOA expire)",
            ),
            &["zone"],
        )?;
        let zone_last_refresh = IntGaugeVec::new(
            Opts::new(
                "sekisho_rpz_zone_last_refresh_timestamp_seconds",
                "Unix time the primaries last confirmed a transferred policy zone's copy (SOA check or transfer)",
            ),
            &["zone"],
        )?;
        let zone_refresh_interval = IntGaugeVec::new(
            Opts::new(
                "sekisho_rpz_zone_refresh_interval_seconds",
                "Seconds between checks of a transferred policy zone (its SOA refresh within min-refresh and max-refresh)",
            ),
            &["zone"],
        )?;
        let zone_load_duration = GaugeVec::new(
            Opts::new(
                "sekisho_rpz_load_duration_seconds",
                "Seconds the last successful load of a policy zone took (read, compile, swap)",
            ),
            &["zone"],
        )?;
        let zone_failures = IntCounterVec::new(
            Opts::new(
                "sekisho_rpz_zone_failures_total",
                "Failed loads or transfers of a policy zone (the previous version stays live)",
            ),
            &["zone"],
        )?;
        for c in [
            &zone_serial,
            &zone_rules,
            &zone_last_success,
            &zone_expiry,
            &zone_last_refresh,
            &zone_refresh_interval,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(zone_load_duration.clone()))?;
        registry.register(Box::new(zone_failures.clone()))?;
        // process_* (CPU, memory, descriptors, start time) from prometheus' own collector,
        // which reads the page size and clock ticks from the system.
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            zone_serial,
            zone_rules,
            zone_last_success,
            zone_expiry,
            zone_last_refresh,
            zone_refresh_interval,
            zone_load_duration,
            zone_failures,
            scrape: Scrape::default(),
            rpz_hits,
            registry,
            queries,
            responses,
            request_duration,
            cache_hits_success: hits.with_label_values(&["success"]),
            cache_hits_denial: hits.with_label_values(&["denial"]),
            cache_misses,
            cache_entries,
            cache_evictions,
            aggressive_answers,
            rpz_log_records,
            dnstap_frames,
            cache_bytes,
            limits,
            refused,
            upstreams,
            config_reloads,
            dnssec_validations,
        })
    }

    /// Count one validator verdict (`secure`, `insecure`, `bogus`, `nta`).
    pub fn dnssec_validation(&self, result: &str) {
        self.dnssec_validations.with_label_values(&[result]).inc();
    }

    /// Count a client query.
    pub fn query(&self, proto: Proto, ipv6: bool, qtype: u16) {
        let q = QTYPES
            .iter()
            .position(|(t, _)| *t == qtype)
            .unwrap_or(QTYPES.len());
        // `Proto::ALL` is in declaration order, so the discriminant is the index.
        let idx = (proto as usize * 2 + usize::from(ipv6)) * (QTYPES.len() + 1) + q;
        if let Some(c) = self.queries.get(idx) {
            c.inc();
        }
    }

    /// Count a response.
    pub fn response(&self, rcode: u8, source: Source) {
        let r = usize::from(rcode.min(6));
        let s = SOURCES.iter().position(|x| *x == source).unwrap_or(0);
        if let Some(c) = self.responses.get(r * SOURCES.len() + s) {
            c.inc();
        }
    }

    /// Count a refusal or drop.
    pub fn refused(&self, reason: Refusal) {
        if let Some(c) = self.refused.get(reason as usize) {
            c.inc();
        }
    }

    /// Count a policy rewrite. `zone` comes from the configuration, so the
    /// label set stays bounded.
    pub fn rpz_hit(&self, zone: &str, trigger: &str, action: &str) {
        self.rpz_hits
            .with_label_values(&[zone, trigger, action])
            .inc();
    }

    /// Handles for one upstream (see [`sekisho_upstream::UpstreamFamily::handles`]).
    pub fn upstream(&self, label: &str) -> sekisho_upstream::UpstreamMetrics {
        self.upstreams.handles(label)
    }

    /// Bring state gauges up to date before a scrape: cache entries, bytes
    /// (packet cache plus the recursor's caches) and evictions, policy zones (process figures are collected at scrape).
    pub fn refresh(
        &self,
        cache_entries: usize,
        evictions: u64,
        cache_bytes: usize,
        zones: &[sekisho_api::ZoneStatus],
    ) {
        self.cache_entries
            .set(i64::try_from(cache_entries).unwrap_or(i64::MAX));
        self.cache_bytes
            .set(i64::try_from(cache_bytes).unwrap_or(i64::MAX));
        let prev = self.scrape.evictions.swap(evictions, Ordering::Relaxed);
        self.cache_evictions.inc_by(evictions.saturating_sub(prev));
        {
            let mut seen = self
                .scrape
                .zone_failures
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for z in zones {
                let name = z.name.as_str();
                self.zone_serial
                    .with_label_values(&[name])
                    .set(i64::from(z.serial.unwrap_or(0)));
                self.zone_rules
                    .with_label_values(&[name])
                    .set(i64::try_from(z.rules).unwrap_or(i64::MAX));
                self.zone_last_success
                    .with_label_values(&[name])
                    .set(i64::try_from(z.last_load.unwrap_or(0)).unwrap_or(0));
                // Only zones fed by a primary expire.
                if let Some(t) = z.expires {
                    self.zone_expiry
                        .with_label_values(&[name])
                        .set(i64::try_from(t).unwrap_or(i64::MAX));
                }
                if let Some(t) = z.last_refresh {
                    self.zone_last_refresh
                        .with_label_values(&[name])
                        .set(i64::try_from(t).unwrap_or(i64::MAX));
                }
                if let Some(t) = z.refresh_interval {
                    self.zone_refresh_interval
                        .with_label_values(&[name])
                        .set(i64::try_from(t).unwrap_or(i64::MAX));
                }
                self.zone_load_duration
                    .with_label_values(&[name])
                    .set(z.load_seconds.unwrap_or(0.0));
                let before = seen.insert(z.name.clone(), z.failures).unwrap_or(0);
                self.zone_failures
                    .with_label_values(&[name])
                    .inc_by(z.failures.saturating_sub(before));
            }
        }
    }

    /// The registry, for collectors added by other parts.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Bring `sekisho_recursor_aggressive_answers_total` up to the
    /// recursor's count (`Recursor::aggressive_answers`), before a scrape.
    pub fn refresh_recursor(&self, aggressive_answers: u64) {
        let prev = self
            .scrape
            .aggressive
            .swap(aggressive_answers, Ordering::Relaxed);
        self.aggressive_answers
            .inc_by(aggressive_answers.saturating_sub(prev));
    }

    /// Bring `sekisho_rpz_log_records_total` and `sekisho_dnstap_frames_total`
    /// up to the hit outputs' counts, before a scrape.
    /// (The counts are (written or sent, dropped); `None` for an output
    /// that is off.)
    pub fn refresh_outputs_of(&self, outputs: &crate::hits::Outputs) {
        let (records, frames) = (outputs.record_counts(), outputs.frame_counts());
        let bump =
            |family: &IntCounterVec, last: &[AtomicU64; 2], now: (u64, u64), words: [&str; 2]| {
                for (i, value) in [now.0, now.1].into_iter().enumerate() {
                    let prev = last[i].swap(value, Ordering::Relaxed);
                    family
                        .with_label_values(&[words[i]])
                        .inc_by(value.saturating_sub(prev));
                }
            };
        if let Some(now) = records {
            bump(
                &self.rpz_log_records,
                &self.scrape.records,
                now,
                ["written", "dropped"],
            );
        }
        if let Some(now) = frames {
            bump(
                &self.dnstap_frames,
                &self.scrape.frames,
                now,
                ["sent", "dropped"],
            );
        }
    }

    /// Text exposition of everything registered.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_counts_under_its_own_label() {
        let m = Metrics::new().expect("metrics");
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in declaration order");
            m.refused(*r);
            m.refused(*r);
        }
        m.refused(Refusal::Acl);
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(
            text.contains("sekisho_queries_refused_total{reason=\"acl\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("sekisho_queries_refused_total{reason=\"policy_drop\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sekisho_queries_refused_total{reason=\"tcp_limit\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn counting_a_query_moves_exactly_its_labelled_counter() {
        let m = Metrics::new().expect("registry");
        m.query(Proto::Tcp, true, 28);
        m.query(Proto::Udp, false, 9999);
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(
            text.contains(r#"sekisho_queries_total{family="ipv6",proto="tcp",qtype="AAAA"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sekisho_queries_total{family="ipv4",proto="udp",qtype="other"} 1"#)
        );
        assert!(text.contains(r#"sekisho_queries_total{family="ipv4",proto="udp",qtype="A"} 0"#));
    }

    #[test]
    fn the_aggressive_answer_counter_follows_the_recursor_count() {
        let m = Metrics::new().expect("registry");
        m.refresh_recursor(3);
        m.refresh_recursor(5);
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(
            text.contains("sekisho_recursor_aggressive_answers_total 5"),
            "{text}"
        );
    }

    #[test]
    fn responses_are_labelled_by_rcode_and_source() {
        let m = Metrics::new().expect("registry");
        m.response(3, Source::Cache);
        m.response(200, Source::Local);
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(text.contains(r#"sekisho_responses_total{rcode="NXDOMAIN",source="cache"} 1"#));
        assert!(text.contains(r#"sekisho_responses_total{rcode="other",source="local"} 1"#));
    }

    #[test]
    fn every_limit_is_exported_from_the_start_and_counts_its_drops() {
        let m = Metrics::new().expect("registry");
        let text = String::from_utf8(m.render()).expect("utf-8");
        for l in Limit::ALL {
            let line = format!("sekisho_limit_drops_total{{limit=\"{}\"}} 0", l.as_label());
            assert!(text.contains(&line), "{line} missing");
        }
        m.limits
            .dropped(Limit::FetchesPerZone, Some("slow.example."));
        m.limits.add_held(Limit::RecursiveClients, 7);
        let text = String::from_utf8(m.render()).expect("utf-8");
        assert!(text.contains("sekisho_limit_drops_total{limit=\"fetches-per-zone\"} 1"));
        assert!(text.contains("sekisho_limit_drops_total{limit=\"recursive-clients\"} 0"));
        assert!(text.contains("sekisho_recursions_in_flight 7"));
        assert!(text.contains("sekisho_limit_held{limit=\"recursive-clients\"} 7"));
        // Per zone, for the limits keyed by zone only (never a client prefix).
        m.limits
            .engage(Limit::FetchesPerZone, "slow.example.", "test");
        m.limits
            .dropped(Limit::FetchesPerZone, Some("slow.example."));
        m.limits.engage(Limit::RateLimit, "192.0.2.0/24", "test");
        m.limits.dropped(Limit::RateLimit, Some("192.0.2.0/24"));
        let text = String::from_utf8(m.render()).expect("utf-8");
        assert!(text.contains(
            "sekisho_limit_zone_drops_total{limit=\"fetches-per-zone\",zone=\"slow.example.\"} 1"
        ));
        assert!(
            !text.contains("192.0.2.0/24"),
            "no client prefix in a label"
        );
    }

    #[test]
    fn every_metric_has_help_text() {
        let m = Metrics::new().expect("registry");
        m.upstream("192.0.2.1@853#dot.example");
        let text = String::from_utf8(m.render()).expect("utf8");
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        assert!(types > 10);
        assert_eq!(types, helps);
    }
}
