//! dnstap output: client, resolver and forwarder messages as `dnstap.Dnstap`
//! protobuf frames over Frame Streams, to a collector on a Unix stream
//! socket or TCP (`fstrm_capture`, `dnstap-ldns -u`, a SIEM feeder).
//!
//! ```text
//!  query path                      | writer thread (std::thread)
//!  wants(kind)? -> send(&Event)    |
//!    encode (proto) -> try_send ---+--> bounded queue --> connect, READY/ACCEPT/START,
//!    full or closed: dropped += 1  |                      write frames; lost: back off
//!                                  |                      1 s, 2 s ... 30 s and reconnect
//! ```
//!
//! The DNS server calls [`Dnstap::send`] on its query hot path, so sending
//! never blocks and never fails: the frame is encoded on the caller's
//! thread and offered to a bounded queue. A full queue, or a collector that
//! is absent, slow or gone, drops the frame and counts it ([`Stats`]). One
//! OS thread owns the socket; blocking there is fine. It logs (target
//! `dnstap`) once per change of state: connected, lost (with the reason),
//! unreachable, back.
//!
//! Modules: `proto` encodes the protobuf by hand (varint,
//! length-delimited, fixed32; no protobuf crate), `fstrm` builds and parses
//! the control frames, `extra` formats the policy text, `writer` is the
//! thread.
//!
//! # Policy hits (RPZ)
//!
//! A client response rewritten by RPZ carries the policy twice:
//!
//! - `Message.policy` (field 15, added to dnstap.proto in 2021): type
//!   `"RPZ"`, the rule's owner name, action, match and matched value;
//! - `Dnstap.extra`, as text, for consumers that know only the original
//!   schema or pass `extra` through as an opaque annotation (CoreDNS fills
//!   it from a template; collectors expose it). The format is defined in
//!   `extra`: `rpz zone=Z rule=OWNER trigger=QNAME action=NXDOMAIN
//!   value=NAME`, then the caller's [`Event::extra`] (e.g. `client=k:3fa2`).
//!
//! Note: the readers Debian 12 ships, dnstap-ldns 0.2.1 and BIND 9.18's
//! dnstap-read, print neither field (only identity, version and message);
//! `fstrm_dump` shows both as bytes, which the integration tests check.
//!
//! Convention: neither BIND nor PowerDNS puts RPZ hits in dnstap. BIND
//! logs them to its `rpz` category as `rpz QNAME NXDOMAIN rewrite NAME via
//! OWNER`; PowerDNS Recursor puts them in its own protobuf stream
//! (`appliedPolicy` = the zone, `appliedPolicyTrigger`, `appliedPolicyHit`,
//! `appliedPolicyType`). We follow dnstap.proto's `Policy` for the
//! structured field and, for the text, BIND's leading `rpz` word with
//! PowerDNS's zone/trigger/hit items as `key=value` pairs, so a line is
//! both greppable and parseable; the trigger and action words are the
//! `Policy` enum names, so both forms agree.
//!
//! # Client addresses
//!
//! The caller applies its privacy policy before calling: `query_address`
//! is already masked, or `None` when the client is only known by a keyed
//! pseudonym (which is no address); then the query address and port are
//! left out and the caller may put the pseudonym in [`Event::extra`]. The
//! same holds for [`PolicyHit::value`] on `CLIENT_IP` hits: it is written
//! as given.

mod extra;
mod fstrm;
mod proto;
mod writer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Where the collector listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A Unix stream socket path (`fstrm_capture -u`).
    Unix(PathBuf),
    /// A TCP address (`fstrm_capture -a -p`).
    Tcp(SocketAddr),
}

/// Which messages the operator asked for (the config words in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A query from a client (`client-query`, dnstap CLIENT_QUERY).
    ClientQuery,
    /// Our answer to a client (`client-response`, CLIENT_RESPONSE).
    ClientResponse,
    /// A query we sent while iterating (`resolver-query`, RESOLVER_QUERY).
    ResolverQuery,
    /// An authoritative server's answer (`resolver-response`, RESOLVER_RESPONSE).
    ResolverResponse,
    /// A query we sent to a forwarder (`forwarder-query`, FORWARDER_QUERY).
    ForwarderQuery,
    /// A forwarder's answer (`forwarder-response`, FORWARDER_RESPONSE).
    ForwarderResponse,
}

impl Kind {
    /// Every kind, in config-word order.
    pub const ALL: [Kind; 6] = [
        Kind::ClientQuery,
        Kind::ClientResponse,
        Kind::ResolverQuery,
        Kind::ResolverResponse,
        Kind::ForwarderQuery,
        Kind::ForwarderResponse,
    ];

    /// The kind for its config word (`client-query` ...).
    pub fn from_word(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.word() == s)
    }

    /// The config word.
    pub fn word(self) -> &'static str {
        match self {
            Kind::ClientQuery => "client-query",
            Kind::ClientResponse => "client-response",
            Kind::ResolverQuery => "resolver-query",
            Kind::ResolverResponse => "resolver-response",
            Kind::ForwarderQuery => "forwarder-query",
            Kind::ForwarderResponse => "forwarder-response",
        }
    }

    /// `Message.Type` in dnstap.proto.
    fn message_type(self) -> u64 {
        match self {
            Kind::ResolverQuery => 3,
            Kind::ResolverResponse => 4,
            Kind::ClientQuery => 5,
            Kind::ClientResponse => 6,
            Kind::ForwarderQuery => 7,
            Kind::ForwarderResponse => 8,
        }
    }

    /// Whether the DNS message is a query (`query_message`) rather than a
    /// response (`response_message`).
    fn is_query(self) -> bool {
        matches!(
            self,
            Kind::ClientQuery | Kind::ResolverQuery | Kind::ForwarderQuery
        )
    }

    /// This kind's bit in the wanted mask.
    fn bit(self) -> u8 {
        1 << (self.message_type() - 3)
    }
}

/// The transport the DNS message travelled on (dnstap `SocketProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (1).
    Udp,
    /// TCP (2).
    Tcp,
    /// DNS over TLS (3).
    Dot,
    /// DNS over HTTPS (4).
    Doh,
}

impl Transport {
    /// `SocketProtocol` in dnstap.proto.
    fn socket_protocol(self) -> u64 {
        match self {
            Transport::Udp => 1,
            Transport::Tcp => 2,
            Transport::Dot => 3,
            Transport::Doh => 4,
        }
    }
}

/// What [`Dnstap::start`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The collector.
    pub destination: Destination,
    /// `Dnstap.identity` (the server's name, as NSID); empty: not sent.
    pub identity: Vec<u8>,
    /// `Dnstap.version`; empty: not sent.
    pub version: Vec<u8>,
    /// The messages to send; [`Dnstap::wants`] answers from this.
    pub kinds: Vec<Kind>,
    /// Frames the queue holds before new ones are dropped (at least 1).
    pub queue: usize,
}

/// The policy that rewrote an answer (an RPZ hit), for client responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyHit<'a> {
    /// The policy zone's name, in presentation form.
    pub zone: &'a str,
    /// The rule's owner name in the policy zone, wire format.
    pub rule: &'a [u8],
    /// What matched.
    pub trigger: Trigger,
    /// What was done.
    pub action: Action,
    /// The matched value: a wire-format name for QNAME and NSDNAME
    /// triggers, 4 or 16 address bytes for the address triggers.
    pub value: &'a [u8],
}

/// The feature that matched a rule (dnstap `Policy.Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The query name (QNAME = 1).
    Qname,
    /// The client address (CLIENT_IP = 2).
    ClientIp,
    /// An address in the answer (RESPONSE_IP = 3).
    ResponseIp,
    /// An authoritative server's name (NS_NAME = 4).
    NsName,
    /// An authoritative server's address (NS_IP = 5).
    NsIp,
}

impl Trigger {
    /// `Policy.Match` in dnstap.proto.
    fn code(self) -> u64 {
        match self {
            Trigger::Qname => 1,
            Trigger::ClientIp => 2,
            Trigger::ResponseIp => 3,
            Trigger::NsName => 4,
            Trigger::NsIp => 5,
        }
    }

    /// The enum name in dnstap.proto, used in the extra text.
    fn word(self) -> &'static str {
        match self {
            Trigger::Qname => "QNAME",
            Trigger::ClientIp => "CLIENT_IP",
            Trigger::ResponseIp => "RESPONSE_IP",
            Trigger::NsName => "NS_NAME",
            Trigger::NsIp => "NS_IP",
        }
    }
}

/// The action a rule took (dnstap `Policy.Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Answer NXDOMAIN (1).
    Nxdomain,
    /// Answer with no data (2).
    Nodata,
    /// Leave the answer alone (3, RPZ PASSTHRU).
    Pass,
    /// Do not answer (4).
    Drop,
    /// Answer truncated so the client retries over TCP (5, RPZ TCP-only).
    Truncate,
    /// Answer with the rule's records (6).
    LocalData,
}

impl Action {
    /// `Policy.Action` in dnstap.proto.
    fn code(self) -> u64 {
        match self {
            Action::Nxdomain => 1,
            Action::Nodata => 2,
            Action::Pass => 3,
            Action::Drop => 4,
            Action::Truncate => 5,
            Action::LocalData => 6,
        }
    }

    /// The enum name in dnstap.proto, used in the extra text.
    fn word(self) -> &'static str {
        match self {
            Action::Nxdomain => "NXDOMAIN",
            Action::Nodata => "NODATA",
            Action::Pass => "PASS",
            Action::Drop => "DROP",
            Action::Truncate => "TRUNCATE",
            Action::LocalData => "LOCAL_DATA",
        }
    }
}

/// One DNS message to log. Borrowed: [`Dnstap::send`] encodes it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    /// Which message this is.
    pub kind: Kind,
    /// How it travelled.
    pub transport: Transport,
    /// The initiator: the client (already masked by the privacy policy;
    /// `None` when withheld), or for resolver and forwarder kinds our own
    /// socket.
    pub query_address: Option<SocketAddr>,
    /// The responder: our listener, or the server we asked.
    pub response_address: SocketAddr,
    /// When the query was received or sent.
    pub query_time: Option<SystemTime>,
    /// When the response was sent or received.
    pub response_time: Option<SystemTime>,
    /// The zone (bailiwick) the query went to, wire format; resolver kinds.
    pub query_zone: Option<&'a [u8]>,
    /// The DNS message, verbatim: `query_message` for query kinds,
    /// `response_message` for response kinds.
    pub message: &'a [u8],
    /// The policy that rewrote the answer, if any.
    pub policy: Option<PolicyHit<'a>>,
    /// Caller text for `Dnstap.extra` (e.g. `client=k:3fa2...`), appended
    /// after the policy text.
    pub extra: Option<&'a [u8]>,
}

/// Counters of the output, read with [`Dnstap::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Frames written to the collector.
    pub sent: u64,
    /// Frames dropped: queue full, no collector, or a write that failed.
    pub dropped: u64,
    /// Whether the writer holds an accepted connection now.
    pub connected: bool,
}

/// Counters shared by the callers and the writer thread.
#[derive(Debug, Default)]
struct Shared {
    /// Frames written.
    sent: AtomicU64,
    /// Frames dropped.
    dropped: AtomicU64,
    /// Connection state.
    connected: AtomicBool,
}

/// Largest frame sent; bigger events are dropped (a DNS message is at
/// most 64 KiB, so only absurd extra text gets here).
const MAX_FRAME: usize = 256 * 1024;

/// Extra wait in [`Dnstap::shutdown`] for the thread to notice the limit.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(250);

/// The dnstap output: cheap to clone, all clones share one queue and one
/// writer thread.
#[derive(Debug, Clone)]
pub struct Dnstap {
    /// The shared state.
    inner: Arc<Inner>,
}

/// What the clones share.
#[derive(Debug)]
struct Inner {
    /// The queue to the writer thread.
    queue: SyncSender<Vec<u8>>,
    /// Tells the writer to stop by a deadline.
    stop: SyncSender<Instant>,
    /// The writer says here that it has finished.
    done: Mutex<Option<(Receiver<()>, JoinHandle<()>)>>,
    /// Bit per [`Kind`]; zero after shutdown.
    wanted: AtomicU8,
    /// `Dnstap.identity`.
    identity: Vec<u8>,
    /// `Dnstap.version`.
    version: Vec<u8>,
    /// Counters.
    shared: Arc<Shared>,
}

impl Dnstap {
    /// Spawns the writer thread and returns at once; the thread connects
    /// (and reconnects) by itself. Fails only if the thread cannot start.
    pub fn start(config: Config) -> std::io::Result<Dnstap> {
        // A zero-sized sync_channel is a rendezvous, which try_send would
        // nearly always fail; one slot is the least that queues.
        let (queue, frames) = mpsc::sync_channel(config.queue.max(1));
        let (stop, stop_rx) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared::default());
        let writer = writer::Writer::new(config.destination, frames, stop_rx, Arc::clone(&shared));
        let handle = std::thread::Builder::new()
            .name("dnstap".into())
            .spawn(move || {
                writer.run();
                // The receiver may be gone (no one waits): nothing to tell.
                let _ = done_tx.send(());
            })?;
        let wanted = config.kinds.iter().fold(0u8, |m, k| m | k.bit());
        Ok(Dnstap {
            inner: Arc::new(Inner {
                queue,
                stop,
                done: Mutex::new(Some((done, handle))),
                wanted: AtomicU8::new(wanted),
                identity: config.identity,
                version: config.version,
                shared,
            }),
        })
    }

    /// Whether `kind` is configured (and output not shut down): the caller
    /// skips building events nobody wants. One atomic load.
    pub fn wants(&self, kind: Kind) -> bool {
        self.inner.wanted.load(Ordering::Relaxed) & kind.bit() != 0
    }

    /// Encodes `event` and queues it for the writer. Never blocks: a full
    /// queue or an oversized frame drops it and counts the drop. A kind not
    /// wanted (every kind, after [`Dnstap::shutdown`]) is ignored without
    /// counting, as the caller should have asked [`Dnstap::wants`] first.
    pub fn send(&self, event: &Event<'_>) {
        if !self.wants(event.kind) {
            return;
        }
        let extra = extra::extra_text(event);
        let header = proto::Header {
            identity: &self.inner.identity,
            version: &self.inner.version,
        };
        let frame = proto::encode_frame(header, event, extra.as_deref());
        if frame.len() > MAX_FRAME {
            self.inner.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.inner.queue.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.inner.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let shared = &self.inner.shared;
        Stats {
            sent: shared.sent.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            connected: shared.connected.load(Ordering::Relaxed),
        }
    }

    /// Stops the output: the frames still queued are written if the
    /// collector is connected, then STOP, then FINISH is awaited, all within
    /// `limit`. Blocks the calling thread for at most about `limit` (call it
    /// from `spawn_blocking` in async code). Later sends are dropped; a
    /// second call returns at once.
    pub fn shutdown(&self, limit: Duration) {
        self.inner.wanted.store(0, Ordering::Relaxed);
        // Full: a deadline is already set by an earlier call.
        let _ = self.inner.stop.try_send(Instant::now() + limit);
        let taken = match self.inner.done.lock() {
            Ok(mut guard) => guard.take(),
            // A panic elsewhere while holding this lock left only the Option.
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some((done, handle)) = taken else {
            return;
        };
        match done.recv_timeout(limit + SHUTDOWN_GRACE) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The thread has returned (or is about to): joining is short.
                let _ = handle.join();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(target: "dnstap", "writer did not stop in time; left running");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::os::unix::net::UnixListener;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sekisho-dnstap-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn event() -> Event<'static> {
        Event {
            kind: Kind::ClientQuery,
            transport: Transport::Udp,
            query_address: Some(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 5353))),
            response_address: SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            query_time: Some(SystemTime::now()),
            response_time: None,
            query_zone: None,
            message: b"\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            policy: None,
            extra: None,
        }
    }

    #[test]
    fn kind_words_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_word(k.word()), Some(k));
        }
        assert_eq!(Kind::from_word("auth-query"), None);
        let bits: Vec<u8> = Kind::ALL.iter().map(|k| k.bit()).collect();
        assert_eq!(bits, [4, 8, 1, 2, 16, 32]);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        // A collector that accepts the connection and never answers READY:
        // the writer sits in the handshake and takes nothing off the queue.
        let dir = temp_dir("full-queue");
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let tap = Dnstap::start(Config {
            destination: Destination::Unix(path),
            identity: Vec::new(),
            version: Vec::new(),
            kinds: vec![Kind::ClientQuery],
            queue: 8,
        })
        .expect("start");
        let (_conn, _) = listener.accept().expect("writer connects");

        let started = Instant::now();
        for _ in 0..100 {
            tap.send(&event());
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "send never blocks"
        );
        assert_eq!(tap.stats().dropped, 92, "8 queued, the rest dropped");
        assert_eq!(tap.stats().sent, 0);
        assert!(!tap.stats().connected);

        let started = Instant::now();
        tap.shutdown(Duration::from_millis(100));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "shutdown is bounded"
        );
        tap.send(&event());
        assert!(
            !tap.wants(Kind::ClientQuery),
            "nothing wanted after shutdown"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unwanted_kinds_are_neither_sent_nor_counted() {
        let dir = temp_dir("unwanted");
        let tap = Dnstap::start(Config {
            destination: Destination::Unix(dir.join("absent")),
            identity: Vec::new(),
            version: Vec::new(),
            kinds: vec![Kind::ClientResponse],
            queue: 4,
        })
        .expect("start");
        assert!(tap.wants(Kind::ClientResponse));
        assert!(!tap.wants(Kind::ClientQuery));
        tap.send(&event());
        tap.shutdown(Duration::from_millis(100));
        assert_eq!(tap.stats(), Stats::default());
        let _ = std::fs::remove_dir_all(dir);
    }
}
