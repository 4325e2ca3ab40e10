//! The daemon in two steps: [`build`] constructs every part from a
//! [`Config`], [`Daemon::serve`] runs them until a shutdown.
//!
//! ```text
//!  build:  directory ─▶ metrics registry ─▶ upstream groups ─▶ packet cache
//!          ─▶ primary role ─▶ policy store (told of new versions by the primary)
//!          ─▶ first policy load ─▶ recursor ─▶ query pipeline ─▶ secondary role
//!          ─▶ dispatch (layers in front of the pipeline)
//!          ─▶ listen sockets bound, control socket and metrics endpoint bound
//!             (or taken from the daemon this one replaces: `build_taking`, `sockets`)
//!  serve:  health probes, transfers, NOTIFY senders, control, metrics
//!          ─▶ TCP listen() and UDP workers last ─▶ "sekisho ready" (and READY=1)
//!          ─▶ signals: Reload (re-read the file) | Stop ─▶ drain ─▶ stopped
//!          ─▶ a new process's TakeOver: the sockets handed over (`upgrade`);
//!             once it serves ─▶ drain ─▶ stopped (no cache save)
//! ```
//!
//! Every part is built before anything is served, with no setter called
//! afterwards: a part that needs another takes it as a constructor argument,
//! so construction order is the dependency order and there is no import
//! cycle to work around. A bind error stops start-up before any query is
//! answered; the listeners are served last, so a port that answers means the
//! control socket and metrics are up too.
//!
//! Signal contract (docs/operations.md): SIGTERM and SIGINT stop accepting,
//! drain queries in flight (up to 2 s) and exit 0; SIGHUP re-reads the
//! configuration file and swaps in what a reload applies, keeping
//! everything if the new file is invalid. The signal source is a stream of
//! [`Signal`] values plus a shutdown future, so tests drive both without
//! real signals.

mod forwarding;
mod handler;
mod listeners;
mod reload;
mod sockets;
mod upgrade;

pub use upgrade::TAKE_OVER_WAIT;

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sekisho_cache::{CacheLimits, PacketCache};
use sekisho_conf::Config;
use sekisho_policy::PolicyStore;
use sekisho_primary::Primary;
use sekisho_secondary::Distribution;
use sekisho_upstream::{tls, Group};
use socket2::Socket;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};

use crate::control;
use crate::dispatch::Dispatch;

use crate::handover::{Handed, Inherited, Serving, SocketKind};
use crate::listen::{self, InFlight, StreamContext, TcpClients, TcpLimits, UdpContext};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::proxy::ProxyProtocol;
use crate::ratelimit::RateLimiter;
use crate::tls::{ServerCert, ALPN_DOT, ALPN_H2, ALPN_HTTP1};
use handler::State;

/// What the daemon is told from outside.
#[derive(Debug)]
pub enum Signal {
    /// Stop gracefully (SIGTERM, SIGINT, `sekishoctl stop`).
    Stop,
    /// Re-read the configuration and the policy zone files (SIGHUP).
    Reload,
    /// Re-read the configuration for `sekishoctl reload` (the caller then
    /// reloads the zone files and reports): answered `Ok(true)` when the
    /// file was re-read and applied, `Ok(false)` when there is none (the
    /// embedded default), `Err(why)` when it was refused and nothing changed.
    ReloadConfig(tokio::sync::oneshot::Sender<Result<bool, String>>),
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
    /// A DNS over HTTPS upstream's URL cannot be built from its address, name and path.
    #[error("forward-zone {zone}: {upstream}: not a usable URL: {source}")]
    DohUrl {
        /// The forward zone.
        zone: String,
        /// The upstream as configured.
        upstream: String,
        /// The cause.
        #[source]
        source: http::Error,
    },
    /// The certificate or key of the TLS listeners is unusable (the message names the key).
    #[error(transparent)]
    ServerTls(#[from] crate::tls::TlsFileError),
    /// The control socket could not be opened.
    #[error(transparent)]
    Control(#[from] control::ControlError),
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Root hints or trust anchors could not be loaded.
    #[error("recursion: {0}")]
    Recursion(#[from] sekisho_recursor::anchors::AnchorError),
    /// A listener a reload adds cannot be served (the message names key and address).
    #[error("{key} {addr}: {reason}")]
    Listener {
        /// The configuration key.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A UDP worker thread could not be started.
    #[error("cannot start a UDP worker thread for {addr}: {source}")]
    Worker {
        /// The listen address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The hit outputs could not be set up (the message names the key).
    #[error(transparent)]
    Outputs(#[from] crate::hits::OutputsError),
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

/// Every part of a daemon, built and bound, not yet serving.
pub struct Daemon {
    /// The configuration it was built from (restart-only settings are compared with it).
    config: Config,
    /// The file re-read on [`Signal::Reload`] (`None`: the embedded default).
    config_path: Option<PathBuf>,
    /// The registry and the query path's handles.
    metrics: Arc<Metrics>,
    /// The request router the listeners call.
    dispatch: Arc<Dispatch>,
    /// Policy zones.
    policy: Arc<PolicyStore>,
    /// Secondary role (transfers, NOTIFY in).
    secondary: Arc<Distribution>,
    /// Primary role (served zones, NOTIFY out).
    primary: Arc<Primary>,
    /// Primary role: DNS UPDATE (zones with allow-update), whose file writers
    /// [`Daemon::serve`] starts.
    updates: Option<Arc<sekisho_primary::Updates>>,
    /// State shared with the control handler.
    state: Arc<State>,
    /// Forward groups at start-up, whose health probes [`Daemon::serve`] starts.
    groups: Vec<Arc<Group>>,
    /// Queries in flight.
    inflight: Arc<InFlight>,
    /// Open client TCP connections.
    tcp_connections: Arc<AtomicUsize>,
    /// Bound UDP sockets, one per worker, with their listen address.
    udp_sockets: Vec<(SocketAddr, std::net::UdpSocket)>,
    /// Bound TCP sockets (not listening yet), with their listen address.
    tcp_sockets: Vec<(SocketAddr, Socket)>,
    /// Bound DNS over TLS sockets (not listening yet), with their listen address.
    tls_sockets: Vec<(SocketAddr, Socket)>,
    /// Bound DNS over HTTPS sockets (not listening yet), with their listen address.
    https_sockets: Vec<(SocketAddr, Socket)>,
    /// Bound DNS over plain HTTP sockets (`listen-http`; not listening yet).
    http_sockets: Vec<(SocketAddr, Socket)>,
    /// The certificate of the TLS listeners (`None`: no TLS listener).
    server_cert: Option<Arc<ServerCert>>,
    /// The control socket.
    control: UnixListener,
    /// The metrics endpoint, if configured.
    metrics_listener: Option<TcpListener>,
    /// Sends [`Signal`]s to the running daemon (control verbs, OS signals).
    signal_tx: mpsc::Sender<Signal>,
    /// Receives them.
    signal_rx: mpsc::Receiver<Signal>,
    /// UDP workers per listen address.
    workers: usize,
    /// A copy of every socket above, for a hand-over to a new process.
    handable: Vec<Handed>,
    /// The connection to the daemon this one replaces (`--take-over`),
    /// told once this one serves.
    inherited: Option<Inherited>,
    /// Hand-over requests of new processes, from the control socket.
    takeover_rx: mpsc::Receiver<(std::os::unix::net::UnixStream, u32)>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("listen", &self.config.server.listen)
            .field("control", &self.config.control.socket)
            .finish_non_exhaustive()
    }
}

/// Build every part of a daemon from `config` (read from `config_path`,
/// `None` for the embedded default): policy zones are loaded and every
/// socket is bound, but nothing is served until [`Daemon::serve`].
pub async fn build(config: Config, config_path: Option<PathBuf>) -> Result<Daemon, DaemonError> {
    build_taking(config, config_path, None).await
}

/// Build as [`build`] does, in a process that replaces a running daemon:
/// the sockets `inherited` holds are taken where kind and address match
/// (the others are bound), and its saved answers are loaded.
pub async fn build_taking(
    config: Config,
    config_path: Option<PathBuf>,
    mut inherited: Option<Inherited>,
) -> Result<Daemon, DaemonError> {
    std::fs::create_dir_all(&config.server.directory).map_err(|source| DaemonError::Directory {
        path: config.server.directory.clone(),
        source,
    })?;
    let metrics = Arc::new(Metrics::new()?);
    // Hit records, dnstap and the client address policies, before anything
    // that writes to them.
    let outputs = Arc::new(crate::hits::Outputs::build(&config)?);
    let forwarding = forwarding::build_forwarding(&config, &metrics, outputs.forwarder_observer())?;
    let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    let cache = PacketCache::new(CacheLimits {
        max_entries: config.cache.max_entries,
        min_ttl: secs(config.cache.min_ttl),
        max_ttl: secs(config.cache.max_ttl),
        max_negative_ttl: secs(config.cache.max_negative_ttl),
        servfail_ttl: secs(config.cache.servfail_ttl),
        // Its share of max-cache-size; the recursor's caches get the rest
        // (`sekisho_cache::recursor_share`, in `anchors::recursor_config`).
        max_bytes: sekisho_cache::packet_share(config.cache.max_cache_size),
        // Expired answers are kept for stale serving only when it is on.
        max_stale: if config.cache.stale_answer_enable {
            sekisho_cache::MAX_STALE
        } else {
            0
        },
    });
    // Primary role first: served zones are captured from the first load on. Their
    // journals are read, and zone files that lag them brought up to date, before
    // the first load reads the files.
    let primary = Primary::new(&config, metrics.registry())?;
    primary.recover().await;
    let policy = Arc::new(PolicyStore::new(
        &config.response_policy,
        &config.server.directory,
        Some(primary.clone()),
    ));
    // Zones are loaded before the listeners open, so the first query is filtered.
    sekisho_policy::initial_load(&policy, Duration::from_secs(300)).await;
    // DNS UPDATE to zones with allow-update goes through the store.
    let updates =
        sekisho_primary::Updates::new(primary.clone(), policy.clone(), metrics.registry())?;
    // Names without a forward zone are resolved from the root.
    let mut recursor = sekisho_recursor::anchors::recursor_config(&config)?;
    recursor.limits = metrics.limits.clone(); // drops, use and maxima (set by Recursor::new)
    tracing::info!(
        root_servers = recursor.root_hints.len(),
        validation = recursor.validate,
        domain_insecure = recursor.domain_insecure.len(),
        "recursion ready"
    );
    // dnstap's resolver frames, when asked for, are written by a wrapper
    // around the recursor's network exchange.
    let exchange: Arc<dyn sekisho_recursor::Exchange> =
        match crate::hits::TappedExchange::wrap(sekisho_recursor::NetExchange, &outputs) {
            Ok(tapped) => Arc::new(tapped),
            Err(net) => Arc::new(net),
        };
    let pipeline = Arc::new(
        Pipeline::new(
            reload::pipeline_config(&config),
            cache,
            forwarding.table,
            metrics.clone(),
            policy.live(),
            Some(Arc::new(sekisho_recursor::Recursor::with_exchange(
                recursor, exchange,
            ))),
        )
        .with_outputs(outputs),
    );
    // The answers saved when the last run stopped, or by the daemon this
    // one replaces: a restart or an upgrade does not start cold. Read before
    // the listeners open.
    let saved = match &inherited {
        Some(i) => i.cache_file.clone(),
        None => config.cache.save_file.clone(),
    };
    if let Some(path) = saved {
        let (p, max_age) = (pipeline.clone(), config.cache.save_max_age);
        // A file written for the hand-over only (no `save-file`) is not kept.
        let scratch = config.cache.save_file.as_ref() != Some(&path);
        let loaded = tokio::task::spawn_blocking(move || {
            let loaded = path.exists().then(|| p.load_cache(&path, max_age));
            if scratch {
                let _ = std::fs::remove_file(&path);
            }
            loaded.map(|r| (r, path))
        })
        .await;
        match loaded {
            Ok(Some((Ok(n), path))) => {
                tracing::info!(file = %path.display(), answers = n, "saved cache loaded")
            }
            Ok(Some((Err(reason), _))) => {
                tracing::warn!(%reason, "saved cache ignored; starting with an empty cache")
            }
            Ok(None) | Err(_) => {}
        }
    }
    pipeline
        .query_log
        .store(config.logging.query_log, Ordering::Relaxed);
    let secondary = Distribution::new(&config, policy.clone(), metrics.registry())?;
    let dispatch = Arc::new(
        Dispatch::new(
            pipeline.clone(),
            Some(secondary.clone()),
            Some(primary.clone()),
            crate::chaos::ChaosConfig::from_server(&config.server),
            Arc::new(RateLimiter::new(&config.rate_limit, metrics.limits.clone())),
        )
        .with_updates(updates.clone()),
    );
    let workers = match config.server.udp_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    // Listen sockets are bound (or taken from the daemon this one replaces)
    // here, where a bind error stops the start-up, and served only in
    // `serve`, after everything else is up.
    let mut sockets = sockets::Sockets {
        inherited: inherited.as_mut(),
        handable: Vec::new(),
    };
    let mut udp_sockets = Vec::new();
    let mut tcp_sockets = Vec::new();
    for &addr in &config.server.listen {
        let udp = sockets.udp(addr, workers)?;
        udp_sockets.extend(udp.into_iter().map(|sock| (addr, sock)));
        tcp_sockets.push((addr, sockets.stream(SocketKind::Tcp, addr)?));
    }
    let server_cert = match (&config.server.tls_cert_file, &config.server.tls_key_file) {
        (Some(cert), Some(key))
            if !config.server.listen_tls.is_empty() || !config.server.listen_https.is_empty() =>
        {
            Some(ServerCert::load(cert, key)?)
        }
        _ => None,
    };
    let tls_sockets = sockets.streams(SocketKind::Tls, &config.server.listen_tls)?;
    let https_sockets = sockets.streams(SocketKind::Https, &config.server.listen_https)?;
    let http_sockets = sockets.streams(SocketKind::Http, &config.server.listen_http)?;
    let control = sockets.control(&config.control.socket)?;
    let metrics_listener = match config.metrics.listen {
        Some(addr) => Some(sockets.metrics(addr).await?),
        None => None,
    };
    let handable = sockets.handable;
    if let Some(i) = inherited.as_mut() {
        i.close_unused();
    }
    let (signal_tx, signal_rx) = mpsc::channel::<Signal>(8);
    // One hand-over at a time (`State::take_over` refuses a second).
    let (takeover_tx, takeover_rx) = mpsc::channel(1);
    let inflight = Arc::new(InFlight::default());
    let tcp_connections = Arc::new(AtomicUsize::new(0));
    let groups: Vec<Arc<Group>> = forwarding.groups.iter().map(|(_, g)| g.clone()).collect();
    let state = Arc::new(State {
        pipeline,
        dispatch: dispatch.clone(),
        inflight: inflight.clone(),
        tcp_connections: tcp_connections.clone(),
        groups: std::sync::Mutex::new(forwarding.groups),
        listen: std::sync::Mutex::new(listen_names(&config)),
        started: Instant::now(),
        signals: signal_tx.clone(),
        policy: policy.clone(),
        distribution: secondary.clone(),
        server_cert: server_cert.clone(),
        takeover: takeover_tx,
        handing_over: std::sync::atomic::AtomicBool::new(false),
        handovers: watch::channel(upgrade::HandOverEvent::None).0,
    });
    Ok(Daemon {
        config,
        config_path,
        metrics,
        dispatch,
        policy,
        secondary,
        primary,
        updates,
        state,
        groups,
        inflight,
        tcp_connections,
        udp_sockets,
        tcp_sockets,
        tls_sockets,
        https_sockets,
        http_sockets,
        server_cert,
        control,
        metrics_listener,
        signal_tx,
        signal_rx,
        workers,
        handable,
        inherited,
        takeover_rx,
    })
}

impl Daemon {
    /// A sender of [`Signal`]s to this daemon (OS signal handlers, tests).
    pub fn signals(&self) -> mpsc::Sender<Signal> {
        self.signal_tx.clone()
    }

    /// Serve until `shutdown` resolves or a [`Signal::Stop`] arrives, then drain
    /// and stop every part.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let Daemon {
            mut config,
            config_path,
            metrics,
            dispatch,
            policy,
            secondary,
            primary,
            updates,
            state,
            groups,
            inflight,
            tcp_connections,
            udp_sockets,
            tcp_sockets,
            tls_sockets,
            https_sockets,
            http_sockets,
            server_cert,
            control,
            metrics_listener,
            signal_tx: _,
            mut signal_rx,
            workers,
            handable,
            inherited,
            mut takeover_rx,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for g in groups {
            tokio::spawn(g.run_probes(stop_rx.clone()));
        }
        secondary.spawn(&stop_rx);
        primary.spawn_notifiers(&stop_rx);

        tasks.spawn(control::serve(control, state.clone(), stop_rx.clone()));
        if let Some(u) = &updates {
            // Joined at the stop below: the zone files get their last changes.
            u.spawn_writers(&stop_rx, &mut tasks);
        }
        if let Some(l) = metrics_listener {
            let scrape = state.clone();
            let render: sekisho_http::Render = Arc::new(move || {
                let p = &scrape.pipeline;
                p.metrics.refresh(
                    p.cache.len(),
                    p.cache.stats.evictions.load(Ordering::Relaxed),
                    p.cache.bytes() + p.recursor().map_or(0, |r| r.cache_bytes()),
                    &scrape.policy.status(),
                );
                if let Some(r) = p.recursor() {
                    p.metrics.refresh_recursor(r.aggressive_answers());
                }
                p.metrics.refresh_outputs_of(p.outputs());
                p.metrics.render()
            });
            tasks.spawn(sekisho_http::serve_metrics(l, render, stop_rx.clone()));
        }
        // Last, so that the daemon answers queries only once its control socket and
        // metrics are up (and no worker is left running when an earlier step fails).
        let tcp_limits = TcpLimits {
            idle_timeout: config.server.tcp_idle_timeout,
            max_connections: config.server.tcp_max_connections,
            max_pipelined: config.server.tcp_max_pipelined,
            write_timeout: config.server.tcp_write_timeout,
            handshake_timeout: config.server.tls_handshake_timeout,
        };
        // Shared by every TCP listener: the cap is per client address, whatever it connects to.
        let tcp_clients = Arc::new(TcpClients::new(
            config.server.tcp_clients_per_ip,
            metrics.limits.clone(),
        ));
        metrics.limits.set_max(
            sekisho_limits::Limit::TcpWriteTimeout,
            whole_seconds(config.server.tcp_write_timeout),
        );
        tasks.spawn(dispatch.rate_limit().clone().run(stop_rx.clone()));
        tasks.spawn(state.pipeline.follow_policy(stop_rx.clone()));
        if let Some(queue) = state.pipeline.prefetch_queue() {
            tasks.spawn(run_prefetch(state.pipeline.clone(), queue, stop_rx.clone()));
        }
        // The load balancers of the PROXY protocol (`None`: off), shared by UDP, TCP and DoT.
        let proxy = ProxyProtocol::new(
            config.server.proxy_protocol_from.clone(),
            metrics.limits.clone(),
        );
        if let Some(p) = &proxy {
            tasks.spawn(p.clone().run(stop_rx.clone()));
        }
        let streams = StreamContext {
            dispatch: dispatch.clone(),
            inflight: inflight.clone(),
            limits: tcp_limits,
            connections: tcp_connections.clone(),
            clients: tcp_clients,
            proxy: proxy.clone(),
            stop: stop_rx.clone(),
        };
        let (dot, web) = match &server_cert {
            Some(cert) => {
                metrics.limits.set_max(
                    sekisho_limits::Limit::TlsHandshakeTimeout,
                    whole_seconds(config.server.tls_handshake_timeout),
                );
                (
                    Some(cert.server_config(&[ALPN_DOT])?),
                    Some(cert.server_config(&[ALPN_H2, ALPN_HTTP1])?),
                )
            }
            None => (None, None),
        };
        let mut listeners = listeners::Listeners::new(listeners::Kit {
            streams,
            udp: UdpContext {
                dispatch: dispatch.clone(),
                inflight: inflight.clone(),
                proxy: proxy.clone(),
                stop: stop_rx.clone(),
                shared: tokio::runtime::Handle::current(),
            },
            dot,
            web,
            https_path: config.server.https_path.clone(),
            http_proxies: Arc::from(config.server.http_proxy_from.clone()),
            http: doh_server_config(&config),
            workers,
        });
        // Each listener with its sockets and their copies; what is left
        // (control, metrics) is handed over as it is.
        let mut handable = handable;
        let mut copies_of = |kind: SocketKind, addr: SocketAddr| {
            let (mine, rest): (Vec<Handed>, Vec<Handed>) = std::mem::take(&mut handable)
                .into_iter()
                .partition(|h| h.socket.kind == kind && h.socket.address == addr.to_string());
            handable = rest;
            mine
        };
        let mut bound = Vec::new();
        for (addr, socket) in tcp_sockets {
            bound.push(((SocketKind::Tcp, addr), listeners::Bound::Stream(socket)));
        }
        for (kind, sockets) in [
            (SocketKind::Tls, tls_sockets),
            (SocketKind::Https, https_sockets),
            (SocketKind::Http, http_sockets),
        ] {
            for (addr, socket) in sockets {
                bound.push(((kind, addr), listeners::Bound::Stream(socket)));
            }
        }
        let mut udp_by_addr: Vec<(SocketAddr, Vec<std::net::UdpSocket>)> = Vec::new();
        for (addr, sock) in udp_sockets {
            match udp_by_addr.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, v)) => v.push(sock),
                None => udp_by_addr.push((addr, vec![sock])),
            }
        }
        for (addr, sockets) in udp_by_addr {
            bound.push(((SocketKind::Udp, addr), listeners::Bound::Udp(sockets)));
        }
        for (key, b) in bound {
            let copies = copies_of(key.0, key.1);
            if let Err(e) = listeners.start(key, b, copies) {
                // The listeners already started stop with everything else.
                let _ = stop_tx.send(true);
                let _ = listeners.stop().await;
                return Err(e);
            }
        }
        let fixed = handable;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            listen = %listen_names(&config).join(" "),
            listen_tls = ?config.server.listen_tls,
            listen_https = ?config.server.listen_https,
            listen_http = ?config.server.listen_http,
            http_proxy_from = ?config.server.http_proxy_from,
            proxy_protocol_from = ?config.server.proxy_protocol_from,
            udp_workers = workers,
            forward_zones = config.forward_zones.len(),
            control = %config.control.socket.display(),
            metrics = ?config.metrics.listen,
            "sekisho ready"
        );
        match inherited {
            None => systemd_notify(&[sd_notify::NotifyState::Ready]),
            Some(inherited) => upgrade::serving(inherited).await,
        }
        // Outcomes of hand-overs to new processes (at most one runs at a time).
        let (outcome_tx, mut outcome_rx) = mpsc::channel(1);
        let mut handed_over: Option<Serving> = None;
        tokio::pin!(shutdown);
        loop {
            let signal = tokio::select! {
                s = signal_rx.recv() => s.unwrap_or(Signal::Stop),
                () = &mut shutdown => Signal::Stop,
                Some((stream, pid)) = takeover_rx.recv() => {
                    let mut sockets = listeners.handable();
                    sockets.extend(fixed.iter().filter_map(|h| {
                        Handed::copy(h.socket.kind, h.socket.address.clone(), h.fd.as_fd()).ok()
                    }));
                    let job = upgrade::HandOverJob {
                        stream,
                        pid,
                        cache_file: upgrade::cache_file(&config),
                        sockets: Arc::new(sockets),
                    };
                    tokio::spawn(job.run(state.clone(), outcome_tx.clone()));
                    continue;
                }
                Some(outcome) = outcome_rx.recv() => {
                    match upgrade::settle(&state, outcome) {
                        Some(serving) => {
                            handed_over = Some(serving);
                            break;
                        }
                        None => continue,
                    }
                }
            };
            let asked = match signal {
                Signal::Stop => break,
                Signal::Reload => None,
                Signal::ReloadConfig(reply) => Some(reply),
            };
            {
                {
                    match sd_notify::NotifyState::monotonic_usec_now() {
                        Ok(now) => systemd_notify(&[sd_notify::NotifyState::Reloading, now]),
                        Err(_) => systemd_notify(&[sd_notify::NotifyState::Reloading]),
                    }
                    // SIGHUP also reopens the hit record file (logrotate's
                    // postrotate), whether or not the configuration reloads.
                    state.pipeline.outputs().reopen();
                    let taken = reload::reload(
                        &config,
                        config_path.as_deref(),
                        &state,
                        &metrics,
                        &stop_rx,
                        &listeners,
                    );
                    let outcome = taken.as_ref().map(|_| true).or_else(|e| match e {
                        reload::Refused::NoFile => Ok(false),
                        reload::Refused::Invalid(why) => Err(why.clone()),
                    });
                    if let Ok((new, prepared)) = taken {
                        // Listen addresses: the added ones were bound by the
                        // reload; now they are served and the removed ones stop.
                        if !prepared.is_empty() {
                            listeners.apply(prepared);
                            config.server.listen = new.server.listen.clone();
                            config.server.listen_tls = new.server.listen_tls.clone();
                            config.server.listen_https = new.server.listen_https.clone();
                            config.server.listen_http = new.server.listen_http.clone();
                            *state.listen.lock().unwrap_or_else(|p| p.into_inner()) =
                                listen_names(&config);
                        }
                        // Policy zones, with or without transfer roles: added,
                        // removed, reordered, changed; the primary role serves the
                        // new zone list before the load below captures versions.
                        policy.reconfigure(&new.response_policy).await;
                        let served = primary.reconfigure(&new, &stop_rx);
                        primary.recover_added(&served.added).await;
                        // Removed and changed zones' tasks end before the load, so
                        // none of them installs a version meanwhile.
                        let transferred = secondary.reconfigure(&new);
                        state.pipeline.outputs().reconfigure(&new, &policy.table());
                        reload::log_zone_changes(&served, &transferred);
                    }
                    // Saved copies of added zones are loaded before their
                    // transfer tasks start, which seed their timers from them.
                    match asked {
                        // `sekishoctl reload` reloads the zone files itself, reports,
                        // then starts the new tasks.
                        Some(reply) => {
                            let _ = reply.send(outcome);
                        }
                        None => {
                            let _ = policy.load(None).await;
                            secondary.start_new();
                        }
                    }
                    systemd_notify(&[sd_notify::NotifyState::Ready]);
                }
            }
        }
        tracing::info!(
            in_flight = inflight.count(),
            "stopping: draining queries in flight"
        );
        // After a hand-over the service goes on, in the new process.
        if handed_over.is_none() {
            systemd_notify(&[sd_notify::NotifyState::Stopping]);
        }
        let _ = stop_tx.send(true);
        let udp_workers = listeners.stop().await;
        // The UDP workers first (they see `stop` within their receive
        // timeout): a datagram one took after the signal is in flight once
        // it has returned, so the drain below waits for its answer too.
        let _ = tokio::task::spawn_blocking(move || {
            for w in udp_workers {
                let _ = w.join();
            }
        })
        .await;
        inflight.drain(Duration::from_secs(2)).await;
        while tasks.join_next().await.is_some() {}
        // The answers for the next start (`cache.save-file`); after a
        // hand-over they were saved for the new process, which serves now.
        if let Some(path) = config
            .cache
            .save_file
            .clone()
            .filter(|_| handed_over.is_none())
        {
            let p = state.pipeline.clone();
            match tokio::task::spawn_blocking(move || (p.dump_cache(&path), path)).await {
                Ok((Ok(n), path)) => {
                    tracing::info!(file = %path.display(), answers = n, "cache saved")
                }
                Ok((Err(e), path)) => {
                    tracing::warn!(file = %path.display(), error = %e, "cache not saved")
                }
                Err(_) => {}
            }
        }
        // Hit records still queued are written (bounded: a stuck disk cannot hold the exit).
        let outputs = state.pipeline.outputs().clone();
        let _ = tokio::task::spawn_blocking(move || outputs.shutdown(Duration::from_secs(1))).await;
        // The new process may answer on the same path now.
        let control_taken = handed_over
            .iter()
            .flat_map(|s| &s.taken)
            .any(|h| h.kind == SocketKind::Control);
        if !control_taken {
            let _ = std::fs::remove_file(&config.control.socket);
        }
        tracing::info!("sekisho stopped");
        Ok(())
    }
}

/// Build and serve `config` until a [`Signal::Stop`] (or SIGTERM/SIGINT when
/// `os_signals` is true); `config_path` is re-read on [`Signal::Reload`] (SIGHUP).
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    os_signals: bool,
) -> Result<(), DaemonError> {
    run_taking(config, config_path, os_signals, None).await
}

/// [`run`] in a process that replaces a running daemon (`--take-over`):
/// built with [`build_taking`]; once it serves, the old one is told and stops.
pub async fn run_taking(
    config: Config,
    config_path: Option<PathBuf>,
    os_signals: bool,
    inherited: Option<Inherited>,
) -> Result<(), DaemonError> {
    let daemon = build_taking(config, config_path, inherited).await?;
    if os_signals {
        spawn_os_signals(daemon.signals());
    }
    daemon.serve(std::future::pending()).await
}

/// The addresses served, for `status`: plain ones as they are, the
/// encrypted ones with their scheme.
fn listen_names(config: &Config) -> Vec<String> {
    let s = &config.server;
    s.listen
        .iter()
        .map(|a| a.to_string())
        .chain(s.listen_tls.iter().map(|a| format!("tls://{a}")))
        .chain(
            s.listen_https
                .iter()
                .map(|a| format!("https://{a}{}", s.https_path)),
        )
        .chain(
            s.listen_http
                .iter()
                .map(|a| format!("http://{a}{}", s.https_path)),
        )
        .collect()
}

/// `listen()` on a socket bound by [`build`]; an error names the address.
fn start_listening(
    addr: SocketAddr,
    socket: Socket,
    proto: &'static str,
) -> Result<TcpListener, DaemonError> {
    listen::listen_tcp(socket).map_err(|source| DaemonError::Bind {
        addr,
        proto,
        source,
    })
}

/// The HTTP limits of DNS over HTTPS: the connection caps are the stream
/// listeners' (checked at accept, shared with TCP and DoT), the timeouts
/// those of a TCP connection, and HTTP/2 streams per connection are
/// `tcp-max-pipelined`.
fn doh_server_config(config: &Config) -> sekisho_http::ServerConfig {
    let mut http = sekisho_http::ServerConfig::new("dns-over-https");
    http.max_connections = config.server.tcp_max_connections;
    http.header_read_timeout = config.server.tcp_idle_timeout;
    http.idle_timeout = config.server.tcp_idle_timeout;
    http.max_streams = u32::try_from(config.server.tcp_max_pipelined).unwrap_or(u32::MAX);
    http
}

/// `d` in whole seconds, rounded up (a limit's maximum in reports).
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Tell systemd (`sd_notify(3)`) when it is listening; advisory, so a
/// failure is only logged at debug. Outside systemd it does nothing.
fn systemd_notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
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

/// Refresh popular answers before they expire: each query the pipeline puts
/// on the queue is resolved again in a task of its own (bounded by the
/// recursion slots, see `Pipeline::prefetch`), until shutdown.
async fn run_prefetch(
    pipeline: Arc<Pipeline>,
    mut queue: tokio::sync::mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            packet = queue.recv() => {
                let Some(packet) = packet else { return };
                let p = pipeline.clone();
                tokio::spawn(async move { p.prefetch(&packet).await });
            }
            _ = stop.changed() => return,
        }
    }
}
