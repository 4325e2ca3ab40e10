//! Policy zone distribution: keeps every `[[response-policy.zone]]` that has
//! `primaries` in step with its primary by SOA polling, NOTIFY
//! ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)), IXFR
//! ([RFC 1995](https://www.rfc-editor.org/rfc/rfc1995)) and AXFR
//! ([RFC 5936](https://www.rfc-editor.org/rfc/rfc5936)), TSIG-signed
//! ([RFC 8945](https://www.rfc-editor.org/rfc/rfc8945)) when the zone has a `key`.
//!
//! ```text
//!  start-up: PolicyStore::load(file)  (saved copy, before the listeners open)
//!                 │
//!  one task per zone:  wait for ZoneTimer (refresh / retry) │ NOTIFY │ refresh / retransfer verb
//!                 │        NOTIFYs pass coalesce.rs first: one check per change, not per packet
//!                 ▼
//!   for each primary in order:
//!     pacer.rs slot (20 SOA queries/s in all)
//!     query_soa ──not newer──▶ up to date (timers restart)
//!        │ newer
//!        ▼
//!     transfer(IXFR from the live serial) ──IXFR refused──▶ transfer(AXFR)
//!        ├─ Incremental: ZoneRules::apply_delta per delta (blocking thread) ─▶ install
//!        │               saved copy patched with the deltas (saved.rs)
//!        └─ Full:        ZoneRules::compile (blocking thread) ─▶ install
//!                        saved copy rewritten (saved.rs)
//!   install = PolicyStore::install: one ArcSwap rcu; queries never wait
//! ```
//!
//! Anything that goes wrong with a transfer (bad message, TSIG failure, a serial
//! going backwards, a cut stream, a size or time bound) leaves the live version as
//! it was: a new version is only built from a transfer that completed and
//! verified. Each distinct failure is logged once per primary at WARN, with the
//! zone and the peer, then at DEBUG until something changes; it shows in
//! `sekishoctl zones` as the last error.
//!
//! Expiry: past the SOA `expire` (clamped) with no successful check, the zone
//! follows `on-expire`: `keep` goes on enforcing the copy, logged at ERROR; `stop`
//! empties the zone, as BIND stops serving an expired secondary.
//!
//! Reload (SIGHUP, `sekishoctl reload`), as BIND's `rndc reconfig`:
//! [`Distribution::reconfigure`] swaps the zone list and the keys NOTIFYs are
//! verified with; a zone with the same settings and key keeps its task, a removed
//! or changed one's task is retired (it ends after the check it may be running and
//! installs nothing more); [`Distribution::start_new`], called once the zone files
//! and saved copies are loaded, starts the tasks of added and changed zones, seeded
//! from the live version as at start. A changed zone's new task checks at once,
//! from the serial held, so its rules stay live until it transfers.
//!
//! The TSIG secret is only handed to `sekisho_xfr`; `TsigKey`'s `Debug` redacts it
//! and nothing here formats it.

mod coalesce;
mod notify;
mod pacer;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record};
use prometheus::{IntCounter, IntCounterVec, Opts};
use sekisho_conf::{Config, ExpireAction, PolicyZone};
use sekisho_rpz::ZoneRules;
use sekisho_xfr::{
    Delta, Limits, RefreshClamps, RefreshPlan, Request, Serial, Transfer, TsigAlgorithm, TsigKey,
    XfrError, ZoneTimer,
};
use tokio::sync::watch;
use tracing::Instrument;

use sekisho_api::ZoneStatus;
use sekisho_policy::PolicyStore;

use coalesce::{Gate, FLOOD_QUIET};
use pacer::{Pacer, Transition, SOA_QUERIES_PER_SECOND};

use sekisho_policy::saved;

pub use sekisho_policy::saved::SaveError;

/// How long one SOA query (each of UDP and the TCP retry) may take.
const SOA_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the next message of a transfer, below `max-transfer-time`.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Overlay size (rules) past which an incrementally updated zone is recompiled
/// from its saved copy, so each further delta stays cheap (`apply_delta` copies
/// the overlay).
const OVERLAY_RECOMPILE: usize = 100_000;
/// Metric: NOTIFY messages received, by zone and result.
pub const NOTIFY_TOTAL: &str = "sekisho_notify_total";
/// Metric: transfers and SOA checks, by zone, type and result.
pub const TRANSFERS_TOTAL: &str = "sekisho_rpz_transfers_total";
/// Metric: SOA checks started to answer NOTIFYs, by zone.
pub const NOTIFY_SOA_CHECKS_TOTAL: &str = "sekisho_notify_soa_checks_total";
/// Metric: SOA queries that waited for the global rate bound.
pub const SOA_QUERIES_DELAYED_TOTAL: &str = "sekisho_rpz_soa_queries_delayed_total";

/// Now, on tokio's clock when a runtime is running (so tests can pause time),
/// else on the system's monotonic clock. In production the two are the same.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One distributed zone, shared by its task, the NOTIFY path and the control verbs.
#[derive(Debug)]
struct Zone {
    /// Its configuration.
    config: PolicyZone,
    /// The zone name as text, for logs and metric labels (bounded: from config).
    label: String,
    /// The TSIG key signing its transfers and NOTIFYs, if any.
    key: Option<TsigKey>,
    /// Wakes the task: a NOTIFY scheduled a check, or `requested` was set.
    wake: tokio::sync::Notify,
    /// An immediate check is asked for (`refresh`, `retransfer`, a failed save).
    requested: AtomicBool,
    /// The next check skips the SOA comparison and asks for AXFR (`retransfer`).
    force_axfr: AtomicBool,
    /// Which SOA checks NOTIFYs cause (coalescing) and flood detection.
    gate: Mutex<Gate>,
    /// Turned true when a reload removed the zone or changed its settings: its
    /// task ends after the check it may be running, and installs nothing more.
    retired: watch::Sender<bool>,
    /// Whether its task was started (once: at start, or by [`Distribution::start_new`]).
    started: AtomicBool,
}

impl Zone {
    /// The coalescing state (never held across an await).
    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an immediate check, whatever the NOTIFY coalescing says.
    fn request_check(&self) {
        self.requested.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Whether a reload replaced this zone (its task must end).
    fn is_retired(&self) -> bool {
        *self.retired.borrow()
    }
}

/// The distribution side of the daemon. See the module docs.
#[derive(Debug)]
pub struct Distribution {
    /// Zones with primaries, in configuration order (replaced whole by a reload).
    zones: Mutex<Arc<Vec<Arc<Zone>>>>,
    /// Every configured key, to verify signed NOTIFYs (replaced whole by a reload).
    keys: Mutex<Arc<Vec<TsigKey>>>,
    /// The policy store the zones are published through.
    store: Arc<PolicyStore>,
    /// `sekisho_notify_total{zone,result}`.
    notify_total: IntCounterVec,
    /// `sekisho_rpz_transfers_total{zone,type,result}`.
    transfers_total: IntCounterVec,
    /// `sekisho_notify_soa_checks_total{zone}`.
    notify_soa_checks: IntCounterVec,
    /// `sekisho_rpz_soa_queries_delayed_total`.
    soa_delayed: IntCounter,
    /// The global SOA query rate bound.
    pacer: Pacer,
    /// Wakes the flood watcher when a NOTIFY flood starts.
    flood_wake: tokio::sync::Notify,
    /// NOTIFY senders already logged as refused, with the reason (log once per
    /// peer and reason; bounded).
    strangers: Mutex<HashSet<(IpAddr, &'static str)>>,
    /// The daemon's stop signal, kept by [`Distribution::spawn`] for the tasks
    /// a reload starts later.
    stop: Mutex<Option<watch::Receiver<bool>>>,
}

/// The sans-secret-in-logs conversion of a configured key.
fn tsig_key(key: &sekisho_conf::Key) -> TsigKey {
    let algorithm = match key.algorithm {
        sekisho_conf::TsigAlgorithm::HmacSha1 => TsigAlgorithm::HmacSha1,
        sekisho_conf::TsigAlgorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
        sekisho_conf::TsigAlgorithm::HmacSha384 => TsigAlgorithm::HmacSha384,
        sekisho_conf::TsigAlgorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
    };
    TsigKey::new(key.name.clone(), algorithm, key.secret.as_bytes().to_vec())
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The Unix time of a monotonic instant (for status output).
fn unix_at(at: Instant) -> u64 {
    let now = now();
    if at >= now {
        unix_now().saturating_add(at.duration_since(now).as_secs())
    } else {
        unix_now().saturating_sub(now.duration_since(at).as_secs())
    }
}

impl Distribution {
    /// The distribution for `config`'s zones, publishing through `store`, with its
    /// metrics registered in `registry`. Zones without primaries are left
    /// to file loads.
    pub fn new(
        config: &Config,
        store: Arc<PolicyStore>,
        registry: &prometheus::Registry,
    ) -> Result<Arc<Distribution>, prometheus::Error> {
        let notify_total = IntCounterVec::new(
            Opts::new(
                NOTIFY_TOTAL,
                "NOTIFY messages received, by policy zone (\"unknown\" for others) and result.",
            ),
            &["zone", "result"],
        )?;
        registry.register(Box::new(notify_total.clone()))?;
        let transfers_total = IntCounterVec::new(
            Opts::new(
                TRANSFERS_TOTAL,
                "Policy zone SOA checks and transfers, by zone, type (soa, axfr, ixfr) and result.",
            ),
            &["zone", "type", "result"],
        )?;
        registry.register(Box::new(transfers_total.clone()))?;
        let notify_soa_checks = IntCounterVec::new(
            Opts::new(
                NOTIFY_SOA_CHECKS_TOTAL,
                "SOA checks started to answer NOTIFYs, by policy zone (NOTIFYs that a \
                 queued or running check covers cause none).",
            ),
            &["zone"],
        )?;
        registry.register(Box::new(notify_soa_checks.clone()))?;
        let soa_delayed = IntCounter::new(
            SOA_QUERIES_DELAYED_TOTAL,
            "SOA queries to primaries that waited for a slot under the global bound \
             of 20 per second (BIND serial-query-rate).",
        )?;
        registry.register(Box::new(soa_delayed.clone()))?;
        let zones: Vec<Arc<Zone>> = config
            .response_policy
            .zones
            .iter()
            .filter(|z| !z.primaries.is_empty())
            .map(|z| new_zone(z, config))
            .collect();
        for z in &zones {
            // Present from the start, so a scrape shows 0 rather than nothing.
            notify_soa_checks.with_label_values(&[z.label.as_str()]);
        }
        Ok(Arc::new(Distribution {
            zones: Mutex::new(Arc::new(zones)),
            keys: Mutex::new(Arc::new(config.keys.iter().map(tsig_key).collect())),
            store,
            notify_total,
            transfers_total,
            notify_soa_checks,
            soa_delayed,
            pacer: Pacer::new(SOA_QUERIES_PER_SECOND),
            flood_wake: tokio::sync::Notify::new(),
            strangers: Mutex::new(HashSet::new()),
            stop: Mutex::new(None),
        }))
    }

    /// Waits for this query's slot under the global SOA query bound, logging
    /// the bound engaging and releasing once each.
    async fn pace_soa_query(&self, zone: &str) {
        let (wait, change) = self.pacer.reserve(now());
        match change {
            Some(Transition::Engaged) => tracing::warn!(
                zone,
                per_second = SOA_QUERIES_PER_SECOND,
                spacing_ms = self.pacer.interval().as_millis(),
                "SOA query rate bound reached: checks of the primaries now wait for a slot \
                 (counted in sekisho_rpz_soa_queries_delayed_total)"
            ),
            Some(Transition::Released { delayed }) => tracing::info!(
                delayed,
                "SOA query rate back under the bound; no check waits any more"
            ),
            None => {}
        }
        if !wait.is_zero() {
            self.soa_delayed.inc();
            tokio::time::sleep(wait).await;
        }
    }

    /// Logs the end of NOTIFY floods: woken when one starts, it looks every
    /// quarter of `FLOOD_QUIET` until no zone is flooded any more.
    async fn watch_floods(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.flood_wake.notified() => {}
                _ = stop.changed() => return,
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FLOOD_QUIET / 4) => {}
                    _ = stop.changed() => return,
                }
                let at = now();
                let mut flooding = false;
                for zone in self.zones().iter() {
                    let ended = {
                        let mut gate = zone.gate();
                        let ended = gate.flood_ended(at);
                        flooding |= gate.flooding();
                        ended
                    };
                    if let Some(run) = ended {
                        let checks = self
                            .notify_soa_checks
                            .with_label_values(&[zone.label.as_str()])
                            .get()
                            .saturating_sub(run.checks_before);
                        tracing::info!(
                            zone = %zone.label,
                            peer = %run.from,
                            notifies = run.notifies,
                            seconds = run.last.saturating_duration_since(run.since).as_secs_f64(),
                            soa_checks = checks,
                            "NOTIFY flood ended"
                        );
                    }
                }
                if !flooding {
                    break;
                }
            }
        }
    }

    /// Starts one task per zone and the NOTIFY flood watcher; they end when `stop`
    /// turns true.
    pub fn spawn(self: &Arc<Self>, stop: &watch::Receiver<bool>) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop.clone());
        tokio::spawn(self.clone().watch_floods(stop.clone()));
        for zone in self.zones().iter() {
            self.spawn_zone(zone, stop);
        }
    }

    /// Starts the task of one zone, seeded from its live version (the saved
    /// copy loaded before it, if any); it ends when `stop` turns true or a
    /// reload retires the zone.
    fn spawn_zone(self: &Arc<Self>, zone: &Arc<Zone>, stop: &watch::Receiver<bool>) {
        if zone.started.swap(true, Ordering::Relaxed) {
            return;
        }
        let span = tracing::info_span!("policy_zone", zone = %zone.label);
        tokio::spawn(
            ZoneTask::new(self.clone(), zone.clone())
                .run(stop.clone())
                .instrument(span),
        );
    }

    /// The zones with primaries now (a snapshot: a reload replaces the list).
    fn zones(&self) -> Arc<Vec<Arc<Zone>>> {
        self.zones.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The configured keys now (a snapshot: a reload replaces them).
    fn keys(&self) -> Arc<Vec<TsigKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A reload's zones and keys, as BIND's `rndc reconfig` applies them: a zone
    /// with the same settings and key keeps its task (no new transfer); a removed
    /// zone's task ends; a changed zone's task ends and its successor, started
    /// by [`Distribution::start_new`], checks its primaries at once, from the
    /// serial held (the rules stay live meanwhile); an added zone's task is
    /// started there too. NOTIFYs are verified with the new keys from here on
    /// (one for a zone whose task is not started yet wakes it when it starts).
    /// The caller reconfigures the policy store before, and loads it between
    /// this and `start_new`, so new tasks are seeded from the saved copies as
    /// at start.
    pub fn reconfigure(&self, config: &Config) -> Reconfigured {
        let old = self.zones();
        let mut done = Reconfigured::default();
        let mut zones = Vec::new();
        for z in config
            .response_policy
            .zones
            .iter()
            .filter(|z| !z.primaries.is_empty())
        {
            let key = z.key.as_deref().and_then(|k| config.key(k)).map(tsig_key);
            match old.iter().find(|o| o.config.name == z.name) {
                Some(o) if same_task(&o.config, z) && o.key == key => {
                    done.unchanged.push(o.label.clone());
                    zones.push(o.clone());
                }
                Some(o) => {
                    // `send_replace`: the flag turns even before the task subscribed.
                    o.retired.send_replace(true);
                    let new = new_zone(z, config);
                    // The new primaries or key are tried now, not at the next refresh.
                    new.request_check();
                    done.restarted.push(new.label.clone());
                    zones.push(new);
                }
                None => {
                    let new = new_zone(z, config);
                    self.notify_soa_checks
                        .with_label_values(&[new.label.as_str()]);
                    done.added.push(new.label.clone());
                    zones.push(new);
                }
            }
        }
        for o in old.iter() {
            if !zones.iter().any(|z| z.config.name == o.config.name) {
                o.retired.send_replace(true);
                done.removed.push(o.label.clone());
            }
        }
        let zones = Arc::new(zones);
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(config.keys.iter().map(tsig_key).collect());
        *self.zones.lock().unwrap_or_else(|p| p.into_inner()) = zones;
        done
    }

    /// Starts the tasks of the zones a reload added or changed (see
    /// [`Distribution::reconfigure`]); they end as those started with the
    /// daemon do. Nothing before [`Distribution::spawn`]. Starting a task
    /// cannot fail: everything it needs was checked with the configuration.
    pub fn start_new(self: &Arc<Self>) {
        let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        for z in self.zones().iter() {
            self.spawn_zone(z, &stop);
        }
    }

    /// The zone called `name` (trailing dot optional, any case).
    fn zone_named(&self, name: &str) -> Option<Arc<Zone>> {
        let text = name.trim_end_matches('.');
        self.zones()
            .iter()
            .find(|z| z.label.trim_end_matches('.').eq_ignore_ascii_case(text))
            .cloned()
    }

    /// `sekishoctl refresh ZONE` (`axfr` false) and `retransfer ZONE` (`axfr` true):
    /// queue an immediate check. `Err` names the reason for the operator.
    pub fn request_check(&self, name: &str, axfr: bool) -> Result<String, String> {
        let Some(zone) = self.zone_named(name) else {
            return Err(
                if self.store.status().iter().any(|s| {
                    s.name
                        .trim_end_matches('.')
                        .eq_ignore_ascii_case(name.trim_end_matches('.'))
                }) {
                    format!("policy zone {name} has no primaries (use reload for file zones)")
                } else {
                    format!("no policy zone named {name}")
                },
            );
        };
        if axfr {
            zone.force_axfr.store(true, Ordering::Relaxed);
        }
        zone.request_check();
        Ok(format!(
            "{} of {} queued",
            if axfr { "full transfer" } else { "refresh" },
            zone.label
        ))
    }
}

/// What a reload did to the zones with primaries (zone names, in order).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconfigured {
    /// Zones that got a task.
    pub added: Vec<String>,
    /// Zones whose task ended.
    pub removed: Vec<String>,
    /// Zones whose task was replaced by one with the new settings.
    pub restarted: Vec<String>,
    /// Zones whose task goes on as it was.
    pub unchanged: Vec<String>,
}

/// A zone's task for `z` (not started), with its key from `config`.
fn new_zone(z: &PolicyZone, config: &Config) -> Arc<Zone> {
    Arc::new(Zone {
        config: z.clone(),
        label: z.name.to_ascii(),
        key: z.key.as_deref().and_then(|k| config.key(k)).map(tsig_key),
        wake: tokio::sync::Notify::new(),
        requested: AtomicBool::new(false),
        force_axfr: AtomicBool::new(false),
        gate: Mutex::new(Gate::new()),
        retired: watch::channel(false).0,
        started: AtomicBool::new(false),
    })
}

/// Whether a task started for `old` serves `new` as it is: the same settings,
/// leaving aside `log-client-ip` (read by the query path, not the task). The
/// settings the compiler reads (policy, TTL cap, ...) count too: a restarted
/// task is cheap (no transfer unless the primary's serial is newer).
fn same_task(old: &PolicyZone, new: &PolicyZone) -> bool {
    PolicyZone {
        log_client_ip: new.log_client_ip,
        ..old.clone()
    } == *new
}

/// The result of one successful check.
#[derive(Debug)]
struct Checked {
    /// The SOA now held.
    soa: SOA,
    /// What was done: `None` when the copy was already current.
    transfer: Option<&'static str>,
}

/// Why one primary could not bring the zone up to date.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
enum CheckError {
    /// The SOA query or the transfer failed.
    #[error("{primary}: {source}")]
    Xfr {
        /// The primary.
        primary: SocketAddr,
        /// The cause.
        #[source]
        source: XfrError,
    },
    /// The primary's serial is older than the one we hold (RFC 1982 order).
    #[error("{primary}: primary serial {theirs} is older than ours ({ours}); keeping ours")]
    SerialBackwards {
        /// The primary.
        primary: SocketAddr,
        /// Its serial.
        theirs: Serial,
        /// Ours.
        ours: Serial,
    },
    /// The incremental transfer does not start at the version we hold (the live
    /// version changed during the transfer, e.g. by a reload).
    #[error("{primary}: IXFR starts at serial {from}, we hold {ours:?}")]
    StaleBase {
        /// The primary.
        primary: SocketAddr,
        /// Where the delta starts.
        from: Serial,
        /// What is live.
        ours: Option<u32>,
    },
    /// A reload replaced the zone while its transfer ran: the new task decides.
    #[error("the zone was reconfigured during the transfer; its new task takes over")]
    Retired,
    /// A compile or apply thread failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CheckError {
    /// A bounded label for metrics and log-once bookkeeping.
    fn label(&self) -> &'static str {
        match self {
            CheckError::Xfr { source, .. } => source.as_metrics_label(),
            CheckError::SerialBackwards { .. } => "serial_backwards",
            CheckError::StaleBase { .. } => "stale_base",
            CheckError::Retired => "retired",
            CheckError::Internal(_) => "internal",
        }
    }

    /// The primary concerned, if any.
    fn primary(&self) -> Option<SocketAddr> {
        match self {
            CheckError::Xfr { primary, .. }
            | CheckError::SerialBackwards { primary, .. }
            | CheckError::StaleBase { primary, .. } => Some(*primary),
            CheckError::Retired | CheckError::Internal(_) => None,
        }
    }
}

/// The SOA RDATA of a record (`None` for other types).
fn soa_of(record: &Record) -> Option<&SOA> {
    match &record.data {
        RData::SOA(s) => Some(s),
        _ => None,
    }
}

/// True when records of one owner are never split by another owner, as
/// `ZoneRules::compile` expects.
fn owners_contiguous(records: &[Record]) -> bool {
    let mut seen: HashSet<Name> = HashSet::new();
    let mut current: Option<&Name> = None;
    for r in records {
        if current != Some(&r.name) {
            if !seen.insert(r.name.clone()) {
                return false;
            }
            current = Some(&r.name);
        }
    }
    true
}

/// One zone's refresh loop and the state it keeps.
struct ZoneTask {
    /// The distribution (store, metrics).
    dist: Arc<Distribution>,
    /// The zone.
    zone: Arc<Zone>,
    /// SOA timers.
    timer: ZoneTimer,
    /// The clamps from the zone's config.
    clamps: RefreshClamps,
    /// Whether the copy has been reported expired.
    expired: bool,
    /// (primary, error label) pairs already logged at WARN since the last success.
    logged: HashSet<(Option<SocketAddr>, &'static str)>,
}

impl ZoneTask {
    /// The task for `zone`, with timers seeded from the copy loaded at start-up.
    fn new(dist: Arc<Distribution>, zone: Arc<Zone>) -> ZoneTask {
        let defaults = RefreshClamps::default();
        // There is no min-retry key: retries follow min-refresh when it is lower than
        // BIND's 500 s floor, so a feed checked every minute is also retried that fast.
        let clamps = RefreshClamps {
            min_refresh: zone.config.min_refresh,
            max_refresh: zone.config.max_refresh,
            min_retry: defaults.min_retry.min(zone.config.min_refresh),
            max_retry: defaults.max_retry.min(zone.config.max_refresh),
            ..defaults
        };
        let live = dist.store.zone_rules(&zone.config.name);
        let soa = live
            .as_ref()
            .and_then(|r| r.soa())
            .and_then(soa_of)
            .cloned();
        let plan = match &soa {
            Some(s) => RefreshPlan::from_soa(s, &clamps),
            None => RefreshPlan::from_soa(
                &SOA::new(Name::root(), Name::root(), 0, 0, 0, 0, 0),
                &clamps,
            ),
        };
        // A copy loaded from disk was current when it was written.
        let age = zone
            .config
            .file
            .as_ref()
            .and_then(|f| std::fs::metadata(f).ok())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        let now = now();
        let last_success = now.checked_sub(age).unwrap_or(now);
        ZoneTask {
            dist,
            zone,
            timer: ZoneTimer::new(plan, last_success),
            clamps,
            expired: false,
            logged: HashSet::new(),
        }
    }

    /// The store.
    fn store(&self) -> &PolicyStore {
        &self.dist.store
    }

    /// The serial of the live version, if it has one.
    fn live_serial(&self) -> Option<u32> {
        self.store()
            .zone_rules(&self.zone.config.name)
            .and_then(|r| r.serial())
    }

    /// Records the timers in the zone's status.
    fn publish_timers(&self) {
        let next = unix_at(self.timer.next(now()).at());
        let have_copy = self.live_serial().is_some();
        let expires = have_copy.then(|| unix_at(self.timer.expires_at()));
        let expired = self.expired;
        let interval = self.timer.plan().refresh.as_secs();
        self.store().update_status(&self.zone.config.name, |st| {
            st.next_refresh = Some(next);
            st.refresh_interval = Some(interval);
            st.expires = expires;
            st.expired = expired;
        });
    }

    /// The refresh loop.
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if self.zone.config.file.is_none() {
            tracing::warn!(
                zone = %self.zone.label,
                "policy zone has primaries but no file: transferred versions are not kept across restarts"
            );
        }
        let mut retired = self.zone.retired.subscribe();
        loop {
            if self.zone.is_retired() {
                tracing::info!(zone = %self.zone.label, "policy zone task stopped: the zone was removed or reconfigured by a reload");
                return;
            }
            self.publish_timers();
            let mut due = self.timer.next(now()).at();
            if let Some(at) = self.zone.gate().queued_at() {
                due = due.min(at);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                _ = self.zone.wake.notified() => {}
                _ = retired.changed() => continue,
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if self.zone.is_retired() {
                continue;
            }
            if self.zone.requested.swap(false, Ordering::Relaxed) {
                self.timer.on_notify();
            }
            let at = now();
            let timer_due = self.timer.next(at).at() <= at;
            let Some(for_notify) = self.zone.gate().begin(at, timer_due) else {
                continue;
            };
            if for_notify {
                self.dist
                    .notify_soa_checks
                    .with_label_values(&[self.zone.label.as_str()])
                    .inc();
            }
            let force = self.zone.force_axfr.swap(false, Ordering::Relaxed);
            let result = self.check(force).await;
            self.zone.gate().finish(self.live_serial().map(Serial));
            match result {
                Ok(checked) => self.on_success(checked),
                // The zone left (or changed) meanwhile: nothing to book.
                Err(_) if self.zone.is_retired() => {}
                Err(errors) => self.on_failure(errors).await,
            }
        }
    }

    /// Books a successful check.
    fn on_success(&mut self, checked: Checked) {
        let now = now();
        self.timer
            .on_success(now, RefreshPlan::from_soa(&checked.soa, &self.clamps));
        if !self.logged.is_empty() || self.expired {
            tracing::info!(zone = %self.zone.label, serial = checked.soa.serial, "policy zone primaries reachable again");
        }
        self.logged.clear();
        self.expired = false;
        let at = unix_now();
        self.store().update_status(&self.zone.config.name, |st| {
            st.last_refresh = Some(at);
            st.last_error = None;
            st.expired = false;
        });
    }

    /// Books a failed check (every primary failed), logging each new failure once.
    async fn on_failure(&mut self, errors: Vec<CheckError>) {
        let now = now();
        self.timer.on_failure(now);
        for e in &errors {
            if self.logged.insert((e.primary(), e.label())) {
                tracing::warn!(
                    zone = %self.zone.label,
                    primary = ?e.primary(),
                    reason = e.label(),
                    error = %e,
                    retry_in_seconds = self.timer.plan().retry.as_secs(),
                    "policy zone refresh failed; the live version stays in force"
                );
            } else {
                tracing::debug!(zone = %self.zone.label, error = %e, "policy zone refresh failed again");
            }
        }
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        self.store().update_status(&self.zone.config.name, |st| {
            st.last_error = Some(message);
            st.failures += 1;
        });
        if !self.expired && self.live_serial().is_some() && self.timer.is_expired(now) {
            self.expire().await;
        }
    }

    /// The copy went past its expire time without contact.
    async fn expire(&mut self) {
        self.expired = true;
        match self.zone.config.on_expire {
            ExpireAction::Keep => tracing::error!(
                zone = %self.zone.label,
                expire_seconds = self.timer.plan().expire.as_secs(),
                "POLICY ZONE EXPIRED: no primary reachable for longer than the SOA expire; \
                 still enforcing the last copy (on-expire = keep)"
            ),
            ExpireAction::Stop => {
                tracing::error!(
                    zone = %self.zone.label,
                    expire_seconds = self.timer.plan().expire.as_secs(),
                    "POLICY ZONE EXPIRED: no primary reachable for longer than the SOA expire; \
                     the zone is no longer enforced (on-expire = stop) until a transfer succeeds"
                );
                let _guard = self.dist.store.exclusive().await;
                if let Some(live) = self.store().zone_rules(&self.zone.config.name) {
                    let empty = Arc::new(ZoneRules::empty(live.settings().clone()));
                    self.store().install(empty, |st| {
                        st.serial = None;
                        st.rules = 0;
                    });
                }
            }
        }
    }

    /// One check against the primaries in order; the first that succeeds wins.
    async fn check(&self, force_axfr: bool) -> Result<Checked, Vec<CheckError>> {
        let mut errors = Vec::new();
        for p in &self.zone.config.primaries {
            let primary = SocketAddr::new(p.ip, p.port);
            match self.check_primary(primary, force_axfr).await {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(e),
            }
        }
        Err(errors)
    }

    /// Counts a check or transfer in the metrics.
    fn count(&self, kind: &str, result: &str) {
        self.dist
            .transfers_total
            .with_label_values(&[self.zone.label.as_str(), kind, result])
            .inc();
    }

    /// Transfer limits from the zone's config.
    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.zone.config.max_transfer_size,
            max_duration: self.zone.config.max_transfer_time,
            idle_timeout: IDLE_TIMEOUT.min(self.zone.config.max_transfer_time),
            ..Limits::default()
        }
    }

    /// SOA check and, when needed, a transfer from one primary.
    async fn check_primary(
        &self,
        primary: SocketAddr,
        force_axfr: bool,
    ) -> Result<Checked, CheckError> {
        let name = &self.zone.config.name;
        let key = self.zone.key.as_ref();
        let live = self.store().zone_rules(name);
        let ours = live.as_ref().and_then(|r| r.serial()).map(Serial);
        let xfr = |source| CheckError::Xfr { primary, source };
        if let (Some(ours), false) = (ours, force_axfr) {
            self.dist.pace_soa_query(&self.zone.label).await;
            let answer = sekisho_xfr::query_soa(primary, name, key, SOA_TIMEOUT)
                .await
                .map_err(|e| {
                    self.count("soa", e.as_metrics_label());
                    xfr(e)
                })?;
            self.count("soa", "success");
            self.zone.gate().saw_serial(answer.serial);
            if answer.serial == ours {
                return Ok(Checked {
                    soa: answer.soa,
                    transfer: None,
                });
            }
            if !answer.serial.is_newer_than(ours) {
                return Err(CheckError::SerialBackwards {
                    primary,
                    theirs: answer.serial,
                    ours,
                });
            }
        }
        let live_soa = live
            .as_ref()
            .and_then(|r| r.soa())
            .and_then(soa_of)
            .cloned();
        let request = match (ours, force_axfr) {
            (Some(serial), false) => Request::Ixfr {
                serial,
                soa: live_soa,
            },
            _ => Request::Axfr,
        };
        let kind = if matches!(request, Request::Axfr) {
            "axfr"
        } else {
            "ixfr"
        };
        let limits = self.limits();
        let started = Instant::now();
        let mut result = sekisho_xfr::transfer(primary, name, request, key, &limits).await;
        let mut kind = kind;
        if let Err(e) = &result {
            if e.suggests_axfr_fallback() {
                self.count("ixfr", e.as_metrics_label());
                tracing::info!(zone = %self.zone.label, %primary, error = %e, "IXFR not available; falling back to AXFR");
                kind = "axfr";
                result = sekisho_xfr::transfer(primary, name, Request::Axfr, key, &limits).await;
            }
        }
        let transfer = result.map_err(|e| {
            self.count(kind, e.as_metrics_label());
            xfr(e)
        })?;
        let received = started.elapsed();
        let outcome = match transfer {
            Transfer::UpToDate { soa } => {
                self.count(kind, "up_to_date");
                let soa = soa_of(&soa)
                    .cloned()
                    .ok_or_else(|| CheckError::Internal("up-to-date answer without SOA".into()))?;
                Ok(Checked {
                    soa,
                    transfer: None,
                })
            }
            Transfer::Full { soa, records } => {
                let theirs = soa_of(&soa).map(|s| Serial(s.serial)).unwrap_or(Serial(0));
                if let (Some(ours), false) = (ours, force_axfr) {
                    if theirs != ours && !theirs.is_newer_than(ours) {
                        self.count(kind, "serial_backwards");
                        return Err(CheckError::SerialBackwards {
                            primary,
                            theirs,
                            ours,
                        });
                    }
                }
                self.install_full(primary, soa, records, received).await
            }
            Transfer::Incremental { soa, deltas } => {
                self.install_incremental(primary, soa, deltas, received)
                    .await
            }
        };
        match &outcome {
            Ok(c) if c.transfer.is_some() => self.count(kind, "success"),
            Ok(_) => {}
            Err(e) => self.count(kind, e.label()),
        }
        outcome
    }

    /// Compiles and publishes a full zone, then saves it.
    async fn install_full(
        &self,
        primary: SocketAddr,
        soa: Record,
        records: Vec<Record>,
        received: Duration,
    ) -> Result<Checked, CheckError> {
        let soa_rdata = soa_of(&soa)
            .cloned()
            .ok_or_else(|| CheckError::Internal("transfer without SOA".into()))?;
        let serial = Serial(soa_rdata.serial);
        let _guard = self.dist.store.exclusive().await;
        if self.zone.is_retired() {
            return Err(CheckError::Retired);
        }
        let settings = match self.store().zone_rules(&self.zone.config.name) {
            Some(r) => r.settings().clone(),
            None => return Err(CheckError::Internal("zone not in the policy set".into())),
        };
        let started = Instant::now();
        let records = Arc::new(records);
        let compile_records = records.clone();
        let (rules, warnings) = tokio::task::spawn_blocking(move || {
            if owners_contiguous(&compile_records) {
                ZoneRules::compile(settings, compile_records.iter().cloned())
            } else {
                let mut sorted = (*compile_records).clone();
                sorted.sort_by(|a, b| a.name.cmp(&b.name));
                ZoneRules::compile(settings, sorted)
            }
        })
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
        let count = rules.counts().total();
        let compile = started.elapsed();
        let at = unix_now();
        self.store().install(Arc::new(rules), |st| {
            set_transferred(st, serial, count, at, "axfr", warnings.len(), compile);
        });
        tracing::info!(
            zone = %self.zone.label,
            %primary,
            serial = serial.get(),
            records = records.len(),
            rules = count,
            skipped = warnings.len(),
            transfer_seconds = received.as_secs_f64(),
            compile_seconds = compile.as_secs_f64(),
            "policy zone transferred (AXFR) and live"
        );
        log_warnings(&self.zone.label, &warnings);
        // Primary role: a zone we also serve goes on to our own secondaries.
        self.store()
            .transferred(&self.zone.config.name, records.clone())
            .await;
        if let Some(path) = self.zone.config.file.clone() {
            let label = self.zone.label.clone();
            let saved = tokio::task::spawn_blocking(move || {
                saved::write_full(&path, serial, &records).map(|()| path)
            })
            .await;
            report_save(&label, saved);
        }
        Ok(Checked {
            soa: soa_rdata,
            transfer: Some("axfr"),
        })
    }

    /// Applies IXFR deltas to the live version, publishes it, then patches the saved copy.
    async fn install_incremental(
        &self,
        primary: SocketAddr,
        soa: Record,
        mut deltas: Vec<Delta>,
        received: Duration,
    ) -> Result<Checked, CheckError> {
        let soa_rdata = soa_of(&soa)
            .cloned()
            .ok_or_else(|| CheckError::Internal("transfer without SOA".into()))?;
        let serial = Serial(soa_rdata.serial);
        let _guard = self.dist.store.exclusive().await;
        if self.zone.is_retired() {
            return Err(CheckError::Retired);
        }
        let Some(live) = self.store().zone_rules(&self.zone.config.name) else {
            return Err(CheckError::Internal("zone not in the policy set".into()));
        };
        let from = deltas.first().map(|d| d.from_serial).unwrap_or(serial);
        if live.serial() != Some(from.get()) {
            return Err(CheckError::StaleBase {
                primary,
                from,
                ours: live.serial(),
            });
        }
        let changes: usize = deltas.iter().map(|d| d.removed.len() + d.added.len()).sum();
        // The new SOA rides with the last delta's additions (apply_delta takes the
        // apex SOA from there).
        if let Some(last) = deltas.last_mut() {
            last.added.push(soa.clone());
        }
        let started = Instant::now();
        let (rules, warnings, deltas) = tokio::task::spawn_blocking(move || {
            let mut current = live;
            let mut warnings = Vec::new();
            for d in &deltas {
                let (next, w) = current.apply_delta(&d.removed, &d.added);
                warnings.extend(w);
                current = Arc::new(next);
            }
            (current, warnings, deltas)
        })
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
        let count = rules.counts().total();
        let at = unix_now();
        let overlay = rules.overlay_len();
        let settings = rules.settings().clone();
        self.store().install(rules, |st| {
            set_transferred(
                st,
                serial,
                count,
                at,
                "ixfr",
                warnings.len(),
                started.elapsed(),
            );
        });
        let live_after = started.elapsed();
        tracing::info!(
            zone = %self.zone.label,
            %primary,
            from = from.get(),
            serial = serial.get(),
            deltas = deltas.len(),
            changes,
            rules = count,
            transfer_seconds = received.as_secs_f64(),
            apply_seconds = live_after.as_secs_f64(),
            "policy zone updated (IXFR) and live"
        );
        log_warnings(&self.zone.label, &warnings);
        // Primary role: a zone we also serve goes on to our own secondaries.
        self.store()
            .patched(&self.zone.config.name, &deltas, &soa)
            .await;
        if let Some(path) = self.zone.config.file.clone() {
            let name = self.zone.config.name.clone();
            let task_path = path.clone();
            let saved = tokio::task::spawn_blocking(move || {
                saved::apply_deltas(&task_path, &name, &deltas, &soa).map(|_| task_path)
            })
            .await;
            let ok = report_save(&self.zone.label, saved);
            if !ok {
                // The saved copy no longer matches: the next check rewrites it whole.
                self.zone.force_axfr.store(true, Ordering::Relaxed);
                self.zone.request_check();
            } else if overlay > OVERLAY_RECOMPILE {
                self.recompile(settings, path, serial).await;
            }
        }
        Ok(Checked {
            soa: soa_rdata,
            transfer: Some("ixfr"),
        })
    }

    /// Rebuilds a zone whose incremental overlay grew large from its saved copy
    /// (called with the store's exclusive guard held).
    async fn recompile(&self, settings: sekisho_rpz::ZoneSettings, path: PathBuf, serial: Serial) {
        let started = Instant::now();
        let result =
            tokio::task::spawn_blocking(move || sekisho_policy::load_file(settings, &path)).await;
        match result {
            Ok(Ok((rules, _))) if rules.serial() == Some(serial.get()) => {
                self.store().install(Arc::new(rules), |_| {});
                tracing::info!(zone = %self.zone.label, seconds = started.elapsed().as_secs_f64(), "policy zone recompiled from its saved copy (incremental overlay was large)");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(zone = %self.zone.label, error = %e, "recompiling from the saved copy failed; the incremental version stays")
            }
            Err(e) => {
                tracing::warn!(zone = %self.zone.label, error = %e, "recompile thread failed")
            }
        }
    }
}

/// Status after a transfer made a new version live.
fn set_transferred(
    st: &mut ZoneStatus,
    serial: Serial,
    rules: usize,
    at: u64,
    kind: &str,
    skipped: usize,
    took: Duration,
) {
    st.serial = Some(serial.get());
    st.rules = rules;
    st.last_transfer = Some(at);
    st.last_transfer_kind = Some(kind.to_owned());
    st.last_refresh = Some(at);
    st.load_seconds = Some(took.as_secs_f64());
    st.skipped = skipped;
    st.last_error = None;
    st.expired = false;
}

/// Logs the first compiler warnings of a transfer.
fn log_warnings(zone: &str, warnings: &[sekisho_rpz::Warning]) {
    for w in warnings.iter().take(20) {
        tracing::warn!(zone, owner = %w.owner, reason = %w.reason, "policy rule skipped");
    }
    if warnings.len() > 20 {
        tracing::warn!(
            zone,
            more = warnings.len() - 20,
            "more policy rules skipped (not logged one by one)"
        );
    }
}

/// Logs the outcome of a save; true when it succeeded.
fn report_save(
    zone: &str,
    saved: Result<Result<PathBuf, SaveError>, tokio::task::JoinError>,
) -> bool {
    match saved {
        Ok(Ok(path)) => {
            tracing::debug!(zone, file = %path.display(), "policy zone saved");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(zone, error = %e, "policy zone could not be saved; the live version is unaffected");
            false
        }
        Err(e) => {
            tracing::error!(zone, error = %e, "policy zone save thread failed");
            false
        }
    }
}

#[cfg(test)]
mod tests;
