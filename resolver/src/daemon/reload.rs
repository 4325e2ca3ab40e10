//! SIGHUP and its settings: the configuration file is read again and what a
//! reload applies (see `sekisho_conf::restart_only_changes`) is swapped in;
//! an invalid file changes nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sekisho_conf::Config;
use tokio::sync::watch;

use super::forwarding::build_forwarding;
use super::handler::State;
use super::listeners::{Listeners, Prepared};
use crate::metrics::Metrics;
use crate::pipeline::PipelineConfig;

/// The per-query settings of `config` (reloaded on SIGHUP).
pub(super) fn pipeline_config(config: &Config) -> PipelineConfig {
    PipelineConfig {
        allow_query: config.server.allow_query.clone(),
        allow_recursion: config.server.allow_recursion.clone(),
        edns_buffer_size: config.server.edns_buffer_size,
        query_timeout: config.server.query_timeout,
        recursive_clients: config.server.recursive_clients,
        clients_per_query: config.server.clients_per_query,
        stale_answer_ttl: config
            .cache
            .stale_answer_enable
            .then(|| u32::try_from(config.cache.stale_answer_ttl.as_secs()).unwrap_or(u32::MAX)),
        prefetch: config.cache.prefetch,
        zone_quota_drop: config.server.fetches_per_zone_response
            == sekisho_conf::QuotaResponse::Drop,
        server_quota_drop: config.server.fetches_per_server_response
            == sekisho_conf::QuotaResponse::Drop,
    }
}

/// Why a reload changed nothing.
#[derive(Debug)]
pub(super) enum Refused {
    /// The daemon runs on the embedded default: there is no file to re-read.
    NoFile,
    /// The new configuration cannot be applied; the reason, naming the file
    /// and the key or address.
    Invalid(String),
}

/// SIGHUP: re-read the file; keep everything as it is if it is invalid or
/// an address it adds cannot be bound. Returns the new configuration when
/// it was taken, with the listeners it adds (bound) and removes, for the
/// parts applied by the caller (listeners, policy zones, hit outputs).
/// A refusal was logged (and counted) here.
pub(super) fn reload(
    started: &Config,
    path: Option<&std::path::Path>,
    state: &State,
    metrics: &Metrics,
    stop: &watch::Receiver<bool>,
    listeners: &Listeners,
) -> Result<(Config, Prepared), Refused> {
    let Some(path) = path else {
        tracing::warn!("reload requested but the daemon runs on the embedded default config; nothing to re-read");
        metrics
            .config_reloads
            .with_label_values(&["unchanged"])
            .inc();
        return Err(Refused::NoFile);
    };
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "reload refused: the new configuration is invalid; keeping the running one");
            metrics.config_reloads.with_label_values(&["failure"]).inc();
            return Err(Refused::Invalid(format!("{}: {e}", path.display())));
        }
    };
    // New listen addresses are bound before anything is applied: one that
    // cannot be makes the whole reload change nothing.
    let prepared = match listeners.prepare(&new) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "reload refused: a new listen address cannot be served; keeping the running configuration");
            metrics.config_reloads.with_label_values(&["failure"]).inc();
            return Err(Refused::Invalid(format!("{}: {e}", path.display())));
        }
    };
    match build_forwarding(&new, metrics, state.pipeline.outputs().forwarder_observer()) {
        Ok(f) => {
            state.pipeline.forwarders.store(Arc::new(f.table));
            // Upstreams that left the configuration stop being exported.
            let kept: std::collections::HashSet<&str> = f
                .groups
                .iter()
                .flat_map(|(_, g)| g.upstreams.iter().map(|u| u.spec.label.as_str()))
                .collect();
            for (_, g) in state
                .groups
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                for u in &g.upstreams {
                    if !kept.contains(u.spec.label.as_str()) {
                        metrics.upstreams.forget(&u.spec.label);
                    }
                }
            }
            for (_, g) in &f.groups {
                tokio::spawn(g.clone().run_probes(stop.clone()));
            }
            *state.groups.lock().unwrap_or_else(|p| p.into_inner()) = f.groups;
            state.pipeline.reconfigure(pipeline_config(&new));
            state
                .dispatch
                .reconfigure_chaos(crate::chaos::ChaosConfig::from_server(&new.server));
            state.dispatch.rate_limit().reconfigure(&new.rate_limit);
            state
                .pipeline
                .query_log
                .store(new.logging.query_log, Ordering::Relaxed);
            reload_cert(&new, state);
            let restart = sekisho_conf::restart_only_changes(started, &new);
            if !restart.is_empty() {
                tracing::warn!(
                    config = %path.display(),
                    keys = %restart.join(", "),
                    "changed settings take effect only after a restart; the running values stay"
                );
            }
            metrics.config_reloads.with_label_values(&["success"]).inc();
            tracing::info!(config = %path.display(), "configuration reloaded (listen addresses, access lists, forward zones, policy zones and their transfer roles, keys, edns-buffer-size, query-timeout, log-client-ip (global and per zone), query-log, CHAOS identity and version, rate-limit, TLS certificate)");
            Ok((new, prepared))
        }
        Err(e) => {
            tracing::error!(error = %e, "reload refused; keeping the running configuration");
            metrics.config_reloads.with_label_values(&["failure"]).inc();
            Err(Refused::Invalid(e.to_string()))
        }
    }
}

/// SIGHUP: the TLS listeners' certificate and key, read again from the files
/// `new` names, on the blocking pool (file reads stay off the runtime's
/// workers). Bad files keep the certificate in use; connections already
/// open are never touched either way.
fn reload_cert(new: &Config, state: &State) {
    let Some(cert) = state.server_cert.clone() else {
        return;
    };
    let (Some(cert_file), Some(key_file)) = (
        new.server.tls_cert_file.clone(),
        new.server.tls_key_file.clone(),
    ) else {
        // The listeners stay until a restart, and so does their certificate.
        return;
    };
    tokio::task::spawn_blocking(move || match cert.reload(Some((&cert_file, &key_file))) {
        Ok(path) => tracing::info!(cert = %path.display(), "tls certificate reloaded"),
        Err(error) => {
            tracing::error!(%error, "tls certificate reload failed; the certificate in use is kept")
        }
    });
}

/// Logs what a reload did to the zones with transfer roles (one line each
/// role, only when something changed).
pub(super) fn log_zone_changes(
    served: &sekisho_primary::Reconfigured,
    transferred: &sekisho_secondary::Reconfigured,
) {
    let t = transferred;
    if !(t.added.is_empty() && t.removed.is_empty() && t.restarted.is_empty()) {
        tracing::info!(
            added = ?t.added,
            removed = ?t.removed,
            restarted = ?t.restarted,
            unchanged = t.unchanged.len(),
            "policy zones with primaries reconfigured (restarted: new primaries, key or timers; their rules stay live until the new task transfers)"
        );
    }
    let s = served;
    if !(s.added.is_empty() && s.removed.is_empty() && s.changed.is_empty()) {
        tracing::info!(
            added = ?s.added,
            removed = ?s.removed,
            changed = ?s.changed,
            notified = ?s.notified,
            "served policy zones reconfigured (allow-transfer, also-notify, keys)"
        );
    }
}
