//! NOTIFY ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)) to `also-notify` on every
//! new version of a served zone.
//!
//! ```text
//!  install_version ──changed (watch)──▶ one task per zone
//!                                         └─▶ per target: send NOTIFY (SOA in ANSWER, TSIG
//!                                             with the zone's key when it has one)
//!                                             ─ no answer in 2 s, 4 s, 8 s, 16 s ─▶ resend
//!                                             ─ answered (NOERROR, signature checked) ─▶ done
//!                                             ─ a newer version appeared ─▶ that round takes over
//! ```
//!
//! RFC 1996 section 3.6: "If no response is received ... the NOTIFY request should be
//! retransmitted". The message leaves from our listen address of the target's family,
//! because secondaries accept NOTIFY only from their primaries' addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sekisho_xfr::tsig::{sign_request, ResponseVerifier};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::{unix_now, Primary, Served, ZoneVersion};

/// Sends per target before giving up on this version.
const ATTEMPTS: u32 = 5;
/// Wait for the first answer; doubled at each retry.
const FIRST_WAIT: Duration = Duration::from_secs(2);

impl Primary {
    /// Starts one NOTIFY task per served zone (one whose `also-notify` is empty
    /// sends nothing until a reload gives it targets); they end when `stop`
    /// turns true.
    pub fn spawn_notifiers(self: &Arc<Self>, stop: &watch::Receiver<bool>) {
        for zone in self.zones().iter() {
            self.spawn_notifier(zone, stop);
        }
    }

    /// Starts the NOTIFY task of `zone`; it ends when `stop` turns true or a
    /// reload stops serving the zone.
    pub(crate) fn spawn_notifier(
        self: &Arc<Self>,
        zone: &Arc<Served>,
        stop: &watch::Receiver<bool>,
    ) {
        let span = tracing::info_span!("notify_out", zone = %zone.label);
        tokio::spawn(tracing::Instrument::instrument(
            self.clone().notify_loop(zone.clone(), stop.clone()),
            span,
        ));
    }

    /// Waits for new versions of `zone` and notifies its secondaries of each
    /// (the `also-notify` list in force when the version appears).
    async fn notify_loop(self: Arc<Self>, zone: Arc<Served>, mut stop: watch::Receiver<bool>) {
        let mut changed = zone.changed.subscribe();
        let mut retired = zone.retired.subscribe();
        loop {
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                _ = retired.changed() => return,
                _ = stop.changed() => return,
            }
            let round = *changed.borrow_and_update();
            let Some(version) = zone.current() else {
                continue;
            };
            for &target in &zone.access().also_notify {
                let (p, z, v) = (self.clone(), zone.clone(), version.clone());
                tokio::spawn(async move { p.notify_one(&z, &v, target, round).await });
            }
        }
    }

    /// Sends NOTIFY for `version` to `target` until it is answered, the attempts run
    /// out, or a newer round starts.
    async fn notify_one(
        &self,
        zone: &Served,
        version: &ZoneVersion,
        target: SocketAddr,
        round: u64,
    ) {
        let count = |result: &str| {
            self.notify_total
                .with_label_values(&[zone.label.as_str(), result])
                .inc()
        };
        let source = self.source_for(target);
        let socket = match UdpSocket::bind(source).await {
            Ok(s) => s,
            Err(e) => {
                count("socket_error");
                tracing::warn!(%target, %source, error = %e, "cannot open a socket for NOTIFY");
                return;
            }
        };
        let mut wait = FIRST_WAIT;
        for attempt in 1..=ATTEMPTS {
            if *zone.changed.borrow() != round {
                return; // a newer version has its own round
            }
            let id: u16 = rand::random();
            let Some(msg) = notify_message(id, version) else {
                count("encode_error");
                return;
            };
            let now = unix_now();
            let (bytes, verifier) = match &zone.access().key {
                Some(key) => match sign_request(key, &msg, now) {
                    Ok((signed, mac)) => (signed, Some(ResponseVerifier::new(key.clone(), mac))),
                    Err(e) => {
                        count("sign_error");
                        tracing::warn!(%target, error = %e, "NOTIFY could not be signed");
                        return;
                    }
                },
                None => (msg, None),
            };
            if let Err(e) = socket.send_to(&bytes, target).await {
                count("send_error");
                tracing::debug!(%target, error = %e, attempt, "NOTIFY not sent");
            } else {
                count("sent");
                match tokio::time::timeout(wait, answer(&socket, target, id, verifier)).await {
                    Ok(Ok(())) => {
                        count("answered");
                        tracing::info!(%target, serial = version.serial.get(), attempt, "NOTIFY answered");
                        return;
                    }
                    Ok(Err(reason)) => {
                        count("rejected");
                        tracing::warn!(%target, serial = version.serial.get(), reason, "NOTIFY rejected by the secondary");
                        return;
                    }
                    Err(_) => {
                        count("timeout");
                        tracing::debug!(%target, attempt, "no answer to NOTIFY yet");
                    }
                }
            }
            if attempt < ATTEMPTS {
                wait = wait.saturating_mul(2);
            }
        }
        tracing::warn!(%target, serial = version.serial.get(), attempts = ATTEMPTS, "NOTIFY never answered; the secondary will see the change at its next SOA check");
    }

    /// The address to send NOTIFY from: our listen address of the target's family.
    fn source_for(&self, target: SocketAddr) -> SocketAddr {
        let ip = self
            .listen
            .iter()
            .map(|a| a.ip())
            .find(|ip| ip.is_ipv6() == target.is_ipv6())
            .unwrap_or(if target.is_ipv6() {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            });
        SocketAddr::new(ip, 0)
    }
}

/// Waits for the answer with `id` from `target`: NOERROR, and a valid signature when
/// the NOTIFY was signed. Other datagrams are ignored.
async fn answer(
    socket: &UdpSocket,
    target: SocketAddr,
    id: u16,
    mut verifier: Option<ResponseVerifier>,
) -> Result<(), &'static str> {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let msg = &buf[..n];
        if from != target || n < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
            continue;
        }
        if msg[2] & 0x80 == 0 {
            continue; // not a response
        }
        if let Some(v) = verifier.as_mut() {
            if v.verify(msg, unix_now()).is_err() {
                return Err("answer signature did not verify");
            }
        }
        return match msg[3] & 0x0f {
            0 => Ok(()),
            5 => Err("REFUSED"),
            9 => Err("NOTAUTH"),
            _ => Err("error rcode"),
        };
    }
}

/// A NOTIFY for `version`: opcode NOTIFY, AA, question `zone SOA IN`, the SOA in ANSWER
/// (RFC 1996 section 3.7: a hint of the new serial).
fn notify_message(id: u16, version: &ZoneVersion) -> Option<Vec<u8>> {
    // The SOA's owner is the apex: its wire name is the question name.
    let soa = &version.soa;
    let mut end = 0usize;
    loop {
        let len = usize::from(*soa.get(end)?);
        end += 1;
        if len == 0 {
            break;
        }
        end += len;
    }
    let mut msg = Vec::with_capacity(12 + end + 4 + soa.len());
    let id = id.to_be_bytes();
    // Flags: opcode 4 (NOTIFY) in bits 3-6, AA.
    msg.extend_from_slice(&[id[0], id[1], 0x24, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    msg.extend_from_slice(soa.get(..end)?);
    msg.extend_from_slice(&[0, 6, 0, 1]);
    msg.extend_from_slice(soa);
    Some(msg)
}
