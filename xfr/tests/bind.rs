//! Interop: transfers from a real BIND 9.18 primary, TSIG-signed, on 127.0.41.1.
//! Each test starts its own `named` on its own port (see `support`).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use sekisho_xfr::{
    query_soa, transfer, LimitKind, Limits, Request, Serial, Transfer, TsigAlgorithm, TsigError,
    TsigKey, TsigRcode, XfrError,
};
use support::{canonical, zone, zone_records, Named, ADDR, SERIAL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn limits() -> Limits {
    Limits {
        max_duration: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// Asserts `t` is the full zone of `version`.
fn assert_full_zone(t: &Transfer, version: u32) {
    match t {
        Transfer::Full { soa, records } => {
            assert!(matches!(&soa.data, RData::SOA(s) if s.serial == SERIAL + version));
            assert_eq!(records.first(), Some(soa), "SOA comes first");
            assert_eq!(canonical(records), canonical(&zone_records(version)));
        }
        other => panic!("expected the full zone, got {other:?}"),
    }
}

#[tokio::test]
async fn an_axfr_signed_with_hmac_sha256_returns_the_zone_as_written() {
    let named = Named::start(5411).await;
    let key = named.key(TsigAlgorithm::HmacSha256);
    let t = transfer(named.addr, &zone(), Request::Axfr, Some(&key), &limits())
        .await
        .unwrap_or_else(|e| panic!("AXFR failed: {e}; log:\n{}", named.log()));
    assert_full_zone(&t, 0);
    assert_eq!(t.serial(), Serial(SERIAL));
}

#[tokio::test]
async fn an_axfr_succeeds_with_each_hmac_algorithm() {
    let named = Named::start(5412).await;
    for alg in [
        TsigAlgorithm::HmacSha1,
        TsigAlgorithm::HmacSha384,
        TsigAlgorithm::HmacSha512,
    ] {
        let key = named.key(alg);
        let t = transfer(named.addr, &zone(), Request::Axfr, Some(&key), &limits())
            .await
            .unwrap_or_else(|e| panic!("AXFR with {alg} failed: {e}; log:\n{}", named.log()));
        assert_full_zone(&t, 0);
    }
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_with_badsig_and_returns_nothing() {
    let named = Named::start(5413).await;
    let mut key = named.key(TsigAlgorithm::HmacSha256);
    key.secret = b"definitely not the configured secret".to_vec();
    let err = transfer(named.addr, &zone(), Request::Axfr, Some(&key), &limits())
        .await
        .expect_err("a wrong secret must not transfer");
    assert!(
        matches!(
            &err,
            XfrError::Tsig(TsigError::PeerRejected {
                rcode: TsigRcode::BadSig
            })
        ),
        "got {err:?}"
    );
    assert_eq!(err.as_metrics_label(), "peer_badsig");
}

#[tokio::test]
async fn a_wrong_key_name_is_rejected_with_badkey() {
    let named = Named::start(5414).await;
    let good = named.key(TsigAlgorithm::HmacSha256);
    let key = TsigKey::new(
        Name::from_ascii("no-such-key.").expect("name"),
        good.algorithm,
        good.secret,
    );
    let err = transfer(named.addr, &zone(), Request::Axfr, Some(&key), &limits())
        .await
        .expect_err("an unknown key must not transfer");
    assert!(
        matches!(
            &err,
            XfrError::Tsig(TsigError::PeerRejected {
                rcode: TsigRcode::BadKey
            })
        ),
        "got {err:?}"
    );
}

#[tokio::test]
async fn a_transfer_without_a_key_is_refused() {
    let named = Named::start(5415).await;
    let err = transfer(named.addr, &zone(), Request::Axfr, None, &limits())
        .await
        .expect_err("transfers need the key");
    assert!(
        matches!(
            &err,
            XfrError::Rcode {
                rcode: ResponseCode::Refused
            }
        ),
        "got {err:?}"
    );
    // The zone itself is still public over plain queries.
    let soa = query_soa(named.addr, &zone(), None, Duration::from_secs(2))
        .await
        .expect("SOA");
    assert_eq!(soa.serial, Serial(SERIAL));
}

#[tokio::test]
async fn an_ixfr_after_a_zone_edit_and_reload_returns_the_delta() {
    let named = Named::start(5416).await;
    let key = named.key(TsigAlgorithm::HmacSha256);
    named.edit_and_reload(1);
    named.wait_for_serial(Serial(SERIAL + 1)).await;

    let request = Request::Ixfr {
        serial: Serial(SERIAL),
        soa: None,
    };
    let t = transfer(named.addr, &zone(), request, Some(&key), &limits())
        .await
        .unwrap_or_else(|e| panic!("IXFR failed: {e}; log:\n{}", named.log()));
    let Transfer::Incremental { soa, deltas } = t else {
        panic!("expected an incremental answer, got {t:?}");
    };
    assert!(matches!(&soa.data, RData::SOA(s) if s.serial == SERIAL + 1));
    assert_eq!(deltas.len(), 1, "{deltas:?}");
    let d = &deltas[0];
    assert_eq!(
        (d.from_serial, d.to_serial),
        (Serial(SERIAL), Serial(SERIAL + 1))
    );

    let old = zone_records(0);
    let new = zone_records(1);
    let removed: Vec<_> = old
        .iter()
        .skip(1)
        .filter(|r| !new.contains(r))
        .cloned()
        .collect();
    let added: Vec<_> = new
        .iter()
        .skip(1)
        .filter(|r| !old.contains(r))
        .cloned()
        .collect();
    assert_eq!(canonical(&d.removed), canonical(&removed));
    assert_eq!(canonical(&d.added), canonical(&added));
    assert_eq!(d.removed.len(), 4);
    assert_eq!(d.added.len(), 2);

    // Asking again from the new serial: up to date.
    let request = Request::Ixfr {
        serial: Serial(SERIAL + 1),
        soa: None,
    };
    let t = transfer(named.addr, &zone(), request, Some(&key), &limits())
        .await
        .expect("IXFR");
    assert!(matches!(t, Transfer::UpToDate { .. }), "got {t:?}");
}

#[tokio::test]
async fn an_ixfr_from_a_serial_the_primary_does_not_know_returns_the_full_zone() {
    let named = Named::start(5417).await;
    let key = named.key(TsigAlgorithm::HmacSha256);
    let request = Request::Ixfr {
        serial: Serial(SERIAL - 100),
        soa: None,
    };
    let t = transfer(named.addr, &zone(), request, Some(&key), &limits())
        .await
        .unwrap_or_else(|e| panic!("IXFR failed: {e}; log:\n{}", named.log()));
    assert_full_zone(&t, 0);
}

#[tokio::test]
async fn an_oversize_transfer_stops_at_the_byte_limit() {
    let named = Named::start(5418).await;
    let key = named.key(TsigAlgorithm::HmacSha256);
    let small = Limits {
        max_bytes: 2000,
        ..limits()
    };
    let err = transfer(named.addr, &zone(), Request::Axfr, Some(&key), &small)
        .await
        .expect_err("the zone is larger than 2000 bytes");
    assert!(
        matches!(err, XfrError::Limit(LimitKind::Bytes)),
        "got {err:?}"
    );
}

/// A fake primary that answers one transfer with `first` (a complete message
/// built from the request) and then `tail` raw bytes, and closes.
async fn fake_primary(port: u16, partial: bool) -> SocketAddr {
    support::ensure_address();
    let listener = TcpListener::bind((ADDR, port))
        .await
        .expect("bind fake primary");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut req = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut req).await.is_err() {
            return;
        }
        let Ok(req) = Message::from_vec(&req) else {
            return;
        };
        let mut m = Message::new(req.id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(zone(), RecordType::AXFR));
        m.add_answers(zone_records(0).into_iter().take(50));
        let Ok(msg) = m.to_vec() else { return };
        let mut out = (msg.len() as u16).to_be_bytes().to_vec();
        if partial {
            // Half of the first message, then the connection drops.
            out.extend_from_slice(&msg[..msg.len() / 2]);
        } else {
            // One whole message without the closing SOA, then the connection drops.
            out.extend_from_slice(&msg);
        }
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    });
    addr
}

#[tokio::test]
async fn a_transfer_cut_in_the_middle_of_a_message_fails() {
    let addr = fake_primary(5419, true).await;
    let err = transfer(addr, &zone(), Request::Axfr, None, &limits())
        .await
        .expect_err("cut mid-message");
    assert!(matches!(err, XfrError::Incomplete), "got {err:?}");
}

#[tokio::test]
async fn a_transfer_cut_between_messages_fails() {
    let addr = fake_primary(5420, false).await;
    let err = transfer(addr, &zone(), Request::Axfr, None, &limits())
        .await
        .expect_err("cut before the closing SOA");
    assert!(matches!(err, XfrError::Incomplete), "got {err:?}");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test]
async fn a_signed_notify_from_bind_verifies_and_is_answered() {
    support::ensure_address();
    let socket = tokio::net::UdpSocket::bind((ADDR, 5432))
        .await
        .expect("bind notify listener");
    let named = Named::start_with(5421, Some(5432)).await;
    named.edit_and_reload(1);

    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no NOTIFY for the new serial; log:\n{}", named.log()))
            .expect("recv");
        let notify = sekisho_xfr::notify::parse_notify(&buf[..n], &named.keys, unix_now())
            .unwrap_or_else(|e| panic!("NOTIFY from BIND rejected: {e}"));
        assert_eq!(notify.zone, zone());
        assert_eq!(
            notify.signed_by.as_ref().map(|k| k.algorithm),
            Some(TsigAlgorithm::HmacSha256),
            "BIND signs NOTIFY to a server with keys"
        );
        let answer = sekisho_xfr::notify::respond(&notify, unix_now()).expect("answer");
        socket.send_to(&answer, from).await.expect("send answer");
        if notify.serial == Some(Serial(SERIAL + 1)) {
            break;
        }
    }
    // BIND 9.18 logs nothing at default severity whether it accepts our answer or
    // not (checked by sending a corrupted MAC), so the answer's signature is only
    // covered indirectly: it uses the same chained-MAC code that verifies BIND's
    // own signed transfer responses in the tests above.
}

#[tokio::test]
async fn a_primary_that_accepts_and_stays_silent_hits_the_idle_limit() {
    support::ensure_address();
    let listener = TcpListener::bind((ADDR, 5422))
        .await
        .expect("bind silent primary");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // Hold the connection open without answering.
        if let Ok((stream, _)) = listener.accept().await {
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(stream);
        }
    });
    let quick = Limits {
        idle_timeout: Duration::from_millis(300),
        ..limits()
    };
    let err = transfer(addr, &zone(), Request::Axfr, None, &quick)
        .await
        .expect_err("silent primary");
    assert!(
        matches!(err, XfrError::Limit(LimitKind::Idle)),
        "got {err:?}"
    );

    let total = Limits {
        max_duration: Duration::from_millis(300),
        ..limits()
    };
    let listener = TcpListener::bind((ADDR, 5423))
        .await
        .expect("bind silent primary");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(stream);
        }
    });
    let err = transfer(addr, &zone(), Request::Axfr, None, &total)
        .await
        .expect_err("silent primary");
    assert!(
        matches!(err, XfrError::Limit(LimitKind::Duration)),
        "got {err:?}"
    );
}
