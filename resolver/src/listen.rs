//! UDP and TCP listeners.
//!
//! UDP: each listen address gets one socket per worker, all bound with
//! `SO_REUSEPORT` so the kernel spreads datagrams across them. A worker is an
//! OS thread of its own that blocks in `recvfrom`: it answers the fast path
//! (cache hits, policy rewrites from the cache, errors) inline from reusable
//! buffers and hands only the queries that need the network to the async
//! runtime. A worker on the runtime paid a failed `recvfrom` and a trip
//! through the reactor (`epoll_wait`, a task wake-up) for nearly every
//! datagram at moderate rates; a blocking worker pays one `recvfrom` and one
//! `sendto` per query (counted with `perf stat` at 20,000 q/s: 1.0 of each,
//! 0.2 `futex`, 0.1 `epoll_wait`), and the daemon's CPU at that rate fell
//! from 0.51 to 0.43 cores. That CPU is what a policy reload under load runs
//! on.
//!
//! TCP (RFC 7766): queries on one connection are read as they come
//! (pipelining), answered as they finish (out of order), and written by one
//! writer task. A connection idle for `tcp-idle-timeout` is closed; at most
//! `tcp-max-connections` are open (a new one past that is closed at once,
//! so a flood cannot grow the table); at most `tcp-max-pipelined` queries
//! of one connection are in flight.
//!
//! Shutdown: every loop watches a `watch` channel; spawned queries are
//! counted in [`InFlight`] so the daemon can drain them before exiting.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::dispatch::Dispatch;
use crate::metrics::{Proto, Refusal};
use crate::pipeline::Step;

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

    /// Wait until nothing is in flight or `limit` passes.
    pub async fn drain(&self, limit: Duration) {
        let wait = async {
            while self.count() > 0 {
                let notified = self.idle.notified();
                if self.count() == 0 {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
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

/// Serve UDP on `socket` (from [`bind_udp`]) on a thread of its own until
/// `stop` turns true; queries that need the network are resolved on `runtime`.
pub fn spawn_udp_worker(
    name: String,
    socket: std::net::UdpSocket,
    dispatch: Arc<Dispatch>,
    inflight: Arc<InFlight>,
    stop: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || serve_udp(socket, &dispatch, &inflight, &stop, &runtime))
}

/// The loop of a UDP worker thread.
fn serve_udp(
    socket: std::net::UdpSocket,
    dispatch: &Arc<Dispatch>,
    inflight: &Arc<InFlight>,
    stop: &watch::Receiver<bool>,
    runtime: &tokio::runtime::Handle,
) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::with_capacity(4096);
    let mut key = Vec::with_capacity(272);
    while !*stop.borrow() {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            // The read timeout: nothing came, look at `stop`.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => {
                // ICMP errors surface here on some systems; keep serving.
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let packet = &buf[..n];
        match dispatch.handle_fast(packet, peer, Proto::Udp, &mut out, &mut key) {
            Step::Reply => {
                // Blocks only while the socket's send buffer is full.
                let _ = socket.send_to(&out, peer);
            }
            // Primary role: transfers are TCP only; handle_fast answers UDP inline.
            Step::Drop | Step::Transfer => {}
            Step::Resolve => {
                let guard = inflight.enter();
                let packet = packet.to_vec();
                let (p, s) = (dispatch.clone(), socket.clone());
                runtime.spawn(async move {
                    if let Some(answer) = p.resolve(&packet, peer.ip(), Proto::Udp).await {
                        send_from_task(s, answer, peer).await;
                    }
                    drop(guard);
                });
            }
        }
    }
}

/// Sends a UDP answer from an async task on the worker's blocking socket:
/// without waiting (`MSG_DONTWAIT`), or, when the send buffer is full, from a
/// blocking-pool thread, so the runtime's threads never block.
async fn send_from_task(socket: Arc<std::net::UdpSocket>, answer: Vec<u8>, peer: SocketAddr) {
    let to = socket2::SockAddr::from(peer);
    match socket2::SockRef::from(&*socket).send_to_with_flags(&answer, &to, libc::MSG_DONTWAIT) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            let _ = tokio::task::spawn_blocking(move || socket.send_to(&answer, peer)).await;
        }
        _ => {}
    }
}

/// Accept TCP connections on `listener` until `stop` turns true.
pub async fn serve_tcp(
    listener: TcpListener,
    dispatch: Arc<Dispatch>,
    inflight: Arc<InFlight>,
    limits: TcpLimits,
    connections: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
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
        if connections.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
            connections.fetch_sub(1, Ordering::AcqRel);
            dispatch.pipeline().metrics.refused(Refusal::TcpLimit);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (p, i, c, s) = (
            dispatch.clone(),
            inflight.clone(),
            connections.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            serve_connection(stream, peer, p, i, limits, s).await;
            c.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// One TCP connection: read frames, answer each as it completes.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    dispatch: Arc<Dispatch>,
    inflight: Arc<InFlight>,
    limits: TcpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(limits.max_pipelined.max(1));
    let writer = tokio::spawn(async move {
        let mut frame = Vec::with_capacity(4096);
        while let Some(msg) = rx.recv().await {
            let Ok(len) = u16::try_from(msg.len()) else {
                continue;
            };
            frame.clear();
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&msg);
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let permits = Arc::new(Semaphore::new(limits.max_pipelined.max(1)));
    let mut out = Vec::with_capacity(4096);
    let mut key = Vec::with_capacity(272);
    loop {
        let mut len = [0u8; 2];
        let read = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, rd.read_exact(&mut len)) => r,
            _ = stop.changed() => break,
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
        match dispatch.handle_fast(&packet, peer, Proto::Tcp, &mut out, &mut key) {
            Step::Reply => {
                if tx.send(out.clone()).await.is_err() {
                    break;
                }
            }
            Step::Drop => {
                if packet.len() < sekisho_wire::HEADER_LEN {
                    break; // a runt frame: the stream is out of sync
                }
            }
            Step::Resolve => {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let guard = inflight.enter();
                let (p, t) = (dispatch.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Some(answer) = p.resolve(&packet, peer.ip(), Proto::Tcp).await {
                        let _ = t.send(answer).await;
                    }
                    drop(permit);
                    drop(guard);
                });
            }
            Step::Transfer => {
                // Primary role: one query, several frames, written in order by the
                // writer task as the transfer produces them (the channel bounds memory).
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
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
    // Let in-flight answers go out, then close.
    drop(tx);
    let _ = writer.await;
}
