//! rpz-semantics.md, sections "Precedence", "Options operators expect" and the
//! qname-wait-recurse line: one test per line.

mod common;

use std::sync::Arc;

use common::*;
use hickory_proto::rr::RecordType;
use sekisho_rpz::*;

fn facts_with(cnames: &[&str], addrs_: &[&str]) -> ResponseFacts {
    ResponseFacts {
        cnames: cnames.iter().map(|n| name(n)).collect(),
        addresses: addrs_.iter().map(|a| a.parse().expect("addr")).collect(),
        ..ResponseFacts::default()
    }
}

// ----- Precedence ----------------------------------------------------------------------------

#[test]
fn an_earlier_position_in_the_cname_chain_wins_over_an_earlier_zone() {
    let s = set(vec![
        zone("first.", "target.example CNAME ."),
        zone("second.", "start.example CNAME *."),
    ]);
    let d = decide(
        &s,
        "start.example.",
        RecordType::A,
        &facts_with(&["target.example."], &[]),
    );
    let h = d.hit().expect("hit");
    assert_eq!((h.zone.name().clone(), h.position), (name("second."), 0));
}

#[test]
fn for_any_cname_and_dname_queries_only_the_query_name_is_checked() {
    let s = set(vec![zone("block.", "target.example CNAME .")]);
    for t in [RecordType::ANY, RecordType::CNAME, RecordType::DNAME] {
        let d = decide(
            &s,
            "start.example.",
            t,
            &facts_with(&["target.example."], &[]),
        );
        assert!(d.hit().is_none(), "{t}");
    }
    let d = decide(
        &s,
        "start.example.",
        RecordType::A,
        &facts_with(&["target.example."], &[]),
    );
    assert!(d.hit().is_some());
}

#[test]
fn an_earlier_zone_in_configuration_wins() {
    let s = set(vec![
        zone("one.", "*.example CNAME *."),
        zone("two.", "bad.example CNAME ."),
    ]);
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    assert_eq!(h.zone_index, 0);
    assert_eq!(
        h.action,
        Action::Nodata,
        "a wildcard in an earlier zone beats an exact rule later"
    );
}

#[test]
fn within_a_zone_client_ip_beats_qname_beats_ip_beats_nsdname_beats_nsip() {
    let rules = [
        "32.1.2.0.192.rpz-client-ip CNAME .",
        "bad.example CNAME .",
        "32.7.2.0.192.rpz-ip CNAME .",
        "ns.evil.example.rpz-nsdname CNAME .",
        "32.53.2.0.192.rpz-nsip CNAME .",
    ];
    let order = [
        TriggerKind::ClientIp,
        TriggerKind::Qname,
        TriggerKind::ResponseIp,
        TriggerKind::NsDname,
        TriggerKind::NsIp,
    ];
    let facts = ResponseFacts {
        addresses: vec!["192.0.2.7".parse().expect("a")],
        delegations: vec![Delegation {
            position: 0,
            zone: name("victim.example."),
            ns_names: vec![name("ns.evil.example.")],
            ns_addresses: vec!["192.0.2.53".parse().expect("a")],
        }],
        ..ResponseFacts::default()
    };
    // Drop rules from the strongest down: the next kind must take over each time.
    for skip in 0..rules.len() {
        let s = set(vec![zone("block.", &rules[skip..].join("\n"))]);
        let d = decide(&s, "bad.example.", RecordType::A, &facts);
        assert_eq!(
            d.hit().map(|h| h.kind()),
            Some(order[skip]),
            "without the first {skip}"
        );
    }
}

#[test]
fn an_exact_qname_beats_a_wildcard_and_more_labels_win_among_wildcards() {
    let s = set(vec![zone(
        "block.",
        "*.example CNAME .\n*.b.example CNAME *.\nx.b.example CNAME rpz-drop.",
    )]);
    assert_eq!(
        hit(&s, "x.b.example.", RecordType::A).map(|h| h.action),
        Some(Action::Drop)
    );
    assert_eq!(
        hit(&s, "y.b.example.", RecordType::A).map(|h| h.action),
        Some(Action::Nodata)
    );
    assert_eq!(
        hit(&s, "y.c.example.", RecordType::A).map(|h| h.action),
        Some(Action::Nxdomain)
    );
}

#[test]
fn the_longest_ip_prefix_wins_with_ipv4_counted_as_prefix_plus_96() {
    let s = set(vec![zone(
        "block.",
        "8.0.0.0.10.rpz-ip CNAME .\n16.0.0.1.10.rpz-ip CNAME *.\n96.0.0.ffff.zz.rpz-ip CNAME rpz-drop.",
    )]);
    let d = decide(&s, "x.", RecordType::A, &addrs(&["10.1.2.3"]));
    assert_eq!(
        d.hit().map(|h| h.action.clone()),
        Some(Action::Nodata),
        "/16 beats /8"
    );
    let d = decide(&s, "x.", RecordType::A, &addrs(&["10.200.2.3"]));
    assert_eq!(
        d.hit().map(|h| h.action.clone()),
        Some(Action::Nxdomain),
        "IPv4 /8 (= /104) beats the IPv6 ::ffff:0:0/96 rule"
    );
    let d = decide(&s, "x.", RecordType::A, &addrs(&["11.0.0.1"]));
    assert_eq!(
        d.hit().map(|h| h.action.clone()),
        Some(Action::Drop),
        "IPv4-mapped /96 covers all IPv4"
    );
}

#[test]
fn between_addresses_matching_equal_prefixes_the_smaller_address_wins() {
    let s = set(vec![zone(
        "block.",
        "32.9.2.0.192.rpz-ip CNAME .\n32.3.2.0.192.rpz-ip CNAME *.",
    )]);
    let d = decide(&s, "x.", RecordType::A, &addrs(&["192.0.2.9", "192.0.2.3"]));
    let h = d.hit().expect("hit");
    assert!(
        matches!(h.trigger, Trigger::ResponseIp { address, .. } if address.to_string() == "192.0.2.3")
    );
    assert_eq!(h.action, Action::Nodata);
}

#[test]
fn an_nsdname_tie_goes_to_the_ns_name_that_sorts_last_in_canonical_order() {
    let s = set(vec![zone("block.", "*.evil.example.rpz-nsdname CNAME .")]);
    let facts = ResponseFacts {
        delegations: vec![Delegation {
            position: 0,
            zone: name("victim.example."),
            ns_names: vec![
                name("b.evil.example."),
                name("z.evil.example."),
                name("a.evil.example."),
            ],
            ns_addresses: vec![],
        }],
        ..ResponseFacts::default()
    };
    let d = decide(&s, "x.victim.example.", RecordType::A, &facts);
    assert!(
        matches!(&d.hit().expect("hit").trigger, Trigger::NsDname { ns, .. } if *ns == name("z.evil.example."))
    );
}

#[test]
fn a_disabled_zone_reports_its_would_be_hit_and_the_next_best_match_applies() {
    let mut settings = ZoneSettings::new(name("trial."));
    settings.policy = PolicyOverride::Disabled;
    let s = set(vec![
        zone_with(settings, "bad.example CNAME ."),
        zone("block.", "bad.example CNAME *."),
    ]);
    let d = decide(&s, "bad.example.", RecordType::A, &ResponseFacts::default());
    assert_eq!(d.disabled.len(), 1);
    assert_eq!(d.disabled[0].zone.name(), &name("trial."));
    assert!(d.disabled[0]
        .log_line(&name("bad.example."), RecordType::A)
        .to_string()
        .starts_with("disabled rpz QNAME NXDOMAIN rewrite"));
    let h = d.hit().expect("the next zone applies");
    assert_eq!(
        (h.zone.name().clone(), h.action.clone()),
        (name("block."), Action::Nodata)
    );
}

// ----- Overrides and options ------------------------------------------------------------------

#[test]
fn each_policy_override_replaces_the_written_action() {
    let cases = [
        (PolicyOverride::Given, Action::Nodata),
        (PolicyOverride::Passthru, Action::Passthru),
        (PolicyOverride::Drop, Action::Drop),
        (PolicyOverride::TcpOnly, Action::TcpOnly),
        (PolicyOverride::Nxdomain, Action::Nxdomain),
        (PolicyOverride::Nodata, Action::Nodata),
        (
            PolicyOverride::Cname(name("walled.garden.")),
            Action::Cname {
                target: name("walled.garden."),
                ttl: 300,
            },
        ),
    ];
    for (policy, want) in cases {
        let mut settings = ZoneSettings::new(name("block."));
        settings.policy = policy.clone();
        let s = set(vec![zone_with(settings, "bad.example CNAME *.")]);
        let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
        assert_eq!(h.action, want, "{policy:?}");
        assert_eq!(
            h.rule_action,
            Action::Nodata,
            "the written action is kept for logs"
        );
    }
}

#[test]
fn a_cname_override_answers_a_cname_to_the_configured_name() {
    let mut settings = ZoneSettings::new(name("block."));
    settings.policy = PolicyOverride::Cname(name("*.walled.garden."));
    let s = set(vec![zone_with(settings, "bad.example A 192.0.2.1")]);
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let (m, chase) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert_eq!(chase, Some(name("bad.example.walled.garden.")));
    assert_eq!(m.answers[0].ttl, DEFAULT_MAX_POLICY_TTL);
}

#[test]
fn the_log_option_is_exposed_on_the_hit_for_the_resolver() {
    let mut settings = ZoneSettings::new(name("quiet."));
    settings.log = false;
    let s = set(vec![zone_with(settings, "bad.example CNAME .")]);
    assert!(
        !hit(&s, "bad.example.", RecordType::A)
            .expect("hit")
            .zone
            .settings()
            .log
    );
}

#[test]
fn defaults_follow_bind() {
    let s = ZoneSettings::new(name("block."));
    assert_eq!(s.policy, PolicyOverride::Given);
    assert_eq!(s.max_policy_ttl, 5);
    assert!(s.log && s.recursive_only && s.add_soa && s.nsip_enable && s.nsdname_enable);
    assert!(!s.break_dnssec);
    assert_eq!(s.min_ns_dots, 1);
    assert_eq!(s.ede, None);
    assert!(SetOptions::default().qname_wait_recurse);
}

// ----- Pre-resolution check (qname-wait-recurse) ------------------------------------------------

fn no_wait(zones: Vec<ZoneRules>) -> PolicySet {
    PolicySet::new(
        zones.into_iter().map(Arc::new).collect(),
        SetOptions {
            qname_wait_recurse: false,
        },
    )
}

#[test]
fn with_qname_wait_recurse_the_query_is_always_resolved_first() {
    let s = set(vec![zone("block.", "bad.example CNAME .")]);
    let qn = name("bad.example.");
    assert!(matches!(
        s.check_query(&query(&qn, RecordType::A)),
        QueryFlow::Continue
    ));
}

#[test]
fn without_qname_wait_recurse_a_qname_hit_is_final_before_resolution() {
    let s = no_wait(vec![zone("block.", "bad.example CNAME .")]);
    let qn = name("bad.example.");
    match s.check_query(&query(&qn, RecordType::A)) {
        QueryFlow::Break(d) => {
            assert_eq!(d.hit().map(|h| h.action.clone()), Some(Action::Nxdomain))
        }
        other => panic!("{other:?}"),
    }
    let other = name("good.example.");
    assert!(matches!(
        s.check_query(&query(&other, RecordType::A)),
        QueryFlow::Continue
    ));
}

#[test]
fn a_qname_hit_waits_for_the_response_when_an_earlier_zone_has_ip_or_ns_rules() {
    let s = no_wait(vec![
        zone("ipzone.", "32.7.2.0.192.rpz-ip CNAME ."),
        zone("block.", "bad.example CNAME *."),
    ]);
    let qn = name("bad.example.");
    assert!(matches!(
        s.check_query(&query(&qn, RecordType::A)),
        QueryFlow::Continue
    ));
    // And the response decides: the earlier zone's IP rule wins.
    let d = s.check_response(&query(&qn, RecordType::A), &addrs(&["192.0.2.7"]));
    assert_eq!(d.hit().map(|h| h.zone_index), Some(0));
    // A later zone with response rules does not block the earlier zone's QNAME hit.
    let s = no_wait(vec![
        zone("block.", "bad.example CNAME *."),
        zone("ipzone.", "32.7.2.0.192.rpz-ip CNAME ."),
    ]);
    assert!(matches!(
        s.check_query(&query(&qn, RecordType::A)),
        QueryFlow::Break(_)
    ));
}

#[test]
fn a_client_ip_hit_is_final_before_resolution_without_qname_wait_recurse() {
    let s = no_wait(vec![zone(
        "block.",
        "32.1.2.0.192.rpz-client-ip CNAME rpz-drop.",
    )]);
    let qn = name("anything.example.");
    match s.check_query(&query(&qn, RecordType::A)) {
        QueryFlow::Break(d) => assert_eq!(d.hit().map(|h| h.kind()), Some(TriggerKind::ClientIp)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_do_query_waits_for_the_response_unless_break_dnssec() {
    let s = no_wait(vec![zone("block.", "bad.example CNAME .")]);
    let qn = name("bad.example.");
    let mut q = query(&qn, RecordType::A);
    q.dnssec_ok = true;
    assert!(matches!(s.check_query(&q), QueryFlow::Continue));
    let mut settings = ZoneSettings::new(name("block."));
    settings.break_dnssec = true;
    let s = no_wait(vec![zone_with(settings, "bad.example CNAME .")]);
    assert!(matches!(s.check_query(&q), QueryFlow::Break(_)));
}

#[test]
fn an_empty_policy_set_skips_policy_entirely() {
    let s = PolicySet::default();
    let qn = name("x.");
    assert!(matches!(
        s.check_query(&query(&qn, RecordType::A)),
        QueryFlow::Skip
    ));
}

// ----- The set --------------------------------------------------------------------------------

#[test]
fn replacing_one_zone_keeps_the_order_and_shares_the_other_zones() {
    let s = set(vec![
        zone("one.", "a.example CNAME ."),
        zone("two.", "b.example CNAME ."),
    ]);
    let new_two = Arc::new(zone("two.", "c.example CNAME ."));
    let s2 = s.with_zone_replaced(Arc::clone(&new_two));
    assert!(Arc::ptr_eq(&s.zones()[0], &s2.zones()[0]));
    assert!(Arc::ptr_eq(&s2.zones()[1], &new_two));
    assert!(hit(&s2, "b.example.", RecordType::A).is_none());
    assert!(hit(&s2, "c.example.", RecordType::A).is_some());
    assert!(
        hit(&s, "b.example.", RecordType::A).is_some(),
        "the old set is untouched"
    );
}

#[test]
fn explain_reports_which_zone_rule_trigger_and_action_apply() {
    let s = set(vec![zone("block.", "*.bad.example CNAME .")]);
    let d = s.explain(
        "198.51.100.7".parse().expect("a"),
        &name("www.bad.example."),
        RecordType::A,
        None,
    );
    let h = d.hit().expect("hit");
    assert_eq!(h.zone.name(), &name("block."));
    assert_eq!(h.owner, name("*.bad.example.block."));
    assert_eq!(h.trigger.to_string(), "QNAME www.bad.example. (wildcard)");
    assert_eq!(h.action.to_string(), "NXDOMAIN");
    let d = s.explain(
        "198.51.100.7".parse().expect("a"),
        &name("good.example."),
        RecordType::A,
        None,
    );
    assert!(matches!(d.verdict, Verdict::NoMatch));
}

// ----- Zones switched off at run time (`sekishoctl rpz disable`) ----------------------------

#[test]
fn a_zone_switched_off_takes_no_part_until_switched_on_and_new_versions_stay_off() {
    let s = set(vec![
        zone("first.", "bad.example CNAME ."),
        zone("second.", "bad.example A 192.0.2.10"),
    ]);
    let zone_of =
        |s: &PolicySet| hit(s, "bad.example.", RecordType::A).map(|h| h.zone.name().clone());
    assert_eq!(zone_of(&s), Some(name("first.")));
    assert_eq!(s.is_enabled(&name("first.")), Some(true));

    let off = s.with_zone_enabled(&name("first."), false).expect("zone");
    assert_eq!(off.is_enabled(&name("first.")), Some(false));
    assert_eq!(
        zone_of(&off),
        Some(name("second.")),
        "the next zone decides"
    );
    // The fast paths see it too: with both off nothing matches.
    let both = off
        .with_zone_enabled(&name("second."), false)
        .expect("zone");
    assert_eq!(zone_of(&both), None);
    let n = name("bad.example.");
    assert!(matches!(
        both.check_query(&query(&n, RecordType::A)),
        QueryFlow::Skip
    ));

    // A new version of the switched-off zone (a reload, a transfer) stays off.
    let reloaded = off.with_zone_replaced(Arc::new(zone("first.", "bad.example CNAME *.")));
    assert_eq!(reloaded.is_enabled(&name("first.")), Some(false));
    assert_eq!(zone_of(&reloaded), Some(name("second.")));
    let on = reloaded
        .with_zone_enabled(&name("first."), true)
        .expect("zone");
    let h = hit(&on, "bad.example.", RecordType::A).expect("hit");
    assert_eq!(
        (h.zone.name().clone(), h.action.clone()),
        (name("first."), Action::Nodata),
        "the new version applies once switched on"
    );
    assert!(s.with_zone_enabled(&name("nonesuch."), false).is_none());
    assert_eq!(s.is_enabled(&name("nonesuch.")), None);
}

#[test]
fn only_enabled_nsdname_and_nsip_rules_make_a_set_read_delegations() {
    assert!(!set(vec![zone("block.", "bad.example CNAME .")]).reads_delegations());
    assert!(set(vec![
        zone("block.", "bad.example CNAME ."),
        zone("ns.", "ns.evil.example.rpz-nsdname CNAME ."),
    ])
    .reads_delegations());
    assert!(set(vec![zone("ip.", "32.1.2.0.192.rpz-nsip CNAME .")]).reads_delegations());
    let mut off = ZoneSettings::new(name("ns."));
    off.nsdname_enable = false;
    off.nsip_enable = false;
    assert!(!set(vec![zone_with(
        off,
        "ns.evil.example.rpz-nsdname CNAME .\n32.1.2.0.192.rpz-nsip CNAME ."
    )])
    .reads_delegations());
}
