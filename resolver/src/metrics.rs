//! Prometheus metrics: an explicit registry and pre-resolved handles.
//!
//! Names follow `../shared/conventions.md` and Prometheus rules: `sekisho_`
//! prefix, base units (seconds), `_total` counters. Labels are bounded: the
//! protocol, address family, a fixed list of common query types plus
//! `other`, the rcode, where the answer came from, and upstream labels taken
//! from the configuration. Never a query name or a client address.
//!
//! Every label combination used on the query path is resolved to a handle
//! when the registry is built, so counting a query is one atomic add, not a
//! hash lookup. Gauges that describe state (cache entries, upstream up) are
//! refreshed at scrape time by [`Metrics::render`]'s caller.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
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
}

impl Proto {
    /// Label value.
    pub fn as_label(&self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
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

/// Reasons a query is refused or dropped (label `reason`).
pub const REFUSE_REASONS: [&str; 6] = [
    "acl",
    "malformed",
    "notimp",
    "tcp_limit",
    "response",
    "badvers",
];

/// Upstream error reasons (label `reason`).
pub const UPSTREAM_REASONS: [&str; 6] = [
    "timeout",
    "network",
    "tls",
    "closed",
    "bad_response",
    "busy",
];

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
    /// Refusals and drops by reason.
    refused: IntCounterVec,
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
    /// Upstream latency by upstream.
    upstream_duration: HistogramVec,
    /// Upstream errors.
    upstream_errors: IntCounterVec,
    /// Upstream up (1) or down (0).
    upstream_up: IntGaugeVec,
    /// Upstream queries by upstream and transport.
    upstream_queries: IntCounterVec,
    /// Config reloads by result.
    pub config_reloads: IntCounterVec,
    /// Policy rewrites by zone, trigger and action.
    rpz_hits: IntCounterVec,
}

/// Handles for one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamMetrics {
    /// Latency of answered queries.
    pub duration: Histogram,
    /// Queries sent.
    pub queries: IntCounter,
    /// 1 when usable.
    pub up: IntGauge,
    /// Errors by reason, indexed like [`UPSTREAM_REASONS`].
    pub errors: Vec<IntCounter>,
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
        for proto in ["udp", "tcp"] {
            for family in ["ipv4", "ipv6"] {
                for (_, name) in QTYPES.iter().chain(std::iter::once(&(0, "other"))) {
                    queries.push(queries_vec.with_label_values(&[proto, family, name]));
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
        for r in REFUSE_REASONS {
            refused.with_label_values(&[r]);
        }
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
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "sekisho_upstream_request_duration_seconds",
                "Latency of answered upstream queries",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0,
            ]),
            &["upstream"],
        )?;
        registry.register(Box::new(upstream_duration.clone()))?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "sekisho_upstream_errors_total",
                "Upstream queries that failed, by reason",
            ),
            &["upstream", "reason"],
        )?;
        registry.register(Box::new(upstream_errors.clone()))?;
        let upstream_up = IntGaugeVec::new(
            Opts::new(
                "sekisho_upstream_up",
                "1 when the upstream is in use, 0 when marked down",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(upstream_up.clone()))?;
        let upstream_queries = IntCounterVec::new(
            Opts::new(
                "sekisho_upstream_queries_total",
                "Queries sent to an upstream (probes included)",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(upstream_queries.clone()))?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "sekisho_config_reloads_total",
                "Configuration reloads, by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(config_reloads.clone()))?;
        let rpz_hits = IntCounterVec::new(
            Opts::new(
                "sekisho_rpz_hits_total",
                "Policy (RPZ) rewrites, by policy zone, trigger and action",
            ),
            &["zone", "trigger", "action"],
        )?;
        registry.register(Box::new(rpz_hits.clone()))?;
        Ok(Metrics {
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
            refused,
            upstream_duration,
            upstream_errors,
            upstream_up,
            upstream_queries,
            config_reloads,
        })
    }

    /// Count a client query.
    pub fn query(&self, proto: Proto, ipv6: bool, qtype: u16) {
        let q = QTYPES
            .iter()
            .position(|(t, _)| *t == qtype)
            .unwrap_or(QTYPES.len());
        let idx =
            (usize::from(proto == Proto::Tcp) * 2 + usize::from(ipv6)) * (QTYPES.len() + 1) + q;
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

    /// Count a refusal or drop; `reason` is one of [`REFUSE_REASONS`].
    pub fn refused(&self, reason: &'static str) {
        self.refused.with_label_values(&[reason]).inc();
    }

    /// Count a policy rewrite. `zone` comes from the configuration, so the
    /// label set stays bounded.
    pub fn rpz_hit(&self, zone: &str, trigger: &str, action: &str) {
        self.rpz_hits
            .with_label_values(&[zone, trigger, action])
            .inc();
    }

    /// Handles for the upstream labelled `label`.
    pub fn upstream(&self, label: &str) -> UpstreamMetrics {
        UpstreamMetrics {
            duration: self.upstream_duration.with_label_values(&[label]),
            queries: self.upstream_queries.with_label_values(&[label]),
            up: {
                let g = self.upstream_up.with_label_values(&[label]);
                g.set(1);
                g
            },
            errors: UPSTREAM_REASONS
                .iter()
                .map(|r| self.upstream_errors.with_label_values(&[label, r]))
                .collect(),
        }
    }

    /// The registry, for collectors added by other parts.
    pub fn registry(&self) -> &Registry {
        &self.registry
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
    fn responses_are_labelled_by_rcode_and_source() {
        let m = Metrics::new().expect("registry");
        m.response(3, Source::Cache);
        m.response(200, Source::Local);
        let text = String::from_utf8(m.render()).expect("utf8");
        assert!(text.contains(r#"sekisho_responses_total{rcode="NXDOMAIN",source="cache"} 1"#));
        assert!(text.contains(r#"sekisho_responses_total{rcode="other",source="local"} 1"#));
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
