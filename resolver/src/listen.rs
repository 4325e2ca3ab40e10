//! UDP, TCP and DNS over TLS listeners.
//!
//! UDP: each listen address gets one socket per worker, all bound with
//! `SO_REUSEPORT` so the kernel spreads datagrams across them. A worker is an
//! OS thread of its own that blocks in `recvmmsg`: it takes every datagram
//! queued on its socket at once (`crate::udp_batch`), answers the fast path
//! (cache hits, policy rewrites from the cache, errors) inline from reusable
//! buffers, sends those answers with one `sendmmsg`, and resolves the
//! queries that need the network on a current-thread runtime of its own
//! (see [`serve_udp`]: a miss never changes threads). A worker on the
//! shared runtime paid a failed `recvfrom` and a trip through the reactor
//! (`epoll_wait`, a task wake-up) for nearly every datagram at moderate
//! rates; a blocking worker pays at most one receive and one send per query
//! (counted with `perf stat` at 20,000 q/s before batching: 1.0 of each, 0.2
//! `futex`, 0.1 `epoll_wait`), and the daemon's CPU at that rate fell from
//! 0.51 to 0.43 cores. That CPU is what a policy reload under load runs on.
//!
//! TCP (RFC 7766): queries on one connection are read as they come
//! (pipelining), answered as they finish (out of order), and written by one
//! writer task. The bounds, each checked where the work happens:
//!
//! ```text
//!  accept ─▶ tcp-clients-per-ip (per address) ─▶ tcp-max-connections (all) ─▶ connection
//!            full: closed at once, counted          full: closed at once
//!  connection: reader ──answers──▶ channel (tcp-max-pipelined) ──▶ writer ──▶ socket
//!              idle: no query for tcp-idle-timeout, or answers not taken
//!                    for tcp-idle-timeout                writes stuck for
//!                                                        tcp-write-timeout
//! ```
//!
//! - At most `tcp-clients-per-ip` connections are open from one client
//!   address (counted as `tcp-clients-per-ip`, engaged and released once per
//!   change per address) and `tcp-max-connections` in all; a connection past
//!   either is closed at once. The per-address table has an entry only for
//!   addresses with a connection open, so it is bounded by the open
//!   connections.
//! - At most `tcp-max-pipelined` queries of one connection are in flight.
//! - A connection with no query for `tcp-idle-timeout` is closed.
//! - A client that does not read its answers cannot hold its slot: a write
//!   that has not completed within `tcp-write-timeout` closes the connection,
//!   and so does a reader that could not hand an answer to the writer (or
//!   wait for a slot while the writer is full) for `tcp-idle-timeout`; both
//!   are counted as `tcp-write-timeout`. Such a connection is reset (`SO_LINGER`
//!   0) rather than closed, so the answers it never read do not stay in the
//!   kernel either.
//!
//! DNS over TLS (RFC 7858) is TCP with a TLS session in between: the same
//! accept-time caps (a TLS connection counts against `tcp-clients-per-ip`
//! and `tcp-max-connections` like a TCP one), then a handshake bounded by
//! `tls-handshake-timeout` (a client that connects and never finishes it is
//! reset and counted), then the very same connection handler
//! ([`serve_connection`], generic over the stream halves):
//!
//! ```text
//!  accept ─▶ caps ─▶ TLS handshake (tls-handshake-timeout) ─▶ split ─▶ reader / writer as above
//! ```
//!
//! The handler keeps the TCP socket itself ([`SharedTcp`]) beside the halves
//! it reads and writes, so it can reset a connection under TLS as under TCP.
//!
//! Behind a load balancer (`proxy-protocol-from`, `crate::proxy`): a UDP
//! worker takes the PROXY v2 header off each datagram of a load balancer and
//! serves the query behind it with the header's client (the answer goes back
//! to the load balancer); a load balancer's TCP or DoT connection takes only
//! a place in `tcp-max-connections` at accept, then its header is read
//! (before any TLS, within `tcp-idle-timeout`) and the client it names takes
//! the place in `tcp-clients-per-ip`; the connection is served for that
//! client throughout:
//!
//! ```text
//!  accept (load balancer) ─▶ tcp-max-connections ─▶ PROXY header ─▶ tcp-clients-per-ip (client)
//!                         ─▶ [TLS handshake] ─▶ connection, client = the header's source
//! ```
//!
//! Shutdown: every loop watches a `watch` channel; spawned queries are
//! counted in [`InFlight`] so the daemon can drain them before exiting.

use std::collections::HashMap;
use std::future::Future;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use sekisho_limits::{Limit, Limits};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::dispatch::Dispatch;
use crate::metrics::{Proto, Refusal};
use crate::pipeline::Step;
use crate::proxy::ProxyProtocol;
use crate::udp_batch::{Batch, BATCH};

/// Counts queries being resolved, so shutdown can wait for them.
#[derive(Debug, Default)]
pub struct InFlight {
    /// Number in flight.
    count: AtomicUsize,
    /// Signalled when the count drops to zero.
    idle: Notify,
}

/// Held while a query is in flight.
pub struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    /// Count one more query.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    /// Queries in flight now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves when nothing is in flight (at once if nothing is).
    pub async fn idle(&self) {
        loop {
            // Registered before the count is read, so a last guard dropped
            // in between still wakes this waiter.
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Wait until nothing is in flight or `limit` passes.
    pub async fn drain(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.idle()).await;
    }
}

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Close a connection idle this long.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Queries in flight per connection at most.
    pub max_pipelined: usize,
    /// Close a connection whose client has not taken an answer within this long.
    pub write_timeout: Duration,
    /// Close a TLS connection whose handshake has not finished within this long
    /// (TLS listeners only).
    pub handshake_timeout: Duration,
}

/// Open client TCP connections per client address, shared by every TCP
/// listener: enforces `tcp-clients-per-ip`.
///
/// An address has an entry only while it has a connection open, so the
/// table never holds more entries than there are open connections.
#[derive(Debug)]
pub struct TcpClients {
    /// Most connections from one address.
    per_ip: usize,
    /// Open connections by address, and whether the address is at its cap.
    open: Mutex<HashMap<IpAddr, PerIp>>,
    /// Drop counters and the engage/release log lines; `held` of
    /// `tcp-clients-per-ip` is the number of open client TCP connections.
    limits: Arc<Limits>,
}

/// One client address in [`TcpClients`].
#[derive(Debug, Default)]
struct PerIp {
    /// Connections open.
    open: usize,
    /// A connection was refused since it last had room (logged as engaged).
    engaged: bool,
}

/// One admitted connection's place in [`TcpClients`]; given back on drop.
#[derive(Debug)]
pub struct ClientSlot {
    /// The table.
    clients: Arc<TcpClients>,
    /// The client address.
    ip: IpAddr,
}

impl TcpClients {
    /// At most `per_ip` connections from one address (at least one).
    pub fn new(per_ip: usize, limits: Arc<Limits>) -> TcpClients {
        let per_ip = per_ip.max(1);
        limits.set_max(Limit::TcpClientsPerIp, per_ip as u64);
        TcpClients {
            per_ip,
            open: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// A place for one more connection from `ip`, or `None` (counted, and the
    /// address logged when it reaches its cap) when it has `per_ip` open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        let mut open = self.lock();
        let entry = open.entry(ip).or_default();
        if entry.open >= self.per_ip {
            let key = ip.to_string();
            if !entry.engaged {
                entry.engaged = true;
                // Under our lock, so engage and release reach `Limits` in the
                // order the flag changed.
                self.limits.engage(
                    Limit::TcpClientsPerIp,
                    &key,
                    &format!("{} TCP connections open from the address", self.per_ip),
                );
            }
            drop(open);
            self.limits.dropped(Limit::TcpClientsPerIp, Some(&key));
            return None;
        }
        entry.open += 1;
        drop(open);
        self.limits.add_held(Limit::TcpClientsPerIp, 1);
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }

    /// Addresses with a connection open now.
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }

    /// The table (a poisoned lock still holds consistent counts).
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, PerIp>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let c = &self.clients;
        c.limits.add_held(Limit::TcpClientsPerIp, -1);
        let mut open = c.lock();
        let Some(entry) = open.get_mut(&self.ip) else {
            return;
        };
        entry.open = entry.open.saturating_sub(1);
        if entry.engaged && entry.open < c.per_ip {
            entry.engaged = false;
            c.limits
                .release(Limit::TcpClientsPerIp, &self.ip.to_string());
        }
        if entry.open == 0 {
            open.remove(&self.ip);
        }
    }
}

/// Bind `workers` UDP sockets on `addr` with SO_REUSEPORT (blocking sockets,
/// for [`spawn_udp_worker`]).
pub fn bind_udp(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    (0..workers.max(1))
        .map(|_| {
            let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            if addr.is_ipv6() {
                s.set_only_v6(true)?;
            }
            s.set_reuse_address(true)?;
            s.set_reuse_port(true)?;
            let _ = s.set_recv_buffer_size(4 << 20);
            s.bind(&addr.into())?;
            // A worker wakes this often with nothing received, to see `stop`.
            s.set_read_timeout(Some(STOP_POLL))?;
            Ok(s.into())
        })
        .collect()
}

/// How long a UDP worker waits in `recvfrom` before it looks at `stop` again.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Bind a TCP socket on `addr` (not listening yet: see [`listen_tcp`]).
pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// Starts listening on a socket from [`bind_tcp`]. Separate from the bind so that the
/// daemon binds at start-up (an address in use stops it early) but accepts connections
/// only once it is ready: the kernel completes handshakes as soon as `listen` is called.
pub fn listen_tcp(socket: Socket) -> std::io::Result<TcpListener> {
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// What a UDP worker serves with: the query path, the drain count, the
/// load balancers of the PROXY protocol and the stop signal.
#[derive(Debug, Clone)]
pub struct UdpContext {
    /// The request router.
    pub dispatch: Arc<Dispatch>,
    /// Queries in flight, for the drain at shutdown.
    pub inflight: Arc<InFlight>,
    /// `proxy-protocol-from` (`None`: off).
    pub proxy: Option<Arc<ProxyProtocol>>,
    /// Turns true at shutdown.
    pub stop: watch::Receiver<bool>,
    /// The daemon's multi-threaded runtime, where a busy worker's misses go.
    pub shared: tokio::runtime::Handle,
}

/// Serve UDP on `socket` (from [`bind_udp`]) on a thread of its own until
/// `ctx.stop` turns true; the queries that need the network are resolved on
/// the thread's own runtime (see [`serve_udp`]).
pub fn spawn_udp_worker(
    name: String,
    socket: std::net::UdpSocket,
    ctx: UdpContext,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name)
        .spawn(move || serve_udp(socket, &ctx, &runtime))
}

/// How long a stopped UDP worker keeps resolving what it had taken.
const UDP_DRAIN: Duration = Duration::from_secs(2);

/// The loop of a UDP worker thread.
///
/// The worker owns a current-thread runtime on which its cache misses are
/// resolved, so a miss never crosses threads: the datagram, the queries to
/// authorities, their answers and the client's answer are all handled here,
/// one event loop per socket as Unbound's threads are. Handing misses to the
/// shared multi-threaded runtime cost a wake-up of a parked worker (futex,
/// eventfd) and a context switch on each side: over the loopback
/// mini-internet at 1,000 unsigned misses a second, 4.1 `futex` and 1.9
/// eventfd `write` calls per miss, and 2.3 times Unbound's CPU.
///
/// Two modes: with none of its queries in flight the worker blocks in
/// `recvmmsg` (the cheapest wait for cache hits: one call per batch); with
/// some in flight it runs its runtime, which waits for the socket and the
/// authorities' answers together (`epoll`), until the last has been
/// answered.
///
/// A busy worker (more than [`BUSY_DATAGRAMS`] datagrams in the last
/// [`BUSY_WINDOW`]) that also has [`BUSY_OWN`] of its own queries in flight
/// hands its further misses to the shared runtime instead, as all workers
/// did before: under a flood, the second mode's wake-ups (every datagram,
/// every timer of the queries waiting on a dead server) cost more than the
/// hand-over (a random-subdomain flood of 20,000 q/s under a zone whose
/// server never answers: 39,000 context switches and 3.2 s of CPU in 8 s
/// with every miss on the worker, 22,000 and 2.3 s with the hand-over), and
/// the shared runtime spreads the misses of one busy socket over every
/// core. A worker that is only fast (many datagrams, each miss answered
/// within a few hundred microseconds, so few in flight) keeps its misses:
/// saturated unsigned misses over the mini-internet (dnsperf, 50 in
/// flight, three rounds alternated on a busy machine) took 72-85 us of CPU
/// and reached 8,500-8,900 q/s with the in-flight test, 92-124 us and
/// 4,300-8,200 q/s with the rate alone deciding; Unbound 65-88 us,
/// 8,100-10,000 q/s in the same rounds.
fn serve_udp(socket: std::net::UdpSocket, ctx: &UdpContext, runtime: &tokio::runtime::Runtime) {
    // dnstap's response address: the address this worker's socket is bound to.
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    // Registered with this worker's reactor for reading, for the waits of the
    // second mode (for writing too, every answer sent would come back as an
    // event: see `send_from_task`). The socket stays in blocking mode (its blocking
    // receive is the first mode's wait, and a process it is handed to shares
    // that mode), so it cannot become a tokio `UdpSocket`, which insists on
    // non-blocking sockets; every call made on the reactor's word passes
    // MSG_DONTWAIT instead. `AsyncFd::with_interest` is deprecated because a
    // caller could hand it a descriptor it does not own; here the `AsyncFd`
    // owns one of the socket's `Arc`s, so the descriptor stays open for as
    // long as it is registered (the safe equivalent is `unsafe`, which the
    // workspace forbids).
    let socket = Arc::new(socket);
    #[allow(deprecated)]
    let ready = {
        let _in = runtime.enter();
        AsyncFd::with_interest(socket, Interest::READABLE)
    };
    let socket = match ready {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, %local, "udp worker cannot watch its socket; not serving it");
            return;
        }
    };
    let mut w = UdpWorker {
        ctx,
        local,
        socket: socket.clone(),
        runtime: runtime.handle().clone(),
        own: Arc::new(InFlight::default()),
        window: (std::time::Instant::now(), 0),
        busy: false,
        batch: Batch::default(),
        // One answer buffer per datagram of a batch, reused.
        outs: (0..BATCH).map(|_| Vec::with_capacity(4096)).collect(),
        key: Vec::with_capacity(272),
        waiting: Vec::new(),
    };
    let mut stop = ctx.stop.clone();
    let own = w.own.clone();
    // The stop signal's sender gone: stopped as well.
    let mut orphaned = false;
    while !*stop.borrow() && !orphaned {
        if own.count() == 0 {
            match w.batch.recv(socket.get_ref()) {
                Ok(n) => w.serve_batch(n),
                // The read timeout: nothing came, look at `stop`.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // ICMP errors surface here on some systems; keep serving.
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            }
            continue;
        }
        runtime.block_on(async {
            // The misses the first mode took.
            w.spawn_waiting();
            loop {
                tokio::select! {
                    biased;
                    r = stop.changed() => {
                        orphaned = r.is_err();
                        break;
                    }
                    () = own.idle() => break,
                    r = socket.readable() => {
                        let Ok(mut guard) = r else { break };
                        match guard.try_io(|s| w.batch.recv_queued(s.get_ref())) {
                            Ok(Ok(n)) => {
                                // A batch not filled took all that was queued: wait for
                                // the next datagram's event rather than ask the socket
                                // once more for nothing (tokio keeps the readiness of
                                // an event that came meanwhile).
                                if n < BATCH {
                                    guard.clear_ready();
                                }
                                w.serve_batch(n);
                                w.spawn_waiting();
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "udp receive error"),
                            // Drained: readiness is cleared, wait again.
                            Err(_) => {}
                        }
                    }
                }
            }
        });
    }
    // Stopped: what this worker took is answered before its runtime goes.
    runtime.block_on(async {
        w.spawn_waiting();
        own.drain(UDP_DRAIN).await;
    });
}

/// One UDP worker's state between batches.
struct UdpWorker<'a> {
    /// What it serves with.
    ctx: &'a UdpContext,
    /// The address its socket is bound to.
    local: SocketAddr,
    /// Its socket, registered with its runtime's reactor.
    socket: Arc<AsyncFd<Arc<std::net::UdpSocket>>>,
    /// Its own runtime, where its misses are resolved.
    runtime: tokio::runtime::Handle,
    /// Its queries being resolved on its own runtime.
    own: Arc<InFlight>,
    /// Start of the current rate window and the datagrams received in it.
    window: (std::time::Instant, usize),
    /// The last full window had more than [`BUSY_DATAGRAMS`] datagrams.
    busy: bool,
    /// Receive and send state.
    batch: Batch,
    /// Answer buffers, one per datagram of a batch.
    outs: Vec<Vec<u8>>,
    /// Cache key buffer.
    key: Vec<u8>,
    /// Misses of the last batch that wait for the network, to be spawned.
    waiting: Vec<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl UdpWorker<'_> {
    /// Spawn the waiting misses. Called in the runtime's `block_on`: a
    /// task spawned there goes to the thread's own run queue, where one
    /// spawned from outside (the first mode's loop) went through the
    /// shared queue and wrote the runtime's wake-up `eventfd`.
    fn spawn_waiting(&mut self) {
        for task in self.waiting.drain(..) {
            tokio::spawn(task);
        }
    }

    /// Answers the `received` datagrams of the last batch that the fast path
    /// can answer (sent together), and starts a task for each of the others.
    fn serve_batch(&mut self, received: usize) {
        let UdpContext {
            dispatch,
            inflight,
            proxy,
            shared,
            ..
        } = self.ctx;
        let now = std::time::Instant::now();
        if now.duration_since(self.window.0) >= BUSY_WINDOW {
            self.busy = self.window.1 > BUSY_DATAGRAMS;
            self.window = (now, 0);
        }
        self.window.1 += received;
        let busy = self.busy;
        let local = self.local;
        for (i, out) in self.outs.iter_mut().enumerate().take(received) {
            let Some((datagram, peer, cut)) = self.batch.datagram(i) else {
                continue;
            };
            if cut {
                // Longer than any query: refused from what its start shows.
                if dispatch.pipeline().reject_cut(datagram, out) == Step::Reply {
                    self.batch.reply(i, peer);
                }
                continue;
            }
            // The sender gets the answer; the client is the sender, or the one a
            // load balancer's PROXY header names (one branch when that is off).
            let (packet, client) = match proxy {
                None => (datagram, peer),
                Some(p) => match p.datagram(datagram, peer) {
                    Some(x) => x,
                    None => continue,
                },
            };
            match dispatch.handle_fast(packet, client, local, Proto::Udp, out, &mut self.key) {
                Step::Reply => self.batch.reply(i, peer),
                // Primary role: transfers are TCP only; handle_fast answers UDP inline.
                Step::Drop | Step::Transfer => {}
                Step::Resolve if busy && self.own.count() >= BUSY_OWN => {
                    // Straight to the shared runtime, unpolled: polled here, under
                    // that runtime's context but off its threads, validation's
                    // `block_in_place` would panic.
                    let guard = inflight.enter();
                    let packet = packet.to_vec();
                    let (p, s) = (dispatch.clone(), self.socket.clone());
                    shared.spawn(async move {
                        if let Some(answer) = p.resolve(&packet, client, local, Proto::Udp).await {
                            send_from_task(s, answer, peer).await;
                        }
                        drop(guard);
                    });
                }
                Step::Resolve => {
                    let runtime = &self.runtime;
                    let guards = (inflight.enter(), self.own.enter());
                    let packet = packet.to_vec();
                    let p = dispatch.clone();
                    let mut resolving: Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>> =
                        Box::pin(
                            async move { p.resolve(&packet, client, local, Proto::Udp).await },
                        );
                    // Polled once here: what needs no network (a policy rewrite, a
                    // stored failure, an RD=0 query) is ready at once and goes out
                    // with this batch, without a task; what waits becomes a task
                    // (the future's contract lets the runtime poll it on with its
                    // own waker). A query to an upstream or an authority is sent
                    // from that task, not from here (`sekisho_upstream::udp`).
                    let first = {
                        let _in = runtime.enter();
                        resolving
                            .as_mut()
                            .poll(&mut Context::from_waker(std::task::Waker::noop()))
                    };
                    match first {
                        Poll::Ready(answer) => {
                            drop(guards);
                            if let Some(answer) = answer {
                                *out = answer;
                                self.batch.reply(i, peer);
                            }
                        }
                        Poll::Pending => {
                            let s = self.socket.clone();
                            // Spawned by `spawn_waiting`, on the runtime's thread.
                            self.waiting.push(Box::pin(async move {
                                if let Some(answer) = resolving.await {
                                    send_from_task(s, answer, peer).await;
                                }
                                drop(guards);
                            }));
                        }
                    }
                }
            }
        }
        // Blocks only while the socket's send buffer is full.
        self.batch.flush(self.socket.get_ref(), &self.outs);
    }
}

/// Sends a UDP answer from a task, on a worker's runtime or the shared one:
/// without waiting (`MSG_DONTWAIT`), or, when the send buffer is full (rare:
/// the kernel drains a UDP send buffer as fast as it is filled unless the
/// machine is swamped), from a blocking-pool thread of the task's runtime,
/// whose blocking send waits for room. The reactor is not asked: the socket
/// is registered for reading only, as a registration for writing too makes
/// the kernel report every sent datagram's freed buffer space as an event,
/// i.e. a wake-up of the worker's reactor for nothing after each answer.
async fn send_from_task(
    socket: Arc<AsyncFd<Arc<std::net::UdpSocket>>>,
    answer: Vec<u8>,
    peer: SocketAddr,
) {
    let to = socket2::SockAddr::from(peer);
    if would_block(send_now(socket.get_ref(), &answer, &to)) {
        let _ = tokio::task::spawn_blocking(move || socket.get_ref().send_to(&answer, peer)).await;
    }
}

/// One answer sent without waiting (`MSG_DONTWAIT`, whatever the socket's mode).
fn send_now(
    socket: &std::net::UdpSocket,
    answer: &[u8],
    to: &socket2::SockAddr,
) -> std::io::Result<usize> {
    socket2::SockRef::from(socket).send_to_with_flags(answer, to, libc::MSG_DONTWAIT)
}

/// Whether a send failed only because the send buffer was full.
fn would_block(sent: std::io::Result<usize>) -> bool {
    matches!(sent, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// The rate window of a UDP worker's busy test.
const BUSY_WINDOW: Duration = Duration::from_millis(10);
/// Datagrams in one [`BUSY_WINDOW`] past which a worker is busy (2,000 a second).
const BUSY_DATAGRAMS: usize = 20;
/// Its own queries in flight from which a busy worker hands its misses over.
const BUSY_OWN: usize = 64;

/// What every stream listener (TCP, DNS over TLS, DNS over HTTPS) shares: the query path,
/// the connection bounds and their counts, and the stop signal.
#[derive(Debug, Clone)]
pub struct StreamContext {
    /// The request router.
    pub dispatch: Arc<Dispatch>,
    /// Queries in flight, for the drain at shutdown.
    pub inflight: Arc<InFlight>,
    /// The bounds.
    pub limits: TcpLimits,
    /// Open client connections, all stream listeners together (`tcp-max-connections`).
    pub connections: Arc<AtomicUsize>,
    /// Open connections per client address (`tcp-clients-per-ip`), all listeners together.
    pub clients: Arc<TcpClients>,
    /// `proxy-protocol-from` (`None`: off): whose TCP and DoT connections start
    /// with a PROXY header (DoH ignores it).
    pub proxy: Option<Arc<ProxyProtocol>>,
    /// Turns true at shutdown.
    pub stop: watch::Receiver<bool>,
}

/// Accept TCP connections on `listener` until `ctx.stop` turns true.
pub async fn serve_tcp(listener: TcpListener, ctx: StreamContext) {
    let on_accept = |stream: TcpStream, peer: SocketAddr, mut slot: ConnSlot| {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let socket = Arc::new(stream);
            let Some(client) = proxied_client(&socket, peer, Proto::Tcp, &mut slot, &ctx).await
            else {
                return;
            };
            let (rd, wr) = (SharedTcp(socket.clone()), SharedTcp(socket.clone()));
            serve_connection(rd, wr, socket, client, Proto::Tcp, ctx).await;
            drop(slot);
        });
    };
    accept_loop(&listener, &ctx, on_accept).await;
}

/// Accept DNS over TLS connections (RFC 7858) on `listener` until
/// `ctx.stop` turns true: the TCP bounds, then a TLS handshake of at most
/// `tls-handshake-timeout` with `tls` (ALPN `dot`), then the same
/// connection handling as TCP.
pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, ctx: StreamContext) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let on_accept = |stream: TcpStream, peer: SocketAddr, mut slot: ConnSlot| {
        let (ctx, acceptor) = (ctx.clone(), acceptor.clone());
        tokio::spawn(async move {
            let socket = Arc::new(stream);
            // A load balancer's header comes before the TLS handshake (dnsdist sends it so).
            let Some(client) = proxied_client(&socket, peer, Proto::Tls, &mut slot, &ctx).await
            else {
                return;
            };
            let Some(tls) = handshake(&acceptor, &socket, client, &ctx).await else {
                return;
            };
            let (rd, wr) = tokio::io::split(tls);
            serve_connection(rd, wr, socket, client, Proto::Tls, ctx).await;
            drop(slot);
        });
    };
    accept_loop(&listener, &ctx, on_accept).await;
}

/// The server side of a TLS handshake on `socket`, bounded by
/// `limits.handshake_timeout`: a client that connects and never finishes
/// its handshake is reset and counted (`tls-handshake-timeout`). `None` when
/// the handshake failed, timed out or the daemon is stopping.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    socket: &Arc<TcpStream>,
    peer: SocketAddr,
    ctx: &StreamContext,
) -> Option<tokio_rustls::server::TlsStream<SharedTcp>> {
    let accept = acceptor.accept(SharedTcp(socket.clone()));
    let mut stop = ctx.stop.clone();
    let result = tokio::select! {
        r = tokio::time::timeout(ctx.limits.handshake_timeout, accept) => r,
        _ = stop.changed() => return None,
    };
    match result {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "tls handshake failed");
            None
        }
        Err(_) => {
            handshake_timed_out(socket, peer, ctx);
            None
        }
    }
}

/// A TLS handshake on `socket` did not finish within `tls-handshake-timeout`:
/// counted, logged, and the connection set to reset when it is dropped.
pub(crate) fn handshake_timed_out(socket: &TcpStream, peer: SocketAddr, ctx: &StreamContext) {
    ctx.dispatch
        .pipeline()
        .metrics
        .limits
        .dropped(Limit::TlsHandshakeTimeout, None);
    tracing::debug!(%peer, "tls handshake not finished within tls-handshake-timeout; connection reset");
    reset_on_close(socket);
}

/// One admitted connection's places in the connection counts; given back on drop.
pub(crate) struct ConnSlot {
    /// Its place in the per-address table (`None` for a load balancer's
    /// connection until its PROXY header names the client).
    client: Option<ClientSlot>,
    /// The count of all open connections, decremented on drop.
    connections: Arc<AtomicUsize>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

impl StreamContext {
    /// A place for a connection from `peer`, or `None` (counted) when its
    /// address or the listeners together are at their cap.
    pub(crate) fn admit(&self, peer: SocketAddr) -> Option<ConnSlot> {
        // Per address first: a client at its own cap does not use a slot of the total.
        let client = self.clients.admit(peer.ip())?;
        let mut slot = self.admit_total()?;
        slot.client = Some(client);
        Some(slot)
    }

    /// A place for a connection in `tcp-max-connections` only, or `None`
    /// (counted) when the listeners together are at their cap: a load
    /// balancer's connection, whose client is known once its header is read.
    pub(crate) fn admit_total(&self) -> Option<ConnSlot> {
        if self.connections.fetch_add(1, Ordering::AcqRel) >= self.limits.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            self.dispatch.pipeline().metrics.refused(Refusal::TcpLimit);
            return None;
        }
        Some(ConnSlot {
            client: None,
            connections: self.connections.clone(),
        })
    }
}

/// The client of a connection from `peer`: `peer` itself, or, from a load
/// balancer of `proxy-protocol-from`, the address its PROXY header names,
/// admitted to `tcp-clients-per-ip` now. `None` when the connection must be
/// closed (no valid header in time, or the client at its cap; both counted).
///
/// With `proxy-protocol-from` set, a connection from anyone else that opens
/// with a PROXY header is closed and counted; one that sends nothing within
/// `tcp-idle-timeout` (TCP) or `tls-handshake-timeout` (DoT, counted as the
/// handshake's timeout) is closed as the connection code would close it.
async fn proxied_client(
    socket: &Arc<TcpStream>,
    peer: SocketAddr,
    proto: Proto,
    slot: &mut ConnSlot,
    ctx: &StreamContext,
) -> Option<SocketAddr> {
    let Some(proxy) = &ctx.proxy else {
        return Some(peer);
    };
    if slot.client.is_some() {
        // Not a load balancer: served as always, unless it opens with a PROXY header.
        let wait = match proto {
            Proto::Tls => ctx.limits.handshake_timeout,
            _ => ctx.limits.idle_timeout,
        };
        return match opens_with_signature(socket, wait).await {
            Opening::Other => Some(peer),
            Opening::Signature => {
                proxy.stranger_connection(peer.ip());
                None
            }
            Opening::Nothing if proto == Proto::Tls => {
                handshake_timed_out(socket, peer, ctx);
                None
            }
            Opening::Nothing => {
                tracing::debug!(%peer, "client sent nothing within tcp-idle-timeout; connection closed");
                None
            }
        };
    }
    let mut rd = SharedTcp(socket.clone());
    let read = proxy.read_header(&mut rd, peer, ctx.limits.idle_timeout);
    let mut stop = ctx.stop.clone();
    let client = tokio::select! {
        c = read => c?,
        _ = stop.changed() => return None,
    };
    slot.client = Some(ctx.clients.admit(client.ip())?);
    Some(client)
}

/// Accept connections on `listener` until `ctx.stop` turns true, closing at
/// once those past the connection caps and handing the others to `on_accept`.
pub(crate) async fn accept_loop(
    listener: &TcpListener,
    ctx: &StreamContext,
    mut on_accept: impl FnMut(TcpStream, SocketAddr, ConnSlot),
) {
    let mut stop = ctx.stop.clone();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp accept error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // A load balancer's connection is admitted per client once its header is read.
        let slot = match &ctx.proxy {
            Some(p) if p.is_proxy(peer.ip()) => ctx.admit_total(),
            _ => ctx.admit(peer),
        };
        let Some(slot) = slot else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        on_accept(stream, peer, slot);
    }
}

/// How a connection from an address not in `proxy-protocol-from` opens.
enum Opening {
    /// With the PROXY v2 signature.
    Signature,
    /// With anything else (a DNS frame, a TLS ClientHello), or it closed.
    Other,
    /// With nothing yet, after the time allowed.
    Nothing,
}

/// Whether the first octets `socket` has received are the PROXY v2
/// signature, seen with `peek` so that they stay unread. Waits at most
/// `limit` for them (a DNS or TLS client speaks first). One `peek` tells a
/// DNS frame or a TLS ClientHello apart; only octets that match the start
/// of the signature are waited on for more.
async fn opens_with_signature(socket: &TcpStream, limit: Duration) -> Opening {
    let look = async {
        let mut buf = [0u8; sekisho_wire::proxy::SIGNATURE.len()];
        loop {
            let Ok(n) = socket.peek(&mut buf).await else {
                return Opening::Other;
            };
            let seen = &buf[..n];
            if n == 0 || !sekisho_wire::proxy::SIGNATURE.starts_with(seen) {
                return Opening::Other;
            }
            if n == buf.len() {
                return Opening::Signature;
            }
            // A part of the signature so far: `peek` would return it again at once.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(limit, look)
        .await
        .unwrap_or(Opening::Nothing)
}

/// A client connection's TCP socket, shared by its reader and its writer (or
/// by the TLS session over it), while the connection code keeps a handle of
/// its own to reset the connection (`SO_LINGER` 0) whatever runs on top.
///
/// Reads and writes use the socket's readiness for each direction apart, as
/// tokio's own split halves do, so a reader and a writer never steal each
/// other's wake-ups.
#[derive(Debug, Clone)]
pub struct SharedTcp(pub(crate) Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale: wait again.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write);
        Poll::Ready(match r {
            // The peer has gone already: nothing left to shut.
            Err(e) if e.kind() == ErrorKind::NotConnected => Ok(()),
            r => r,
        })
    }
}

/// Makes closing `socket` reset the connection (`SO_LINGER` 0), so answers a
/// client never read do not stay in the kernel.
fn reset_on_close(socket: &TcpStream) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}

/// How a wait of the reader for the writer or a pipelining slot ended.
enum Handoff<T> {
    /// Done.
    Done(T),
    /// The writer has gone (the connection is closing).
    WriterGone,
    /// The writer has taken nothing for `tcp-idle-timeout`: the client does not read.
    Stuck,
}

/// One client connection with RFC 7766 framing, over TCP or TLS: read
/// frames from `rd`, answer each as it completes through a writer task on
/// `wr`. `socket` is the TCP socket under both, for resets.
async fn serve_connection<R, W>(
    mut rd: R,
    wr: W,
    socket: Arc<TcpStream>,
    peer: SocketAddr,
    proto: Proto,
    ctx: StreamContext,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let StreamContext {
        dispatch,
        inflight,
        limits,
        mut stop,
        ..
    } = ctx;
    let (tx, rx) = mpsc::channel::<Vec<u8>>(limits.max_pipelined.max(1));
    let counters = dispatch.pipeline().metrics.limits.clone();
    // dnstap's response address.
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut writer = tokio::spawn(write_answers(
        wr,
        socket.clone(),
        rx,
        limits.write_timeout,
        counters.clone(),
        peer,
    ));
    // Set once `writer` has been awaited to its end (or aborted).
    let mut writer_ended = false;
    let mut stuck = false;
    let permits = Arc::new(Semaphore::new(limits.max_pipelined.max(1)));
    let mut out = Vec::with_capacity(4096);
    let mut key = Vec::with_capacity(272);
    loop {
        let mut len = [0u8; 2];
        let read = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, rd.read_exact(&mut len)) => r,
            _ = stop.changed() => break,
            // The writer gave up (write timeout or error): nothing more can be answered.
            _ = &mut writer => {
                writer_ended = true;
                break;
            }
        };
        match read {
            Ok(Ok(_)) => {}
            _ => break, // EOF, error or idle timeout
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(limits.idle_timeout, rd.read_exact(&mut packet)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        match dispatch.handle_fast(&packet, peer, local, proto, &mut out, &mut key) {
            Step::Reply => match hand_over(&tx, out.clone(), limits.idle_timeout).await {
                Handoff::Done(()) => {}
                Handoff::WriterGone => break,
                Handoff::Stuck => {
                    stuck = true;
                    break;
                }
            },
            Step::Drop => {
                if packet.len() < sekisho_wire::HEADER_LEN {
                    break; // a runt frame: the stream is out of sync
                }
            }
            Step::Resolve => {
                let permit = match slot(&permits, &tx, limits.idle_timeout).await {
                    Handoff::Done(p) => p,
                    Handoff::WriterGone => break,
                    Handoff::Stuck => {
                        stuck = true;
                        break;
                    }
                };
                let guard = inflight.enter();
                let (p, t) = (dispatch.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Some(answer) = p.resolve(&packet, peer, local, proto).await {
                        // Fails at once when the writer has gone.
                        let _ = t.send(answer).await;
                    }
                    drop(permit);
                    drop(guard);
                });
            }
            Step::Transfer => {
                // Primary role: one query, several frames, written in order by the
                // writer task as the transfer produces them (the channel bounds memory).
                let permit = match slot(&permits, &tx, limits.idle_timeout).await {
                    Handoff::Done(p) => p,
                    Handoff::WriterGone => break,
                    Handoff::Stuck => {
                        stuck = true;
                        break;
                    }
                };
                let guard = inflight.enter();
                let (p, t) = (dispatch.clone(), tx.clone());
                tokio::spawn(async move {
                    p.transfer(&packet, peer, t).await;
                    drop(permit);
                    drop(guard);
                });
            }
        }
    }
    if stuck {
        // The client has not taken an answer for tcp-idle-timeout: reset the
        // connection now instead of waiting on it any longer. (A writer that
        // has just ended counted its own write timeout.)
        if !writer.is_finished() {
            counters.dropped(Limit::TcpWriteTimeout, None);
        }
        tracing::debug!(%peer, transport = proto.as_label(), "client takes no answers; connection reset");
        reset_on_close(&socket);
        writer.abort();
    }
    // Otherwise let in-flight answers go out (each write bounded by the write
    // timeout), then close.
    drop(tx);
    if !writer_ended {
        let _ = writer.await;
    }
}

/// Hand `answer` to the writer, waiting at most `idle` while its channel is full.
async fn hand_over(tx: &mpsc::Sender<Vec<u8>>, answer: Vec<u8>, idle: Duration) -> Handoff<()> {
    match tokio::time::timeout(idle, tx.send(answer)).await {
        Ok(Ok(())) => Handoff::Done(()),
        Ok(Err(_)) => Handoff::WriterGone,
        Err(_) => Handoff::Stuck,
    }
}

/// Wait for a pipelining slot. Slots come back as queries finish, which the
/// query deadline bounds; but an answer cannot finish while the writer is
/// full, so a wait of `idle` with the writer's channel full means the client
/// does not read.
async fn slot(
    permits: &Arc<Semaphore>,
    tx: &mpsc::Sender<Vec<u8>>,
    idle: Duration,
) -> Handoff<OwnedSemaphorePermit> {
    loop {
        match tokio::time::timeout(idle, permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => return Handoff::Done(p),
            Ok(Err(_)) => return Handoff::WriterGone,
            Err(_) if tx.is_closed() => return Handoff::WriterGone,
            Err(_) if tx.capacity() == 0 => return Handoff::Stuck,
            // Slow resolutions, not a stuck client: keep waiting.
            Err(_) => {}
        }
    }
}

/// The writer of one connection: frames the answers from `rx` and writes them
/// in turn. A write that takes longer than `write_timeout` (the client does
/// not read) ends it, counted, with the connection set to reset on close.
async fn write_answers<W: AsyncWrite + Unpin>(
    mut wr: W,
    socket: Arc<TcpStream>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    write_timeout: Duration,
    limits: Arc<Limits>,
    peer: SocketAddr,
) {
    let mut frame = Vec::with_capacity(4096);
    while let Some(msg) = rx.recv().await {
        let Ok(len) = u16::try_from(msg.len()) else {
            continue;
        };
        frame.clear();
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&msg);
        // The flush matters under TLS: when the socket is full, the TLS stream
        // takes the answer into its own buffer and says it is written; without
        // a flush it would wait there for the next answer. (A no-op on TCP.)
        let write = async {
            wr.write_all(&frame).await?;
            wr.flush().await
        };
        match tokio::time::timeout(write_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                limits.dropped(Limit::TcpWriteTimeout, None);
                tracing::debug!(%peer, "client did not take an answer within tcp-write-timeout; connection reset");
                // The unread answers are dropped with the connection.
                reset_on_close(&socket);
                return;
            }
        }
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_cap_is_refused_counted_and_logged_once_per_change() {
        let limits = Arc::new(Limits::new());
        let clients = Arc::new(TcpClients::new(2, limits.clone()));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let mut held: Vec<ClientSlot> = (0..2).map(|_| clients.admit(a).expect("room")).collect();
        assert!(clients.admit(a).is_none());
        assert!(clients.admit(a).is_none());
        assert!(limits.is_engaged(Limit::TcpClientsPerIp, "192.0.2.1"));
        assert_eq!(limits.drops(Limit::TcpClientsPerIp), 2);
        let other = clients.admit(b).expect("another address has room");
        assert_eq!(limits.held(Limit::TcpClientsPerIp), 3);
        // One closes: room again, and the address is let go.
        held.pop();
        assert!(!limits.is_engaged(Limit::TcpClientsPerIp, "192.0.2.1"));
        held.push(clients.admit(a).expect("room again"));
        assert!(!limits.is_engaged(Limit::TcpClientsPerIp, "192.0.2.1"));
        // An IPv4-mapped address is the same client.
        assert!(clients
            .admit("::ffff:192.0.2.1".parse().expect("ip"))
            .is_none());
        drop(held);
        drop(other);
        assert_eq!(clients.addresses(), 0, "no entry is kept at zero");
        assert_eq!(limits.held(Limit::TcpClientsPerIp), 0);
    }
}
