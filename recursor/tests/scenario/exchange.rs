//! The scripted authorities: an [`Exchange`] that answers from a
//! scenario's zones and `reply` blocks, in process, and logs every query.
//!
//! A query to an address no `server` line declares, or to a port other
//! than 53, gets no answer (as an unreachable server); a server that serves
//! no zone for the name answers REFUSED (a lame server, as NSD and BIND do).
//! Timeouts are reported at once: no test waits for one. A `reply` block
//! may take records from the zones: `signed` adds the zone's RRSIGs to the
//! records it lists, `replay` serves the zone's answer for another name.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sekisho_recursor::{Exchange, ExchangeError, ExchangeFuture, Transport};

use super::parse::{Modes, ReplySpec, Scenario, ServerSpec};
use super::zone::Zone;

/// One query a scripted server received.
#[derive(Debug, Clone)]
pub(crate) struct Logged {
    /// The server.
    pub(crate) addr: IpAddr,
    /// How it came.
    pub(crate) transport: Transport,
    /// Question name.
    pub(crate) qname: Name,
    /// Question type.
    pub(crate) qtype: RecordType,
    /// With an OPT record.
    pub(crate) edns: bool,
    /// DO bit.
    pub(crate) dnssec_ok: bool,
}

impl std::fmt::Display for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}{}{}",
            self.addr,
            self.qname,
            self.qtype,
            self.transport.as_str(),
            if self.edns { " edns" } else { " no-edns" },
            if self.dnssec_ok { " DO" } else { "" }
        )
    }
}

/// One scripted server.
#[derive(Debug)]
struct Server {
    /// Indexes into the zones it serves.
    zones: Vec<usize>,
    /// How it misbehaves.
    modes: Modes,
}

/// All scripted servers of a scenario.
#[derive(Debug)]
pub(crate) struct Scripted {
    /// The zones, loaded and signed.
    zones: Vec<Zone>,
    /// Servers by address.
    servers: HashMap<IpAddr, Server>,
    /// Explicit replies, in file order.
    replies: Vec<ReplySpec>,
    /// Every query received, in order.
    log: Mutex<Vec<Logged>>,
}

impl Scripted {
    /// The servers of `sc`, serving `zones`.
    pub(crate) fn new(sc: &mut Scenario, zones: Vec<Zone>) -> Result<Arc<Scripted>, String> {
        let mut servers = HashMap::new();
        for ServerSpec {
            addr,
            zones: names,
            modes,
            line,
        } in &sc.servers
        {
            let mut idx = Vec::new();
            for n in names {
                let i = zones
                    .iter()
                    .position(|z| z.apex == *n)
                    .ok_or_else(|| format!("line {line}: no zone block for {n}"))?;
                idx.push(i);
            }
            let s = Server {
                zones: idx,
                modes: *modes,
            };
            if servers.insert(*addr, s).is_some() {
                return Err(format!("line {line}: server {addr} declared twice"));
            }
        }
        for r in &sc.replies {
            if !servers.contains_key(&r.addr) {
                return Err(format!(
                    "line {}: reply for {}, which no server line declares",
                    r.line, r.addr
                ));
            }
        }
        Ok(Arc::new(Scripted {
            zones,
            servers,
            replies: std::mem::take(&mut sc.replies),
            log: Mutex::new(Vec::new()),
        }))
    }

    /// The queries received since the last call, in order.
    pub(crate) fn take_log(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The answer of `server` to `query` over `transport`; `None` = silence.
    fn answer(&self, server: SocketAddr, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let q = Message::from_vec(query).ok()?;
        let question = q.queries.first()?.clone();
        let (qname, qtype) = (question.name().clone(), question.query_type());
        let dnssec_ok = q.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Logged {
                addr: server.ip(),
                transport,
                qname: qname.clone(),
                qtype,
                edns: q.edns.is_some(),
                dnssec_ok,
            });
        if server.port() != 53 {
            return None;
        }
        let s = self.servers.get(&server.ip())?;
        let reply = self.replies.iter().find(|r| {
            r.addr == server.ip() && r.qname.matches(&qname) && r.qtype.is_none_or(|t| t == qtype)
        });
        let modes = reply.map_or(s.modes, |r| s.modes.union(r.modes));
        if modes.timeout {
            return None;
        }
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.metadata.recursion_desired = q.metadata.recursion_desired;
        m.metadata.checking_disabled = q.metadata.checking_disabled;
        m.add_query(question.clone());
        if q.edns.is_some() {
            if modes.no_edns {
                m.metadata.response_code = ResponseCode::FormErr;
                return m.to_vec().ok();
            }
            let mut e = Edns::new();
            e.set_max_payload(1232);
            e.set_dnssec_ok(dnssec_ok);
            m.set_edns(e);
        }
        match reply {
            Some(r) => {
                let zone_of = |n: &Name| {
                    s.zones
                        .iter()
                        .map(|i| &self.zones[*i])
                        .filter(|z| z.holds(n))
                        .max_by_key(|z| z.apex.num_labels())
                };
                if let Some(from) = &r.replay {
                    // The zone's own answer for another name, renamed.
                    if let Some(z) = zone_of(from) {
                        z.respond(from, qtype, dnssec_ok, &mut m);
                        for a in &mut m.answers {
                            if a.name == *from {
                                a.name = qname.clone();
                            }
                        }
                    }
                } else {
                    m.metadata.response_code = r.rcode;
                    m.metadata.authoritative = r.aa;
                    m.answers = r.answer.clone();
                    m.authorities = r.authority.clone();
                    m.additionals = r.additional.clone();
                    for (from, t, to) in &r.renamed {
                        if let Some(z) = zone_of(from) {
                            m.authorities
                                .extend(z.rrset_renamed(from, *t, to, dnssec_ok));
                        }
                    }
                    if r.signed && dnssec_ok {
                        for section in [&mut m.answers, &mut m.authorities] {
                            let sigs: Vec<_> = section
                                .iter()
                                .filter_map(|x| zone_of(&x.name).map(|z| z.signatures(x)))
                                .flatten()
                                .collect();
                            for sig in sigs {
                                if !section.contains(&sig) {
                                    section.push(sig);
                                }
                            }
                        }
                    }
                }
            }
            None => {
                // The deepest zone holding the name; for DS at a zone's apex,
                // the parent's side when this server serves the parent too.
                let held = |n: &Name| {
                    s.zones
                        .iter()
                        .map(|i| &self.zones[*i])
                        .filter(|z| z.holds(n))
                        .max_by_key(|z| z.apex.num_labels())
                };
                let mut zone = held(&qname);
                if let Some(z) = zone {
                    if qtype == RecordType::DS && z.apex == qname && !qname.is_root() {
                        zone = held(&qname.base_name()).or(zone);
                    }
                }
                match zone {
                    Some(z) => z.respond(&qname, qtype, dnssec_ok, &mut m),
                    None => m.metadata.response_code = ResponseCode::Refused,
                }
            }
        }
        if modes.truncate && transport == Transport::Udp {
            m.metadata.truncation = true;
            m.answers.clear();
            m.authorities.clear();
            m.additionals.clear();
        }
        if modes.wrong_id {
            m.metadata.id = m.metadata.id.wrapping_add(1);
        }
        if modes.wrong_question {
            let other = Name::from_ascii("spoofed")
                .and_then(|l| l.append_domain(&qname))
                .unwrap_or_else(|_| Name::root());
            m.queries = vec![Query::query(other, qtype)];
        }
        m.to_vec().ok()
    }
}

impl Exchange for Scripted {
    fn exchange<'a>(
        &'a self,
        server: SocketAddr,
        query: &'a [u8],
        transport: Transport,
        _timeout: Duration,
    ) -> ExchangeFuture<'a> {
        let answer = self.answer(server, query, transport);
        Box::pin(async move { answer.ok_or(ExchangeError::Timeout) })
    }
}
