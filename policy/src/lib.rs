//! Policy zones: load, compile and publish the [`PolicySet`] every query reads.
//!
//! ```text
//!  zone file ──ZoneReader (wire form)──▶ WireCompiler ──▶ with_zone_replaced ──▶ ArcSwap<PolicySet>
//!            (blocking thread, never a query worker)             (one pointer swap)      (read lock-free)
//! ```
//!
//! A zone is compiled whole on a blocking thread, then swapped in with one
//! atomic pointer store: queries never wait for a load and never see a
//! half-built set. A load that fails keeps the zone's last good version live
//! and records the error for `sekishoctl zones`/`status` and the log. A load
//! fails when the file cannot be read, has a fatal parse error (I/O, limits,
//! `$INCLUDE` trouble), has no SOA, does not end with a newline (a file
//! caught half-written), or changed size or time while it was being read.
//! Malformed records are reported with file:line:column and skipped; rules
//! the RPZ compiler cannot use are reported with their owner and skipped;
//! the rest of the zone loads.
//!
//! A reload of a file that was replaced is done by difference where that gives
//! the same result (see [`difference`]): only the changed lines are parsed, and
//! applied to the live version as one delta; otherwise, and after 100,000
//! changed rules in all, the whole file is compiled again.
//!
//! The primary role (a separate crate) learns of every new version through
//! the [`VersionSink`] handed to [`PolicyStore::new`]: the store does not know
//! what a secondary or a journal is, and nothing is wired after construction.

mod difference;
pub mod saved;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
pub use sekisho_api::ZoneStatus;

/// A boxed future, for the object-safe [`VersionSink`].
pub type SinkFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Told of every new live version of a policy zone, after it is live: the
/// primary role journals it and notifies its own secondaries. Implemented by
/// the primary role; the store only calls it.
pub trait VersionSink: Send + Sync + std::fmt::Debug {
    /// Whether zone `zone` is served (only those are passed on).
    fn serves(&self, zone: &hickory_proto::rr::Name) -> bool;
    /// Zone `zone` was loaded from `file` with `serial`.
    fn loaded_file<'a>(
        &'a self,
        zone: &'a hickory_proto::rr::Name,
        file: PathBuf,
        serial: u32,
    ) -> SinkFuture<'a>;
    /// Zone `zone` was transferred whole: these are its records.
    fn transferred<'a>(
        &'a self,
        zone: &'a hickory_proto::rr::Name,
        records: Arc<Vec<hickory_proto::rr::Record>>,
    ) -> SinkFuture<'a>;
    /// Zone `zone` was patched by IXFR `deltas`; `soa` is the new SOA.
    fn patched<'a>(
        &'a self,
        zone: &'a hickory_proto::rr::Name,
        deltas: &'a [sekisho_xfr::Delta],
        soa: &'a hickory_proto::rr::Record,
    ) -> SinkFuture<'a>;
    /// Zone `zone`'s file is about to be read (a reload): the sink writes changes it
    /// holds that the file does not have yet (a zone changed by UPDATE), so the
    /// load does not go back to an older version.
    fn before_load<'a>(&'a self, zone: &'a hickory_proto::rr::Name) -> SinkFuture<'a> {
        let _ = zone;
        Box::pin(std::future::ready(()))
    }
    /// Adds what the sink knows of zone `zone` (secondaries, journal) to its status.
    fn describe(&self, zone: &hickory_proto::rr::Name, status: &mut ZoneStatus);
}
use sekisho_conf::{PolicyZone, ResponsePolicy};
use sekisho_rpz::{PolicyOverride, PolicySet, SetOptions, WireCompiler, ZoneRules, ZoneSettings};
use sekisho_zonefile::{ParseOptions, WireBatch, ZoneReader};
use serde::{Deserialize, Serialize};

/// Records handed from the parsing thread to the compiler at a time.
const PARSE_BATCH: usize = 4096;

/// Batches parsed ahead of the compiler at most.
const BATCHES_IN_FLIGHT: usize = 8;

/// Zone-file bytes per record, to size the index before a load (a typical RPZ line is
/// 25-40 bytes; a wrong guess only costs a reallocation or some spare capacity that is
/// trimmed when the compile finishes).
const BYTES_PER_RECORD_GUESS: u64 = 32;

/// Largest size hint taken from a file's length: a huge or sparse file must not make the
/// compiler reserve gigabytes before the parser has read a line of it (bigger zones grow
/// their tables as they load).
const MAX_RECORDS_HINT: usize = 16 << 20;

/// Most warnings logged one by one per load; the rest are counted.
const MAX_LOGGED_WARNINGS: usize = 20;

/// Most rules a zone's incremental overlay may hold after a reload by difference (as
/// after IXFRs); past it, the reload compiles the whole file.
const OVERLAY_LIMIT: usize = 100_000;

/// Largest change done by difference, as a share of the zone's rules (1 in N): past it a
/// full compile costs about as much (a changed line costs some 20 times a line of a
/// full load).
const DIFFERENCE_SHARE: usize = 20;

/// Why a zone load was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The zone has no file to load from.
    #[error("zone has no file")]
    NoFile,
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A parse error that stops the load (limits, `$INCLUDE`, I/O).
    #[error("{0}")]
    Parse(#[from] sekisho_zonefile::Error),
    /// No SOA at the apex: not a zone.
    #[error("{path}: no SOA record for the zone apex")]
    NoSoa {
        /// The file.
        path: PathBuf,
    },
    /// The last line has no newline: the file is probably being written.
    #[error(
        "{path}: file does not end with a newline (half-written?); keeping the previous version"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
    },
    /// The file changed while it was read.
    #[error("{path}: file changed while being read; keeping the previous version")]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The compile thread failed.
    #[error("internal error while compiling: {0}")]
    Internal(String),
}

/// Outcome of loading one zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadOutcome {
    /// Zone name.
    pub zone: String,
    /// Ok: rules and serial; Err: why the old version stays.
    pub result: Result<(usize, Option<u32>), String>,
    /// Lines removed and added when the zone was reloaded by difference (`None`: the
    /// whole file was compiled, or the load failed).
    #[serde(default)]
    pub changed_lines: Option<(usize, usize)>,
}

/// Configured zones, their status, and the live set.
#[derive(Debug)]
pub struct PolicyStore {
    /// The set queries read.
    live: Arc<ArcSwap<PolicySet>>,
    /// Zone configs in precedence order, with their status.
    zones: Mutex<Vec<(PolicyZone, ZoneStatus)>>,
    /// Serialises loads so two reloads of one zone cannot race.
    loading: tokio::sync::Mutex<()>,
    /// Base directory for relative file names.
    directory: PathBuf,
    /// Told of every new version (the primary role), if any.
    sink: Option<Arc<dyn VersionSink>>,
    /// The `[response-policy]` table in force: each load compiles a zone with
    /// the settings it gives (`zone_settings`), so a reload that changed them
    /// takes effect with the zone's next load.
    table: Mutex<ResponsePolicy>,
    /// Per zone loaded from a file: what its next reload can compare against.
    bases: Mutex<std::collections::HashMap<hickory_proto::rr::Name, difference::Basis>>,
}

/// Map a configured zone to the compiler's settings.
pub fn zone_settings(z: &PolicyZone, rp: &ResponsePolicy) -> ZoneSettings {
    let mut s = ZoneSettings::new(z.name.clone());
    s.policy = match &z.policy {
        sekisho_conf::PolicyOverride::Given => PolicyOverride::Given,
        sekisho_conf::PolicyOverride::Disabled => PolicyOverride::Disabled,
        sekisho_conf::PolicyOverride::Passthru => PolicyOverride::Passthru,
        sekisho_conf::PolicyOverride::Drop => PolicyOverride::Drop,
        sekisho_conf::PolicyOverride::TcpOnly => PolicyOverride::TcpOnly,
        sekisho_conf::PolicyOverride::Nxdomain => PolicyOverride::Nxdomain,
        sekisho_conf::PolicyOverride::Nodata => PolicyOverride::Nodata,
        sekisho_conf::PolicyOverride::Cname(n) => PolicyOverride::Cname(n.clone()),
    };
    s.max_policy_ttl = u32::try_from(z.max_policy_ttl.as_secs()).unwrap_or(u32::MAX);
    s.log = z.log;
    s.break_dnssec = z.break_dnssec;
    s.recursive_only = z.recursive_only;
    s.add_soa = z.add_soa;
    s.ede = z.ede.info_code();
    s.nsip_enable = rp.nsip_enable;
    s.nsdname_enable = rp.nsdname_enable;
    s.min_ns_dots = rp.min_ns_dots;
    s
}

impl PolicyStore {
    /// A store with every configured zone present but empty (so positions,
    /// and thus precedence, are fixed from the start).
    pub fn new(
        rp: &ResponsePolicy,
        directory: &Path,
        sink: Option<Arc<dyn VersionSink>>,
    ) -> PolicyStore {
        let zones: Vec<Arc<ZoneRules>> = rp
            .zones
            .iter()
            .map(|z| Arc::new(ZoneRules::empty(zone_settings(z, rp))))
            .collect();
        let options = SetOptions {
            qname_wait_recurse: rp.qname_wait_recurse,
        };
        let status = rp
            .zones
            .iter()
            .map(|z| (z.clone(), fresh_status(z, directory)))
            .collect();
        PolicyStore {
            live: Arc::new(ArcSwap::from_pointee(PolicySet::new(zones, options))),
            zones: Mutex::new(status),
            loading: tokio::sync::Mutex::new(()),
            directory: directory.to_owned(),
            sink,
            table: Mutex::new(rp.clone()),
            bases: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The `[response-policy]` table in force (the zones queries see, in order).
    pub fn table(&self) -> ResponsePolicy {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A reload's `[response-policy]`: zones added (empty until their first
    /// load), removed, reordered, or with new settings (served with their
    /// current rules until their next load compiles them anew), and the
    /// table's own settings. A zone keeps its rules, status and `rpz
    /// disable` across it. The caller loads the zones afterwards
    /// ([`PolicyStore::load`]) and starts, stops or restarts the transfer
    /// tasks of zones with primaries (a removed zone's rules leave the set
    /// here, so its task can no longer install any).
    pub async fn reconfigure(&self, rp: &ResponsePolicy) {
        let _serial = self.loading.lock().await;
        let live = self.live.load_full();
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        let mut rules = Vec::with_capacity(rp.zones.len());
        let mut status = Vec::with_capacity(rp.zones.len());
        for z in &rp.zones {
            rules.push(
                live.zone(&z.name)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(ZoneRules::empty(zone_settings(z, rp)))),
            );
            let mut st = zones
                .iter()
                .find(|(c, _)| c.name == z.name)
                .map_or_else(|| fresh_status(z, &self.directory), |(_, st)| st.clone());
            let fresh = fresh_status(z, &self.directory);
            st.file = fresh.file;
            st.primaries = fresh.primaries;
            status.push((z.clone(), st));
        }
        let options = SetOptions {
            qname_wait_recurse: rp.qname_wait_recurse,
        };
        let mut set = PolicySet::new(rules, options);
        for z in &rp.zones {
            if live.is_enabled(&z.name) == Some(false) {
                if let Some(off) = set.with_zone_enabled(&z.name, false) {
                    set = off;
                }
            }
        }
        let (before, after) = (zones.len(), status.len());
        // A removed zone's kept text is closed (its disk blocks freed).
        self.bases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| rp.zones.iter().any(|z| &z.name == name));
        *zones = status;
        *self.table.lock().unwrap_or_else(|p| p.into_inner()) = rp.clone();
        self.live.store(Arc::new(set));
        tracing::info!(
            zones_before = before,
            zones = after,
            "policy zones reconfigured"
        );
    }

    /// Tells the sink (primary role) that zone `zone` was transferred whole.
    pub async fn transferred(
        &self,
        zone: &hickory_proto::rr::Name,
        records: Arc<Vec<hickory_proto::rr::Record>>,
    ) {
        if let Some(sink) = self.sink.as_ref().filter(|s| s.serves(zone)) {
            sink.transferred(zone, records).await;
        }
    }

    /// Tells the sink (primary role) that zone `zone` was patched by IXFR.
    pub async fn patched(
        &self,
        zone: &hickory_proto::rr::Name,
        deltas: &[sekisho_xfr::Delta],
        soa: &hickory_proto::rr::Record,
    ) {
        if let Some(sink) = self.sink.as_ref().filter(|s| s.serves(zone)) {
            sink.patched(zone, deltas, soa).await;
        }
    }

    /// The live set, shared with the pipeline.
    pub fn live(&self) -> Arc<ArcSwap<PolicySet>> {
        self.live.clone()
    }

    /// Status of every zone, in precedence order.
    pub fn status(&self) -> Vec<ZoneStatus> {
        let mut out: Vec<ZoneStatus> = self
            .zones
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        // Primary role: what the secondaries hold.
        if let Some(sink) = &self.sink {
            for st in &mut out {
                if let Ok(name) = hickory_proto::rr::Name::from_ascii(&st.name) {
                    sink.describe(&name, st);
                }
            }
        }
        out
    }

    /// Load every zone that has a file (or the one named `only`), each on a
    /// blocking thread; a failure keeps that zone's previous version.
    pub async fn load(&self, only: Option<&str>) -> Result<Vec<LoadOutcome>, String> {
        let _serial = self.loading.lock().await;
        let (configs, rp_settings): (Vec<PolicyZone>, Vec<ZoneSettings>) = {
            let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
            let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
            zones
                .iter()
                .filter(|(z, _)| only.is_none_or(|n| same_name(&z.name, n)))
                .map(|(z, _)| (z.clone(), zone_settings(z, &table)))
                .unzip()
        };
        if let Some(n) = only {
            if configs.is_empty() {
                return Err(format!("no policy zone named {n}"));
            }
        }
        let mut outcomes = Vec::new();
        for (z, settings) in configs.into_iter().zip(rp_settings) {
            let Some(file) = z.file.as_ref().map(|f| self.directory.join(f)) else {
                continue;
            };
            if !z.primaries.is_empty() && !file.exists() {
                // Distribution: a transferred zone's saved copy appears after its first transfer.
                tracing::info!(zone = %z.name, file = %file.display(), "no saved copy of the policy zone yet; it is enforced after the first transfer");
                continue;
            }
            let zone = z.name.to_ascii();
            if let Some(sink) = self.sink.as_ref().filter(|s| s.serves(&z.name)) {
                sink.before_load(&z.name).await;
            }
            let started = Instant::now();
            let task_file = file.clone();
            let live = self.live.load().zone(&z.name).cloned();
            let basis = self
                .bases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&z.name);
            let task_zone = zone.clone();
            let result = tokio::task::spawn_blocking(move || {
                load_or_difference(settings, &task_file, basis, live, &task_zone)
            })
            .await
            .unwrap_or_else(|e| Err(LoadError::Internal(e.to_string())));
            let elapsed = started.elapsed();
            let mut changed_lines = None;
            let outcome = match result {
                Ok(Loaded {
                    rules,
                    skipped,
                    basis,
                    changed,
                }) => {
                    let (count, serial) = (rules.counts().total(), rules.serial());
                    changed_lines = changed;
                    self.live.rcu(|set| set.with_zone_replaced(rules.clone()));
                    if let Some(basis) = basis {
                        self.bases
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(z.name.clone(), basis);
                    }
                    self.update(&z, |st| {
                        st.serial = serial;
                        st.rules = count;
                        st.last_load = Some(unix_now());
                        st.load_seconds = Some(elapsed.as_secs_f64());
                        st.skipped = skipped;
                        st.last_error = None;
                    });
                    match changed {
                        None => tracing::info!(
                            zone,
                            serial,
                            rules = count,
                            skipped,
                            seconds = elapsed.as_secs_f64(),
                            "policy zone loaded"
                        ),
                        Some((removed, added)) => tracing::info!(
                            zone,
                            serial,
                            rules = count,
                            skipped,
                            seconds = elapsed.as_secs_f64(),
                            lines_removed = removed,
                            lines_added = added,
                            "policy zone loaded by difference"
                        ),
                    }
                    // Primary role: secondaries get the new version (journalled, NOTIFYed).
                    if let (Some(sink), Some(serial)) = (&self.sink, serial) {
                        if sink.serves(&z.name) {
                            sink.loaded_file(&z.name, file.clone(), serial).await;
                        }
                    }
                    Ok((count, serial))
                }
                Err(e) => {
                    let msg = e.to_string();
                    self.update(&z, |st| {
                        st.last_error = Some(msg.clone());
                        st.failures += 1;
                    });
                    tracing::error!(zone, error = %msg, "policy zone load failed; the previous version stays in force");
                    Err(msg)
                }
            };
            outcomes.push(LoadOutcome {
                zone,
                result: outcome,
                changed_lines,
            });
        }
        Ok(outcomes)
    }

    // ----- used by the distribution (zone transfer) side ------------------------------------

    /// The live compiled rules of zone `name`.
    pub fn zone_rules(&self, name: &hickory_proto::rr::Name) -> Option<Arc<ZoneRules>> {
        self.live.load().zone(name).cloned()
    }

    /// Serialises a read-modify-publish of a zone against file loads (`reload`), so
    /// a transfer never publishes a version derived from one that was replaced meanwhile.
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.loading.lock().await
    }

    /// Switches the zone named `zone` on or off (one pointer swap; its rules,
    /// loads and transfers go on either way). Returns whether that changed
    /// anything; `Err` names an unknown zone. Until the next restart: the
    /// configuration says which zones exist, this only pauses one.
    pub fn set_enabled(&self, zone: &str, enabled: bool) -> Result<bool, String> {
        let name = {
            let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
            zones
                .iter()
                .find(|(c, _)| same_name(&c.name, zone))
                .map(|(c, _)| c.name.clone())
                .ok_or_else(|| format!("no policy zone {zone}"))?
        };
        let before = self.live.load().is_enabled(&name);
        if before == Some(enabled) {
            return Ok(false);
        }
        self.live.rcu(|set| {
            set.with_zone_enabled(&name, enabled)
                .unwrap_or_else(|| (**set).clone())
        });
        self.update_status(&name, |st| st.disabled = !enabled);
        Ok(true)
    }

    /// Publishes `rules` as the live version of its zone (one pointer swap, the same
    /// `rcu` as a file load) and updates that zone's status with `f`.
    pub fn install(&self, rules: Arc<ZoneRules>, f: impl FnOnce(&mut ZoneStatus)) {
        let name = rules.name().clone();
        self.live.rcu(|set| set.with_zone_replaced(rules.clone()));
        self.update_status(&name, f);
    }

    /// Applies `f` to the status of zone `name`.
    pub fn update_status(&self, name: &hickory_proto::rr::Name, f: impl FnOnce(&mut ZoneStatus)) {
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, st)) = zones.iter_mut().find(|(c, _)| &c.name == name) {
            f(st);
        }
    }

    /// Apply `f` to the status of zone `z`.
    fn update(&self, z: &PolicyZone, f: impl FnOnce(&mut ZoneStatus)) {
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, st)) = zones.iter_mut().find(|(c, _)| c.name == z.name) {
            f(st);
        }
    }
}

/// The status of a zone nothing has been loaded into yet.
fn fresh_status(z: &PolicyZone, directory: &Path) -> ZoneStatus {
    ZoneStatus {
        name: z.name.to_ascii(),
        primaries: z.primaries.iter().map(|p| p.to_string()).collect(),
        file: z
            .file
            .as_ref()
            .map(|f| directory.join(f).display().to_string()),
        ..ZoneStatus::default()
    }
}

/// Case-insensitive zone name comparison, trailing dot optional.
fn same_name(name: &hickory_proto::rr::Name, text: &str) -> bool {
    name.to_ascii()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(text.trim_end_matches('.'))
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Size and modification time of a file, to notice changes during a read.
fn fingerprint(path: &Path) -> Result<(u64, Option<SystemTime>), LoadError> {
    let m = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok((m.len(), m.modified().ok()))
}

/// Whether the file's last byte is a newline.
fn ends_with_newline(path: &Path) -> Result<bool, LoadError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::Start(len - 1)).map_err(io)?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b).map_err(io)?;
    Ok(b[0] == b'\n')
}

/// A zone loaded from its file, whole or by difference.
struct Loaded {
    rules: Arc<ZoneRules>,
    /// Records or rules skipped.
    skipped: usize,
    /// What the next reload can compare against, if it can.
    basis: Option<difference::Basis>,
    /// `Some((removed, added))` lines when loaded by difference.
    changed: Option<(usize, usize)>,
}

/// Reloads zone `zone` from `path` by difference against `live` when `basis` allows it
/// (see [`difference`]), otherwise loads the whole file (blocking).
fn load_or_difference(
    settings: ZoneSettings,
    path: &Path,
    basis: Option<difference::Basis>,
    live: Option<Arc<ZoneRules>>,
    zone: &str,
) -> Result<Loaded, LoadError> {
    if let (Some(basis), Some(live)) = (basis, live) {
        let share = (live.counts().total() / DIFFERENCE_SHARE).max(1_000);
        let room = OVERLAY_LIMIT.saturating_sub(live.overlay_len()).min(share);
        match difference::reload(&basis, &live, &settings, path, room) {
            Ok(done) => {
                // The old text's descriptor: its close frees the replaced file's blocks.
                difference::dispose(basis);
                let (rules, basis, changed) = done.into_shared();
                return Ok(Loaded {
                    rules,
                    skipped: 0,
                    basis: Some(basis),
                    changed: Some(changed),
                });
            }
            Err(why) => tracing::debug!(zone, why, "policy zone reloaded whole, not by difference"),
        }
    }
    // The descriptor of the text the load reads, kept for the next reload: opened before
    // the load and kept only if the path still names it afterwards.
    let kept = std::fs::File::open(path).ok().and_then(|f| {
        let id = difference::FileId::of(&f.metadata().ok()?);
        Some((f, id))
    });
    let (rules, skipped) = load_file(settings, path)?;
    let rules = Arc::new(rules);
    let basis = kept.and_then(|(f, id)| {
        (skipped == 0 && difference::FileId::at(path).ok() == Some(id))
            .then(|| difference::Basis::new(f, id, &rules))
    });
    Ok(Loaded {
        rules,
        skipped,
        basis,
        changed: None,
    })
}

/// Read and compile one zone file (blocking). Returns the rules and the
/// number of records or rules skipped.
pub fn load_file(settings: ZoneSettings, path: &Path) -> Result<(ZoneRules, usize), LoadError> {
    let before = fingerprint(path)?;
    if !ends_with_newline(path)? {
        return Err(LoadError::Truncated {
            path: path.to_owned(),
        });
    }
    let zone = settings.name.to_ascii();
    let mut reader = ZoneReader::open(path, ParseOptions::with_origin(settings.name.clone()))?;
    // Parse and compile overlap: one thread reads the file into batches of
    // wire-form records and hands them over through a small bounded channel
    // (so memory stays bounded; emptied batches come back for reuse), this
    // thread compiles them as they come. On two cores a load takes about
    // max(parse, compile) instead of their sum. Wire form all the way: no
    // hickory record is built for the common rules (see sekisho_rpz::WireCompiler).
    let (tx, rx) = std::sync::mpsc::sync_channel::<WireBatch>(BATCHES_IN_FLIGHT);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<WireBatch>();
    let parse_zone = zone.clone();
    let hint = usize::try_from(before.0 / BYTES_PER_RECORD_GUESS)
        .unwrap_or(usize::MAX)
        .min(MAX_RECORDS_HINT);
    let (rules, warnings, fatal, skipped) = std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut fatal: Option<sekisho_zonefile::Error> = None;
            let mut skipped = 0usize;
            let mut batch = WireBatch::with_capacity(PARSE_BATCH);
            while let Some(item) = reader.read_into(&mut batch) {
                match item {
                    Ok(()) => {
                        if batch.len() == PARSE_BATCH {
                            let mut next = back_rx
                                .try_recv()
                                .unwrap_or_else(|_| WireBatch::with_capacity(PARSE_BATCH));
                            next.clear();
                            if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                                break;
                            }
                        }
                    }
                    Err(e) if e.is_fatal() => {
                        fatal = Some(e);
                        break;
                    }
                    Err(e) => {
                        if skipped < MAX_LOGGED_WARNINGS {
                            tracing::warn!(zone = %parse_zone, error = %e, "policy record skipped");
                        }
                        skipped += 1;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            (fatal, skipped)
        });
        let mut compiler = WireCompiler::new(settings, hint);
        for batch in rx {
            for r in batch.iter() {
                compiler.add(r.owner, r.rtype, r.class, r.ttl, r.rdata);
            }
            // The parser may have finished; then nobody takes the batch back.
            let _ = back_tx.send(batch);
        }
        let (rules, warnings) = compiler.finish();
        // A parser that panicked delivered only part of the zone: never publish that.
        let (fatal, skipped) = parser
            .join()
            .map_err(|_| LoadError::Internal("the zone-file parser thread panicked".into()))?;
        Ok::<_, LoadError>((rules, warnings, fatal, skipped))
    })?;
    if let Some(e) = fatal {
        return Err(LoadError::Parse(e));
    }
    for w in warnings.iter().take(MAX_LOGGED_WARNINGS) {
        tracing::warn!(zone = %zone, owner = %w.owner, reason = %w.reason, "policy rule skipped");
    }
    if skipped + warnings.len() > MAX_LOGGED_WARNINGS {
        tracing::warn!(zone = %zone, more = skipped + warnings.len() - MAX_LOGGED_WARNINGS, "more policy records skipped (not logged one by one)");
    }
    if rules.serial().is_none() {
        return Err(LoadError::NoSoa {
            path: path.to_owned(),
        });
    }
    if fingerprint(path)? != before {
        return Err(LoadError::Changed {
            path: path.to_owned(),
        });
    }
    Ok((rules, skipped + warnings.len()))
}

/// Wait for `load` to settle: used at start-up so the first query already
/// sees the policy (servfail-until-ready is the alternative).
pub async fn initial_load(store: &PolicyStore, limit: Duration) {
    if tokio::time::timeout(limit, store.load(None)).await.is_err() {
        tracing::warn!("initial policy load still running; serving without it meanwhile");
    }
}
