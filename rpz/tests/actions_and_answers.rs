//! rpz-semantics.md, sections "Actions (RDATA)" and "Building the rewritten answer (BIND
//! 9.18)", plus the interop notes on BIND's answers: one test per line.

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sekisho_rpz::*;

fn one(text: &str) -> PolicySet {
    set(vec![zone("block.", text)])
}

// ----- Actions -------------------------------------------------------------------------------

#[test]
fn cname_root_answers_nxdomain() {
    let s = one("bad.example CNAME .");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    assert_eq!(h.action, Action::Nxdomain);
    let (m, chase) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    assert!(chase.is_none());
}

#[test]
fn cname_star_answers_nodata() {
    let s = one("bad.example CNAME *.");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    assert_eq!(h.action, Action::Nodata);
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn cname_rpz_passthru_answers_unchanged_and_stops_evaluation() {
    let s = set(vec![
        zone("allow.", "good.example CNAME rpz-passthru."),
        zone("block.", "good.example CNAME ."),
    ]);
    let h = hit(&s, "good.example.", RecordType::A).expect("hit");
    assert_eq!(h.action, Action::Passthru);
    assert_eq!(h.zone.name(), &name("allow."));
    let req = request("good.example.", RecordType::A, false);
    assert_eq!(h.rewrite(&req, None, Transport::Udp), Rewrite::Unchanged);
}

#[test]
fn a_cname_to_the_rules_own_owner_is_the_old_passthru_form() {
    let s = one("good.example CNAME good.example.block.");
    assert_eq!(
        hit(&s, "good.example.", RecordType::A).map(|h| h.action),
        Some(Action::Passthru)
    );
}

#[test]
fn a_cname_to_the_trigger_name_is_the_old_passthru_form_as_in_bind() {
    // BIND 9.18 compares the target with the owner minus the policy zone apex.
    let s = set(vec![
        zone("allow.", "old-pass.example1.jp CNAME old-pass.example1.jp."),
        zone("block.", "old-pass.example1.jp CNAME ."),
    ]);
    let h = hit(&s, "old-pass.example1.jp.", RecordType::A).expect("hit");
    assert_eq!(h.action, Action::Passthru);
    assert_eq!(h.zone.name(), &name("allow."));
    let req = request("old-pass.example1.jp.", RecordType::A, false);
    assert_eq!(h.rewrite(&req, None, Transport::Udp), Rewrite::Unchanged);
    // Case does not matter; a CNAME to another name below it is still local data.
    let s = one("Old.Example CNAME old.EXAMPLE.\nother.example CNAME x.other.example.");
    assert_eq!(
        hit(&s, "old.example.", RecordType::A).map(|h| h.action),
        Some(Action::Passthru)
    );
    assert!(matches!(
        hit(&s, "other.example.", RecordType::A).map(|h| h.action),
        Some(Action::LocalData(_))
    ));
}

#[test]
fn the_policy_soa_ttl_is_min_of_its_ttl_and_minimum_and_ignores_max_policy_ttl() {
    let mut settings = ZoneSettings::new(name("block."));
    settings.max_policy_ttl = 30;
    let recs = records(
        "block.",
        "@ 300 SOA localhost. hostmaster.localhost. 1 600\nbad.example CNAME .\nlocal.example 3600 A 192.0.2.1",
    );
    let (z, w) = ZoneRules::compile(settings.clone(), recs);
    assert!(w.is_empty());
    let s = set(vec![z]);
    for qname in ["bad.example.", "local.example."] {
        let h = hit(&s, qname, RecordType::A).expect("hit");
        let (m, _) = answer(&h, &request(qname, RecordType::A, false), None);
        assert_eq!(m.additionals[0].ttl, 300, "{qname}: min(300, 600), no cap");
        for r in &m.answers {
            assert_eq!(r.ttl, 30, "policy records are capped");
        }
    }
    let recs = records(
        "block.",
        "@ 3600 SOA localhost. hostmaster.localhost. 1 60\nbad.example CNAME .",
    );
    let s = set(vec![ZoneRules::compile(settings, recs).0]);
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert_eq!(m.additionals[0].ttl, 60, "min(3600, 60)");
}

#[test]
fn a_local_cname_to_a_missing_name_leaves_rcode_and_authority_to_the_chased_target() {
    // BIND answers `local-cname-nx CNAME missing.other.example` with the target's NXDOMAIN
    // and its zone's SOA in AUTHORITY; the resolver takes both from the chased answer. The
    // rewrite itself: the capped CNAME, the name to chase, NOERROR so far, nothing in
    // AUTHORITY, the policy SOA in ADDITIONAL, AD clear, RA set.
    let mut settings = ZoneSettings::new(name("block."));
    settings.max_policy_ttl = 30;
    let s = set(vec![zone_with(
        settings,
        "local-cname-nx.example1.jp CNAME missing.other.example.",
    )]);
    let h = hit(&s, "local-cname-nx.example1.jp.", RecordType::A).expect("hit");
    let req = request("local-cname-nx.example1.jp.", RecordType::A, true);
    let (m, chase) = answer(&h, &req, None);
    assert_eq!(chase, Some(name("missing.other.example.")));
    assert_eq!(
        m.metadata.response_code,
        hickory_proto::op::ResponseCode::NoError
    );
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, 30);
    assert!(m.authorities.is_empty());
    assert_eq!(m.additionals.len(), 1);
    assert_eq!(m.additionals[0].record_type(), RecordType::SOA);
    assert!(m.metadata.recursion_available && !m.metadata.authentic_data);
    assert!(!m.metadata.authoritative);
}

#[test]
fn cname_rpz_drop_sends_no_reply() {
    let s = one("bad.example CNAME rpz-drop.");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    assert_eq!(h.action, Action::Drop);
    let req = request("bad.example.", RecordType::A, false);
    assert_eq!(h.rewrite(&req, None, Transport::Udp), Rewrite::Drop);
    assert_eq!(h.rewrite(&req, None, Transport::Tcp), Rewrite::Drop);
}

#[test]
fn cname_rpz_tcp_only_sets_tc_over_udp_with_an_empty_answer_and_is_unchanged_over_tcp() {
    let s = one("bad.example CNAME rpz-tcp-only.");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    assert_eq!(h.action, Action::TcpOnly);
    let req = request("bad.example.", RecordType::A, false);
    let (m, _) = answer(&h, &req, None);
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty() && m.additionals.is_empty());
    assert_eq!(h.rewrite(&req, None, Transport::Tcp), Rewrite::Unchanged);
}

#[test]
fn local_data_answers_the_rrset_of_the_query_type() {
    let s =
        one("page.example A 192.0.2.80\npage.example AAAA 2001:db8::80\npage.example TXT blocked");
    let h = hit(&s, "page.example.", RecordType::AAAA).expect("hit");
    let (m, chase) = answer(&h, &request("page.example.", RecordType::AAAA, false), None);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::AAAA);
    assert_eq!(
        m.answers[0].name,
        name("page.example."),
        "owner is the query name"
    );
    assert!(chase.is_none());
}

#[test]
fn local_data_without_the_query_type_answers_its_cname_else_nodata() {
    let s = one("cn.example CNAME warn.example.net.\npage.example A 192.0.2.80");
    let h = hit(&s, "cn.example.", RecordType::A).expect("hit");
    assert_eq!(h.action.as_str(), "Local-Data");
    let (m, chase) = answer(&h, &request("cn.example.", RecordType::A, false), None);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(
        chase,
        Some(name("warn.example.net.")),
        "the resolver follows the target"
    );

    let h = hit(&s, "page.example.", RecordType::MX).expect("hit");
    let (m, _) = answer(&h, &request("page.example.", RecordType::MX, false), None);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty(), "NODATA");
}

#[test]
fn local_data_answers_all_records_to_any() {
    let s =
        one("page.example A 192.0.2.80\npage.example AAAA 2001:db8::80\npage.example TXT blocked");
    let h = hit(&s, "page.example.", RecordType::ANY).expect("hit");
    let (m, _) = answer(&h, &request("page.example.", RecordType::ANY, false), None);
    assert_eq!(m.answers.len(), 3);
}

#[test]
fn a_local_data_wildcard_rule_answers_with_the_query_name_as_owner() {
    let s = one("*.ads.example A 192.0.2.80");
    let h = hit(&s, "x.y.ads.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("x.y.ads.example.", RecordType::A, false), None);
    assert_eq!(m.answers[0].name, name("x.y.ads.example."));
}

#[test]
fn a_rewrite_cname_is_chased_without_policy_being_applied_again() {
    // The CNAME target is itself listed; the rewrite tells the resolver to follow it
    // without policy, and the answer carries only the policy CNAME.
    let s = one("a.example CNAME b.example.\nb.example CNAME .");
    let h = hit(&s, "a.example.", RecordType::A).expect("hit");
    let (m, chase) = answer(&h, &request("a.example.", RecordType::A, false), None);
    assert_eq!(chase, Some(name("b.example.")));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let h = hit(&s, "a.example.", RecordType::CNAME).expect("hit");
    let (_, chase) = answer(&h, &request("a.example.", RecordType::CNAME, false), None);
    assert!(chase.is_none(), "a CNAME query gets the CNAME only");
}

#[test]
fn cname_to_a_wildcard_target_keeps_the_query_name_as_prefix() {
    let s = one("*.bad.example CNAME *.garden.example.");
    let h = hit(&s, "www.bad.example.", RecordType::A).expect("hit");
    assert_eq!(h.action.as_str(), "CNAME");
    let (m, chase) = answer(&h, &request("www.bad.example.", RecordType::A, false), None);
    let want = name("www.bad.example.garden.example.");
    assert_eq!(m.answers[0].data, RData::CNAME(CNAME(want.clone())));
    assert_eq!(chase, Some(want));
}

#[test]
fn cname_to_a_wildcard_target_answers_yxdomain_when_the_result_is_too_long() {
    let s = one("*.bad.example CNAME *.garden.example.");
    let label = "a".repeat(63);
    let long = format!("{label}.{label}.{label}.{}.bad.example.", "b".repeat(40));
    let h = hit(&s, &long, RecordType::A).expect("hit");
    let (m, chase) = answer(&h, &request(&long, RecordType::A, false), None);
    assert_eq!(m.metadata.response_code, ResponseCode::YXDomain);
    assert!(chase.is_none() && m.answers.is_empty());
}

#[test]
fn cnames_into_other_rpz_names_are_not_local_data() {
    let (z, w) = ZoneRules::compile(
        ZoneSettings::new(name("block.")),
        records(
            "block.",
            "x.example CNAME rpz-bogus.\ny.example CNAME rpz-drop.",
        ),
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].reason, WarningReason::UnknownRpzTarget);
    assert_eq!(z.counts().qname, 1);
}

#[test]
fn soa_ns_dname_and_dnssec_types_are_never_local_data() {
    let (z, w) = ZoneRules::compile(
        ZoneSettings::new(name("block.")),
        records(
            "block.",
            "x.example NS ns.invalid.\nx.example SOA a.invalid. b.invalid. 1\nx.example DNAME y.invalid.\nx.example A 192.0.2.1",
        ),
    );
    assert_eq!(w.len(), 3);
    assert!(w.iter().all(|w| w.reason == WarningReason::NeverPolicyData));
    match hit(&set(vec![z]), "x.example.", RecordType::ANY).map(|h| h.action) {
        Some(Action::LocalData(r)) => assert_eq!(r.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cname_next_to_other_data_wins_and_the_other_data_is_reported() {
    let (z, w) = ZoneRules::compile(
        ZoneSettings::new(name("block.")),
        records("block.", "x.example CNAME .\nx.example A 192.0.2.1"),
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].reason, WarningReason::CnameAndOtherData);
    assert_eq!(
        hit(&set(vec![z]), "x.example.", RecordType::A).map(|h| h.action),
        Some(Action::Nxdomain)
    );
}

// ----- Building the rewritten answer ----------------------------------------------------------

#[test]
fn answers_copy_rd_and_set_qr_ra_and_clear_aa_and_ad() {
    let s = one("bad.example A 192.0.2.1");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let mut req = request("bad.example.", RecordType::A, false);
    req.metadata.authentic_data = true;
    req.metadata.checking_disabled = true;
    let (m, _) = answer(&h, &req, None);
    let md = m.metadata;
    assert_eq!(md.id, 4242);
    assert_eq!(md.message_type, hickory_proto::op::MessageType::Response);
    assert!(md.recursion_desired && md.recursion_available && md.checking_disabled);
    assert!(!md.authoritative && !md.authentic_data);
    assert_eq!(m.queries, req.queries);
}

#[test]
fn the_ttl_is_the_policy_record_ttl_capped_by_max_policy_ttl() {
    let mut settings = ZoneSettings::new(name("block."));
    settings.max_policy_ttl = 60;
    let s = set(vec![zone_with(
        settings,
        "long.example 3600 A 192.0.2.1\nshort.example 10 A 192.0.2.2",
    )]);
    for (q, ttl) in [("long.example.", 60), ("short.example.", 10)] {
        let h = hit(&s, q, RecordType::A).expect("hit");
        let (m, _) = answer(&h, &request(q, RecordType::A, false), None);
        assert_eq!(m.answers[0].ttl, ttl, "{q}");
    }
    // BIND's default cap is 5 s.
    let s = one("long.example 3600 A 192.0.2.1");
    let h = hit(&s, "long.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("long.example.", RecordType::A, false), None);
    assert_eq!(m.answers[0].ttl, DEFAULT_MAX_POLICY_TTL);
}

#[test]
fn the_policy_zone_soa_goes_in_the_additional_section_unless_add_soa_is_off() {
    let s = one("bad.example CNAME .");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert!(m.authorities.is_empty(), "not in AUTHORITY");
    assert_eq!(m.additionals.len(), 1);
    assert_eq!(m.additionals[0].record_type(), RecordType::SOA);
    assert_eq!(m.additionals[0].name, name("block."));
    // min(SOA TTL 3600, MINIMUM 60), as BIND 9.18; max-policy-ttl (5) does not apply.
    assert_eq!(m.additionals[0].ttl, 60);

    let mut settings = ZoneSettings::new(name("block."));
    settings.add_soa = false;
    let s = set(vec![zone_with(settings, "bad.example CNAME .")]);
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert!(m.additionals.is_empty());
}

/// A real answer `start.example CNAME mid.example CNAME end.example A 192.0.2.1`, signed.
fn real_chain() -> Message {
    let mut m = Message::response(4242, hickory_proto::op::OpCode::Query);
    let cname = |a: &str, b: &str| Record::from_rdata(name(a), 300, RData::CNAME(CNAME(name(b))));
    let rrsig = |a: &str| {
        Record::from_rdata(
            name(a),
            300,
            RData::Unknown {
                code: RecordType::RRSIG,
                rdata: hickory_proto::rr::rdata::NULL::with(vec![1; 8]),
            },
        )
    };
    m.answers = vec![
        cname("start.example.", "mid.example."),
        rrsig("start.example."),
        cname("mid.example.", "end.example."),
        rrsig("mid.example."),
        Record::from_rdata(
            name("end.example."),
            300,
            RData::A("192.0.2.1".parse::<std::net::Ipv4Addr>().expect("a").into()),
        ),
    ];
    m
}

#[test]
fn a_hit_later_in_the_cname_chain_keeps_the_chain_up_to_it_without_rrsigs() {
    let s = one("end.example CNAME .");
    let real = real_chain();
    let facts = ResponseFacts::from_response(&name("start.example."), &real);
    assert_eq!(
        facts.cnames,
        vec![name("mid.example."), name("end.example.")]
    );
    assert_eq!(
        facts.addresses,
        vec!["192.0.2.1".parse::<std::net::IpAddr>().expect("a")]
    );
    assert!(facts.signed);
    let d = decide(&s, "start.example.", RecordType::A, &facts);
    let h = d.hit().expect("hit");
    assert_eq!(h.position, 2);
    let (m, _) = answer(
        h,
        &request("start.example.", RecordType::A, false),
        Some(&real),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let owners: Vec<(Name, RecordType)> = m
        .answers
        .iter()
        .map(|r| (r.name.clone(), r.record_type()))
        .collect();
    assert_eq!(
        owners,
        vec![
            (name("start.example."), RecordType::CNAME),
            (name("mid.example."), RecordType::CNAME)
        ]
    );
    assert!(m
        .answers
        .iter()
        .all(|r| r.record_type() != RecordType::RRSIG));
}

#[test]
fn a_response_ip_hit_replaces_the_address_records_at_the_end_of_the_chain() {
    let s = one("32.1.2.0.192.rpz-ip A 192.0.2.80");
    let real = real_chain();
    let facts = ResponseFacts::from_response(&name("start.example."), &real);
    let d = decide(&s, "start.example.", RecordType::A, &facts);
    let h = d.hit().expect("hit");
    assert_eq!(h.name, name("end.example."));
    let (m, _) = answer(
        h,
        &request("start.example.", RecordType::A, false),
        Some(&real),
    );
    assert_eq!(m.answers.len(), 3);
    assert_eq!(m.answers[2].name, name("end.example."));
    assert_eq!(
        m.answers[2].data.ip_addr(),
        Some("192.0.2.80".parse().expect("a"))
    );
}

#[test]
fn policy_applies_only_to_rd_queries_unless_recursive_only_is_off() {
    let s = one("bad.example CNAME .");
    let qn = name("bad.example.");
    let mut q = query(&qn, RecordType::A);
    q.recursion_desired = false;
    assert!(matches!(s.check_query(&q), QueryFlow::Skip));
    assert!(s
        .check_response(&q, &ResponseFacts::default())
        .hit()
        .is_none());

    let mut settings = ZoneSettings::new(name("block."));
    settings.recursive_only = false;
    let s = set(vec![zone_with(settings, "bad.example CNAME .")]);
    assert!(s
        .check_response(&q, &ResponseFacts::default())
        .hit()
        .is_some());
}

#[test]
fn do_queries_with_a_signed_real_answer_are_not_rewritten_unless_break_dnssec() {
    let s = one("bad.example CNAME .");
    let qn = name("bad.example.");
    let mut q = query(&qn, RecordType::A);
    q.dnssec_ok = true;
    let signed = ResponseFacts {
        signed: true,
        ..ResponseFacts::default()
    };
    let d = s.check_response(&q, &signed);
    assert!(matches!(d.verdict, Verdict::DnssecExempt(_)));
    let req = request("bad.example.", RecordType::A, true);
    assert_eq!(d.rewrite(&req, None, Transport::Udp), Rewrite::Unchanged);
    // Unsigned real data is rewritten even for DO=1 (BIND keys on signed, not validated).
    assert!(s
        .check_response(&q, &ResponseFacts::default())
        .hit()
        .is_some());

    let mut settings = ZoneSettings::new(name("block."));
    settings.break_dnssec = true;
    let s = set(vec![zone_with(settings, "bad.example CNAME .")]);
    assert!(s.check_response(&q, &signed).hit().is_some());
}

#[test]
fn an_ede_option_with_the_configured_code_is_added_when_the_request_had_edns() {
    let mut settings = ZoneSettings::new(name("block."));
    settings.ede = Some(15);
    let s = set(vec![zone_with(settings, "bad.example CNAME .")]);
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, true), None);
    let edns = m.edns.as_ref().expect("OPT in the answer");
    assert_eq!(
        edns.option(EdnsCode::from(EDE_OPTION_CODE)),
        Some(&EdnsOption::Unknown(EDE_OPTION_CODE, vec![0, 15]))
    );
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, false), None);
    assert!(m.edns.is_none(), "no OPT for a client without EDNS");
    // Without `ede` the OPT carries no EDE.
    let s = one("bad.example CNAME .");
    let h = hit(&s, "bad.example.", RecordType::A).expect("hit");
    let (m, _) = answer(&h, &request("bad.example.", RecordType::A, true), None);
    assert!(m
        .edns
        .as_ref()
        .expect("opt")
        .option(EdnsCode::from(EDE_OPTION_CODE))
        .is_none());
}

#[test]
fn the_rewritten_answer_encodes_to_wire_and_decodes_back() {
    let s = one("page.example A 192.0.2.80\nbad.example CNAME .");
    for q in ["page.example.", "bad.example."] {
        let h = hit(&s, q, RecordType::A).expect("hit");
        let (m, _) = answer(&h, &request(q, RecordType::A, true), None);
        let wire = m.to_vec().expect("encodes");
        let back = Message::from_vec(&wire).expect("decodes");
        assert_eq!(back.answers, m.answers);
        assert_eq!(back.metadata.response_code, m.metadata.response_code);
    }
}

#[test]
fn the_log_line_reads_like_binds() {
    let s = set(vec![zone("block.", "bad.example1.jp CNAME .")]);
    let h = hit(&s, "bad.example1.jp.", RecordType::A).expect("hit");
    assert_eq!(
        h.log_line(&name("bad.example1.jp."), RecordType::A)
            .to_string(),
        "rpz QNAME NXDOMAIN rewrite bad.example1.jp/A/IN via bad.example1.jp.block"
    );
}
