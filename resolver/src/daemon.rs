//! The daemon: builds every part from a [`Config`] and runs until stopped.
//!
//! Start-up order: metrics registry → upstream groups → pipeline →
//! listeners (a bind failure stops start-up and names the address) →
//! health probes → control socket → metrics endpoint → "ready" log line.
//!
//! Signal contract (docs/operations.md): SIGTERM and SIGINT stop accepting,
//! drain queries in flight (up to 2 s) and exit 0; SIGHUP re-reads the
//! configuration file and swaps in the new forward zones, keeping the old
//! ones if the new file is invalid. The signal source is a stream of
//! [`Signal`] values so tests can drive it without real signals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use sekisho_conf::Config;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::control::{self, Reply, Request, Status, UpstreamStatus};
use crate::distribution::Distribution;
use crate::listen::{self, InFlight, TcpLimits};
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::policy::PolicyStore;
use sekisho_cache::{CacheLimits, PacketCache};
use sekisho_upstream::forward::ForwardTable;
use sekisho_upstream::health::{self, HealthParams};
use sekisho_upstream::{tls, Group, Selection, Transport, Upstream, UpstreamSpec};

/// What the daemon is told from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Stop gracefully (SIGTERM, SIGINT, `sekishoctl stop`).
    Stop,
    /// Re-read the configuration (SIGHUP).
    Reload,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} ({proto}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// udp or tcp.
        proto: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS settings of an upstream are unusable.
    #[error("forward-zone {zone}: {source}")]
    Tls {
        /// The forward zone.
        zone: String,
        /// The cause.
        #[source]
        source: tls::TlsSetupError,
    },
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] control::ControlError),
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Root hints or trust anchors could not be loaded (issue 5).
    #[error("recursion: {0}")]
    Recursion(#[from] sekisho_recursor::anchors::AnchorError),
    /// A UDP worker thread could not be started.
    #[error("cannot start a UDP worker thread for {addr}: {source}")]
    Worker {
        /// The listen address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state directory could not be created.
    #[error("directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Upstream groups built from `[[forward-zone]]`, with their zone names.
struct Forwarding {
    /// The lookup table.
    table: ForwardTable,
    /// (zone name, group) for probes and status.
    groups: Vec<(String, Arc<Group>)>,
}

/// Build the forward zones of `config`.
fn build_forwarding(config: &Config, metrics: &Metrics) -> Result<Forwarding, DaemonError> {
    let mut table = Vec::new();
    let mut groups = Vec::new();
    for fz in &config.forward_zones {
        let zone = fz.name.to_ascii();
        let tls_config = if fz.forward_tls_upstream {
            Some(
                tls::client_config(fz.tls_ca_file.as_deref()).map_err(|source| {
                    DaemonError::Tls {
                        zone: zone.clone(),
                        source,
                    }
                })?,
            )
        } else {
            None
        };
        let transport = match (fz.forward_tls_upstream, fz.forward_tcp_upstream) {
            (true, _) => Transport::Tls,
            (false, true) => Transport::Tcp,
            (false, false) => Transport::Udp,
        };
        let hc = &fz.health_check;
        let params = HealthParams {
            mode: match hc.mode {
                sekisho_conf::HealthMode::Lazy => health::Mode::Lazy,
                sekisho_conf::HealthMode::Active => health::Mode::Active,
                sekisho_conf::HealthMode::None => health::Mode::None,
            },
            check_interval: hc.check_interval,
            failed_interval: hc.failed_interval,
            rise: hc.rise,
            max_failures: hc.max_failures,
            threshold: hc.threshold,
            sample_size: hc.sample_size,
            min_sample_count: hc.min_sample_count,
            lazy_mode: match hc.lazy_mode {
                sekisho_conf::LazyMode::TimeoutOnly => health::LazyMode::TimeoutOnly,
                sekisho_conf::LazyMode::TimeoutOrServfail => health::LazyMode::TimeoutOrServfail,
            },
        };
        let mut upstreams = Vec::new();
        for a in &fz.forward_addr {
            let auth = a.auth_name.clone().or_else(|| fz.tls_auth_name.clone());
            let tls = match &tls_config {
                Some(c) => Some((
                    c.clone(),
                    tls::server_name(auth.as_deref(), a.ip).map_err(|source| DaemonError::Tls {
                        zone: zone.clone(),
                        source,
                    })?,
                )),
                None => None,
            };
            let label = a.to_string();
            let spec = UpstreamSpec {
                addr: SocketAddr::new(a.ip, a.port),
                transport,
                tls,
                label: label.clone(),
            };
            upstreams.push(Arc::new(Upstream::new(
                spec,
                params.clone(),
                metrics.upstream(&label),
            )));
        }
        let selection = match fz.selection {
            sekisho_conf::Selection::Ordered => Selection::Ordered,
            sekisho_conf::Selection::RoundRobin => Selection::RoundRobin,
            sekisho_conf::Selection::LeastOutstanding => Selection::LeastOutstanding,
        };
        let probe = probe_query(&hc.check_name, hc.check_type);
        let group = Arc::new(Group::new(
            upstreams,
            selection,
            fz.timeout,
            probe,
            hc.check_timeout,
        ));
        let apex = wire_name(&fz.name.to_ascii()).unwrap_or_else(|_| vec![0]);
        table.push((apex, group.clone()));
        groups.push((zone, group));
    }
    Ok(Forwarding {
        table: ForwardTable::new(table),
        groups,
    })
}

/// Wire form of the health-check question (RD=1, ID set per send).
fn probe_query(name: &hickory_proto::rr::Name, rtype: hickory_proto::rr::RecordType) -> Vec<u8> {
    let mut m = Message::new(0, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name.clone(), rtype));
    m.to_vec().unwrap_or_default()
}

/// A running daemon's shared state, for the control handler.
struct State {
    /// The query path.
    pipeline: Arc<Pipeline>,
    /// Queries in flight.
    inflight: Arc<InFlight>,
    /// Open TCP connections.
    tcp_connections: Arc<AtomicUsize>,
    /// Forward groups by zone, for status; replaced on reload.
    groups: std::sync::Mutex<Vec<(String, Arc<Group>)>>,
    /// Addresses served.
    listen: Vec<String>,
    /// Start time.
    started: Instant,
    /// To ask the main loop to stop.
    signals: mpsc::Sender<Signal>,
    /// Policy zones.
    policy: Arc<PolicyStore>,
    /// Transferred policy zones (refresh / retransfer).
    distribution: Arc<Distribution>,
}

impl control::Handler for State {
    fn handle(&self, request: Request) -> control::ReplyFuture<'_> {
        Box::pin(async move {
            match request {
                Request::Status => Reply::Status(self.status()),
                Request::Flush => {
                    let n = self.pipeline.cache.flush();
                    // Recursion's own caches (zone cuts, steps, zone verdicts) go too (issue 5).
                    if let Some(r) = self.pipeline.recursor() {
                        r.flush();
                    }
                    Reply::Done {
                        message: format!("flushed {n} cache entries"),
                    }
                }
                Request::Flushname { name } => match wire_name(&name) {
                    Ok(w) => {
                        let n = self
                            .pipeline
                            .cache
                            .flush_matching(|k| k.len() == w.len() + 5 && k.starts_with(&w));
                        Reply::Done {
                            message: format!("flushed {n} cache entries for {name}"),
                        }
                    }
                    Err(e) => Reply::Error { message: e },
                },
                Request::Flushtree { name } => match wire_name(&name) {
                    Ok(w) => {
                        let n = self.pipeline.cache.flush_matching(|k| {
                            k.len() >= 5 && is_at_or_below(&k[..k.len() - 5], &w)
                        });
                        Reply::Done {
                            message: format!("flushed {n} cache entries at or below {name}"),
                        }
                    }
                    Err(e) => Reply::Error { message: e },
                },
                Request::Reload { zone } => match self.policy.load(zone.as_deref()).await {
                    Ok(outcomes) => {
                        let failed: Vec<String> = outcomes
                            .iter()
                            .filter_map(|o| {
                                o.result.as_ref().err().map(|e| format!("{}: {e}", o.zone))
                            })
                            .collect();
                        if failed.is_empty() {
                            let lines: Vec<String> = outcomes
                                .iter()
                                .filter_map(|o| {
                                    o.result.as_ref().ok().map(|(n, s)| {
                                        format!("{}: serial {} {n} rules", o.zone, s.unwrap_or(0))
                                    })
                                })
                                .collect();
                            Reply::Done {
                                message: format!(
                                    "reloaded {}",
                                    if lines.is_empty() {
                                        "nothing (no zone files)".into()
                                    } else {
                                        lines.join(", ")
                                    }
                                ),
                            }
                        } else {
                            Reply::Error {
                                message: format!(
                                    "reload failed, previous version kept: {}",
                                    failed.join("; ")
                                ),
                            }
                        }
                    }
                    Err(e) => Reply::Error { message: e },
                },
                Request::Zones => Reply::Zones {
                    zones: self.policy.status(),
                },
                Request::Refresh { zone } => {
                    check_reply(self.distribution.request_check(&zone, false))
                }
                Request::Retransfer { zone } => {
                    check_reply(self.distribution.request_check(&zone, true))
                }
                Request::Test {
                    name,
                    qtype,
                    client,
                } => self.test(&name, qtype.as_deref(), client.as_deref()),
                Request::Stats => {
                    let p = &self.pipeline;
                    p.metrics.refresh(
                        p.cache.len(),
                        p.cache.stats.evictions.load(Ordering::Relaxed),
                        &self.policy.status(),
                    );
                    let text = String::from_utf8_lossy(&p.metrics.render()).into_owned();
                    let lines = text
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.is_empty())
                        .map(str::to_owned)
                        .collect();
                    Reply::Stats { lines }
                }
                Request::Querylog { on } => {
                    self.pipeline.query_log.store(on, Ordering::Relaxed);
                    tracing::info!(query_log = on, "query log switched");
                    Reply::Done {
                        message: format!("query log {}", if on { "on" } else { "off" }),
                    }
                }
                Request::Stop => {
                    let _ = self.signals.try_send(Signal::Stop);
                    Reply::Done {
                        message: "stopping".into(),
                    }
                }
            }
        })
    }
}

impl State {
    /// `sekishoctl test NAME [TYPE] [--client IP]`: which rule applies and why.
    fn test(&self, name: &str, qtype: Option<&str>, client: Option<&str>) -> Reply {
        use std::str::FromStr;
        let qname = match hickory_proto::rr::Name::from_ascii(name) {
            Ok(mut n) => {
                n.set_fqdn(true);
                n
            }
            Err(e) => {
                return Reply::Error {
                    message: format!("invalid name {name:?}: {e}"),
                }
            }
        };
        let rtype =
            match qtype.map(|t| hickory_proto::rr::RecordType::from_str(&t.to_ascii_uppercase())) {
                None => hickory_proto::rr::RecordType::A,
                Some(Ok(t)) => t,
                Some(Err(_)) => {
                    return Reply::Error {
                        message: format!("unknown type {}", qtype.unwrap_or_default()),
                    }
                }
            };
        let client_ip: std::net::IpAddr = match client.map(str::parse) {
            None => std::net::IpAddr::from([127, 0, 0, 1]),
            Some(Ok(ip)) => ip,
            Some(Err(_)) => {
                return Reply::Error {
                    message: format!("invalid client address {}", client.unwrap_or_default()),
                }
            }
        };
        let set = self.pipeline.policy();
        if set.zones().is_empty() {
            return Reply::Test {
                lines: vec!["no policy zones are configured".into()],
                matched: false,
            };
        }
        let d = set.explain(client_ip, &qname, rtype, None);
        let mut lines = Vec::new();
        for h in &d.disabled {
            lines.push(format!(
                "{} (zone {} has policy disabled: logged only)",
                h.log_line(&qname, rtype),
                h.zone.name()
            ));
        }
        let matched = match d.hit() {
            Some(h) => {
                lines.push(format!(
                    "zone {} rule {} trigger {} action {} (written {})",
                    h.zone.name(),
                    h.owner,
                    h.kind(),
                    h.action,
                    h.rule_action
                ));
                lines.push(h.log_line(&qname, rtype).to_string());
                true
            }
            None => {
                lines.push(format!(
                    "no client-IP or QNAME rule matches {} from {client_ip} in {} zone(s); response-IP, NSDNAME and NSIP rules need a real answer",
                    qname,
                    set.zones().len()
                ));
                false
            }
        };
        Reply::Test { lines, matched }
    }

    /// Build the `status` output.
    fn status(&self) -> Status {
        let groups = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let upstreams = groups
            .iter()
            .flat_map(|(zone, g)| {
                g.upstreams.iter().map(move |u| UpstreamStatus {
                    zone: zone.clone(),
                    upstream: u.spec.label.clone(),
                    transport: match u.spec.transport {
                        Transport::Udp => "udp",
                        Transport::Tcp => "tcp",
                        Transport::Tls => "tls",
                    }
                    .into(),
                    state: u.state().as_str().into(),
                    outstanding: u.outstanding(),
                })
            })
            .collect();
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            uptime_seconds: self.started.elapsed().as_secs(),
            listen: self.listen.clone(),
            cache_entries: self.pipeline.cache.len(),
            queries_in_flight: self.inflight.count(),
            tcp_connections: self.tcp_connections.load(Ordering::Relaxed),
            upstreams,
            policy_zones: self.policy.status(),
        }
    }
}

/// The reply to `refresh` / `retransfer`.
fn check_reply(r: Result<String, String>) -> Reply {
    match r {
        Ok(message) => Reply::Done { message },
        Err(message) => Reply::Error { message },
    }
}

/// Lower-cased wire form of a presentation name.
fn wire_name(name: &str) -> Result<Vec<u8>, String> {
    use hickory_proto::serialize::binary::BinEncodable;
    let n = hickory_proto::rr::Name::from_ascii(name)
        .map_err(|e| format!("invalid name {name:?}: {e}"))?;
    let mut n = n.to_lowercase();
    n.set_fqdn(true);
    n.to_bytes()
        .map_err(|e| format!("invalid name {name:?}: {e}"))
}

/// True when wire name `name` equals `apex` or lies below it.
fn is_at_or_below(name: &[u8], apex: &[u8]) -> bool {
    let mut pos = 0;
    while pos < name.len() {
        if &name[pos..] == apex {
            return true;
        }
        let len = usize::from(name[pos]);
        if len == 0 {
            return false;
        }
        pos += len + 1;
    }
    false
}

/// Run the daemon with `config` until a [`Signal::Stop`] arrives on
/// `signals` (or SIGTERM/SIGINT when `os_signals` is true). `config_path`
/// is re-read on [`Signal::Reload`].
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    os_signals: bool,
) -> Result<(), DaemonError> {
    let started = Instant::now();
    std::fs::create_dir_all(&config.server.directory).map_err(|source| DaemonError::Directory {
        path: config.server.directory.clone(),
        source,
    })?;
    let metrics = Arc::new(Metrics::new()?);
    let forwarding = build_forwarding(&config, &metrics)?;
    let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    let cache = PacketCache::new(CacheLimits {
        max_entries: config.cache.max_entries,
        min_ttl: secs(config.cache.min_ttl),
        max_ttl: secs(config.cache.max_ttl),
        max_negative_ttl: secs(config.cache.max_negative_ttl),
        servfail_ttl: secs(config.cache.servfail_ttl),
    });
    let policy = Arc::new(PolicyStore::new(
        &config.response_policy,
        &config.server.directory,
    ));
    // Primary role: served zones are captured from the first load on.
    let primary = crate::primary::Primary::new(&config, &metrics)?;
    policy.set_primary(primary.clone());
    // Zones are loaded before the listeners open, so the first query is filtered.
    crate::policy::initial_load(&policy, Duration::from_secs(300)).await;
    let pipeline = Arc::new(Pipeline::new(
        pipeline_config(&config),
        cache,
        forwarding.table,
        metrics.clone(),
        policy.live(),
    ));
    // Transferred zones: NOTIFY is routed from the listeners, timers start below.
    let distribution = Distribution::new(&config, policy.clone(), &metrics)?;
    pipeline.set_distribution(distribution.clone());
    // Primary role: AXFR/IXFR are routed from the listeners, NOTIFY senders start below.
    pipeline.set_primary(primary.clone());
    // --- recursion (issue 5): names without a forward zone are resolved from the root. ---
    let recursor = sekisho_recursor::anchors::recursor_config(&config)?;
    tracing::info!(
        root_servers = recursor.root_hints.len(),
        validation = recursor.validate,
        domain_insecure = recursor.domain_insecure.len(),
        "recursion ready"
    );
    pipeline.set_recursor(Arc::new(sekisho_recursor::Recursor::new(recursor)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let inflight = Arc::new(InFlight::default());
    let tcp_connections = Arc::new(AtomicUsize::new(0));
    let workers = match config.server.udp_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let tcp_limits = TcpLimits {
        idle_timeout: config.server.tcp_idle_timeout,
        max_connections: config.server.tcp_max_connections,
        max_pipelined: config.server.tcp_max_pipelined,
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Listen sockets are bound here (a bind error stops the start-up) and served only once
    // everything else is up (below). UDP workers are threads of their own (see listen.rs),
    // joined at shutdown.
    let mut udp_sockets = Vec::new();
    let mut tcp_sockets = Vec::new();
    let mut listen_labels = Vec::new();
    for &addr in &config.server.listen {
        let udp = listen::bind_udp(addr, workers).map_err(|source| DaemonError::Bind {
            addr,
            proto: "udp",
            source,
        })?;
        let tcp = listen::bind_tcp(addr).map_err(|source| DaemonError::Bind {
            addr,
            proto: "tcp",
            source,
        })?;
        udp_sockets.extend(udp.into_iter().map(|sock| (addr, sock)));
        tcp_sockets.push((addr, tcp));
        listen_labels.push(addr.to_string());
    }
    for (_, g) in &forwarding.groups {
        tokio::spawn(g.clone().run_probes(stop_rx.clone()));
    }
    let (sig_tx, mut sig_rx) = mpsc::channel::<Signal>(8);
    let state = Arc::new(State {
        pipeline: pipeline.clone(),
        inflight: inflight.clone(),
        tcp_connections: tcp_connections.clone(),
        groups: std::sync::Mutex::new(forwarding.groups),
        listen: listen_labels.clone(),
        started,
        signals: sig_tx.clone(),
        policy: policy.clone(),
        distribution: distribution.clone(),
    });
    distribution.spawn(&stop_rx);
    primary.spawn_notifiers(&stop_rx);
    let control_path = config.control.socket.clone();
    let control_listener = control::bind(&control_path)?;
    tasks.spawn(control::serve(
        control_listener,
        state.clone(),
        stop_rx.clone(),
    ));
    if let Some(addr) = config.metrics.listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Bind {
                addr,
                proto: "tcp",
                source,
            })?;
        let scrape = state.clone();
        let render: sekisho_http::Render = Arc::new(move || {
            let p = &scrape.pipeline;
            p.metrics.refresh(
                p.cache.len(),
                p.cache.stats.evictions.load(Ordering::Relaxed),
                &scrape.policy.status(),
            );
            p.metrics.render()
        });
        tasks.spawn(sekisho_http::serve_metrics(l, render, stop_rx.clone()));
    }
    if os_signals {
        spawn_os_signals(sig_tx.clone());
    }
    // Last, so that the daemon answers queries only once its control socket and metrics are
    // up (and no worker is left running when an earlier step fails).
    for (addr, socket) in tcp_sockets {
        let listener = listen::listen_tcp(socket).map_err(|source| DaemonError::Bind {
            addr,
            proto: "tcp",
            source,
        })?;
        tasks.spawn(listen::serve_tcp(
            listener,
            pipeline.clone(),
            inflight.clone(),
            tcp_limits,
            tcp_connections.clone(),
            stop_rx.clone(),
        ));
    }
    let mut udp_workers = Vec::new();
    for (addr, sock) in udp_sockets {
        match listen::spawn_udp_worker(
            format!("sekisho-udp-{}", udp_workers.len()),
            sock,
            pipeline.clone(),
            inflight.clone(),
            stop_rx.clone(),
            tokio::runtime::Handle::current(),
        ) {
            Ok(worker) => udp_workers.push(worker),
            Err(source) => {
                // The workers already started stop with everything else.
                let _ = stop_tx.send(true);
                return Err(DaemonError::Worker { addr, source });
            }
        }
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %listen_labels.join(" "),
        udp_workers = workers,
        forward_zones = config.forward_zones.len(),
        control = %control_path.display(),
        metrics = ?config.metrics.listen,
        "sekisho ready"
    );
    crate::sdnotify::notify("READY=1");
    // Restart-only settings never change while running: later configs are
    // compared with this one.
    let started = config;
    while let Some(sig) = sig_rx.recv().await {
        match sig {
            Signal::Stop => break,
            Signal::Reload => {
                crate::sdnotify::reloading();
                reload(&started, config_path.as_deref(), &state, &metrics, &stop_rx);
                let _ = policy.load(None).await;
                crate::sdnotify::notify("READY=1");
            }
        }
    }
    tracing::info!(
        in_flight = inflight.count(),
        "stopping: draining queries in flight"
    );
    crate::sdnotify::notify("STOPPING=1");
    let _ = stop_tx.send(true);
    inflight.drain(Duration::from_secs(2)).await;
    while tasks.join_next().await.is_some() {}
    // They see `stop` within their receive timeout.
    let _ = tokio::task::spawn_blocking(move || {
        for w in udp_workers {
            let _ = w.join();
        }
    })
    .await;
    let _ = std::fs::remove_file(&control_path);
    tracing::info!("sekisho stopped");
    Ok(())
}

/// The per-query settings of `config` (reloaded on SIGHUP).
fn pipeline_config(config: &Config) -> PipelineConfig {
    PipelineConfig {
        allow_query: config.server.allow_query.clone(),
        allow_recursion: config.server.allow_recursion.clone(),
        edns_buffer_size: config.server.edns_buffer_size,
        query_timeout: config.server.query_timeout,
        log_client_ip: config.logging.log_client_ip,
    }
}

/// Keys whose change a SIGHUP does not apply: they take a restart. `old` is
/// the start-up configuration, since these never change while running.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let s = (&old.server, &new.server);
    let mut check = |changed: bool, key: &'static str| {
        if changed {
            keys.push(key);
        }
    };
    check(s.0.listen != s.1.listen, "server.listen");
    check(s.0.directory != s.1.directory, "server.directory");
    check(s.0.root_hints != s.1.root_hints, "server.root-hints");
    check(
        s.0.tcp_idle_timeout != s.1.tcp_idle_timeout
            || s.0.tcp_max_connections != s.1.tcp_max_connections
            || s.0.tcp_max_pipelined != s.1.tcp_max_pipelined,
        "server.tcp-*",
    );
    check(
        s.0.udp_workers != s.1.udp_workers || s.0.threads != s.1.threads,
        "server.threads/udp-workers",
    );
    check(old.cache != new.cache, "cache");
    check(old.dnssec != new.dnssec, "dnssec");
    check(old.keys != new.keys, "key");
    check(
        old.response_policy != new.response_policy,
        "response-policy",
    );
    check(old.control != new.control, "control");
    check(old.metrics != new.metrics, "metrics");
    check(
        old.logging.level != new.logging.level || old.logging.format != new.logging.format,
        "logging",
    );
    keys
}

/// SIGHUP: re-read the file; keep everything as it is if it is invalid.
fn reload(
    started: &Config,
    path: Option<&std::path::Path>,
    state: &State,
    metrics: &Metrics,
    stop: &watch::Receiver<bool>,
) {
    let Some(path) = path else {
        tracing::warn!("reload requested but the daemon runs on the embedded default config; nothing to re-read");
        metrics
            .config_reloads
            .with_label_values(&["unchanged"])
            .inc();
        return;
    };
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(config = %path.display(), error = %e, "reload refused: the new configuration is invalid; keeping the running one");
            metrics.config_reloads.with_label_values(&["failure"]).inc();
            return;
        }
    };
    match build_forwarding(&new, metrics) {
        Ok(f) => {
            state.pipeline.forwarders.store(Arc::new(f.table));
            for (_, g) in &f.groups {
                tokio::spawn(g.clone().run_probes(stop.clone()));
            }
            *state.groups.lock().unwrap_or_else(|p| p.into_inner()) = f.groups;
            state.pipeline.reconfigure(pipeline_config(&new));
            let restart = needs_restart(started, &new);
            if !restart.is_empty() {
                tracing::warn!(
                    config = %path.display(),
                    keys = %restart.join(", "),
                    "changed settings take effect only after a restart; the running values stay"
                );
            }
            metrics.config_reloads.with_label_values(&["success"]).inc();
            tracing::info!(config = %path.display(), "configuration reloaded (access lists, forward zones, edns-buffer-size, query-timeout, log-client-ip)");
        }
        Err(e) => {
            tracing::error!(error = %e, "reload refused; keeping the running configuration");
            metrics.config_reloads.with_label_values(&["failure"]).inc();
        }
    }
}

/// Turn SIGTERM/SIGINT into Stop and SIGHUP into Reload.
fn spawn_os_signals(tx: mpsc::Sender<Signal>) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            let s = tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            };
            if tx.send(s).await.is_err() {
                return;
            }
        }
    });
}
