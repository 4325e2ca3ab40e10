//! The upstream transports' own metrics, registered by this crate into the
//! registry the daemon passes in (one family per metric; one label set per
//! upstream, named as in the configuration).
//!
//! Label values are bounded: the upstream label is a configured address, the
//! reason one of [`UPSTREAM_REASONS`]. When a reload removes an upstream its
//! series are removed too ([`UpstreamFamily::forget`]), so a gone upstream is
//! not exported as up for ever.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Upstream error reasons (label `reason`).
pub const UPSTREAM_REASONS: [&str; 7] = [
    "timeout",
    "network",
    "tls",
    "http",
    "closed",
    "bad_response",
    "busy",
];

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

/// The per-upstream metric families.
#[derive(Debug, Clone)]
pub struct UpstreamFamily {
    /// `sekisho_upstream_request_duration_seconds{upstream}`.
    duration: HistogramVec,
    /// `sekisho_upstream_errors_total{upstream,reason}`.
    errors: IntCounterVec,
    /// `sekisho_upstream_up{upstream}`.
    up: IntGaugeVec,
    /// `sekisho_upstream_queries_total{upstream}`.
    queries: IntCounterVec,
}

impl UpstreamFamily {
    /// Create the families and register them in `registry`.
    pub fn register(registry: &Registry) -> Result<UpstreamFamily, prometheus::Error> {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "sekisho_upstream_request_duration_seconds",
                "Latency of answered upstream queries",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0,
            ]),
            &["upstream"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        let errors = IntCounterVec::new(
            Opts::new(
                "sekisho_upstream_errors_total",
                "Upstream queries that failed, by reason",
            ),
            &["upstream", "reason"],
        )?;
        registry.register(Box::new(errors.clone()))?;
        let up = IntGaugeVec::new(
            Opts::new(
                "sekisho_upstream_up",
                "1 when the upstream is in use, 0 when marked down",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(up.clone()))?;
        let queries = IntCounterVec::new(
            Opts::new(
                "sekisho_upstream_queries_total",
                "Queries sent to an upstream (probes included)",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(queries.clone()))?;
        Ok(UpstreamFamily {
            duration,
            errors,
            up,
            queries,
        })
    }

    /// Handles for the upstream labelled `label` (created at 1 = up).
    pub fn handles(&self, label: &str) -> UpstreamMetrics {
        UpstreamMetrics {
            duration: self.duration.with_label_values(&[label]),
            queries: self.queries.with_label_values(&[label]),
            up: {
                let g = self.up.with_label_values(&[label]);
                g.set(1);
                g
            },
            errors: UPSTREAM_REASONS
                .iter()
                .map(|r| self.errors.with_label_values(&[label, r]))
                .collect(),
        }
    }

    /// Drop every series of the upstream labelled `label` (it left the
    /// configuration). Missing series are not an error.
    pub fn forget(&self, label: &str) {
        let _ = self.duration.remove_label_values(&[label]);
        let _ = self.queries.remove_label_values(&[label]);
        let _ = self.up.remove_label_values(&[label]);
        for r in UPSTREAM_REASONS {
            let _ = self.errors.remove_label_values(&[label, r]);
        }
    }
}
