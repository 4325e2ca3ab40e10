//! NOTIFY ([RFC 1996](https://www.rfc-editor.org/rfc/rfc1996)) received on the
//! resolver's own listeners, answered inline from `Pipeline::handle_fast`.
//!
//! ```text
//!  packet ─▶ parse_notify (drop responses; NOTIMP, FORMERR; TSIG: NOTAUTH + BADKEY/BADSIG/BADTIME)
//!         ─▶ zone with primaries?          no  ─▶ NOTAUTH  (result "unknown_zone")
//!         ─▶ source in allow-notify?       no  ─▶ REFUSED  (result "refused", logged once per peer)
//!         ─▶ zone has a key: signed by it? no  ─▶ REFUSED  (result "unsigned")
//!         ─▶ NOERROR (signed like the request), immediate SOA check of the zone
//! ```
//!
//! RFC 1996 section 3.10: "If a secondary receives a NOTIFY request from a host that
//! is not a known master for the zone containing the QNAME, it should ignore the
//! request and produce an error message in its operations log." We answer REFUSED
//! (as BIND does) so the sender learns it, count it, and log each stranger once.

use std::net::SocketAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sekisho_xfr::notify::{error_response, parse_notify, respond};

use super::{unix_now, Distribution};

/// Most distinct refused peers remembered for log-once; later ones are only counted.
const MAX_REMEMBERED_STRANGERS: usize = 4096;

impl Distribution {
    /// Handles a NOTIFY `packet` from `client`. Returns true with the answer in
    /// `out`, or false when nothing must be sent (a response, or undecodable).
    pub fn handle_notify(&self, packet: &[u8], client: SocketAddr, out: &mut Vec<u8>) -> bool {
        let now = unix_now();
        let notify = match parse_notify(packet, &self.keys, now) {
            Ok(n) => n,
            Err(e) => {
                self.count_notify("unknown", e.as_metrics_label());
                tracing::debug!(peer = %client, error = %e, "NOTIFY rejected");
                return match error_response(packet, &e, &self.keys, now) {
                    Some(answer) => {
                        *out = answer;
                        true
                    }
                    None => false,
                };
            }
        };
        let Some(zone) = self.zones.iter().find(|z| z.config.name == notify.zone) else {
            self.count_notify("unknown", "unknown_zone");
            self.log_stranger(client, &notify.zone, "NOTIFY for a zone we do not transfer");
            return self.answer(out, notify.id, &notify.zone, ResponseCode::NotAuth);
        };
        if !sekisho_conf::allows(&zone.config.allow_notify, client.ip()) {
            self.count_notify(&zone.label, "refused");
            self.log_stranger(
                client,
                &notify.zone,
                "NOTIFY refused: source not in allow-notify",
            );
            return self.answer(out, notify.id, &notify.zone, ResponseCode::Refused);
        }
        if let Some(key) = &zone.key {
            if notify.signed_by.as_ref() != Some(key) {
                self.count_notify(&zone.label, "unsigned");
                self.log_stranger(
                    client,
                    &notify.zone,
                    "NOTIFY refused: not signed with the zone's key",
                );
                return self.answer(out, notify.id, &notify.zone, ResponseCode::Refused);
            }
        }
        match respond(&notify, now) {
            Ok(answer) => *out = answer,
            Err(e) => {
                tracing::debug!(peer = %client, error = %e, "NOTIFY answer could not be built");
                return false;
            }
        }
        self.count_notify(&zone.label, "accepted");
        tracing::info!(zone = %zone.label, peer = %client, serial = ?notify.serial.map(|s| s.get()), "NOTIFY received; checking the primaries now");
        zone.wake.notify_one();
        true
    }

    /// Counts one NOTIFY.
    fn count_notify(&self, zone: &str, result: &str) {
        self.notify_total.with_label_values(&[zone, result]).inc();
    }

    /// Logs a refused NOTIFY at WARN the first time `peer` sends one.
    fn log_stranger(&self, peer: SocketAddr, zone: &Name, what: &'static str) {
        let first = {
            let mut seen = self.strangers.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(&peer.ip()) || seen.len() >= MAX_REMEMBERED_STRANGERS {
                false
            } else {
                seen.insert(peer.ip())
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
