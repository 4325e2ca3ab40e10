//! One UDP exchange with a server: a query out from a fresh socket on a
//! random port (source port randomisation, RFC 5452 section 9.2), its
//! answer back. Used by the recursor for every authoritative query and by
//! the forwarders' UDP upstreams.
//!
//! The work is ordered so that the thread does as little as possible
//! between the query's send and the answer's use, as Unbound does: the
//! socket is registered with the reactor (for reading only) before the
//! send, the send happens inside the task that waits for the answer (not
//! in a UDP worker's first poll of a miss, see [`InTask`]), and the socket
//! is closed after the client has been answered (see [`Deferred`]). On a
//! busy machine the server's reply, woken on the same core, waits for this
//! thread to sleep, and the answer waits for whatever runs before it is
//! used.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::matches_query;

/// Send `q` to `server` and return the first datagram that answers it
/// (ID and question); datagrams that do not are dropped and the wait goes
/// on, so an off-path spoofer cannot end it. No timeout: the caller bounds
/// the wait.
pub async fn exchange(server: SocketAddr, q: &[u8]) -> std::io::Result<Vec<u8>> {
    InTask::default().await;
    // A non-blocking socket from the start, and no `bind`: the `connect`
    // binds it to a random ephemeral port as `bind` to port 0 would (the
    // kernel's choice is the same), two system calls fewer per query.
    // Neither call waits: a UDP connect only sets addresses.
    let domain = match server.ip() {
        IpAddr::V4(_) => socket2::Domain::IPV4,
        IpAddr::V6(_) => socket2::Domain::IPV6,
    };
    let sock = socket2::Socket::new(
        domain,
        socket2::Type::DGRAM.nonblocking(),
        Some(socket2::Protocol::UDP),
    )?;
    sock.connect(&server.into())?;
    let mut sock = Deferred {
        sock: Some(register(std::net::UdpSocket::from(sock), false)?),
        answered: false,
    };
    // A fresh socket's send buffer is empty, so the send does not wait and
    // no writability is asked for (through tokio's `UdpSocket` the send first
    // waited a reactor turn for it, and every send woke the reactor once
    // more for a writability nobody waited for). Should it wait all the
    // same, the socket is registered again for both.
    let mut sock = match sock.get()?.get_ref().send(q) {
        Ok(_) => sock,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let Some(fd) = sock.sock.take() else {
                return Err(e);
            };
            let both = Deferred {
                sock: Some(register(fd.into_inner(), true)?),
                answered: false,
            };
            loop {
                let mut ready = both.get()?.writable().await?;
                // `Err`: the buffer filled again; readiness is cleared, wait again.
                if let Ok(r) = ready.try_io(|s| s.get_ref().send(q)) {
                    r?;
                    break;
                }
            }
            both
        }
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 4096];
    loop {
        let mut ready = sock.get()?.readable().await?;
        match ready.try_io(|s| s.get_ref().recv(&mut buf)) {
            Ok(Ok(n)) if matches_query(&buf[..n], q) => {
                buf.truncate(n);
                sock.answered = true;
                return Ok(buf);
            }
            // Not an answer to `q`: keep waiting.
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            // Drained: readiness is cleared, wait again.
            Err(_) => {}
        }
    }
}

/// `f`, given up after `timeout` (`None`). The timer is armed before `f` is
/// first polled (`biased`: the sleep is polled first), so that what arming
/// it costs (the runtime's wake-up when it is the earliest timer) is spent
/// before a query leaves, not after, while the server may be waiting for
/// this thread's core. `tokio::time::timeout` polls `f` first.
pub async fn within<F: Future>(timeout: std::time::Duration, f: F) -> Option<F::Output> {
    let expiry = tokio::time::sleep(timeout);
    tokio::select! {
        biased;
        () = expiry => None,
        r = f => Some(r),
    }
}

/// Ready at once inside a task; polled outside any task (a UDP worker's
/// first poll of a miss, to answer at once what needs no network), it
/// returns `Pending` once and wakes its waker, so that the query is sent
/// from the task the miss then becomes. Sent from the first poll, the
/// query left before the return through every layer, the task's spawn and
/// its first poll, all of it time the authority's reply, woken on the same
/// core, waited for.
#[derive(Default)]
struct InTask(bool);

impl Future for InTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 || tokio::task::try_id().is_some() {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// `sock` registered with the reactor for reading, and for writing too
/// when `writable`.
fn register(
    sock: std::net::UdpSocket,
    writable: bool,
) -> std::io::Result<AsyncFd<std::net::UdpSocket>> {
    let interest = if writable {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    // Deprecated because a caller could register a descriptor it does not
    // own; this `AsyncFd` owns the socket, which it closes after it has
    // deregistered it (the non-deprecated form is `unsafe`, which the
    // workspace forbids).
    #[allow(deprecated)]
    AsyncFd::with_interest(sock, interest)
}

/// A socket closed later once it has brought an answer: when
/// dropped, it is then handed to a task of its own on the runtime, which
/// closes it once the task that used it has yielded (on a UDP worker, after
/// the client's answer has been sent). Closing a UDP socket (deregistration
/// and `close`) took 10-20 us under load, all of it between the answer's
/// arrival and the client's answer when done at once. Spawned from a
/// runtime worker, the task takes the worker's next slot and wakes no other
/// thread. A socket that brought nothing (a timeout, an error) is closed at
/// once: nobody waits for an answer then, and a flood of queries to a dead
/// server makes no task per query.
struct Deferred {
    /// The socket, until dropped or taken for a second registration.
    sock: Option<AsyncFd<std::net::UdpSocket>>,
    /// It brought an answer: close it from a task of its own.
    answered: bool,
}

impl Deferred {
    /// The socket; always there until the value is dropped, except after
    /// the one `take` of a send that would block.
    fn get(&self) -> std::io::Result<&AsyncFd<std::net::UdpSocket>> {
        self.sock
            .as_ref()
            .ok_or_else(|| std::io::Error::other("upstream socket already closed"))
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some(sock) = self.sock.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) if self.answered => drop(h.spawn(async move { drop(sock) })),
                _ => drop(sock),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A query for `www.example.` A with ID `id`.
    fn query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        q
    }

    /// `q` turned into an (empty) answer.
    fn answer_to(q: &[u8]) -> Vec<u8> {
        let mut a = q.to_vec();
        a[2] |= 0x80;
        a
    }

    /// Open descriptors of this process (nextest runs each test in a process
    /// of its own).
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
    }

    /// A server on a loopback port of its own that answers each query first
    /// with a datagram of another ID, then with the real answer.
    fn spoofed_then_real() -> SocketAddr {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let addr = server.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            // Bounded: a few queries per test at most.
            for _ in 0..8 {
                let Ok((n, peer)) = server.recv_from(&mut buf) else {
                    return;
                };
                let mut wrong = answer_to(&buf[..n]);
                wrong[0] ^= 0xff;
                let _ = server.send_to(&wrong, peer);
                let _ = server.send_to(&answer_to(&buf[..n]), peer);
            }
        });
        addr
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_datagram_that_does_not_answer_is_skipped() {
        let server = spoofed_then_real();
        let q = query(0x1234);
        let got = tokio::time::timeout(Duration::from_secs(5), exchange(server, &q))
            .await
            .expect("answered in time")
            .expect("exchange");
        assert_eq!(got, answer_to(&q));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_socket_is_closed_once_the_task_yields() {
        let server = spoofed_then_real();
        let before = open_fds();
        let q = query(3);
        let got = exchange(server, &q).await.expect("exchange");
        assert_eq!(got, answer_to(&q));
        // Its closing task has not run yet: nothing has yielded since.
        assert_eq!(open_fds(), before + 1);
        tokio::task::yield_now().await;
        assert_eq!(open_fds(), before);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_socket_that_brought_no_answer_is_closed_at_once() {
        // A server that reads and never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = silent.local_addr().expect("addr");
        let before = open_fds();
        let q = query(9);
        let waited = tokio::time::timeout(Duration::from_millis(50), exchange(addr, &q)).await;
        assert!(waited.is_err(), "no answer, so the wait timed out");
        // Closed when the exchange was dropped, without a yield.
        assert_eq!(open_fds(), before);
    }

    #[test]
    fn polled_outside_a_task_it_sends_nothing_until_polled_again() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let server = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        server.set_nonblocking(true).expect("nonblocking");
        let addr = server.local_addr().expect("addr");
        let q = query(7);
        let mut fut = Box::pin(exchange(addr, &q));
        let waker = std::task::Waker::noop();
        let first = {
            let _in = rt.enter();
            fut.as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
        };
        assert!(first.is_pending());
        let mut buf = [0u8; 512];
        assert!(
            server.recv_from(&mut buf).is_err(),
            "nothing sent from the first poll outside a task"
        );
        // Polled again (as the task it becomes would be), the query leaves.
        let second = {
            let _in = rt.enter();
            fut.as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
        };
        assert!(second.is_pending(), "waiting for the answer");
        server.set_nonblocking(false).expect("blocking");
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let (n, _) = server.recv_from(&mut buf).expect("the query arrived");
        assert_eq!(&buf[..n], &q[..]);
    }
}
