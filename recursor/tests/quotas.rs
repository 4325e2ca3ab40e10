//! The fetch quotas under load: many resolutions at once under a zone whose
//! servers never answer, through an in-process [`Exchange`] that holds those
//! queries until the test lets them go (it ignores the recursor's timeout,
//! so whatever finishes while the gate is shut finished without waiting
//! for a server).
//!
//! ```text
//!  root 127.0.98.1 ── silent.  ─▶ ns.silent.  127.0.98.2  (held)
//!                  ├─ healthy. ─▶ ns.healthy. 127.0.98.3  (answers at once)
//!                  └─ shared.  ─▶ a.shared.   127.0.98.4  (held)
//!                               b.shared.   127.0.98.5  (held or answering, per test)
//! ```
//!
//! The scenario files (`tests/scenarios.rs`) ask one question at a time;
//! quotas need questions side by side, hence this file. The addresses only
//! name the scripted servers: nothing is sent on any network.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::{A, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_limits::{Limit, Limits};
use sekisho_recursor::{
    Exchange, ExchangeError, ExchangeFuture, Failure, Recursor, RecursorConfig, Resolution,
    Transport,
};
use tokio::sync::{mpsc, watch};

/// A generous bound for what must happen "at once" (no server is waited for).
const SOON: Duration = Duration::from_secs(10);

const ROOT: Ipv4Addr = Ipv4Addr::new(127, 0, 98, 1);
const SILENT: Ipv4Addr = Ipv4Addr::new(127, 0, 98, 2);
const HEALTHY: Ipv4Addr = Ipv4Addr::new(127, 0, 98, 3);
const SHARED_A: Ipv4Addr = Ipv4Addr::new(127, 0, 98, 4);
const SHARED_B: Ipv4Addr = Ipv4Addr::new(127, 0, 98, 5);

fn name(s: &str) -> Name {
    Name::from_str(s).expect("name")
}

/// The scripted authorities.
struct Authorities {
    /// Servers whose queries wait for the gate (then time out).
    held: HashSet<IpAddr>,
    /// Open: held queries end (as timeouts), new ones do not wait.
    gate: watch::Receiver<bool>,
    /// Queries received per server.
    seen: Mutex<HashMap<IpAddr, usize>>,
    /// Queries waiting at the gate per server.
    waiting: Mutex<HashMap<IpAddr, usize>>,
}

impl Authorities {
    fn new(held: &[Ipv4Addr]) -> (Arc<Authorities>, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        let a = Authorities {
            held: held.iter().map(|&a| IpAddr::V4(a)).collect(),
            gate: rx,
            seen: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
        };
        (Arc::new(a), tx)
    }

    fn seen(&self, a: Ipv4Addr) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .get(&a.into())
            .copied()
            .unwrap_or(0)
    }

    fn waiting(&self, a: Ipv4Addr) -> usize {
        self.waiting
            .lock()
            .expect("lock")
            .get(&a.into())
            .copied()
            .unwrap_or(0)
    }

    fn bump(map: &Mutex<HashMap<IpAddr, usize>>, a: IpAddr, up: bool) {
        let mut m = map.lock().expect("lock");
        let n = m.entry(a).or_default();
        if up {
            *n += 1;
        } else {
            *n -= 1;
        }
    }

    /// The answer of `server` (not a held one) to `query`.
    fn answer(server: IpAddr, query: &[u8]) -> Option<Vec<u8>> {
        let q = Message::from_vec(query).ok()?;
        let question = q.queries.first()?.clone();
        let qname = question.name().clone();
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.add_query(question.clone());
        if server == IpAddr::V4(ROOT) {
            let (zone, servers): (&str, &[(&str, Ipv4Addr)]) =
                if name("silent.test.").zone_of(&qname) {
                    ("silent.test.", &[("ns.silent.test.", SILENT)])
                } else if name("healthy.test.").zone_of(&qname) {
                    ("healthy.test.", &[("ns.healthy.test.", HEALTHY)])
                } else {
                    (
                        "shared.test.",
                        &[("a.shared.test.", SHARED_A), ("b.shared.test.", SHARED_B)],
                    )
                };
            for (ns, addr) in servers {
                m.add_authority(Record::from_rdata(name(zone), 300, RData::NS(NS(name(ns)))));
                m.add_additional(Record::from_rdata(name(ns), 300, RData::A(A(*addr))));
            }
        } else {
            m.metadata.authoritative = true;
            if question.query_type() == RecordType::A {
                m.add_answer(Record::from_rdata(
                    qname,
                    300,
                    RData::A(A::new(192, 0, 2, 1)),
                ));
            }
        }
        m.to_vec().ok()
    }
}

impl Exchange for Authorities {
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        _transport: Transport,
        _timeout: Duration,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let ip = server.ip();
            Authorities::bump(&self.seen, ip, true);
            if self.held.contains(&ip) {
                Authorities::bump(&self.waiting, ip, true);
                let mut gate = self.gate.clone();
                let _ = gate.wait_for(|open| *open).await;
                Authorities::bump(&self.waiting, ip, false);
                return Err(ExchangeError::Timeout);
            }
            Authorities::answer(ip, query).ok_or(ExchangeError::Malformed)
        })
    }
}

/// A recursor over `auth` with these quotas (0 = off).
fn recursor(
    auth: Arc<Authorities>,
    per_zone: usize,
    per_server: usize,
) -> (Arc<Recursor>, Arc<Limits>) {
    let limits = Arc::new(Limits::new());
    let config = RecursorConfig {
        root_hints: vec![(name("a.root."), vec![IpAddr::V4(ROOT)])],
        anchors: Vec::new(),
        validate: false,
        domain_insecure: Vec::new(),
        qname_minimisation: false, // the scripted root refers whole names at once
        allow_ipv6: false,
        port: 53,
        max_queries: 200,
        fetches_per_zone: per_zone,
        fetches_per_server: per_server,
        max_ns_address_queries: 10,
        limits: limits.clone(),
        max_ttl: std::time::Duration::from_secs(86_400),
        max_cache_bytes: 64 << 20,
        max_validations: 32,
        validation_threads: 2,
        max_nsec3_hashes: 150,
        bogus_ttl: std::time::Duration::from_secs(60),
        aggressive_nsec: true,
    };
    (Arc::new(Recursor::with_exchange(config, auth)), limits)
}

type Outcome = (String, Result<Resolution, Failure>);

/// Resolve `qname` A in a task; the outcome comes back on `tx`.
fn spawn(r: &Arc<Recursor>, qname: &str, tx: &mpsc::UnboundedSender<Outcome>) {
    let (r, tx, qname) = (r.clone(), tx.clone(), qname.to_owned());
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(120);
        let out = r
            .resolve(&name(&qname), RecordType::A, false, false, false, deadline)
            .await;
        let _ = tx.send((qname, out));
    });
}

/// The next outcome, which must come without the gate opening.
async fn next(rx: &mut mpsc::UnboundedReceiver<Outcome>, what: &str) -> Outcome {
    tokio::time::timeout(SOON, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {SOON:?}"))
        .expect("a sender is alive")
}

/// Wait (bounded) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let waited = tokio::time::timeout(SOON, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: not after {SOON:?}");
}

fn ede(out: &Result<Resolution, Failure>) -> Option<(u16, String)> {
    match out {
        Ok(_) => None,
        Err(f) => f.ede.as_ref().map(|e| (e.code, e.text.clone())),
    }
}

fn has_answer(out: &Result<Resolution, Failure>) -> bool {
    out.as_ref().is_ok_and(|r| {
        Message::from_vec(&r.wire)
            .is_ok_and(|m| m.answers.iter().any(|a| a.record_type() == RecordType::A))
    })
}

#[tokio::test]
async fn past_fetches_per_zone_the_excess_fails_at_once_other_zones_go_on_and_the_limit_lets_go() {
    let (auth, gate) = Authorities::new(&[SILENT]);
    let (r, limits) = recursor(auth.clone(), 3, 0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..8 {
        spawn(&r, &format!("n{i}.silent.test."), &tx);
    }
    // Three queries wait at the silent server; the other five fail without waiting.
    for _ in 0..5 {
        let (q, out) = next(&mut rx, "a resolution past the zone's quota").await;
        assert_eq!(
            ede(&out),
            Some((0, "fetch limit for zone silent.test.".to_owned())),
            "{q}"
        );
    }
    assert_eq!(auth.waiting(SILENT), 3);
    assert_eq!(auth.seen(SILENT), 3, "nothing past the quota was sent");
    assert_eq!(limits.drops(Limit::FetchesPerZone), 5);
    assert!(limits.is_engaged(Limit::FetchesPerZone, "silent.test."));
    assert_eq!(limits.held(Limit::FetchesPerZone), 3);
    let k = limits.report().keys;
    assert!(
        k.iter()
            .any(|k| k.key == "silent.test." && k.engaged && k.drops == 5),
        "{k:?}"
    );

    // Meanwhile another zone resolves.
    let deadline = Instant::now() + SOON;
    let healthy = r
        .resolve(
            &name("www.healthy.test."),
            RecordType::A,
            false,
            false,
            false,
            deadline,
        )
        .await;
    assert!(has_answer(&healthy), "{:?}", ede(&healthy));

    // The load stops: the held queries end (as timeouts), the limit lets go.
    gate.send(true).expect("gate");
    for _ in 0..3 {
        let (q, out) = next(&mut rx, "a held resolution after the gate opened").await;
        assert_eq!(
            ede(&out).map(|e| e.0),
            Some(22),
            "{q}: the server's silence, not the quota"
        );
    }
    until("the held slots given back", || {
        limits.held(Limit::FetchesPerZone) == 0
    })
    .await;
    assert!(!limits.is_engaged(Limit::FetchesPerZone, "silent.test."));

    // The next resolution under the zone is let through to its server again.
    let again = r
        .resolve(
            &name("n9.silent.test."),
            RecordType::A,
            false,
            false,
            false,
            Instant::now() + SOON,
        )
        .await;
    assert_eq!(ede(&again).map(|e| e.0), Some(22));
    // Each of the three held resolutions and this one: asked, timed out, asked
    // once more (a slow server gets a second try). Nothing past the quota.
    assert_eq!(auth.seen(SILENT), 8);
    assert_eq!(limits.drops(Limit::FetchesPerZone), 5);
}

#[tokio::test]
async fn a_client_deadline_that_drops_the_resolution_gives_its_zone_slot_back() {
    let (auth, _gate) = Authorities::new(&[SILENT]);
    let (r, limits) = recursor(auth.clone(), 1, 0);
    let deadline = Instant::now() + SOON;
    // The pipeline drops the resolution's future when the client stops waiting.
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        r.resolve(
            &name("a.silent.test."),
            RecordType::A,
            false,
            false,
            false,
            deadline,
        ),
    )
    .await;
    assert!(dropped.is_err(), "the held query cannot have finished");
    assert_eq!(limits.held(Limit::FetchesPerZone), 0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn(&r, "b.silent.test.", &tx);
    until("the next query reaches the server", || {
        auth.seen(SILENT) == 2
    })
    .await;
    assert_eq!(limits.drops(Limit::FetchesPerZone), 0);
    assert!(rx.try_recv().is_err(), "held, not refused");
}

#[tokio::test]
async fn a_server_at_its_fetch_quota_is_passed_over_for_the_next_server_of_the_zone() {
    let (auth, gate) = Authorities::new(&[SHARED_A]);
    let (r, limits) = recursor(auth.clone(), 0, 2);
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn(&r, "one.shared.test.", &tx);
    spawn(&r, "two.shared.test.", &tx);
    until("two queries held at a.shared.test.", || {
        auth.waiting(SHARED_A) == 2
    })
    .await;
    assert_eq!(auth.seen(SHARED_B), 0, "a.shared. is asked first");
    // a.shared. is full: the third goes to b.shared. and is answered.
    spawn(&r, "three.shared.test.", &tx);
    let (q, out) = next(&mut rx, "a resolution past a.shared.'s quota").await;
    assert_eq!(q, "three.shared.test.");
    assert!(has_answer(&out), "{:?}", ede(&out));
    assert_eq!((auth.seen(SHARED_A), auth.seen(SHARED_B)), (2, 1));
    assert!(limits.is_engaged(Limit::FetchesPerServer, "127.0.98.4"));
    assert_eq!(limits.drops(Limit::FetchesPerServer), 0, "nothing failed");
    gate.send(true).expect("gate");
    for _ in 0..2 {
        let (q, out) = next(&mut rx, "a held resolution after the gate opened").await;
        assert!(
            has_answer(&out),
            "{q}: answered by b.shared. after a.shared. timed out"
        );
    }
    until("the slots given back", || {
        limits.held(Limit::FetchesPerServer) == 0
    })
    .await;
    assert!(!limits.is_engaged(Limit::FetchesPerServer, "127.0.98.4"));
}

#[tokio::test]
async fn when_every_server_of_the_zone_is_at_its_quota_the_resolution_fails_at_once() {
    let (auth, gate) = Authorities::new(&[SHARED_A, SHARED_B]);
    let (r, limits) = recursor(auth.clone(), 0, 1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn(&r, "one.shared.test.", &tx);
    until("one query held at a.shared.test.", || {
        auth.waiting(SHARED_A) == 1
    })
    .await;
    spawn(&r, "two.shared.test.", &tx);
    until("the next one held at b.shared.test.", || {
        auth.waiting(SHARED_B) == 1
    })
    .await;
    spawn(&r, "three.shared.test.", &tx);
    let (q, out) = next(&mut rx, "a resolution with both servers full").await;
    assert_eq!(q, "three.shared.test.");
    assert_eq!(
        ede(&out),
        Some((0, "fetch limit for the servers of shared.test.".to_owned()))
    );
    assert_eq!((auth.seen(SHARED_A), auth.seen(SHARED_B)), (1, 1));
    assert_eq!(limits.drops(Limit::FetchesPerServer), 1);
    gate.send(true).expect("gate");
    for _ in 0..2 {
        let _ = next(&mut rx, "a held resolution after the gate opened").await;
    }
    until("the slots given back", || {
        limits.held(Limit::FetchesPerServer) == 0
    })
    .await;
    assert!(!limits.is_engaged(Limit::FetchesPerServer, "127.0.98.4"));
    assert!(!limits.is_engaged(Limit::FetchesPerServer, "127.0.98.5"));
}

#[tokio::test]
async fn a_server_whose_queries_time_out_under_load_is_given_fewer_queries_at_once() {
    let (auth, gate) = Authorities::new(&[SILENT]);
    let (r, limits) = recursor(auth.clone(), 0, 50);
    // The gate open: every query to ns.silent. times out at once.
    gate.send(true).expect("gate");
    for i in 0..300 {
        let deadline = Instant::now() + SOON;
        let out = r
            .resolve(
                &name(&format!("t{i}.silent.test.")),
                RecordType::A,
                false,
                false,
                false,
                deadline,
            )
            .await;
        assert!(out.is_err(), "ns.silent. never answers");
    }
    let timeouts = auth.seen(SILENT);
    assert!(timeouts >= 300, "{timeouts} queries to ns.silent.");
    // Shut: the next queries wait. Fewer than fetches-per-server get through.
    gate.send(false).expect("gate");
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..50 {
        spawn(&r, &format!("w{i}.silent.test."), &tx);
    }
    let mut refused = 0;
    let started = Instant::now();
    let admitted = loop {
        while let Ok((_, out)) = rx.try_recv() {
            assert_eq!(
                ede(&out),
                Some((0, "fetch limit for the servers of silent.test.".to_owned()))
            );
            refused += 1;
        }
        let waiting = auth.waiting(SILENT);
        if waiting + refused == 50 {
            break waiting;
        }
        assert!(
            started.elapsed() < SOON,
            "{waiting} waiting and {refused} refused of 50 after {SOON:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(
        (1..50).contains(&admitted),
        "{admitted} of 50 in flight to a server that kept timing out (quota 50)"
    );
    assert!(limits.is_engaged(Limit::FetchesPerServer, "127.0.98.2"));
    assert_eq!(limits.drops(Limit::FetchesPerServer), refused as u64);
    // The next name under the zone is known to be refused before it starts.
    let up_front = r
        .fetch_quota_full(&name("next.silent.test."), RecordType::A)
        .map(|full| r.refuse(&full))
        .expect("refused up front");
    assert_eq!(up_front.refused, Some(Limit::FetchesPerServer));
    assert_eq!(
        up_front.ede.map(|e| (e.code, e.text)),
        Some((0, "fetch limit for the servers of silent.test.".to_owned()))
    );
    assert_eq!(limits.drops(Limit::FetchesPerServer), refused as u64 + 1);
    gate.send(true).expect("gate");
    for _ in 0..admitted {
        let _ = next(&mut rx, "a held resolution after the gate opened").await;
    }
    until("the slots given back", || {
        limits.held(Limit::FetchesPerServer) == 0
    })
    .await;
}

#[tokio::test]
async fn a_zone_at_its_quota_is_known_before_a_resolution_starts() {
    let (auth, gate) = Authorities::new(&[SILENT]);
    let (r, limits) = recursor(auth.clone(), 2, 0);
    let before = |q: &str| {
        r.fetch_quota_full(&name(q), RecordType::A)
            .map(|full| r.refuse(&full))
    };
    // Nothing known about the zone yet: resolve as usual.
    assert!(before("a.silent.test.").is_none());
    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn(&r, "n1.silent.test.", &tx);
    spawn(&r, "n2.silent.test.", &tx);
    until("two queries held at ns.silent.", || {
        auth.waiting(SILENT) == 2
    })
    .await;
    // Full: a new name under the zone is refused up front, counted as a
    // resolution would be, and says why.
    let refused = before("n3.silent.test.").expect("refused up front");
    assert_eq!(
        refused.refused,
        Some(Limit::FetchesPerZone),
        "{}",
        refused.reason
    );
    assert_eq!(
        refused.ede.map(|e| (e.code, e.text)),
        Some((0, "fetch limit for zone silent.test.".to_owned()))
    );
    assert_eq!(limits.drops(Limit::FetchesPerZone), 1);
    // Other zones, and the top-level zone above it, are not affected.
    assert!(before("www.healthy.test.").is_none());
    assert!(before("test.").is_none());
    assert_eq!(auth.seen(SILENT), 2, "nothing sent for the refused name");
    gate.send(true).expect("gate");
    for _ in 0..2 {
        let _ = next(&mut rx, "a held resolution after the gate opened").await;
    }
    until("the slots given back", || {
        limits.held(Limit::FetchesPerZone) == 0
    })
    .await;
    assert!(before("n3.silent.test.").is_none(), "room again");
    assert_eq!(limits.drops(Limit::FetchesPerZone), 1);
}
