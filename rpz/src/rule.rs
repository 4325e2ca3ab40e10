//! The vocabulary of a policy rule: triggers (owner names), actions (RDATA) and load warnings.
//!
//! ```text
//!   owner (trigger)                       RDATA (action)
//!   bad.example.block.        CNAME .                 NXDOMAIN
//!   *.bad.example.block.      CNAME *.                NODATA
//!   ok.example.block.         CNAME rpz-passthru.     PASSTHRU
//!   32.1.0.0.127.rpz-ip.block CNAME rpz-drop.         DROP
//!   ns.evil.rpz-nsdname.block CNAME rpz-tcp-only.     TCP-ONLY
//!   ads.example.block.        A 192.0.2.1             Local-Data
//!   x.example.block.          CNAME *.garden.example. CNAME (keeps the query prefix)
//! ```
//!
//! Names printed by `as_str` are the words BIND 9.18 uses in its `rpz` log category, so log
//! lines read the same (`rpz QNAME NXDOMAIN rewrite bad.example1.jp/A/IN via ...`).

use std::fmt;
use std::net::IpAddr;

use hickory_proto::rr::{Name, Record, RecordType};

use crate::encoding::{IpPrefix, IpTriggerError};

/// The kind of trigger. The derived order is BIND's precedence within one zone:
/// client-IP > QNAME > response-IP > NSDNAME > NSIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TriggerKind {
    /// `<prefix>.<addr>.rpz-client-ip`: the querying client's address.
    ClientIp,
    /// The query name (or a name met in its CNAME chain), exact or wildcard.
    Qname,
    /// `<prefix>.<addr>.rpz-ip`: an A/AAAA address in the answer section.
    ResponseIp,
    /// `<name>.rpz-nsdname`: a name server name on the delegation path.
    NsDname,
    /// `<prefix>.<addr>.rpz-nsip`: a name server address on the delegation path.
    NsIp,
}

impl TriggerKind {
    /// BIND's log word for the trigger type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientIp => "CLIENT-IP",
            Self::Qname => "QNAME",
            Self::ResponseIp => "IP",
            Self::NsDname => "NSDNAME",
            Self::NsIp => "NSIP",
        }
    }

    /// Whether the trigger needs the resolved response (IP, NSDNAME, NSIP).
    pub fn needs_response(self) -> bool {
        matches!(self, Self::ResponseIp | Self::NsDname | Self::NsIp)
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What matched a rule: the trigger kind and the value from the query or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The client address fell in the rule's prefix.
    ClientIp {
        /// The client address.
        address: IpAddr,
        /// The rule's prefix.
        prefix: IpPrefix,
    },
    /// A name of the CNAME chain matched a QNAME rule.
    Qname {
        /// The name that matched.
        name: Name,
        /// Whether the rule was a wildcard (`*.example`).
        wildcard: bool,
    },
    /// An answer address fell in the rule's prefix.
    ResponseIp {
        /// The answer address.
        address: IpAddr,
        /// The rule's prefix.
        prefix: IpPrefix,
    },
    /// A name server name on the delegation path matched an NSDNAME rule.
    NsDname {
        /// The name server name.
        ns: Name,
        /// Whether the rule was a wildcard.
        wildcard: bool,
    },
    /// A name server address on the delegation path fell in the rule's prefix.
    NsIp {
        /// The name server address.
        address: IpAddr,
        /// The rule's prefix.
        prefix: IpPrefix,
    },
}

impl Trigger {
    /// The kind of the trigger.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Self::ClientIp { .. } => TriggerKind::ClientIp,
            Self::Qname { .. } => TriggerKind::Qname,
            Self::ResponseIp { .. } => TriggerKind::ResponseIp,
            Self::NsDname { .. } => TriggerKind::NsDname,
            Self::NsIp { .. } => TriggerKind::NsIp,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientIp { address, prefix }
            | Self::ResponseIp { address, prefix }
            | Self::NsIp { address, prefix } => {
                write!(f, "{} {address} in {prefix}", self.kind())
            }
            Self::Qname { name, wildcard } | Self::NsDname { ns: name, wildcard } => {
                let how = if *wildcard { "wildcard" } else { "exact" };
                write!(f, "{} {name} ({how})", self.kind())
            }
        }
    }
}

/// What a rule does to the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `CNAME .`: answer NXDOMAIN.
    Nxdomain,
    /// `CNAME *.`: answer NOERROR with no data.
    Nodata,
    /// `CNAME rpz-passthru.` (or a CNAME to the rule's own owner): answer unchanged and stop
    /// evaluating policy.
    Passthru,
    /// `CNAME rpz-drop.`: send no reply.
    Drop,
    /// `CNAME rpz-tcp-only.`: TC=1 over UDP, unchanged over TCP.
    TcpOnly,
    /// Any other data: the rule's records (owner = rule owner). The answer takes the RRset of
    /// the query type, else the CNAME, else NODATA; ANY takes all.
    LocalData(Vec<Record>),
    /// `CNAME *.suffix.` in the zone, or a `policy cname NAME` override: a CNAME to `target`;
    /// a wildcard target keeps the query name in front of the suffix.
    Cname {
        /// The target (may start with `*`).
        target: Name,
        /// TTL of the synthesised CNAME (before the `max-policy-ttl` cap).
        ttl: u32,
    },
}

impl Action {
    /// BIND's log word for the policy.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Nxdomain => "NXDOMAIN",
            Self::Nodata => "NODATA",
            Self::Passthru => "PASSTHRU",
            Self::Drop => "DROP",
            Self::TcpOnly => "TCP-ONLY",
            Self::LocalData(_) => "Local-Data",
            Self::Cname { .. } => "CNAME",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record (or RRset) that was skipped while compiling a zone, and why. The rest of the
/// zone loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Owner name of the skipped record.
    pub owner: Name,
    /// Its type.
    pub rtype: RecordType,
    /// Why it was skipped (or, for [`WarningReason::NonCanonicalIp`], accepted with a note).
    pub reason: WarningReason,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.owner, self.rtype, self.reason)
    }
}

/// Why a record did not become (part of) a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningReason {
    /// The owner is not at or below the zone apex.
    #[error("owner is outside the policy zone")]
    OutsideZone,
    /// Class other than IN.
    #[error("class is not IN")]
    NotClassIn,
    /// Data at the apex other than SOA and NS (the apex is not a trigger).
    #[error("data at the zone apex is not a rule")]
    AtApex,
    /// A second, different SOA at the apex.
    #[error("second SOA at the apex ignored")]
    ExtraSoa,
    /// SOA, NS, DNAME or a DNSSEC type below the apex: never local data.
    #[error("this type is never policy data")]
    NeverPolicyData,
    /// The IP trigger owner name is invalid.
    #[error("invalid IP trigger: {0}")]
    InvalidIp(IpTriggerError),
    /// The IP trigger is valid but not written canonically; the rule was loaded.
    #[error("IP trigger loaded, but its canonical name is {canonical}")]
    NonCanonicalIp {
        /// The canonical owner labels.
        canonical: String,
    },
    /// `rpz-nsdname` with no name in front of it.
    #[error("empty NSDNAME trigger")]
    EmptyNsdname,
    /// A CNAME next to other data at the same owner: the CNAME is kept.
    #[error("CNAME and other data: other data ignored")]
    CnameAndOtherData,
    /// Several different CNAMEs at one owner: the one that sorts first is kept.
    #[error("more than one CNAME: kept the first in canonical order")]
    MultipleCnames,
    /// A CNAME into an `rpz-*` name that is not a known action.
    #[error("CNAME to unknown rpz- name")]
    UnknownRpzTarget,
    /// The record data could not be stored (it does not encode to wire form).
    #[error("record data does not encode")]
    BadRdata,
    /// The owner given in wire form is not a valid name (the warning names the zone).
    #[error("owner name is not valid wire form")]
    BadOwner,
}
