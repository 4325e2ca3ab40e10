//! Validation of forwarded answers (validation is not a recursion-only
//! feature: BIND's `dnssec-validation auto` validates forwarded answers too).
//!
//! ```text
//!  forwarded answer (asked with DO=1 whenever it is to be judged; the pipeline strips
//!  DNSSEC records again for a DO=0 client, see [`strip_dnssec`])
//!    each RRset of the alias chain:
//!      signed   ─▶ zone_security(signer) ─▶ verify          (DS/DNSKEY asked through the forwarder, CD=1)
//!      unsigned ─▶ walk DS from the root towards the owner ─▶ an insecure delegation above it, or bogus
//!    negative: SOA signer's keys ─▶ NSEC/NSEC3 proof
//!  ─▶ Secure (AD) | Insecure | Bogus (SERVFAIL + EDE)
//! ```
//!
//! The key fetches reuse the recursor's validation code with one switch:
//! the [`Budget`] carries the upstream group, and [`Recursor::lookup`] asks
//! it (RD=1, CD=1, DO=1) instead of iterating. Their results are not put in
//! the iterative step cache (a forwarder does not say which zone answered);
//! the per-zone verdicts are cached as usual.

use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query as MsgQuery, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};

use super::bogus::Verdict;
use super::classify::follow_chain;
use super::infra::{Step, StepKind, ZoneSecurity};
use super::iter::{Budget, MAX_CHAIN};
use super::validate::{limit_ede, no_ds_proof_checked, Work};
use super::{is_dnssec_type, DnssecResult, Ede, Failure, Recursor};
use sekisho_upstream::Group;
use sekisho_wire::Query;

/// What validation says about a forwarded answer.
#[derive(Debug)]
pub enum Checked {
    /// Every RRset validated: set AD.
    Secure,
    /// Provably unsigned.
    Insecure,
    /// At or below a `domain-insecure` name: not checked.
    Exempt,
    /// Not checked: validation off, CD=1, or an answer that is not data or
    /// a denial (SERVFAIL, REFUSED, unreadable).
    NotJudged,
    /// Validation failed, or could not finish (a key fetch failed, a work
    /// bound stopped it): SERVFAIL with this EDE.
    Bogus(Ede),
}

impl Checked {
    /// The verdict as counted for recursive answers too; `None` when nothing
    /// was judged.
    pub fn verdict(&self) -> Option<DnssecResult> {
        match self {
            Checked::Secure => Some(DnssecResult::Secure),
            Checked::Insecure => Some(DnssecResult::Insecure),
            Checked::Exempt => Some(DnssecResult::Nta),
            Checked::NotJudged => None,
            // As for recursion: only a DNSSEC failure (EDE 6-12) is a verdict;
            // a stop by a work bound (EDE 0) or a failed key fetch is not.
            Checked::Bogus(e) if e.is_bogus() => Some(DnssecResult::Bogus),
            Checked::Bogus(_) => None,
        }
    }
}

/// Validate `answer`, the upstream's response to `query`.
pub async fn check_forwarded(
    recursor: &Recursor,
    group: &Arc<Group>,
    answer: Option<&Message>,
    query: &Query<'_>,
    lower_qname: &[u8],
    deadline: Instant,
) -> Checked {
    use hickory_proto::serialize::binary::BinDecodable;
    if !judges(recursor, query) {
        return Checked::NotJudged;
    }
    let Ok(qname) = Name::from_bytes(lower_qname) else {
        return Checked::NotJudged;
    };
    if recursor.exempt(&qname) {
        return Checked::Exempt;
    }
    let qtype = RecordType::from(query.qtype);
    let Some(msg) = answer else {
        return Checked::NotJudged;
    };
    let rcode = msg.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return Checked::NotJudged;
    }
    // A failure remembered for bogus-ttl is not validated again.
    match recursor.bogus.get(&qname, qtype, Instant::now()) {
        Some(Verdict::Bogus(e, _)) => return Checked::Bogus(e),
        Some(Verdict::Stopped(limit)) => return Checked::Bogus(limit_ede(limit)),
        None => {}
    }
    let mut b = Budget {
        queries: 0,
        max_queries: recursor.config.max_queries,
        depth: 0,
        deadline,
        via: Some(group.clone()),
        exhausted: false,
    };
    let mut w = recursor.work(deadline);
    let result = judge(recursor, msg, &qname, qtype, &mut b, &mut w).await;
    let bogus = match &result {
        Ok(Err(e)) => Some((e, &[][..])),
        _ => None,
    };
    recursor
        .bogus
        .finish(&qname, qtype, &w, bogus, Instant::now());
    match result {
        Ok(Ok(true)) => Checked::Secure,
        Ok(Ok(false)) => Checked::Insecure,
        Ok(Err(e)) => {
            tracing::debug!(%qtype, ede = e.code, reason = %e.text, "forwarded answer is bogus");
            Checked::Bogus(e)
        }
        Err(f) => {
            tracing::debug!(%qtype, reason = f.reason, "forwarded answer could not be validated");
            Checked::Bogus(f.ede.unwrap_or_else(|| Ede::new(6, f.reason)))
        }
    }
}

/// Validate every RRset of the answer chain and the denial at its end.
async fn judge(
    r: &Recursor,
    msg: &Message,
    qname: &Name,
    qtype: RecordType,
    b: &mut Budget,
    w: &mut Work,
) -> Result<Result<bool, Ede>, Failure> {
    let chain = follow_chain(msg, qname, qtype, &Name::root(), MAX_CHAIN);
    // NSEC/NSEC3 of the authority section, with their RRSIGs: the proof a
    // wildcard answer needs (RFC 4035 section 5.3.4).
    let proofs = super::classify::denial_records(msg, &Name::root());
    let mut secure = true;
    // Group the chain's records by owner: one step per owner.
    let mut owners: Vec<Name> = Vec::new();
    for rec in &chain.records {
        if !owners.contains(&rec.name) {
            owners.push(rec.name.clone());
        }
    }
    for owner in &owners {
        let records: Vec<Record> = chain
            .records
            .iter()
            .filter(|x| x.name == *owner)
            .cloned()
            .collect();
        match verdict(
            r,
            owner,
            qtype,
            records,
            proofs.clone(),
            StepKind::Answer,
            b,
            w,
        )
        .await?
        {
            Ok(s) => secure &= s,
            Err(e) => return Ok(Err(e)),
        }
    }
    let negative = msg.metadata.response_code == ResponseCode::NXDomain
        || chain.records.iter().all(|x| x.record_type() != qtype);
    if negative && chain.next.is_none() {
        let last = chain.names.last().cloned().unwrap_or_else(|| qname.clone());
        let kind = if msg.metadata.response_code == ResponseCode::NXDomain {
            StepKind::NxDomain
        } else {
            StepKind::NoData
        };
        let authority: Vec<Record> = msg
            .authorities
            .iter()
            .filter(|x| x.record_type() != RecordType::NS)
            .cloned()
            .collect();
        match verdict(r, &last, qtype, Vec::new(), authority, kind, b, w).await? {
            Ok(s) => secure &= s,
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(secure))
}

/// Validate one owner's records (or one denial) from a forwarder.
#[allow(clippy::too_many_arguments)]
async fn verdict(
    r: &Recursor,
    name: &Name,
    qtype: RecordType,
    answers: Vec<Record>,
    authority: Vec<Record>,
    kind: StepKind,
    b: &mut Budget,
    w: &mut Work,
) -> Result<Result<bool, Ede>, Failure> {
    if r.exempt(name) {
        return Ok(Ok(false));
    }
    // The signer of the data (or, for a denial, of the proof) names the zone.
    let signer = match kind {
        StepKind::Answer => answers.iter().find_map(super::validate::rrsig_signer),
        _ => authority.iter().find_map(super::validate::rrsig_signer),
    };
    let mut authority = authority;
    if let (StepKind::Answer, Some(z)) = (kind, &signer) {
        // Only the signer's own NSEC/NSEC3 can prove its wildcard expansion.
        authority.retain(|x| {
            z.zone_of(&x.name) && super::validate::rrsig_signer(x).is_none_or(|s| s == *z)
        });
    }
    let step = Step {
        zone: signer.clone().unwrap_or_else(Name::root),
        kind,
        answers,
        authority,
        next: None,
    };
    if signer.is_some() {
        return r.validate_step(name, qtype, &step, false, b, w).await;
    }
    // Unsigned: fine only below an insecure delegation (or an exemption).
    let owner = match kind {
        StepKind::Answer => step.answers.first(),
        _ => step.authority.first(),
    }
    .map(|x| x.name.clone())
    .unwrap_or_else(|| name.clone());
    match r.security_above(&owner, b, w).await? {
        ZoneSecurity::Secure(_) => Ok(Err(Ede::new(
            10,
            "unsigned answer from a signed zone (no RRSIG)".to_string(),
        ))),
        ZoneSecurity::Insecure => Ok(Ok(false)),
        ZoneSecurity::Bogus(e) => Ok(Err(e)),
    }
}

impl Recursor {
    /// The security of the closest enclosing zone of `name`, found by walking
    /// DS down from the root (RFC 4035 section 5.2): the first delegation proven
    /// to have no DS makes everything below it insecure.
    async fn security_above(
        &self,
        name: &Name,
        b: &mut Budget,
        w: &mut Work,
    ) -> Result<ZoneSecurity, Failure> {
        let mut zone = Name::root();
        let mut sec = self.zone_security(&zone, b, w).await?;
        let labels = usize::from(name.num_labels());
        for n in 1..=labels {
            let keys = match &sec {
                ZoneSecurity::Secure(k) => k.clone(),
                other => return Ok(other.clone()),
            };
            let a = name.trim_to(n);
            if self.exempt(&a) {
                return Ok(ZoneSecurity::Insecure);
            }
            let ds = self.lookup(&a, RecordType::DS, b).await?;
            if ds.kind == StepKind::Answer
                && ds.answers.iter().any(|x| x.record_type() == RecordType::DS)
            {
                zone = a;
                sec = self.zone_security(&zone, b, w).await?;
                continue;
            }
            if no_ds_proof_checked(&a, &zone, &ds.authority, &keys, w)? {
                return Ok(ZoneSecurity::Insecure);
            }
            // Not a delegation (or not provably one): still inside `zone`.
        }
        Ok(sec)
    }

    /// A lookup through the forwarder in `b.via` (RD=1, CD=1, DO=1).
    pub(crate) async fn forward_lookup(
        &self,
        group: &Arc<Group>,
        name: &Name,
        qtype: RecordType,
        b: &mut Budget,
    ) -> Result<Step, Failure> {
        b.charge(&self.config.limits)?;
        let msg = forward(group, name, qtype, b.deadline).await?;
        let chain = follow_chain(&msg, name, qtype, &Name::root(), MAX_CHAIN);
        let kind = match msg.metadata.response_code {
            ResponseCode::NXDomain => StepKind::NxDomain,
            _ if chain.records.iter().any(|x| x.record_type() == qtype) => StepKind::Answer,
            _ => StepKind::NoData,
        };
        let authority: Vec<Record> = msg
            .authorities
            .iter()
            .filter(|x| x.record_type() != RecordType::NS)
            .cloned()
            .collect();
        // Which zone answered: the signer, else the SOA owner, else the parent
        // (DS) or the name itself.
        let zone = chain
            .records
            .iter()
            .chain(&authority)
            .find_map(super::validate::rrsig_signer)
            .or_else(|| {
                authority
                    .iter()
                    .find(|x| x.record_type() == RecordType::SOA)
                    .map(|x| x.name.clone())
            })
            .unwrap_or_else(|| {
                if qtype == RecordType::DS {
                    name.base_name()
                } else {
                    name.clone()
                }
            });
        Ok(Step {
            zone,
            kind,
            answers: if kind == StepKind::Answer {
                chain.records
            } else {
                Vec::new()
            },
            authority,
            next: None,
        })
    }
}

/// Ask the group (RD=1, CD=1, EDNS DO=1).
async fn forward(
    group: &Arc<Group>,
    name: &Name,
    qtype: RecordType,
    deadline: Instant,
) -> Result<Message, Failure> {
    let mut m = Message::new(0, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.checking_disabled = true;
    m.add_query(MsgQuery::query(name.clone(), qtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(true);
    m.set_edns(e);
    let q = m
        .to_vec()
        .map_err(|_| Failure::new("cannot encode a query", None))?;
    let (answer, _) = group.exchange(&q, deadline).await.map_err(|_| {
        Failure::new(
            "forwarder did not answer",
            Some(Ede::new(22, "forwarder did not answer")),
        )
    })?;
    let msg = Message::from_vec(&answer)
        .map_err(|_| Failure::new("unreadable forwarder answer", None))?;
    match msg.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(msg),
        _ => Err(Failure::new("forwarder failed a key lookup", None)),
    }
}

/// Whether the upstream should be asked with DO=1 for `query`: the client
/// asked for DNSSEC records, or the answer is to be validated. One upstream
/// query serves both; [`strip_dnssec`] makes a DO=0 client's copy.
pub fn wants_dnssec(recursor: Option<&Recursor>, query: &Query<'_>) -> bool {
    query.dnssec_ok() || (recursor.is_some_and(Recursor::validating) && !query.cd)
}

/// Whether [`check_forwarded`] would judge an answer to `query` (validation
/// on and CD=0), i.e. needs it read.
pub fn judges(recursor: &Recursor, query: &Query<'_>) -> bool {
    recursor.validating() && !query.cd
}

/// A DO=1 answer `m` (read from the wire) without its DNSSEC records (those
/// of the query type excepted) and without OPT, for a client that asked with
/// DO=0: `m` is changed so and encoded.
pub fn strip_dnssec(m: &mut Message) -> Option<Vec<u8>> {
    let qtype = m.queries.first().map(|q| q.query_type());
    let keep = |x: &Record| !is_dnssec_type(x.record_type()) || Some(x.record_type()) == qtype;
    m.answers.retain(keep);
    m.authorities.retain(keep);
    m.additionals.retain(keep);
    m.edns = None;
    m.metadata.checking_disabled = false;
    m.to_vec().ok()
}
