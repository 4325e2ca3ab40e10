//! Per-zone policy options, with BIND's names and defaults.
//!
//! These come from the `policy-zone` tables of the configuration (the `conf` crate owns the
//! file format); this crate only needs their values. Each field names the BIND option it
//! mirrors so operators find the familiar behaviour.

use hickory_proto::rr::Name;

/// BIND's default `max-policy-ttl` as given in the project's RPZ checklist (seconds).
pub const DEFAULT_MAX_POLICY_TTL: u32 = 5;

/// BIND's default `min-ns-dots`: NSDNAME/NSIP rules ignore root and TLD delegations.
pub const DEFAULT_MIN_NS_DOTS: u8 = 1;

/// The `policy` override of a zone: replaces the action written in every rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum PolicyOverride {
    /// `policy given`: use the action written in the zone (the default).
    #[default]
    Given,
    /// `policy disabled`: log the would-be hit and let the next-best match apply.
    Disabled,
    /// `policy passthru`: every hit answers unchanged (and stops evaluation).
    Passthru,
    /// `policy drop`: every hit sends no reply.
    Drop,
    /// `policy tcp-only`: every hit answers TC=1 over UDP.
    TcpOnly,
    /// `policy nxdomain`: every hit answers NXDOMAIN.
    Nxdomain,
    /// `policy nodata`: every hit answers NOERROR with no data.
    Nodata,
    /// `policy cname NAME`: every hit answers a CNAME to NAME (`*.NAME` keeps the query prefix).
    Cname(Name),
}

/// The options of one policy zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSettings {
    /// Zone apex (`zone "NAME"` in BIND's `response-policy`).
    pub name: Name,
    /// `policy`: override of the rule actions.
    pub policy: PolicyOverride,
    /// `max-policy-ttl`: cap on the TTL of every record the policy synthesises, in seconds.
    pub max_policy_ttl: u32,
    /// `log`: whether hits in this zone are logged.
    pub log: bool,
    /// `break-dnssec`: rewrite DO=1 queries even when the real answer is signed.
    pub break_dnssec: bool,
    /// `recursive-only`: apply the zone only to queries with RD=1.
    pub recursive_only: bool,
    /// `add-soa`: put the policy zone's SOA in the ADDITIONAL section of rewritten answers.
    pub add_soa: bool,
    /// `ede`: RFC 8914 extended error INFO-CODE added to rewritten answers (e.g. 15 Blocked,
    /// 16 Censored, 17 Filtered), or none.
    pub ede: Option<u16>,
    /// `nsip-enable`: whether `rpz-nsip` rules are applied.
    pub nsip_enable: bool,
    /// `nsdname-enable`: whether `rpz-nsdname` rules are applied.
    pub nsdname_enable: bool,
    /// `min-ns-dots`: NSDNAME/NSIP rules only look at delegations whose zone name has at
    /// least this many dots (1: not the root or TLD servers).
    pub min_ns_dots: u8,
}

impl ZoneSettings {
    /// Settings for zone `name` with BIND's defaults.
    pub fn new(name: Name) -> Self {
        Self {
            name,
            policy: PolicyOverride::Given,
            max_policy_ttl: DEFAULT_MAX_POLICY_TTL,
            log: true,
            break_dnssec: false,
            recursive_only: true,
            add_soa: true,
            ede: None,
            nsip_enable: true,
            nsdname_enable: true,
            min_ns_dots: DEFAULT_MIN_NS_DOTS,
        }
    }
}
