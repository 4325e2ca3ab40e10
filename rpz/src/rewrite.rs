//! Building the client's answer from a hit, the way BIND 9.18 does.
//!
//! ```text
//!  Hit.action ─┬─ Passthru, TcpOnly over TCP ─▶ Rewrite::Unchanged (serve the real answer)
//!              ├─ Drop ───────────────────────▶ Rewrite::Drop (send nothing)
//!              ├─ TcpOnly over UDP ───────────▶ TC=1, empty answer
//!              └─ Nxdomain / Nodata / LocalData / Cname ─▶ Rewrite::Answer { message, chase }
//!
//!  answer message:  header  QR=1 RD=copied CD=copied RA=1 AA=0 AD=0, rcode
//!                   question copied from the request
//!                   ANSWER  real CNAMEs before the hit position (no RRSIGs) + policy records
//!                           (owner = the chain name, TTL = min(TTL, max-policy-ttl))
//!                   ADDITIONAL  policy zone SOA (add-soa, TTL min(TTL, MINIMUM)), OPT
//!                           (+ RFC 8914 EDE) if the request had EDNS
//! ```
//!
//! RPZ is not applied again to what it synthesised: when the rewrite is a CNAME, `chase`
//! names the target the resolver must resolve *without policy* and append (BIND follows
//! the rewritten CNAME and does not filter it again).

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::rule::Action;
use crate::set::{Decision, Hit, Verdict};

/// RFC 8914 EDNS option code of Extended DNS Errors.
pub const EDE_OPTION_CODE: u16 = 15;

/// UDP payload size advertised in rewritten answers (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

/// The transport the query arrived on (`rpz-tcp-only` depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP, DoT or any other stream transport.
    Tcp,
}

/// What the transport layer does with a policy decision.
// Made once per rewritten query and consumed at once: boxing the message would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Rewrite {
    /// Serve the real answer, without applying policy again (no match, PASSTHRU, DNSSEC
    /// exemption, TCP-only over TCP).
    Unchanged,
    /// Send no reply at all (DROP).
    Drop,
    /// Send this answer. If `chase` is set, resolve `chase` with the query type *without
    /// policy* and append its answer records (a CNAME rewrite).
    Answer {
        /// The rewritten response (the resolver encodes it).
        message: Message,
        /// The CNAME target to follow, if any.
        chase: Option<Name>,
    },
}

impl Decision {
    /// The rewrite for this decision ([`Rewrite::Unchanged`] unless a rule matched).
    pub fn rewrite(
        &self,
        request: &Message,
        real: Option<&Message>,
        transport: Transport,
    ) -> Rewrite {
        match &self.verdict {
            Verdict::Match(hit) => hit.rewrite(request, real, transport),
            Verdict::NoMatch | Verdict::DnssecExempt(_) => Rewrite::Unchanged,
        }
    }
}

impl Hit {
    /// Builds the answer for this hit.
    ///
    /// `request` gives the ID, opcode, RD/CD bits, question and EDNS; `real` is the resolved
    /// response, needed only when the hit is at a later position of a CNAME chain (its
    /// CNAMEs up to the hit are kept).
    pub fn rewrite(
        &self,
        request: &Message,
        real: Option<&Message>,
        transport: Transport,
    ) -> Rewrite {
        match &self.action {
            Action::Passthru => Rewrite::Unchanged,
            Action::Drop => Rewrite::Drop,
            Action::TcpOnly if transport == Transport::Tcp => Rewrite::Unchanged,
            Action::TcpOnly => {
                let mut m = self.response_header(request);
                m.metadata.truncation = true;
                self.add_edns(request, &mut m);
                Rewrite::Answer {
                    message: m,
                    chase: None,
                }
            }
            action => {
                let mut m = self.response_header(request);
                m.answers = self.chain_prefix(request, real);
                let chase = self.add_policy_answer(action, request, &mut m);
                self.add_soa(&mut m);
                self.add_edns(request, &mut m);
                Rewrite::Answer { message: m, chase }
            }
        }
    }

    /// The query type of the request (A when it has no question).
    fn qtype(request: &Message) -> RecordType {
        request
            .queries
            .first()
            .map_or(RecordType::A, |q| q.query_type())
    }

    /// The TTL cap of the zone.
    fn cap(&self, ttl: u32) -> u32 {
        ttl.min(self.zone.settings().max_policy_ttl)
    }

    /// A response with BIND's RPZ header flags and the request's question.
    fn response_header(&self, request: &Message) -> Message {
        let mut m = Message::new(
            request.metadata.id,
            MessageType::Response,
            request.metadata.op_code,
        );
        m.metadata.recursion_desired = request.metadata.recursion_desired;
        m.metadata.checking_disabled = request.metadata.checking_disabled;
        m.metadata.recursion_available = true;
        m.metadata.authoritative = false;
        m.metadata.authentic_data = false;
        m.queries = request.queries.clone();
        m
    }

    /// The real CNAME records that lead from the query name to the hit position.
    fn chain_prefix(&self, request: &Message, real: Option<&Message>) -> Vec<Record> {
        let mut out = Vec::new();
        if self.position == 0 {
            return out;
        }
        let (Some(real), Some(q)) = (real, request.queries.first()) else {
            return out;
        };
        let mut current = q.name().clone();
        for _ in 0..self.position {
            let step = real
                .answers
                .iter()
                .find(|r| r.name == current && r.record_type() == RecordType::CNAME);
            let Some(rec) = step else { break };
            let RData::CNAME(CNAME(next)) = &rec.data else {
                break;
            };
            out.push(rec.clone());
            current = next.clone();
        }
        out
    }

    /// Adds the policy records for `action` and sets the RCODE; returns the CNAME to chase.
    fn add_policy_answer(
        &self,
        action: &Action,
        request: &Message,
        m: &mut Message,
    ) -> Option<Name> {
        let qtype = Self::qtype(request);
        match action {
            Action::Nxdomain => {
                m.metadata.response_code = ResponseCode::NXDomain;
                None
            }
            Action::Nodata => None,
            Action::LocalData(records) => {
                let own = |r: &Record| {
                    let mut r =
                        Record::from_rdata(self.name.clone(), self.cap(r.ttl), r.data.clone());
                    r.dns_class = hickory_proto::rr::DNSClass::IN;
                    r
                };
                if qtype == RecordType::ANY {
                    m.answers.extend(records.iter().map(own));
                    return None;
                }
                let of_type: Vec<Record> = records
                    .iter()
                    .filter(|r| r.record_type() == qtype)
                    .map(own)
                    .collect();
                if !of_type.is_empty() {
                    m.answers.extend(of_type);
                    return None;
                }
                let cname = records
                    .iter()
                    .find(|r| r.record_type() == RecordType::CNAME)?;
                m.answers.push(own(cname));
                match (&cname.data, qtype) {
                    (_, RecordType::CNAME) => None,
                    (RData::CNAME(CNAME(t)), _) => Some(t.clone()),
                    _ => None,
                }
            }
            Action::Cname { target, ttl } => {
                let target = if target.is_wildcard() {
                    // `*.suffix`: keep the query name in front of the suffix.
                    let suffix = target.base_name();
                    let mut prefix = self.name.clone();
                    prefix.set_fqdn(false);
                    match prefix.append_domain(&suffix) {
                        Ok(t) => t,
                        Err(_) => {
                            m.metadata.response_code = ResponseCode::YXDomain;
                            return None;
                        }
                    }
                } else {
                    target.clone()
                };
                m.answers.push(Record::from_rdata(
                    self.name.clone(),
                    self.cap(*ttl),
                    RData::CNAME(CNAME(target.clone())),
                ));
                (qtype != RecordType::CNAME).then_some(target)
            }
            // Handled by the caller.
            Action::Passthru | Action::Drop | Action::TcpOnly => None,
        }
    }

    /// The policy zone's SOA in ADDITIONAL (`add-soa`). As BIND 9.18 (`query_addsoa`), its
    /// TTL is min(SOA TTL, SOA MINIMUM), the negative-caching TTL of RFC 2308 section 5;
    /// `max-policy-ttl` does not apply to it.
    fn add_soa(&self, m: &mut Message) {
        if !self.zone.settings().add_soa {
            return;
        }
        if let Some(soa) = self.zone.soa() {
            let mut r = soa.clone();
            if let RData::SOA(data) = &soa.data {
                r.ttl = r.ttl.min(data.minimum);
            }
            m.additionals.push(r);
        }
    }

    /// EDNS in the answer when the request had it, with the zone's EDE code if configured.
    fn add_edns(&self, request: &Message, m: &mut Message) {
        let Some(req_edns) = &request.edns else {
            return;
        };
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_dnssec_ok(req_edns.flags().dnssec_ok);
        if let Some(code) = self.zone.settings().ede {
            // RFC 8914 section 2: INFO-CODE (16 bits) then optional EXTRA-TEXT (none here).
            edns.options_mut().insert(EdnsOption::Unknown(
                EDE_OPTION_CODE,
                code.to_be_bytes().to_vec(),
            ));
        }
        m.edns = Some(edns);
    }
}
