//! Property tests: the compiled index agrees with a naive linear-scan model of BIND's
//! precedence, and applying a delta equals a full compile of the final record set.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::name;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use proptest::prelude::*;
use sekisho_rpz::*;

/// The special actions used by the model, with their CNAME targets.
const ACTIONS: [(&str, Action); 4] = [
    (".", Action::Nxdomain),
    ("*.", Action::Nodata),
    ("rpz-passthru.", Action::Passthru),
    ("rpz-drop.", Action::Drop),
];

/// A QNAME rule: labels (leftmost first), wildcard flag, action index.
type QRule = (Vec<String>, bool, usize);
/// An IPv4 rule: network, prefix length, action index.
type IRule = (u32, u8, usize);

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "D", "e"]).prop_map(str::to_string)
}

fn labels() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(label(), 1..4)
}

fn qrules() -> impl Strategy<Value = Vec<QRule>> {
    prop::collection::vec((labels(), any::<bool>(), 0..4usize), 0..12)
}

fn irules() -> impl Strategy<Value = Vec<IRule>> {
    prop::collection::vec((any::<u32>(), 1..=32u8, 0..4usize), 0..8).prop_map(|v| {
        v.into_iter()
            // Keep addresses in 10.0.0.0/14 so that random queries hit them.
            .map(|(a, len, act)| {
                let a = 0x0a00_0000 | (a & 0x0003_ffff);
                let mask = if len == 32 {
                    u32::MAX
                } else {
                    !(u32::MAX >> len)
                };
                (a & mask, len.max(14), act)
            })
            .collect()
    })
}

/// Owner text of a QNAME rule, lower-cased key for de-duplication.
fn qowner(r: &QRule) -> String {
    let mut s = String::new();
    if r.1 {
        s.push_str("*.");
    }
    s.push_str(&r.0.join("."));
    s
}

/// Owner labels of an IPv4 rule.
fn iowner(r: &IRule) -> String {
    let o = Ipv4Addr::from(r.0).octets();
    format!("{}.{}.{}.{}.{}.rpz-ip", r.1, o[3], o[2], o[1], o[0])
}

/// De-duplicated rules of one zone (first rule per owner wins, case-insensitively).
fn dedup(q: &[QRule], i: &[IRule]) -> (BTreeMap<String, QRule>, BTreeMap<(u32, u8), IRule>) {
    let mut qm = BTreeMap::new();
    for r in q {
        qm.entry(qowner(r).to_ascii_lowercase())
            .or_insert_with(|| r.clone());
    }
    let mut im = BTreeMap::new();
    for r in i {
        im.entry((r.0, r.1)).or_insert(*r);
    }
    (qm, im)
}

fn cname_record(owner: &str, apex: &Name, target: &str) -> Record {
    let mut o = Name::from_ascii(owner).expect("owner");
    o.set_fqdn(false);
    let o = o.append_domain(apex).expect("fits");
    Record::from_rdata(o, 60, RData::CNAME(CNAME(name(target))))
}

fn zone_records(
    apex: &Name,
    q: &BTreeMap<String, QRule>,
    i: &BTreeMap<(u32, u8), IRule>,
) -> Vec<Record> {
    let mut out: Vec<Record> = q
        .values()
        .map(|r| cname_record(&qowner(r), apex, ACTIONS[r.2].0))
        .collect();
    out.extend(
        i.values()
            .map(|r| cname_record(&iowner(r), apex, ACTIONS[r.2].0)),
    );
    out
}

/// The model's QNAME answer for one zone, matched as DNS wildcards are (RFC 4592, BIND):
/// the exact owner; else nothing if the name is a node of the zone (an owner or an ancestor
/// of one: an empty non-terminal); else only `*.CE`, CE being the longest suffix of the name
/// that is a node (the apex at worst).
fn model_qname(q: &BTreeMap<String, QRule>, qname: &[String]) -> Option<usize> {
    let lower: Vec<String> = qname.iter().map(|l| l.to_ascii_lowercase()).collect();
    let key = |r: &QRule| -> Vec<String> {
        let mut k: Vec<String> = r.0.iter().map(|l| l.to_ascii_lowercase()).collect();
        if r.1 {
            k.insert(0, "*".to_string());
        }
        k
    };
    // Every owner and every suffix of it (its ancestors below the apex).
    let nodes: Vec<Vec<String>> = q
        .values()
        .flat_map(|r| {
            let k = key(r);
            (0..k.len()).map(move |i| k[i..].to_vec())
        })
        .collect();
    if let Some(r) = q.values().find(|r| !r.1 && key(r) == lower) {
        return Some(r.2);
    }
    if nodes.contains(&lower) {
        return None;
    }
    for i in 1..=lower.len() {
        let ce = &lower[i..];
        let mut wild = vec!["*".to_string()];
        wild.extend(ce.iter().cloned());
        if let Some(r) = q.values().find(|r| r.1 && key(r) == wild) {
            return Some(r.2);
        }
        if nodes.iter().any(|n| n[..] == ce[..]) {
            return None;
        }
    }
    None
}

/// The model's answer for one zone: QNAME (closest-encloser rule) beats response-IP;
/// longest prefix wins.
fn model_zone(
    q: &BTreeMap<String, QRule>,
    i: &BTreeMap<(u32, u8), IRule>,
    qname: &[String],
    addr: u32,
) -> Option<usize> {
    if let Some(a) = model_qname(q, qname) {
        return Some(a);
    }
    i.values()
        .filter(|r| {
            let mask = if r.1 == 32 {
                u32::MAX
            } else {
                !(u32::MAX >> r.1)
            };
            addr & mask == r.0
        })
        .max_by_key(|r| r.1)
        .map(|r| r.2)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_index_agrees_with_a_linear_scan_model(
        z1 in (qrules(), irules()),
        z2 in (qrules(), irules()),
        queries in prop::collection::vec((labels(), 0u32..0x0004_0000), 1..16),
    ) {
        let zones = [dedup(&z1.0, &z1.1), dedup(&z2.0, &z2.1)];
        let apexes = [name("one.rpz."), name("two.rpz.")];
        let compiled: Vec<Arc<ZoneRules>> = zones
            .iter()
            .zip(&apexes)
            .map(|((q, i), apex)| {
                let (z, w) = ZoneRules::compile(ZoneSettings::new(apex.clone()), zone_records(apex, q, i));
                assert!(w.is_empty(), "{w:?}");
                Arc::new(z)
            })
            .collect();
        let set = PolicySet::new(compiled, SetOptions::default());
        for (qlabels, a) in queries {
            let addr = 0x0a00_0000 | a;
            let qname = Name::from_ascii(format!("{}.", qlabels.join("."))).expect("qname");
            let want = zones
                .iter()
                .enumerate()
                .find_map(|(zi, (q, i))| model_zone(q, i, &qlabels, addr).map(|a| (zi, ACTIONS[a].1.clone())));
            let facts = ResponseFacts {
                addresses: vec![IpAddr::V4(Ipv4Addr::from(addr))],
                ..ResponseFacts::default()
            };
            let q = PolicyQuery {
                client: "192.0.2.1".parse().expect("addr"),
                qname: &qname,
                qname_wire: None,
                qtype: RecordType::A,
                recursion_desired: true,
                dnssec_ok: false,
            };
            let got = set.check_response(&q, &facts).hit().map(|h| (h.zone_index, h.action.clone()));
            // The same query probed from wire form (upper-cased: case must not matter).
            let mut wire = Vec::new();
            for l in &qlabels {
                wire.push(l.len() as u8);
                wire.extend(l.to_ascii_uppercase().bytes());
            }
            wire.push(0);
            let qw = PolicyQuery { qname_wire: Some(&wire), ..q };
            let by_wire = set.check_response(&qw, &facts).hit().map(|h| (h.zone_index, h.action.clone()));
            prop_assert_eq!(&by_wire, &got);
            prop_assert_eq!(
                set.check_response_quick(&qw, &facts).is_no_match(),
                set.check_response_quick(&q, &facts).is_no_match()
            );
            // The fast path's question from the bytes alone, with no name at all.
            prop_assert_eq!(
                set.no_match_by_wire(q.client, q.qtype, true, false, &wire, &facts),
                Some(set.check_response_quick(&q, &facts).is_no_match())
            );
            let full = set.check_response(&q, &facts);
            let quick = set.check_response_quick(&q, &facts);
            prop_assert_eq!(quick.is_no_match(), full.hit().is_none() && full.disabled.is_empty());
            prop_assert_eq!(quick.decision().hit().map(|h| (h.zone_index, h.action.clone())), got.clone());
            prop_assert_eq!(got, want, "query {} addr {}", qname, Ipv4Addr::from(addr));
        }
    }

    #[test]
    fn applying_a_delta_equals_a_full_compile_of_the_final_records(
        base in (qrules(), irules()),
        added in (qrules(), irules()),
        remove_mask in any::<u64>(),
        queries in prop::collection::vec((labels(), 0u32..0x0004_0000), 1..12),
    ) {
        let apex = name("delta.rpz.");
        let (bq, bi) = dedup(&base.0, &base.1);
        let before = zone_records(&apex, &bq, &bi);
        // Remove a random subset of the records, then add new owners (not already present).
        let removed: Vec<Record> = before
            .iter()
            .enumerate()
            .filter(|(k, _)| remove_mask & (1 << (k % 64)) != 0)
            .map(|(_, r)| r.clone())
            .collect();
        let (aq, ai) = dedup(&added.0, &added.1);
        let aq: BTreeMap<_, _> = aq.into_iter().filter(|(k, _)| !bq.contains_key(k)).collect();
        let ai: BTreeMap<_, _> = ai.into_iter().filter(|(k, _)| !bi.contains_key(k)).collect();
        let added_recs = zone_records(&apex, &aq, &ai);
        let mut after: Vec<Record> = before.iter().filter(|r| !removed.contains(r)).cloned().collect();
        after.extend(added_recs.iter().cloned());

        let settings = ZoneSettings::new(apex.clone());
        let (z0, _) = ZoneRules::compile(settings.clone(), before);
        let (delta, _) = z0.apply_delta(&removed, &added_recs);
        let (full, _) = ZoneRules::compile(settings, after);

        let key = |r: &Rule| (r.owner.to_ascii().to_ascii_lowercase(), r.kind, format!("{:?}", r.action));
        let mut a: Vec<_> = delta.rules().iter().map(key).collect();
        let mut b: Vec<_> = full.rules().iter().map(key).collect();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
        prop_assert_eq!(delta.counts(), full.counts());

        let sd = PolicySet::new(vec![Arc::new(delta)], SetOptions::default());
        let sf = PolicySet::new(vec![Arc::new(full)], SetOptions::default());
        for (qlabels, a) in queries {
            let qname = Name::from_ascii(format!("{}.", qlabels.join("."))).expect("qname");
            let facts = ResponseFacts {
                addresses: vec![IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | a))],
                ..ResponseFacts::default()
            };
            let q = PolicyQuery {
                client: "192.0.2.1".parse().expect("addr"),
                qname: &qname,
                qname_wire: None,
                qtype: RecordType::A,
                recursion_desired: true,
                dnssec_ok: false,
            };
            let h = |s: &PolicySet| s.check_response(&q, &facts).hit().map(|h| (h.owner.clone(), h.action.clone()));
            prop_assert_eq!(h(&sd), h(&sf));
            prop_assert_eq!(sd.check_response_quick(&q, &facts).is_no_match(), h(&sf).is_none());
        }
    }
}

#[test]
fn a_chain_of_deltas_equals_a_full_compile_and_shares_the_base() {
    let apex = name("chain.rpz.");
    let rec = |o: &str, t: &str| cname_record(o, &apex, t);
    let settings = ZoneSettings::new(apex.clone());
    let (z0, _) = ZoneRules::compile(
        settings.clone(),
        vec![rec("a", "."), rec("b", "*."), rec("*.c", ".")],
    );
    let (z1, _) = z0.apply_delta(&[rec("a", ".")], &[rec("a", "*."), rec("d", "rpz-drop.")]);
    let (z2, _) = z1.apply_delta(&[rec("*.c", "."), rec("d", "rpz-drop.")], &[rec("e", ".")]);
    let (full, _) = ZoneRules::compile(
        settings,
        vec![rec("a", "*."), rec("b", "*."), rec("e", ".")],
    );
    let key = |r: &Rule| (r.owner.to_ascii(), format!("{:?}", r.action));
    let mut got: Vec<_> = z2.rules().iter().map(key).collect();
    let mut want: Vec<_> = full.rules().iter().map(key).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(z2.counts(), full.counts(), "counts kept through two deltas");
    assert_eq!(z2.counts().qname, 3);
    assert!(z2.overlay_len() >= 3);
    let s = PolicySet::new(vec![Arc::new(z2)], SetOptions::default());
    let qn = name("x.c.");
    let q = PolicyQuery {
        client: "192.0.2.1".parse().expect("addr"),
        qname: &qn,
        qname_wire: None,
        qtype: RecordType::A,
        recursion_desired: true,
        dnssec_ok: false,
    };
    assert!(
        s.check_response(&q, &ResponseFacts::default())
            .hit()
            .is_none(),
        "removed wildcard"
    );
}

#[test]
fn a_delta_of_a_thousand_changes_to_a_large_zone_applies_without_a_recompile() {
    let apex = name("big.rpz.");
    let rec = |i: usize| cname_record(&format!("bad{i}.example{}.test", i % 100), &apex, ".");
    let n = 100_000;
    let (z, _) = ZoneRules::compile(ZoneSettings::new(apex.clone()), (0..n).map(rec));
    let removed: Vec<Record> = (0..500).map(|i| rec(i * 7)).collect();
    let added: Vec<Record> = (n..n + 500).map(rec).collect();
    let t = std::time::Instant::now();
    let (z2, _) = z.apply_delta(&removed, &added);
    let took = t.elapsed();
    assert_eq!(z2.counts().qname, n);
    assert_eq!(z2.overlay_len(), 1000);
    // Generous bound for debug builds on a small machine; release figures are in docs/rpz.md.
    assert!(took.as_secs() < 5, "delta took {took:?}");
}

#[test]
fn a_page_of_rules_is_the_filtered_walk_cut_at_offset_and_limit_and_sees_the_overlay() {
    let apex = name("page.rpz.");
    let rec = |o: &str, t: &str| cname_record(o, &apex, t);
    let records: Vec<Record> = (0..30)
        .map(|i| rec(&format!("n{i}.bad"), "."))
        .chain((0..5).map(|i| rec(&format!("m{i}.good"), "rpz-passthru.")))
        .collect();
    let (base, _) = ZoneRules::compile(ZoneSettings::new(apex.clone()), records);
    // A delta: one bad rule gone, one changed to NODATA.
    let (z, _) = base.apply_delta(
        &[rec("n0.bad", "."), rec("n1.bad", ".")],
        &[rec("n1.bad", "*.")],
    );
    let bad = |n: &Name| n.to_ascii().contains(".bad.");
    let (total, all) = z.rules_page(bad, 0, 1000);
    assert_eq!((total, all.len()), (29, 29), "n0 removed");
    let key = |r: &Rule| (r.owner.to_ascii(), r.action.to_string());
    let every: Vec<_> = all.iter().map(key).collect();
    assert!(every.contains(&("n1.bad.page.rpz.".to_owned(), "NODATA".to_owned())));
    // Pages are consecutive slices of the same walk.
    let mut paged = Vec::new();
    for offset in (0..29).step_by(10) {
        let (t, page) = z.rules_page(bad, offset, 10);
        assert_eq!(t, 29);
        paged.extend(page.iter().map(key));
    }
    assert_eq!(paged, every);
    let (t, none) = z.rules_page(bad, 29, 10);
    assert_eq!((t, none.len()), (29, 0), "past the end");
    let (t, good) = z.rules_page(|n: &Name| n.to_ascii().contains(".good."), 0, 2);
    assert_eq!((t, good.len()), (5, 2));
    assert!(
        good.iter().all(|r| r.action.to_string() == "PASSTHRU"),
        "{good:?}"
    );
}

#[test]
fn a_delta_that_leaves_an_owner_only_unusable_records_removes_its_rule() {
    let apex = name("gone.rpz.");
    let rec = |o: &str, t: &str| cname_record(o, &apex, t);
    let settings = ZoneSettings::new(apex.clone());
    let (z0, _) = ZoneRules::compile(settings.clone(), vec![rec("a", "."), rec("b", ".")]);
    let (z1, warnings) = z0.apply_delta(&[rec("a", ".")], &[rec("a", "rpz-bogus.")]);
    let (full, full_warnings) =
        ZoneRules::compile(settings, vec![rec("a", "rpz-bogus."), rec("b", ".")]);
    assert_eq!(full.counts().qname, 1);
    assert_eq!(z1.counts(), full.counts());
    assert_eq!(z1.rules(), full.rules());
    assert_eq!(warnings.len(), full_warnings.len(), "{warnings:?}");
}
