//! Reloading a 1M-rule zone file with 1% of its rules changed: the whole file compiled
//! again (`load_file`) against the store's reload by difference (`PolicyStore::load` of a
//! replaced file: the changed lines parsed and applied to the live version as one delta).
//!
//! The zone is the benchmarks' mix (`benches/peers/gen_rpz.py`: 85% exact `CNAME .`, 10%
//! local data A + AAAA, 5% wildcards); the changed copy renames every rule with
//! `i % 100 == 99`, as `gen_rpz.py --variant 1` does (10,000 rules: 20,000 lines, and the
//! SOA). Each iteration of the difference bench replaces the file by a rename, alternately
//! with the changed copy and the original, and reloads; the store reports the lines it
//! took, which is checked, so a reload that fell back to a full compile fails the bench.
//!
//! Run: `cargo bench -p sekisho-benches --bench reload_difference`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use hickory_proto::rr::Name;
use sekisho_conf::Config;
use sekisho_policy::{load_file, PolicyStore};
use sekisho_rpz::ZoneSettings;

/// Rules in the zone.
const RULES: usize = 1_000_000;

/// The zone text: the original (`variant` 0) or the changed copy (1).
fn zone_text(variant: u32) -> String {
    let mut t = String::with_capacity(RULES * 32);
    t.push_str("$ORIGIN rpz.bench.\n$TTL 300\n");
    t.push_str(&format!(
        "@ SOA ns.rpz.bench. hostmaster.rpz.bench. {} 3600 600 86400 300\n@ NS ns.rpz.bench.\n",
        1000 + variant
    ));
    for i in 0..RULES {
        let mut name = if i % 20 == 0 {
            format!("*.evil{i}.test")
        } else {
            format!("bad{i}.example{}.test", i % 100)
        };
        if variant > 0 && i % 100 == 99 {
            name = format!("v{variant}-{name}");
        }
        if i % 10 == 5 {
            t.push_str(&format!("{name} A 192.0.2.10\n{name} AAAA 2001:db8::10\n"));
        } else {
            t.push_str(&format!("{name} CNAME .\n"));
        }
    }
    t
}

/// Points `path` at `source` by a new hard link renamed over it (a new inode for the
/// path each time, as a publisher's rename gives, without copying 35 MB).
fn publish(source: &Path, path: &Path) {
    let tmp = path.with_extension("next");
    let _ = std::fs::remove_file(&tmp);
    std::fs::hard_link(source, &tmp).expect("link");
    std::fs::rename(&tmp, path).expect("rename");
}

fn bench(c: &mut Criterion) {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("sekisho-reload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let versions = [dir.join("v0.zone"), dir.join("v1.zone")];
    for (v, p) in versions.iter().enumerate() {
        std::fs::write(p, zone_text(v as u32)).expect("write");
    }
    let path = dir.join("rpz.bench.zone");
    let config = Config::from_toml_str(
        "[server]\ndirectory = \".\"\n[[response-policy.zone]]\nname = \"rpz.bench\"\nfile = \"rpz.bench.zone\"\n",
        &dir.join("bench.toml"),
    )
    .expect("config");
    let store = PolicyStore::new(&config.response_policy, &dir, None);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    publish(&versions[0], &path);
    let first = rt.block_on(store.load(None)).expect("load");
    assert!(
        first[0].result.is_ok() && first[0].changed_lines.is_none(),
        "{first:?}"
    );

    let mut g = c.benchmark_group("reload_1m_rules_1pct_changed");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let settings = ZoneSettings::new(Name::from_ascii("rpz.bench.").expect("apex"));
    g.bench_function("full_compile", |b| {
        b.iter(|| load_file(settings.clone(), &versions[1]).expect("load"))
    });
    let mut next = 1;
    g.bench_function("by_difference", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                publish(&versions[next], &path);
                next = 1 - next;
                let t = Instant::now();
                let out = rt.block_on(store.load(None)).expect("load");
                took += t.elapsed();
                let (removed, added) = out[0].changed_lines.expect("reloaded by difference");
                assert_eq!(removed + added, 20_002, "{:?}", out[0]);
            }
            took
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
