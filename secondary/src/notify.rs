//! NOTIFY ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)) received on the
//! resolver's own listeners, answered inline from `Pipeline::handle_fast`.
//!
//! ```text
//!  packet ─▶ parse_notify (drop responses; NOTIMP, FORMERR; TSIG: NOTAUTH + BADKEY/BADSIG/BADTIME)
//!         ─▶ zone with primaries?                      no  ─▶ NOTAUTH  ("unknown_zone")
//!         ─▶ source a primary or in allow-notify?      no  ─▶ REFUSED  ("refused", logged once per peer)
//!         ─▶ signed, but not with the zone's key?      yes ─▶ REFUSED  ("wrong_key", logged once per peer)
//!         ─▶ NOERROR + AA (signed like the request), then coalesce.rs decides:
//!               "accepted"   an SOA check is scheduled
//!               "coalesced"  a queued or running check covers it
//!               "up_to_date" its serial is not newer than the copy held
//! ```
//!
//! Who may notify follows BIND 9.18 as a secondary: a zone's primaries always
//! may (by address, any port), `allow-notify` adds other sources, and an
//! unsigned NOTIFY is accepted from them even when the zone has a `key`. The
//! Japanese ISP guideline's list master (`also-notify { cache; };` without a
//! `server { keys ...; }` clause) sends its NOTIFY unsigned, and BIND as the
//! cache transfers at once. A spoofed NOTIFY can only cause an SOA check: the
//! SOA query and the transfer stay signed with the zone's key. A NOTIFY whose
//! TSIG does not verify (unknown key, bad MAC, clock skew) is answered NOTAUTH
//! with the TSIG error, as BIND does; one signed with another configured key
//! than the zone's is refused (BIND would accept it from a primary's address;
//! a key mismatch is a configuration error the operator should see).
//!
//! RFC 1996 section 3.10: "If a secondary receives a NOTIFY request from a host that
//! is not a known master for the zone containing the QNAME, it should ignore the
//! request and produce an error message in its operations log." We answer REFUSED
//! (as BIND does) so the sender learns it, count it, and log each stranger once.
//!
//! Every NOTIFY is answered at once; only the SOA checks they cause are bounded
//! (coalesced per zone, and paced globally by `pacer.rs`). A burst of NOTIFYs
//! for one zone is logged once when it starts and once when it ends.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sekisho_xfr::notify::{error_response, parse_notify, respond, NotifyError};
use sekisho_xfr::Serial;

use super::coalesce::Verdict;
use super::{now, unix_now, Distribution, Zone};

/// Most distinct refused peers remembered for log-once; later ones are only counted.
const MAX_REMEMBERED_STRANGERS: usize = 4096;

impl Zone {
    /// Whether `ip` may notify this zone: one of its primaries (any port, as
    /// BIND compares addresses only) or a source in `allow-notify`.
    fn may_notify(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.config
            .primaries
            .iter()
            .any(|p| p.ip.to_canonical() == ip)
            || sekisho_conf::allows(&self.config.allow_notify, ip)
    }
}

impl Distribution {
    /// Handles a NOTIFY `packet` from `client`. Returns true with the answer in
    /// `out`, or false when nothing must be sent (a response, or undecodable).
    pub fn handle_notify(&self, packet: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> bool {
        let unix = unix_now();
        let notify = match parse_notify(packet, &self.keys(), unix) {
            Ok(n) => n,
            Err(e) => return self.notify_failed(packet, client, &e, unix, out),
        };
        let zones = self.zones();
        let Some(zone) = zones.iter().find(|z| z.config.name == notify.zone) else {
            self.count_notify("unknown", "unknown_zone");
            self.log_stranger(client, &notify.zone, "NOTIFY for a zone we do not transfer");
            return self.answer(out, notify.id, &notify.zone, ResponseCode::NotAuth);
        };
        if !zone.may_notify(client.ip()) {
            self.count_notify(&zone.label, "refused");
            self.log_stranger(
                client,
                &notify.zone,
                "NOTIFY refused: source is neither a primary nor in allow-notify",
            );
            return self.answer(out, notify.id, &notify.zone, ResponseCode::Refused);
        }
        if let (Some(signer), Some(key)) = (&notify.signed_by, &zone.key) {
            if signer != key {
                self.count_notify(&zone.label, "wrong_key");
                self.log_stranger(
                    client,
                    &notify.zone,
                    "NOTIFY refused: signed with another key than the zone's",
                );
                return self.answer(out, notify.id, &notify.zone, ResponseCode::Refused);
            }
        }
        match respond(&notify, unix) {
            Ok(answer) => *out = answer,
            Err(e) => {
                tracing::debug!(peer = %client, error = %e, "NOTIFY answer could not be built");
                return false;
            }
        }
        let live = self
            .store
            .zone_rules(&zone.config.name)
            .and_then(|r| r.serial())
            .map(Serial);
        let checks = self
            .notify_soa_checks
            .with_label_values(&[&zone.label])
            .get();
        let at = now();
        let (verdict, flood, flooding) = {
            let mut gate = zone.gate();
            let verdict = gate.on_notify(at, notify.serial, live);
            let flood = gate.record(at, client.ip(), checks);
            (verdict, flood, gate.flooding())
        };
        self.count_notify(&zone.label, verdict.label());
        if verdict.wakes() {
            zone.wake.notify_one();
        }
        let serial = notify.serial.map(Serial::get);
        let signed = notify.signed_by.is_some();
        if let Some(run) = flood {
            tracing::warn!(
                zone = %zone.label,
                peer = %run.from,
                notifies = run.notifies,
                "NOTIFY flood: each is answered, SOA checks are coalesced (one per change; \
                 a summary follows when it ends)"
            );
            self.flood_wake.notify_one();
        }
        match verdict {
            Verdict::Scheduled { at: due, .. } if !flooding => {
                let delay = due.saturating_duration_since(at);
                tracing::info!(zone = %zone.label, peer = %client, serial, signed, delay_seconds = delay.as_secs_f64(), "NOTIFY received; checking the primaries");
            }
            _ => {
                tracing::debug!(zone = %zone.label, peer = %client, serial, signed, result = verdict.label(), "NOTIFY received");
            }
        }
        true
    }

    /// A NOTIFY that failed to parse or verify: counted (under its zone when it
    /// is one of ours), logged once per peer for TSIG failures, answered as
    /// `sekisho_xfr` says.
    fn notify_failed(
        &self,
        packet: &[u8],
        client: SocketAddr,
        e: &NotifyError,
        unix: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let qname = Message::from_vec(packet)
            .ok()
            .and_then(|m| m.queries.first().map(|q| q.name().clone()));
        let zones = self.zones();
        let zone = qname
            .as_ref()
            .and_then(|n| zones.iter().find(|z| &z.config.name == n));
        self.count_notify(
            zone.map_or("unknown", |z| z.label.as_str()),
            e.as_metrics_label(),
        );
        match (e, &qname) {
            (NotifyError::Tsig(_), Some(name)) => {
                self.log_stranger(client, name, "NOTIFY refused: its TSIG does not verify");
            }
            _ => tracing::debug!(peer = %client, error = %e, "NOTIFY rejected"),
        }
        match error_response(packet, e, &self.keys(), unix) {
            Some(answer) => {
                *out = answer;
                true
            }
            None => false,
        }
    }

    /// Counts one NOTIFY.
    fn count_notify(&self, zone: &str, result: &str) {
        self.notify_total.with_label_values(&[zone, result]).inc();
    }

    /// Logs a refused NOTIFY at WARN the first time `peer` sends one for this reason.
    fn log_stranger(&self, peer: SocketAddr, zone: &Name, what: &'static str) {
        let first = {
            let mut seen = self.strangers.lock().unwrap_or_else(|p| p.into_inner());
            let key = (peer.ip(), what);
            if seen.contains(&key) || seen.len() >= MAX_REMEMBERED_STRANGERS {
                false
            } else {
                seen.insert(key)
            }
        };
        if first {
            tracing::warn!(%peer, zone = %zone, "{what} (further ones from this peer are only counted)");
        } else {
            tracing::debug!(%peer, zone = %zone, "{what}");
        }
    }

    /// An unsigned NOTIFY answer with `rcode` and the question echoed.
    fn answer(&self, out: &mut Vec<u8>, id: u16, zone: &Name, rcode: ResponseCode) -> bool {
        let mut m = Message::new(id, MessageType::Response, OpCode::Notify);
        m.metadata.response_code = rcode;
        m.add_query(Query::query(zone.clone(), RecordType::SOA));
        match m.to_vec() {
            Ok(bytes) => {
                *out = bytes;
                true
            }
            Err(_) => false,
        }
    }
}
