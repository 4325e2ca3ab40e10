//! A zone whose only server answers slowly is slow, not dead: after a first
//! try times out (its timeout comes from the server's unknown, low RTT), the
//! server is asked once more with the longer timeout its raised RTT gives,
//! as BIND and Unbound back off and retry. Through an in-process
//! [`Exchange`] that answers after 600 ms, or times out when the recursor's
//! timeout is shorter; the addresses only name the scripted servers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_limits::Limits;
use sekisho_recursor::{
    Exchange, ExchangeError, ExchangeFuture, Recursor, RecursorConfig, Transport,
};

const ROOT: Ipv4Addr = Ipv4Addr::new(127, 0, 97, 1);
const SLOW: Ipv4Addr = Ipv4Addr::new(127, 0, 97, 2);
/// How long the slow server takes.
const DELAY: Duration = Duration::from_millis(600);

fn name(s: &str) -> Name {
    Name::from_str(s).expect("name")
}

/// The root refers `slow.test.` to SLOW, which answers every A query after [`DELAY`].
#[derive(Default)]
struct Scripted {
    /// Queries SLOW received.
    slow_queries: AtomicUsize,
}

impl Exchange for Scripted {
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        _transport: Transport,
        timeout: Duration,
    ) -> ExchangeFuture<'a> {
        Box::pin(async move {
            let q = Message::from_vec(query).map_err(|_| ExchangeError::Malformed)?;
            let question = q.queries.first().ok_or(ExchangeError::Malformed)?.clone();
            let mut m = Message::response(q.metadata.id, OpCode::Query);
            m.add_query(question.clone());
            if server.ip() == IpAddr::V4(ROOT) {
                m.add_authority(Record::from_rdata(
                    name("slow.test."),
                    300,
                    RData::NS(NS(name("ns.slow.test."))),
                ));
                m.add_additional(Record::from_rdata(
                    name("ns.slow.test."),
                    300,
                    RData::A(A(SLOW)),
                ));
            } else {
                self.slow_queries.fetch_add(1, Ordering::SeqCst);
                if timeout < DELAY {
                    tokio::time::sleep(timeout).await;
                    return Err(ExchangeError::Timeout);
                }
                tokio::time::sleep(DELAY).await;
                m.metadata.authoritative = true;
                m.add_answer(Record::from_rdata(
                    question.name().clone(),
                    300,
                    RData::A(A::new(192, 0, 2, 97)),
                ));
            }
            m.to_vec().map_err(|_| ExchangeError::Malformed)
        })
    }
}

#[tokio::test]
async fn a_server_slower_than_the_first_timeout_is_asked_again_and_answers() {
    let auth = Arc::new(Scripted::default());
    let config = RecursorConfig {
        root_hints: vec![(name("a.root."), vec![IpAddr::V4(ROOT)])],
        anchors: Vec::new(),
        validate: false,
        domain_insecure: Vec::new(),
        qname_minimisation: false,
        allow_ipv6: false,
        port: 53,
        max_queries: 200,
        fetches_per_zone: 200,
        fetches_per_server: 400,
        max_ns_address_queries: 10,
        limits: Arc::new(Limits::new()),
        max_ttl: Duration::from_secs(86_400),
        max_cache_bytes: 1 << 20,
        max_validations: 32,
        validation_threads: 2,
        max_nsec3_hashes: 150,
        bogus_ttl: Duration::from_secs(60),
        aggressive_nsec: true,
    };
    let r = Recursor::with_exchange(config, auth.clone());
    let deadline = Instant::now() + Duration::from_secs(4);
    let out = r
        .resolve(
            &name("www.slow.test."),
            RecordType::A,
            false,
            false,
            false,
            deadline,
        )
        .await
        .expect("resolved");
    let m = Message::from_vec(&out.wire).expect("answer");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1, "{m:?}");
    assert_eq!(
        auth.slow_queries.load(Ordering::SeqCst),
        2,
        "a first try that timed out, then one that waited long enough"
    );
}
