//! Transaction signatures, [RFC 8945](https://www.rfc-editor.org/rfc/rfc8945).
//!
//! ```text
//!  client                                         server
//!  sign_request(msg) ── request + TSIG(MAC0) ──▶  verify_request()
//!                    ◀── msg 1 + TSIG(MAC1) ───  MAC1 = H(MAC0, msg1, vars)
//!  ResponseVerifier  ◀── msg 2 (unsigned) ────   (allowed, up to 99 in a row)
//!     .verify(msg)   ◀── msg 3 + TSIG(MAC3) ───  MAC3 = H(MAC1, msg2, msg3, timers)
//!     .finish()      last message must be signed
//! ```
//!
//! Everything here is sans-I/O: callers pass message bytes and the current time in
//! seconds since the Unix epoch, and get bytes or typed errors back. The MAC is
//! computed over the message exactly as it was on the wire: "without the TSIG RR
//! and with the ARCOUNT decremented and the ID set to the Original ID" (section
//! 4.3.1), located and stripped with this crate's own raw-bytes helpers, never over
//! a re-encoded copy, whose name compression may differ.
//!
//! Errors map to the TSIG error codes of
//! [RFC 8945 section 5.2](https://www.rfc-editor.org/rfc/rfc8945#section-5.2)
//! (BADSIG, BADKEY, BADTIME, BADTRUNC) through [`TsigError::tsig_rcode`], and to a
//! bounded metrics label through [`TsigError::as_metrics_label`].

use std::fmt;
use std::str::FromStr;

use hickory_proto::rr::Name;
use ring::hmac;
use thiserror::Error;

use crate::wire::{self, RawTsig, WireError, CLASS_ANY, TYPE_TSIG};

/// Default fudge in seconds, the value RFC 8945 section 10 recommends.
pub const DEFAULT_FUDGE: u16 = 300;

/// RFC 8945 section 5.3.1: "The server MUST include a TSIG on the first and last
/// message and at least every 100 messages": at most 99 unsigned in a row.
pub const MAX_UNSIGNED_IN_A_ROW: u32 = 99;

/// A TSIG MAC algorithm ([RFC 8945 section 6](https://www.rfc-editor.org/rfc/rfc8945#section-6)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TsigAlgorithm {
    /// `hmac-sha1.` (legacy, still common on older primaries).
    HmacSha1,
    /// `hmac-sha256.` (the one to use).
    HmacSha256,
    /// `hmac-sha384.`
    HmacSha384,
    /// `hmac-sha512.`
    HmacSha512,
}

impl TsigAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [TsigAlgorithm; 4] = [
        TsigAlgorithm::HmacSha1,
        TsigAlgorithm::HmacSha256,
        TsigAlgorithm::HmacSha384,
        TsigAlgorithm::HmacSha512,
    ];

    /// The algorithm name as BIND's `algorithm` statement spells it (no trailing dot).
    pub fn as_str(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha1 => "hmac-sha1",
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm name as a DNS name, as carried in the TSIG RDATA.
    pub fn to_name(self) -> Name {
        // Invariant: the four literals are valid absolute names.
        #[allow(clippy::unwrap_used)]
        Name::from_ascii(format!("{}.", self.as_str())).unwrap()
    }

    /// Length of the full HMAC output in octets.
    pub fn output_len(self) -> usize {
        match self {
            TsigAlgorithm::HmacSha1 => 20,
            TsigAlgorithm::HmacSha256 => 32,
            TsigAlgorithm::HmacSha384 => 48,
            TsigAlgorithm::HmacSha512 => 64,
        }
    }

    /// The algorithm name in canonical wire form.
    fn wire_name(self) -> Vec<u8> {
        let s = self.as_str().as_bytes();
        let mut out = Vec::with_capacity(s.len() + 2);
        // The names are shorter than 63 octets.
        out.push(s.len() as u8);
        out.extend_from_slice(s);
        out.push(0);
        out
    }

    /// The ring HMAC algorithm.
    fn ring(self) -> hmac::Algorithm {
        match self {
            TsigAlgorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            TsigAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            TsigAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            TsigAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

impl fmt::Display for TsigAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an algorithm name this crate does not implement.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unsupported TSIG algorithm {name:?}")]
pub struct UnknownAlgorithm {
    /// The name as given.
    pub name: String,
}

impl FromStr for TsigAlgorithm {
    type Err = UnknownAlgorithm;

    /// Accepts `hmac-sha256` or `hmac-sha256.`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        TsigAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| UnknownAlgorithm { name: s.to_owned() })
    }
}

/// A shared TSIG secret with its name and algorithm.
///
/// `Debug` shows the name and algorithm only: the secret must never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key name; both sides must use the same name.
    pub name: Name,
    /// The MAC algorithm.
    pub algorithm: TsigAlgorithm,
    /// The shared secret (the decoded base64 of a BIND `secret`).
    pub secret: Vec<u8>,
}

impl TsigKey {
    /// Builds a key.
    pub fn new(name: Name, algorithm: TsigAlgorithm, secret: Vec<u8>) -> Self {
        TsigKey {
            name,
            algorithm,
            secret,
        }
    }

    /// The key name in canonical wire form.
    fn wire_name(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.name.len() + 2);
        wire::push_canonical_name(&mut out, &self.name);
        out
    }

    /// A fresh HMAC context keyed with this secret.
    fn context(&self) -> hmac::Context {
        hmac::Context::with_key(&hmac::Key::new(self.algorithm.ring(), &self.secret))
    }

    /// True if a received TSIG RR names this key and algorithm.
    pub(crate) fn matches(&self, raw: &RawTsig) -> bool {
        raw.key_name == self.wire_name() && raw.algorithm == self.algorithm.wire_name()
    }
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The MAC of a signed request, needed to verify the response
/// (RFC 8945 section 4.3.1: the response digest starts with the request MAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMac(pub Vec<u8>);

/// The TSIG error codes of [RFC 8945 section 3](https://www.rfc-editor.org/rfc/rfc8945#section-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TsigRcode {
    /// 16, BADSIG: the MAC did not verify.
    BadSig,
    /// 17, BADKEY: the key (or its algorithm) is not known.
    BadKey,
    /// 18, BADTIME: the signature time is outside the fudge window.
    BadTime,
    /// 22, BADTRUNC: a truncated MAC was not acceptable.
    BadTrunc,
    /// Any other value a peer sent.
    Other(u16),
}

impl TsigRcode {
    /// The numeric code carried in the TSIG Error field.
    pub fn code(self) -> u16 {
        match self {
            TsigRcode::BadSig => 16,
            TsigRcode::BadKey => 17,
            TsigRcode::BadTime => 18,
            TsigRcode::BadTrunc => 22,
            TsigRcode::Other(c) => c,
        }
    }

    /// The code for a number from the wire.
    pub fn from_code(code: u16) -> Self {
        match code {
            16 => TsigRcode::BadSig,
            17 => TsigRcode::BadKey,
            18 => TsigRcode::BadTime,
            22 => TsigRcode::BadTrunc,
            c => TsigRcode::Other(c),
        }
    }
}

impl fmt::Display for TsigRcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsigRcode::BadSig => f.write_str("BADSIG"),
            TsigRcode::BadKey => f.write_str("BADKEY"),
            TsigRcode::BadTime => f.write_str("BADTIME"),
            TsigRcode::BadTrunc => f.write_str("BADTRUNC"),
            TsigRcode::Other(c) => write!(f, "TSIG error {c}"),
        }
    }
}

/// Why a TSIG check failed, locally or at the peer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TsigError {
    /// The MAC of a received message did not verify (BADSIG).
    #[error("TSIG MAC did not verify")]
    BadSig,
    /// A received message was signed with a key name or algorithm we do not hold (BADKEY).
    #[error("TSIG key or algorithm not known")]
    BadKey,
    /// The signature time is outside the fudge window (BADTIME).
    #[error("TSIG time {time_signed} is more than {fudge}s away from now ({now})")]
    BadTime {
        /// Time Signed from the message.
        time_signed: u64,
        /// Our clock.
        now: u64,
        /// Fudge from the message.
        fudge: u16,
    },
    /// The MAC was truncated; this implementation only accepts full-length MACs (BADTRUNC).
    #[error("TSIG MAC truncated to {mac_len} octets")]
    BadTrunc {
        /// Length of the received MAC.
        mac_len: usize,
    },
    /// A message that had to be signed carried no TSIG.
    #[error("expected a TSIG record, found none")]
    Unsigned,
    /// A message carried a TSIG although no key was in use.
    #[error("unexpected TSIG record")]
    UnexpectedSignature,
    /// More than [`MAX_UNSIGNED_IN_A_ROW`] unsigned messages in a row.
    #[error("more than {MAX_UNSIGNED_IN_A_ROW} unsigned messages in a row")]
    TooManyUnsigned,
    /// The transfer ended on an unsigned message.
    #[error("the last message of the transfer was not signed")]
    FinalMessageUnsigned,
    /// The peer rejected our signature and reported a TSIG error.
    #[error("peer rejected TSIG: {rcode}")]
    PeerRejected {
        /// The TSIG Error field the peer sent.
        rcode: TsigRcode,
    },
    /// The TSIG RR or the message around it is malformed.
    #[error("malformed signed message: {0}")]
    Malformed(#[from] WireError),
}

impl TsigError {
    /// The TSIG error code this failure corresponds to, local or peer-reported.
    pub fn tsig_rcode(&self) -> Option<TsigRcode> {
        match self {
            TsigError::BadSig => Some(TsigRcode::BadSig),
            TsigError::BadKey => Some(TsigRcode::BadKey),
            TsigError::BadTime { .. } => Some(TsigRcode::BadTime),
            TsigError::BadTrunc { .. } => Some(TsigRcode::BadTrunc),
            TsigError::PeerRejected { rcode } => Some(*rcode),
            TsigError::Unsigned
            | TsigError::UnexpectedSignature
            | TsigError::TooManyUnsigned
            | TsigError::FinalMessageUnsigned
            | TsigError::Malformed(_) => None,
        }
    }

    /// A bounded label for metrics.
    pub fn as_metrics_label(&self) -> &'static str {
        match self {
            TsigError::BadSig => "badsig",
            TsigError::BadKey => "badkey",
            TsigError::BadTime { .. } => "badtime",
            TsigError::BadTrunc { .. } => "badtrunc",
            TsigError::Unsigned => "unsigned",
            TsigError::UnexpectedSignature => "unexpected_signature",
            TsigError::TooManyUnsigned => "too_many_unsigned",
            TsigError::FinalMessageUnsigned => "final_unsigned",
            TsigError::PeerRejected { rcode } => match rcode {
                TsigRcode::BadSig => "peer_badsig",
                TsigRcode::BadKey => "peer_badkey",
                TsigRcode::BadTime => "peer_badtime",
                TsigRcode::BadTrunc => "peer_badtrunc",
                TsigRcode::Other(_) => "peer_other",
            },
            TsigError::Malformed(_) => "malformed",
        }
    }
}

/// The TSIG fields that vary per message.
#[derive(Debug, Clone, Copy)]
struct Timers {
    /// Time Signed.
    time_signed: u64,
    /// Fudge.
    fudge: u16,
}

impl Timers {
    /// Our timers for a message signed at `now`: the time and [`DEFAULT_FUDGE`].
    fn at(now: u64) -> Self {
        Timers {
            time_signed: now,
            fudge: DEFAULT_FUDGE,
        }
    }

    /// The 48-bit time and 16-bit fudge, as in the RDATA and in "TSIG Timers".
    fn to_bytes(self) -> [u8; 8] {
        let t = self.time_signed.to_be_bytes();
        let f = self.fudge.to_be_bytes();
        [t[2], t[3], t[4], t[5], t[6], t[7], f[0], f[1]]
    }
}

/// Feeds the full "TSIG Variables" of RFC 8945 section 4.3.3 into `ctx`:
/// key name, class ANY, TTL 0, algorithm name, time signed, fudge, error, other.
fn update_variables(
    ctx: &mut hmac::Context,
    key_name: &[u8],
    algorithm: &[u8],
    timers: Timers,
    error: u16,
    other: &[u8],
) {
    ctx.update(key_name);
    ctx.update(&CLASS_ANY.to_be_bytes());
    ctx.update(&0u32.to_be_bytes());
    ctx.update(algorithm);
    ctx.update(&timers.to_bytes());
    ctx.update(&error.to_be_bytes());
    // Other data is at most an RDATA long, so the length fits in u16.
    ctx.update(&(other.len() as u16).to_be_bytes());
    ctx.update(other);
}

/// Feeds a prior MAC (request MAC or previous response MAC) with its length prefix.
fn update_prior_mac(ctx: &mut hmac::Context, prior: &[u8]) {
    ctx.update(&(prior.len() as u16).to_be_bytes());
    ctx.update(prior);
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The fields of a TSIG RR to write.
struct RrFields<'a> {
    /// Key name, canonical wire form.
    key_name: &'a [u8],
    /// Algorithm name, canonical wire form.
    algorithm: &'a [u8],
    /// Time signed and fudge.
    timers: Timers,
    /// The MAC (empty on unsigned error answers).
    mac: &'a [u8],
    /// Original ID.
    original_id: u16,
    /// TSIG error code.
    error: u16,
    /// Other data.
    other: &'a [u8],
}

/// Appends a TSIG RR with the given fields to `msg` and increments ARCOUNT.
fn append_tsig_rr(msg: &mut Vec<u8>, f: &RrFields<'_>) -> Result<(), TsigError> {
    let RrFields {
        key_name,
        algorithm,
        timers,
        mac,
        original_id,
        error,
        other,
    } = *f;
    let arcount = wire::read_u16(msg, 10)?;
    let arcount = arcount.checked_add(1).ok_or(WireError::BadTsig)?;
    msg[10..12].copy_from_slice(&arcount.to_be_bytes());

    let rdlen = algorithm.len() + 8 + 2 + mac.len() + 2 + 2 + 2 + other.len();
    let rdlen = u16::try_from(rdlen).map_err(|_| WireError::BadTsig)?;
    msg.extend_from_slice(key_name);
    msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&rdlen.to_be_bytes());
    msg.extend_from_slice(algorithm);
    msg.extend_from_slice(&timers.to_bytes());
    msg.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&original_id.to_be_bytes());
    msg.extend_from_slice(&error.to_be_bytes());
    msg.extend_from_slice(&(other.len() as u16).to_be_bytes());
    msg.extend_from_slice(other);
    Ok(())
}

/// Signs `msg` (a complete message without TSIG) with `timers`, optionally chained to
/// `prior` (the request MAC when signing a response), and returns the signed bytes
/// and MAC.
fn sign_message(
    key: &TsigKey,
    msg: &[u8],
    prior: Option<&[u8]>,
    timers: Timers,
    error: u16,
    other: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), TsigError> {
    // The whole message, not only its header: after bytes past the last record, a
    // verifier could read the appended TSIG RR as part of a record and find none.
    let header = wire::layout(msg)?.header;
    let key_name = key.wire_name();
    let algorithm = key.algorithm.wire_name();
    let mut ctx = key.context();
    if let Some(prior) = prior {
        update_prior_mac(&mut ctx, prior);
    }
    ctx.update(msg);
    update_variables(&mut ctx, &key_name, &algorithm, timers, error, other);
    let mac = ctx.sign().as_ref().to_vec();
    let mut out = msg.to_vec();
    append_tsig_rr(
        &mut out,
        &RrFields {
            key_name: &key_name,
            algorithm: &algorithm,
            timers,
            mac: &mac,
            original_id: header.id,
            error,
            other,
        },
    )?;
    Ok((out, mac))
}

/// Signs a message after the first of a multi-message response (RFC 8945 section
/// 5.3.1): the MAC covers the prior MAC, `unsigned` (the unsigned messages since the
/// prior signed one, concatenated), `msg` and the TSIG timers only. Returns the
/// signed bytes and MAC.
fn sign_later_message(
    key: &TsigKey,
    prior: &[u8],
    unsigned: &[u8],
    msg: &[u8],
    timers: Timers,
) -> Result<(Vec<u8>, Vec<u8>), TsigError> {
    // As in sign_message: only a message that walks to its end is signed.
    let header = wire::layout(msg)?.header;
    let mut ctx = key.context();
    update_prior_mac(&mut ctx, prior);
    ctx.update(unsigned);
    ctx.update(msg);
    ctx.update(&timers.to_bytes());
    let mac = ctx.sign().as_ref().to_vec();
    let mut out = msg.to_vec();
    append_tsig_rr(
        &mut out,
        &RrFields {
            key_name: &key.wire_name(),
            algorithm: &key.algorithm.wire_name(),
            timers,
            mac: &mac,
            original_id: header.id,
            error: 0,
            other: &[],
        },
    )?;
    Ok((out, mac))
}

/// Signs a request (RFC 8945 section 4.3.1, "the request MAC"): `msg` must be a
/// complete message without a TSIG RR; `now` is seconds since the Unix epoch.
///
/// Returns the signed bytes and the MAC that [`ResponseVerifier`] needs.
pub fn sign_request(
    key: &TsigKey,
    msg: &[u8],
    now: u64,
) -> Result<(Vec<u8>, RequestMac), TsigError> {
    let (signed, mac) = sign_message(key, msg, None, Timers::at(now), 0, &[])?;
    Ok((signed, RequestMac(mac)))
}

/// Signs a response to a verified request (RFC 8945 section 4.3.1: the digest
/// starts with the request MAC). `msg` must be complete and carry no TSIG RR.
pub fn sign_response(
    key: &TsigKey,
    msg: &[u8],
    request_mac: &RequestMac,
    now: u64,
) -> Result<Vec<u8>, TsigError> {
    Ok(sign_message(key, msg, Some(&request_mac.0), Timers::at(now), 0, &[])?.0)
}

/// Checks the time window of RFC 8945 section 5.2.3.
fn check_time(raw: &RawTsig, now: u64) -> Result<(), TsigError> {
    if raw.time_signed.abs_diff(now) > u64::from(raw.fudge) {
        return Err(TsigError::BadTime {
            time_signed: raw.time_signed,
            now,
            fudge: raw.fudge,
        });
    }
    Ok(())
}

/// Checks the MAC length: this implementation accepts only full-length MACs
/// (RFC 8945 section 5.2.2.1 leaves truncation to local policy).
fn check_mac_len(key: &TsigKey, raw: &RawTsig) -> Result<(), TsigError> {
    if raw.mac.len() != key.algorithm.output_len() {
        return Err(TsigError::BadTrunc {
            mac_len: raw.mac.len(),
        });
    }
    Ok(())
}

/// A request whose TSIG verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The key that signed it.
    pub key: TsigKey,
    /// Its MAC, needed to sign the response.
    pub mac: RequestMac,
    /// The request without its TSIG RR (ARCOUNT decremented), ready to decode.
    pub message: Vec<u8>,
}

/// Verifies a signed request against a set of keys (RFC 8945 section 5.2).
///
/// Returns `Ok(None)` if the request is not signed: whether that is acceptable is
/// the caller's policy. On failure the error says which TSIG error to answer with;
/// [`error_response`] builds that answer.
pub fn verify_request(
    msg: &[u8],
    keys: &[TsigKey],
    now: u64,
) -> Result<Option<VerifiedRequest>, TsigError> {
    let Some(raw) = wire::find_tsig(msg)? else {
        return Ok(None);
    };
    let key = keys
        .iter()
        .find(|k| k.matches(&raw))
        .ok_or(TsigError::BadKey)?;
    check_mac_len(key, &raw)?;
    let stripped = wire::strip_tsig(msg, &raw)?;
    let mut ctx = key.context();
    ctx.update(&stripped);
    update_variables(
        &mut ctx,
        &raw.key_name,
        &raw.algorithm,
        Timers {
            time_signed: raw.time_signed,
            fudge: raw.fudge,
        },
        raw.error,
        &raw.other,
    );
    if !constant_time_eq(ctx.sign().as_ref(), &raw.mac) {
        return Err(TsigError::BadSig);
    }
    check_time(&raw, now)?;
    Ok(Some(VerifiedRequest {
        key: key.clone(),
        mac: RequestMac(raw.mac),
        message: stripped,
    }))
}

/// Adds the TSIG RR a server must put on the response to a request that failed
/// verification (RFC 8945 section 5.2): the request's key and algorithm names, the
/// TSIG error code, and an empty MAC (unsigned, for BADKEY/BADSIG/BADTRUNC).
/// For BADTIME, RFC 8945 section 5.2.3 asks for a signed answer carrying our time
/// in Other Data; that is done when `key` is given.
///
/// `request` is the raw request, `response` the complete unsigned response (with
/// RCODE NOTAUTH). Returns `None` if the request carries no TSIG RR.
pub fn error_response(
    request: &[u8],
    response: &[u8],
    error: &TsigError,
    key: Option<&TsigKey>,
    now: u64,
) -> Result<Option<Vec<u8>>, TsigError> {
    let Some(raw) = wire::find_tsig(request)? else {
        return Ok(None);
    };
    let code = error.tsig_rcode().unwrap_or(TsigRcode::BadSig).code();
    if let (TsigError::BadTime { .. }, Some(key)) = (error, key) {
        // Other Data is our 48-bit time, so the client can see the skew.
        let t = now.to_be_bytes();
        let other = [t[2], t[3], t[4], t[5], t[6], t[7]];
        return Ok(Some(
            sign_message(key, response, Some(&raw.mac), Timers::at(now), code, &other)?.0,
        ));
    }
    let mut out = response.to_vec();
    let id = wire::read_header(response)?.id;
    append_tsig_rr(
        &mut out,
        &RrFields {
            key_name: &raw.key_name,
            algorithm: &raw.algorithm,
            timers: Timers::at(now),
            mac: &[],
            original_id: id,
            error: code,
            other: &[],
        },
    )?;
    Ok(Some(out))
}

/// [`error_response`] with the key the request names, if we know it (for a signed
/// BADTIME answer): the TSIG answer every request parser (transfers, NOTIFY,
/// UPDATE) gives a request whose signature failed. `None` when it carries no TSIG.
pub fn error_answer(
    request: &[u8],
    response: &[u8],
    error: &TsigError,
    keys: &[TsigKey],
    now: u64,
) -> Option<Vec<u8>> {
    let key = wire::find_tsig(request)
        .ok()
        .flatten()
        .and_then(|raw| keys.iter().find(|k| k.matches(&raw)));
    error_response(request, response, error, key, now)
        .ok()
        .flatten()
}

/// Signs the messages of a (possibly multi-message) response, each chained to the
/// previous MAC as RFC 8945 section 5.3.1 describes; the counterpart of
/// [`ResponseVerifier`]. This client crate uses it for NOTIFY answers and tests; a
/// future transfer server signs with it too.
#[derive(Debug)]
pub struct ResponseSigner {
    /// The key of the verified request.
    key: TsigKey,
    /// The MAC the next message chains to.
    prior_mac: Vec<u8>,
    /// True until the first message has been signed.
    first: bool,
}

impl ResponseSigner {
    /// A signer for the response to a request that `key` verified with MAC `request_mac`.
    pub fn new(key: TsigKey, request_mac: RequestMac) -> Self {
        ResponseSigner {
            key,
            prior_mac: request_mac.0,
            first: true,
        }
    }

    /// Signs the next message (complete, without TSIG); `now` in seconds since the epoch.
    pub fn sign(&mut self, msg: &[u8], now: u64) -> Result<Vec<u8>, TsigError> {
        let timers = Timers::at(now);
        let (out, mac) = if self.first {
            sign_message(&self.key, msg, Some(&self.prior_mac), timers, 0, &[])?
        } else {
            // Every message is signed, so no unsigned ones come in between.
            sign_later_message(&self.key, &self.prior_mac, &[], msg, timers)?
        };
        self.prior_mac = mac;
        self.first = false;
        Ok(out)
    }
}

/// Verifies the messages of a (possibly multi-message) signed response.
///
/// RFC 8945 section 5.3.1: the first message's MAC covers the request MAC; each
/// later signed message's MAC covers the previous MAC, every unsigned message in
/// between, itself, and the TSIG timers. The first and the last message must be
/// signed, and no more than [`MAX_UNSIGNED_IN_A_ROW`] may be unsigned in a row.
#[derive(Debug)]
pub struct ResponseVerifier {
    /// The key the request was signed with.
    key: TsigKey,
    /// The MAC the next signed message chains to.
    prior_mac: Vec<u8>,
    /// Unsigned messages received since the last signed one, concatenated.
    pending: Vec<u8>,
    /// How many messages `pending` holds.
    unsigned_in_a_row: u32,
    /// True until the first message has been verified.
    first: bool,
}

impl ResponseVerifier {
    /// A verifier for the response to a request signed with `key` whose MAC was `request_mac`.
    pub fn new(key: TsigKey, request_mac: RequestMac) -> Self {
        ResponseVerifier {
            key,
            prior_mac: request_mac.0,
            pending: Vec::new(),
            unsigned_in_a_row: 0,
            first: true,
        }
    }

    /// Verifies one response message; `now` is seconds since the Unix epoch.
    ///
    /// Returns the message without its TSIG RR (ARCOUNT decremented, ID set to the
    /// Original ID), or the message unchanged when it is an allowed unsigned one.
    pub fn verify(&mut self, msg: &[u8], now: u64) -> Result<Vec<u8>, TsigError> {
        let Some(raw) = wire::find_tsig(msg)? else {
            if self.first {
                return Err(TsigError::Unsigned);
            }
            self.unsigned_in_a_row += 1;
            if self.unsigned_in_a_row > MAX_UNSIGNED_IN_A_ROW {
                return Err(TsigError::TooManyUnsigned);
            }
            self.pending.extend_from_slice(msg);
            return Ok(msg.to_vec());
        };
        // A server that could not verify our request says so in the Error field and
        // leaves the MAC empty (RFC 8945 section 5.3.2); report that first.
        if raw.error != 0 {
            return Err(TsigError::PeerRejected {
                rcode: TsigRcode::from_code(raw.error),
            });
        }
        if !self.key.matches(&raw) {
            return Err(TsigError::BadKey);
        }
        check_mac_len(&self.key, &raw)?;
        let stripped = wire::strip_tsig(msg, &raw)?;
        let timers = Timers {
            time_signed: raw.time_signed,
            fudge: raw.fudge,
        };
        let mut ctx = self.key.context();
        update_prior_mac(&mut ctx, &self.prior_mac);
        ctx.update(&self.pending);
        ctx.update(&stripped);
        if self.first {
            update_variables(
                &mut ctx,
                &raw.key_name,
                &raw.algorithm,
                timers,
                raw.error,
                &raw.other,
            );
        } else {
            // "TSIG Timers" only, for every message after the first (section 5.3.1).
            ctx.update(&timers.to_bytes());
        }
        if !constant_time_eq(ctx.sign().as_ref(), &raw.mac) {
            return Err(TsigError::BadSig);
        }
        check_time(&raw, now)?;
        self.prior_mac = raw.mac;
        self.pending.clear();
        self.unsigned_in_a_row = 0;
        self.first = false;
        Ok(stripped)
    }

    /// Checks that the last message verified was signed; call at the end of a transfer.
    pub fn finish(&self) -> Result<(), TsigError> {
        if self.first {
            return Err(TsigError::Unsigned);
        }
        if self.unsigned_in_a_row > 0 {
            return Err(TsigError::FinalMessageUnsigned);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
