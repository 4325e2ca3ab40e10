//! The listeners being served, one entry per kind and address, each with a
//! stop signal of its own: a reload adds and removes them one by one, and
//! a hand-over copies them all.
//!
//! ```text
//!  reload: new config ─▶ prepare: bind every (kind, address) it adds
//!                          │ a bind fails ─▶ the reload changes nothing (the error names key and address)
//!                          ▼
//!          (the rest of the reload applied) ─▶ apply: serve the added ones,
//!          stop the removed ones (they stop reading and accepting; what they
//!          have in flight is answered), leave the others untouched
//! ```
//!
//! A `server.listen` address is a UDP entry (one socket per worker) and a
//! TCP one; `listen-tls`, `listen-https` and `listen-http` are one entry
//! each. Every entry keeps a copy of its sockets (`Handed`) for a hand-over,
//! dropped with the entry, so a removed address is free once its listener
//! has stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use sekisho_conf::Config;
use socket2::Socket;
use tokio::sync::watch;

use super::{start_listening, DaemonError};
use crate::doh::{DohAccept, DohHandler, HttpAccept};
use crate::handover::{Handed, SocketKind};
use crate::listen::{self, StreamContext, UdpContext};

/// What every listener is started with.
pub(super) struct Kit {
    /// The stream listeners' context (its `stop` is replaced per listener).
    pub(super) streams: StreamContext,
    /// The UDP workers' context (its `stop` is replaced per listener).
    pub(super) udp: UdpContext,
    /// DNS over TLS settings (`None`: no certificate loaded).
    pub(super) dot: Option<Arc<rustls::ServerConfig>>,
    /// DNS over HTTPS settings (`None`: no certificate loaded).
    pub(super) web: Option<Arc<rustls::ServerConfig>>,
    /// `https-path`.
    pub(super) https_path: String,
    /// `http-proxy-from`.
    pub(super) http_proxies: Arc<[ipnet::IpNet]>,
    /// The HTTP limits of DoH.
    pub(super) http: sekisho_http::ServerConfig,
    /// UDP sockets per address.
    pub(super) workers: usize,
}

/// Sockets bound (or taken) for one entry, not served yet.
pub(super) enum Bound {
    /// The UDP sockets of a `listen` address, one per worker.
    Udp(Vec<std::net::UdpSocket>),
    /// A stream socket, not listening yet (or already listening when handed over).
    Stream(Socket),
}

/// One listener being served.
struct Running {
    /// What it serves and where.
    key: (SocketKind, SocketAddr),
    /// Turns true when it must stop.
    stop: watch::Sender<bool>,
    /// A copy of its sockets, for a hand-over.
    copies: Vec<Handed>,
    /// Its UDP worker threads (UDP only).
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// Sockets bound for the entries a reload adds, and the keys it removes.
pub(super) struct Prepared {
    /// Added entries, bound, with their copies.
    added: Vec<((SocketKind, SocketAddr), Bound, Vec<Handed>)>,
    /// Removed entries.
    removed: Vec<(SocketKind, SocketAddr)>,
}

impl Prepared {
    /// Whether the reload changes no listener.
    pub(super) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The listeners being served.
pub(super) struct Listeners {
    /// What they are started with.
    kit: Kit,
    /// One per kind and address.
    running: Vec<Running>,
    /// The tasks of the stream listeners.
    tasks: tokio::task::JoinSet<()>,
    /// UDP worker threads of stopped entries, joined at shutdown.
    stopped_workers: Vec<std::thread::JoinHandle<()>>,
}

/// Every (kind, address) `config` serves on.
pub(super) fn wanted(config: &Config) -> Vec<(SocketKind, SocketAddr)> {
    let s = &config.server;
    let mut keys: Vec<(SocketKind, SocketAddr)> = Vec::new();
    for &a in &s.listen {
        keys.push((SocketKind::Udp, a));
        keys.push((SocketKind::Tcp, a));
    }
    keys.extend(s.listen_tls.iter().map(|&a| (SocketKind::Tls, a)));
    keys.extend(s.listen_https.iter().map(|&a| (SocketKind::Https, a)));
    keys.extend(s.listen_http.iter().map(|&a| (SocketKind::Http, a)));
    keys.dedup();
    keys
}

/// The configuration key of `kind` (for errors and logs).
fn key_name(kind: SocketKind) -> &'static str {
    match kind {
        SocketKind::Udp | SocketKind::Tcp => "server.listen",
        SocketKind::Tls => "server.listen-tls",
        SocketKind::Https => "server.listen-https",
        SocketKind::Http => "server.listen-http",
        SocketKind::Metrics => "metrics.listen",
        SocketKind::Control => "control.socket",
    }
}

impl Listeners {
    /// No listener yet.
    pub(super) fn new(kit: Kit) -> Listeners {
        Listeners {
            kit,
            running: Vec::new(),
            tasks: tokio::task::JoinSet::new(),
            stopped_workers: Vec::new(),
        }
    }

    /// Serves `bound` as `kind` at `addr`, with `copies` kept for a hand-over.
    pub(super) fn start(
        &mut self,
        (kind, addr): (SocketKind, SocketAddr),
        bound: Bound,
        copies: Vec<Handed>,
    ) -> Result<(), DaemonError> {
        let (stop, stop_rx) = watch::channel(false);
        let mut streams = self.kit.streams.clone();
        streams.stop = stop_rx.clone();
        let mut workers = Vec::new();
        let unusable = |what: &str| {
            DaemonError::Listener {
            key: key_name(kind),
            addr,
            reason: format!("{what} (the certificate is loaded at start: adding the first encrypted listener needs a restart)"),
        }
        };
        match (kind, bound) {
            (SocketKind::Udp, Bound::Udp(sockets)) => {
                for sock in sockets {
                    let mut ctx = self.kit.udp.clone();
                    ctx.stop = stop_rx.clone();
                    let name = format!("sekisho-udp-{addr}");
                    match listen::spawn_udp_worker(name, sock, ctx) {
                        Ok(w) => workers.push(w),
                        Err(source) => {
                            let _ = stop.send(true);
                            self.stopped_workers.extend(workers);
                            return Err(DaemonError::Worker { addr, source });
                        }
                    }
                }
            }
            (SocketKind::Tcp, Bound::Stream(socket)) => {
                let l = start_listening(addr, socket, "tcp")?;
                self.tasks.spawn(listen::serve_tcp(l, streams));
            }
            (SocketKind::Tls, Bound::Stream(socket)) => {
                let dot = self
                    .kit
                    .dot
                    .clone()
                    .ok_or_else(|| unusable("no TLS certificate"))?;
                let l = start_listening(addr, socket, "tls")?;
                self.tasks.spawn(listen::serve_tls(l, dot, streams));
            }
            (SocketKind::Https, Bound::Stream(socket)) => {
                let web = self
                    .kit
                    .web
                    .clone()
                    .ok_or_else(|| unusable("no TLS certificate"))?;
                let l = start_listening(addr, socket, "https")?;
                self.tasks.spawn(sekisho_http::serve(
                    vec![DohAccept::new(l, web, streams.clone())],
                    DohHandler::new(streams, self.kit.https_path.clone()).at(addr),
                    self.kit.http.clone(),
                    Arc::new(sekisho_http::ServerStats::default()),
                    stop_rx,
                ));
            }
            (SocketKind::Http, Bound::Stream(socket)) => {
                let l = start_listening(addr, socket, "http")?;
                let proxies = self.kit.http_proxies.clone();
                self.tasks.spawn(sekisho_http::serve(
                    vec![HttpAccept::new(l, proxies.clone(), streams.clone())],
                    DohHandler::behind_proxies(streams, self.kit.https_path.clone(), proxies)
                        .at(addr),
                    self.kit.http.clone(),
                    Arc::new(sekisho_http::ServerStats::default()),
                    stop_rx,
                ));
            }
            _ => {
                return Err(DaemonError::Listener {
                    key: key_name(kind),
                    addr,
                    reason: "not a socket of that kind".into(),
                })
            }
        }
        self.running.push(Running {
            key: (kind, addr),
            stop,
            copies,
            workers,
        });
        Ok(())
    }

    /// Binds what `new` adds to the listeners being served (nothing is
    /// served yet), and lists what it removes; the first bind that fails
    /// is the error, naming its key and address, and what was bound is closed.
    pub(super) fn prepare(&self, new: &Config) -> Result<Prepared, DaemonError> {
        let wanted = wanted(new);
        let running: Vec<(SocketKind, SocketAddr)> = self.running.iter().map(|r| r.key).collect();
        let removed = running
            .iter()
            .filter(|k| !wanted.contains(k))
            .copied()
            .collect();
        let mut added = Vec::new();
        for key in wanted.into_iter().filter(|k| !running.contains(k)) {
            let (kind, addr) = key;
            if matches!(kind, SocketKind::Tls) && self.kit.dot.is_none()
                || matches!(kind, SocketKind::Https) && self.kit.web.is_none()
            {
                return Err(DaemonError::Listener {
                    key: key_name(kind),
                    addr,
                    reason: "no TLS certificate loaded (it is loaded at start: adding the first encrypted listener needs a restart)".into(),
                });
            }
            let failed = |source: std::io::Error| DaemonError::Listener {
                key: key_name(kind),
                addr,
                reason: source.to_string(),
            };
            let (bound, copies) = match kind {
                SocketKind::Udp => {
                    let sockets = listen::bind_udp(addr, self.kit.workers).map_err(failed)?;
                    let copies = sockets
                        .iter()
                        .map(|s| Handed::copy(kind, addr.to_string(), std::os::fd::AsFd::as_fd(s)))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(failed)?;
                    (Bound::Udp(sockets), copies)
                }
                _ => {
                    let socket = listen::bind_tcp(addr).map_err(failed)?;
                    let copy =
                        Handed::copy(kind, addr.to_string(), std::os::fd::AsFd::as_fd(&socket))
                            .map_err(failed)?;
                    (Bound::Stream(socket), vec![copy])
                }
            };
            added.push((key, bound, copies));
        }
        Ok(Prepared { added, removed })
    }

    /// Serves what `prepared` adds and stops what it removes (they answer
    /// what they have in flight); logged once. An added listener that does
    /// not start is logged and left out.
    pub(super) fn apply(&mut self, prepared: Prepared) {
        let Prepared { added, removed } = prepared;
        let names = |keys: &mut dyn Iterator<Item = &(SocketKind, SocketAddr)>| {
            keys.map(|(k, a)| format!("{k} {a}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let added_names = names(&mut added.iter().map(|(k, _, _)| k));
        let removed_names = names(&mut removed.iter());
        for key in &removed {
            if let Some(i) = self.running.iter().position(|r| r.key == *key) {
                let r = self.running.swap_remove(i);
                let _ = r.stop.send(true);
                self.stopped_workers.extend(r.workers);
            }
        }
        for (key, bound, copies) in added {
            if let Err(error) = self.start(key, bound, copies) {
                tracing::error!(%error, "listener not started");
            }
        }
        tracing::info!(added = %added_names, removed = %removed_names, "listeners changed by reload");
    }

    /// A copy of every socket served, for a hand-over.
    pub(super) fn handable(&self) -> Vec<Handed> {
        self.running
            .iter()
            .flat_map(|r| &r.copies)
            .filter_map(|h| {
                Handed::copy(
                    h.socket.kind,
                    h.socket.address.clone(),
                    std::os::fd::AsFd::as_fd(&h.fd),
                )
                .ok()
            })
            .collect()
    }

    /// Tells every listener to stop (they stop reading and accepting).
    pub(super) fn stop_all(&self) {
        for r in &self.running {
            let _ = r.stop.send(true);
        }
    }

    /// Stops every listener, waits for the stream listeners' tasks, and
    /// returns the UDP worker threads to join.
    pub(super) async fn stop(mut self) -> Vec<std::thread::JoinHandle<()>> {
        self.stop_all();
        while self.tasks.join_next().await.is_some() {}
        let mut workers = self.stopped_workers;
        for r in self.running {
            workers.extend(r.workers);
        }
        workers
    }
}
