//! rpz-semantics.md, sections "Zone" and "Triggers (owner name encodings)": one test per line.

mod common;

use common::*;
use hickory_proto::rr::{Name, Record, RecordType};
use sekisho_rpz::*;

// ----- Zone ----------------------------------------------------------------------------------

#[test]
fn the_soa_is_kept_with_its_serial_and_apex_ns_is_not_a_rule() {
    let z = zone("block.", "@ NS ns.invalid.\nbad.example CNAME .");
    assert_eq!(z.serial(), Some(42));
    assert_eq!(z.soa().map(|r| r.record_type()), Some(RecordType::SOA));
    assert_eq!(z.counts().total(), 1);
    let s = set(vec![z]);
    assert!(hit(&s, "block.", RecordType::NS).is_none());
    assert!(hit(&s, "bad.example.", RecordType::A).is_some());
}

#[test]
fn every_other_rrset_is_a_rule_whose_owner_relative_to_the_apex_is_the_trigger() {
    let s = set(vec![zone(
        "rpz.example.",
        "bad.test CNAME .\ngood.test A 192.0.2.7",
    )]);
    let h = hit(&s, "bad.test.", RecordType::A).expect("hit");
    assert_eq!(h.owner, name("bad.test.rpz.example."));
    assert_eq!(h.action, Action::Nxdomain);
    let h = hit(&s, "good.test.", RecordType::A).expect("hit");
    assert!(matches!(h.action, Action::LocalData(ref r) if r.len() == 1));
}

#[test]
fn rules_written_in_mixed_case_match_queries_in_any_case() {
    let s = set(vec![zone(
        "Block.",
        "BaD.ExAmPle CNAME .\n*.WiLd.Example CNAME *.",
    )]);
    for q in ["bad.example.", "BAD.EXAMPLE.", "bAd.eXample."] {
        assert!(hit(&s, q, RecordType::A).is_some(), "{q}");
    }
    assert_eq!(
        hit(&s, "X.wild.EXAMPLE.", RecordType::A).map(|h| h.action),
        Some(Action::Nodata)
    );
}

#[test]
fn rules_with_equal_local_data_share_one_copy_and_answer_with_their_own_owners() {
    let same: String = (0..200)
        .map(|i| format!("h{i}.example A 192.0.2.7\nh{i}.example AAAA 2001:db8::7\n"))
        .collect();
    let distinct: String = (0..200)
        .map(|i| format!("h{i}.example A 192.0.2.{i}\nh{i}.example AAAA 2001:db8::{i}\n"))
        .collect();
    let (shared, unshared) = (zone("block.", &same), zone("block.", &distinct));
    // 200 groups of an A and an AAAA are 36 bytes each: 199 of them are not stored again.
    assert!(
        shared.heap_bytes() + 199 * 36 <= unshared.heap_bytes(),
        "{} vs {}",
        shared.heap_bytes(),
        unshared.heap_bytes()
    );
    let s = set(vec![shared]);
    for i in [0, 1, 199] {
        let h = hit(&s, &format!("h{i}.example."), RecordType::A).expect("hit");
        assert_eq!(h.owner, name(&format!("h{i}.example.block.")));
        let Action::LocalData(recs) = h.action else {
            panic!("local data expected")
        };
        assert_eq!(recs.len(), 2);
        assert!(recs.iter().all(|r| r.name == h.owner));
    }
}

#[test]
fn malformed_or_unusable_records_are_skipped_with_a_reason_and_the_rest_loads() {
    let recs = records(
        "block.",
        "@ SOA ns.invalid. h.invalid. 1
         @ A 192.0.2.1
         ch.example CH A 192.0.2.2
         24.1.2.0.192.rpz-ip CNAME .
         33.1.0.0.127.rpz-client-ip CNAME .
         x.example DNAME elsewhere.invalid.
         y.example NS ns.invalid.
         z.example SOA ns.invalid. h.invalid. 1
         rpz-nsdname CNAME .
         w.example CNAME rpz-unknown.
         outside.invalid. CNAME .
         fine.example CNAME .",
    );
    let (z, warnings) = ZoneRules::compile(ZoneSettings::new(name("block.")), recs);
    let reasons: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 10, "{reasons:#?}");
    let has = |r: &dyn Fn(&WarningReason) -> bool| warnings.iter().any(|w| r(&w.reason));
    assert!(has(&|r| *r == WarningReason::AtApex));
    assert!(has(&|r| *r == WarningReason::NotClassIn));
    assert!(has(&|r| matches!(
        r,
        WarningReason::InvalidIp(IpTriggerError::HostBitsSet(24))
    )));
    assert!(has(&|r| matches!(
        r,
        WarningReason::InvalidIp(IpTriggerError::BadPrefix(_))
    )));
    assert!(has(&|r| *r == WarningReason::NeverPolicyData));
    assert!(has(&|r| *r == WarningReason::EmptyNsdname));
    assert!(has(&|r| *r == WarningReason::UnknownRpzTarget));
    assert!(has(&|r| *r == WarningReason::OutsideZone));
    assert!(
        warnings.iter().all(|w| !w.owner.is_root()),
        "warnings name the owner"
    );
    assert_eq!(z.counts().total(), 1);
    assert!(hit(&set(vec![z]), "fine.example.", RecordType::A).is_some());
}

#[test]
fn non_canonical_ip_trigger_names_are_accepted_with_a_warning() {
    let recs = records("block.", "32.001.0.0.127.rpz-ip CNAME .");
    let (z, warnings) = ZoneRules::compile(ZoneSettings::new(name("block.")), recs);
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].reason,
        WarningReason::NonCanonicalIp {
            canonical: "32.1.0.0.127".into()
        }
    );
    let s = set(vec![z]);
    let d = decide(&s, "a.example.", RecordType::A, &addrs(&["127.0.0.1"]));
    assert!(d.hit().is_some());
}

#[test]
fn duplicates_never_fail_a_load_and_a_repeated_owner_is_merged() {
    let recs = records(
        "block.",
        "dup.example CNAME .
         dup.example CNAME .
         multi.example A 192.0.2.1
         other.example CNAME .
         multi.example AAAA 2001:db8::1
         multi.example A 192.0.2.1
         32.1.0.0.127.rpz-ip A 192.0.2.9
         32.1.0.0.127.rpz-ip A 192.0.2.9",
    );
    let (z, warnings) = ZoneRules::compile(ZoneSettings::new(name("block.")), recs);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(z.counts().qname, 3);
    assert_eq!(z.counts().response_ip, 1);
    let s = set(vec![z]);
    match hit(&s, "multi.example.", RecordType::A).map(|h| h.action) {
        Some(Action::LocalData(r)) => assert_eq!(r.len(), 2, "A and AAAA, the A once"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn signed_policy_zones_load_with_their_signatures_skipped_quietly() {
    let recs = records("block.", "bad.example CNAME .\nbad.example RRSIG x");
    let (z, warnings) = ZoneRules::compile(ZoneSettings::new(name("block.")), recs);
    assert!(warnings.is_empty());
    assert_eq!(z.counts().total(), 1);
}

// ----- Triggers --------------------------------------------------------------------------

#[test]
fn a_qname_exact_rule_matches_exactly_that_name() {
    let s = set(vec![zone("block.", "example.com CNAME .")]);
    assert!(hit(&s, "example.com.", RecordType::A).is_some());
    assert!(hit(&s, "www.example.com.", RecordType::A).is_none());
    assert!(hit(&s, "com.", RecordType::A).is_none());
}

#[test]
fn a_qname_exact_rule_matches_cname_targets_met_while_resolving() {
    let s = set(vec![zone("block.", "target.example CNAME .")]);
    let facts = ResponseFacts {
        cnames: vec![name("mid.example."), name("target.example.")],
        ..ResponseFacts::default()
    };
    let d = decide(&s, "start.example.", RecordType::A, &facts);
    let h = d.hit().expect("hit on the chain");
    assert_eq!(h.position, 2);
    assert_eq!(h.name, name("target.example."));
}

#[test]
fn a_qname_wildcard_matches_any_depth_below_but_not_the_name_itself() {
    let s = set(vec![zone("block.", "*.example.com CNAME .")]);
    assert!(hit(&s, "a.example.com.", RecordType::A).is_some());
    assert!(hit(&s, "a.b.c.example.com.", RecordType::A).is_some());
    assert!(hit(&s, "example.com.", RecordType::A).is_none());
    let h = hit(&s, "a.example.com.", RecordType::A).expect("hit");
    assert_eq!(
        h.trigger,
        Trigger::Qname {
            name: name("a.example.com."),
            wildcard: true
        }
    );
}

#[test]
fn a_client_ip_rule_matches_the_querying_clients_address() {
    let s = set(vec![zone("block.", "24.0.2.0.192.rpz-client-ip CNAME .")]);
    let qn = name("anything.example.");
    let mut q = query(&qn, RecordType::A);
    q.client = "192.0.2.200".parse().expect("addr");
    let d = s.check_response(&q, &ResponseFacts::default());
    assert_eq!(d.hit().map(|h| h.kind()), Some(TriggerKind::ClientIp));
    q.client = "198.51.100.1".parse().expect("addr");
    assert!(s
        .check_response(&q, &ResponseFacts::default())
        .hit()
        .is_none());
}

#[test]
fn a_response_ip_rule_matches_a_and_aaaa_rdata_in_the_answer() {
    let s = set(vec![zone(
        "block.",
        "32.1.0.0.127.rpz-ip CNAME .\n48.zz.101.db8.2001.rpz-ip CNAME *.",
    )]);
    let d = decide(
        &s,
        "x.example.",
        RecordType::A,
        &addrs(&["192.0.2.1", "127.0.0.1"]),
    );
    assert_eq!(d.hit().map(|h| h.action.clone()), Some(Action::Nxdomain));
    let d = decide(
        &s,
        "x.example.",
        RecordType::AAAA,
        &addrs(&["2001:db8:101::53"]),
    );
    assert_eq!(d.hit().map(|h| h.action.clone()), Some(Action::Nodata));
    assert!(
        decide(&s, "x.example.", RecordType::A, &addrs(&["127.0.0.2"]))
            .hit()
            .is_none()
    );
}

#[test]
fn response_ip_rules_only_see_addresses_from_the_answer_section() {
    // Glue or NS addresses are not answer data: passing them as delegation addresses must
    // not fire an rpz-ip rule.
    let s = set(vec![zone("block.", "32.1.0.0.127.rpz-ip CNAME .")]);
    let facts = ResponseFacts {
        delegations: vec![Delegation {
            position: 0,
            zone: name("example."),
            ns_names: vec![name("ns.example.")],
            ns_addresses: vec!["127.0.0.1".parse().expect("addr")],
        }],
        ..ResponseFacts::default()
    };
    assert!(decide(&s, "x.example.", RecordType::A, &facts)
        .hit()
        .is_none());
}

fn delegation(zone: &str, ns: &[&str], ips: &[&str]) -> ResponseFacts {
    ResponseFacts {
        delegations: vec![Delegation {
            position: 0,
            zone: name(zone),
            ns_names: ns.iter().map(|n| name(n)).collect(),
            ns_addresses: ips.iter().map(|a| a.parse().expect("addr")).collect(),
        }],
        ..ResponseFacts::default()
    }
}

#[test]
fn an_nsdname_rule_matches_ns_names_at_delegations_on_the_path_with_wildcards() {
    let s = set(vec![zone(
        "block.",
        "ns1.evil.example.rpz-nsdname CNAME .\n*.bad-dns.example.rpz-nsdname CNAME *.",
    )]);
    let d = decide(
        &s,
        "x.example.",
        RecordType::A,
        &delegation("victim.example.", &["ns1.evil.example."], &[]),
    );
    let h = d.hit().expect("nsdname hit");
    assert_eq!(h.kind(), TriggerKind::NsDname);
    assert_eq!(h.owner, name("ns1.evil.example.rpz-nsdname.block."));
    let d = decide(
        &s,
        "x.example.",
        RecordType::A,
        &delegation("v.example.", &["a.b.bad-dns.example."], &[]),
    );
    assert_eq!(d.hit().map(|h| h.action.clone()), Some(Action::Nodata));
    let d = decide(
        &s,
        "x.example.",
        RecordType::A,
        &delegation("v.example.", &["bad-dns.example."], &[]),
    );
    assert!(d.hit().is_none(), "wildcard does not match its own name");
}

#[test]
fn an_nsip_rule_matches_addresses_of_those_name_servers() {
    let s = set(vec![zone("block.", "24.0.2.0.192.rpz-nsip CNAME .")]);
    let d = decide(
        &s,
        "x.example.",
        RecordType::A,
        &delegation("v.example.", &["ns.v.example."], &["192.0.2.53"]),
    );
    assert_eq!(d.hit().map(|h| h.kind()), Some(TriggerKind::NsIp));
}

#[test]
fn a_delta_that_brings_a_zones_first_rule_of_a_trigger_kind_makes_it_match() {
    // The zone starts with QNAME rules only, so the set skips its IP and name-server
    // indexes; a transfer that adds one rule of each other kind must switch them on.
    let (z0, _) = ZoneRules::compile(
        ZoneSettings::new(name("block.")),
        records("block.", "only.example CNAME ."),
    );
    let added = records(
        "block.",
        "24.0.2.0.192.rpz-client-ip CNAME .\n\
         32.1.0.0.127.rpz-ip CNAME .\n\
         ns1.evil.example.rpz-nsdname CNAME .\n\
         24.0.2.0.198.rpz-nsip CNAME .",
    );
    let before = set(vec![z0.apply_delta(&[], &[]).0]);
    let (z1, _) = z0.apply_delta(&[], &added);
    let after = set(vec![z1]);
    let kind = |s: &PolicySet, client: &str, facts: &ResponseFacts| {
        let qn = name("x.example.");
        let mut q = query(&qn, RecordType::A);
        q.client = client.parse().expect("addr");
        s.check_response(&q, facts).hit().map(|h| h.kind())
    };
    let none = ResponseFacts::default();
    let answer = addrs(&["127.0.0.1"]);
    let by_name = delegation("v.example.", &["ns1.evil.example."], &[]);
    let by_addr = delegation("v.example.", &["ns.v.example."], &["198.0.2.53"]);
    for facts in [&none, &answer, &by_name, &by_addr] {
        assert_eq!(kind(&before, "192.0.2.7", facts), None);
    }
    assert_eq!(
        kind(&after, "192.0.2.7", &none),
        Some(TriggerKind::ClientIp)
    );
    assert_eq!(kind(&after, "203.0.113.1", &none), None);
    assert_eq!(
        kind(&after, "203.0.113.1", &answer),
        Some(TriggerKind::ResponseIp)
    );
    assert_eq!(
        kind(&after, "203.0.113.1", &by_name),
        Some(TriggerKind::NsDname)
    );
    assert_eq!(
        kind(&after, "203.0.113.1", &by_addr),
        Some(TriggerKind::NsIp)
    );
}

#[test]
fn ipv4_owner_encodings_match_the_documented_addresses() {
    let s = set(vec![zone(
        "block.",
        "32.1.0.0.127.rpz-ip CNAME .\n24.0.2.0.192.rpz-ip CNAME *.",
    )]);
    let h = decide(&s, "x.", RecordType::A, &addrs(&["127.0.0.1"]))
        .hit()
        .cloned()
        .expect("hit");
    assert_eq!(
        h.trigger,
        Trigger::ResponseIp {
            address: "127.0.0.1".parse().expect("addr"),
            prefix: IpPrefix {
                addr: "127.0.0.1".parse().expect("addr"),
                len: 32
            }
        }
    );
    let h = decide(&s, "x.", RecordType::A, &addrs(&["192.0.2.99"]))
        .hit()
        .cloned()
        .expect("hit");
    assert!(
        matches!(h.trigger, Trigger::ResponseIp { prefix, .. } if prefix.to_string() == "192.0.2.0/24")
    );
}

#[test]
fn ipv6_owner_encodings_with_zz_match_the_documented_addresses() {
    let s = set(vec![zone(
        "block.",
        "128.3.zz.db8.2001.rpz-ip CNAME .\n48.zz.101.db8.2001.rpz-ip CNAME *.",
    )]);
    let d = decide(&s, "x.", RecordType::AAAA, &addrs(&["2001:db8::3"]));
    assert_eq!(d.hit().map(|h| h.action.clone()), Some(Action::Nxdomain));
    let d = decide(
        &s,
        "x.",
        RecordType::AAAA,
        &addrs(&["2001:db8:101:ffff::1"]),
    );
    assert_eq!(d.hit().map(|h| h.action.clone()), Some(Action::Nodata));
    assert!(decide(&s, "x.", RecordType::AAAA, &addrs(&["2001:db8::4"]))
        .hit()
        .is_none());
}

#[test]
fn host_bits_set_beyond_the_prefix_make_the_rule_invalid() {
    let recs = records(
        "block.",
        "24.5.2.0.192.rpz-ip CNAME .\n64.1.zz.db8.2001.rpz-ip CNAME .",
    );
    let (z, warnings) = ZoneRules::compile(ZoneSettings::new(name("block.")), recs);
    assert_eq!(warnings.len(), 2);
    assert!(warnings.iter().all(|w| matches!(
        w.reason,
        WarningReason::InvalidIp(IpTriggerError::HostBitsSet(_))
    )));
    assert_eq!(z.counts().total(), 0);
}

#[test]
fn qtype_and_ttl_never_trigger() {
    let s = set(vec![zone(
        "block.",
        "bad.example 1 CNAME .\nother.example 99999 CNAME .",
    )]);
    for t in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::ANY,
    ] {
        assert!(hit(&s, "bad.example.", t).is_some(), "{t}");
        assert!(hit(&s, "other.example.", t).is_some(), "{t}");
    }
}

#[test]
fn min_ns_dots_keeps_nsdname_and_nsip_from_firing_on_root_and_tld_servers() {
    let rules = "a.gtld-servers.net.rpz-nsdname CNAME .\n32.30.14.5.192.rpz-nsip CNAME .";
    let s = set(vec![zone("block.", rules)]);
    let tld = delegation("com.", &["a.gtld-servers.net."], &["192.5.14.30"]);
    assert!(decide(&s, "x.com.", RecordType::A, &tld).hit().is_none());
    let root = delegation(".", &["a.gtld-servers.net."], &["192.5.14.30"]);
    assert!(decide(&s, "x.com.", RecordType::A, &root).hit().is_none());
    let sld = delegation("example.com.", &["a.gtld-servers.net."], &[]);
    assert!(decide(&s, "x.example.com.", RecordType::A, &sld)
        .hit()
        .is_some());
    let mut settings = ZoneSettings::new(name("block."));
    settings.min_ns_dots = 0;
    let s = set(vec![zone_with(settings, rules)]);
    assert!(decide(&s, "x.com.", RecordType::A, &tld).hit().is_some());
}

#[test]
fn nsdname_and_nsip_rules_are_ignored_when_disabled_for_the_zone() {
    let mut settings = ZoneSettings::new(name("block."));
    settings.nsdname_enable = false;
    settings.nsip_enable = false;
    let s = set(vec![zone_with(
        settings,
        "ns.evil.example.rpz-nsdname CNAME .\n32.53.2.0.192.rpz-nsip CNAME .",
    )]);
    let f = delegation("v.example.", &["ns.evil.example."], &["192.0.2.53"]);
    assert!(decide(&s, "x.v.example.", RecordType::A, &f)
        .hit()
        .is_none());
}

#[test]
fn a_root_wildcard_rule_in_the_zone_matches_every_name() {
    let s = set(vec![zone("block.", "* CNAME .")]);
    assert!(hit(&s, "anything.at.all.", RecordType::A).is_some());
    let _unused: Option<Name> = None;
}

// ----- Wildcards match as DNS wildcards (closest encloser), as BIND 9.18 ---------------------

/// The action of the applied hit for `qname`, with the owner that matched.
fn verdict(s: &PolicySet, qname: &str) -> Option<(String, Action)> {
    hit(s, qname, RecordType::A).map(|h| (h.owner.to_ascii(), h.action))
}

#[test]
fn a_wildcard_does_not_cover_names_below_an_existing_owner() {
    // testdata/rpz-diff block.rpz: exact, *.exact and a.exact.
    let s = set(vec![zone(
        "block.",
        "exact.example1.jp CNAME .\n*.exact.example1.jp CNAME *.\na.exact.example1.jp A 192.0.2.188",
    )]);
    let wild = Some(("*.exact.example1.jp.block.".to_string(), Action::Nodata));
    assert_eq!(verdict(&s, "c.exact.example1.jp."), wild);
    assert_eq!(verdict(&s, "d.c.exact.example1.jp."), wild);
    assert_eq!(
        verdict(&s, "exact.example1.jp.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
    assert!(matches!(
        verdict(&s, "a.exact.example1.jp.").map(|v| v.1),
        Some(Action::LocalData(_))
    ));
    // a.exact is the closest encloser of b.a.exact and has no wildcard: no rule applies.
    assert_eq!(verdict(&s, "b.a.exact.example1.jp."), None);
    assert_eq!(verdict(&s, "x.b.a.exact.example1.jp."), None);
}

#[test]
fn a_leaf_owner_stops_a_wildcard_higher_up() {
    let s = set(vec![zone(
        "block.",
        "*.example CNAME .\nleaf.example CNAME *.",
    )]);
    assert_eq!(verdict(&s, "x.leaf.example.").map(|v| v.1), None);
    assert_eq!(
        verdict(&s, "x.other.example.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
}

#[test]
fn an_empty_non_terminal_is_not_covered_by_a_wildcard_nor_is_anything_below_it() {
    // x.y.ent makes y.ent an empty non-terminal of the policy zone.
    let s = set(vec![zone(
        "block.",
        "x.y.ent.example1.jp CNAME .\n*.ent.example1.jp CNAME *.",
    )]);
    assert_eq!(verdict(&s, "y.ent.example1.jp."), None);
    assert_eq!(verdict(&s, "z.y.ent.example1.jp."), None);
    assert_eq!(verdict(&s, "ent.example1.jp."), None);
    assert_eq!(
        verdict(&s, "x.y.ent.example1.jp.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
    assert_eq!(
        verdict(&s, "q.ent.example1.jp.").map(|v| v.1),
        Some(Action::Nodata)
    );
    assert_eq!(
        verdict(&s, "r.q.ent.example1.jp.").map(|v| v.1),
        Some(Action::Nodata)
    );
}

#[test]
fn a_deeper_wildcard_owner_makes_its_parent_an_empty_non_terminal() {
    let s = set(vec![zone(
        "block.",
        "*.wc.example1.jp CNAME .\n*.deeper.wc.example1.jp CNAME *.",
    )]);
    assert_eq!(verdict(&s, "deeper.wc.example1.jp."), None);
    assert_eq!(
        verdict(&s, "z.wc.example1.jp.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
    assert_eq!(
        verdict(&s, "q.z.wc.example1.jp.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
    assert_eq!(
        verdict(&s, "x.deeper.wc.example1.jp.").map(|v| v.1),
        Some(Action::Nodata)
    );
    assert_eq!(
        verdict(&s, "y.x.deeper.wc.example1.jp.").map(|v| v.1),
        Some(Action::Nodata)
    );
}

#[test]
fn nsdname_wildcards_follow_the_same_closest_encloser_rule() {
    let s = set(vec![zone(
        "block.",
        "*.bad-dns.example.rpz-nsdname CNAME .\nns.sub.bad-dns.example.rpz-nsdname CNAME *.",
    )]);
    let ns = |n: &str| {
        decide(
            &s,
            "x.example.",
            RecordType::A,
            &delegation("victim.example.", &[n], &[]),
        )
        .hit()
        .map(|h| h.action.clone())
    };
    assert_eq!(ns("a.bad-dns.example."), Some(Action::Nxdomain));
    assert_eq!(ns("ns.sub.bad-dns.example."), Some(Action::Nodata));
    // sub.bad-dns.example is an empty non-terminal: neither it nor names below it match.
    assert_eq!(ns("sub.bad-dns.example."), None);
    assert_eq!(ns("x.sub.bad-dns.example."), None);
}

#[test]
fn incremental_updates_add_and_remove_empty_non_terminals() {
    let apex = name("block.");
    let rec = |o: &str, t: &str| {
        records("block.", &format!("{o} CNAME {t}"))
            .pop()
            .expect("one record")
    };
    let (z0, _) = ZoneRules::compile(
        ZoneSettings::new(apex.clone()),
        vec![rec("*.ent.example", "."), rec("x.y.ent.example", "*.")],
    );
    let s0 = set(vec![z0.apply_delta(&[], &[]).0]);
    assert_eq!(verdict(&s0, "z.y.ent.example."), None);
    // Removing the only owner below y.ent removes the empty non-terminal.
    let (z1, _) = z0.apply_delta(&[rec("x.y.ent.example", "*.")], &[]);
    let s1 = set(vec![z1.apply_delta(&[], &[]).0]);
    assert_eq!(
        verdict(&s1, "z.y.ent.example.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
    // Adding an owner below q.ent creates one; a second delta keeps it.
    let (z2, _) = z1.apply_delta(&[], &[rec("a.q.ent.example", ".")]);
    assert_eq!(
        verdict(&set(vec![z2.apply_delta(&[], &[]).0]), "b.q.ent.example."),
        None
    );
    let (z3, _) = z2.apply_delta(&[], &[rec("other.example", ".")]);
    assert_eq!(verdict(&set(vec![z3]), "b.q.ent.example."), None);
}

#[test]
fn a_repeated_owner_is_counted_once_as_an_ancestor() {
    let text = "a.b.example A 192.0.2.1\n*.b.example CNAME .\na.b.example AAAA 2001:db8::1";
    let recs = records("block.", text);
    let (z, _) = ZoneRules::compile(ZoneSettings::new(name("block.")), recs.clone());
    let s = set(vec![z.apply_delta(&[], &[]).0]);
    assert_eq!(
        verdict(&s, "x.a.b.example."),
        None,
        "a.b is the closest encloser"
    );
    // Removing both records of a.b leaves no node below b: *.b covers x.a.b again.
    let removed: Vec<Record> = recs
        .iter()
        .filter(|r| r.record_type() != RecordType::CNAME)
        .cloned()
        .collect();
    let (z2, _) = z.apply_delta(&removed, &[]);
    let s2 = set(vec![z2]);
    assert_eq!(
        verdict(&s2, "x.a.b.example.").map(|v| v.1),
        Some(Action::Nxdomain)
    );
}
