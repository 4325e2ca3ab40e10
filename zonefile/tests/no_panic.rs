//! Robustness without a fuzzer: thousands of random and mutated inputs go through the
//! lenient reader, which must never panic and must always finish, in every test run.
//! The AFL++ target `zonefile` in the top-level `fuzz/` crate runs the same checks (and
//! more) with coverage guidance.

use std::path::Path;

use sekisho_zonefile::{parse_str, write_record, ParseOptions, ZoneReader};

/// xorshift64*: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    /// The next pseudo-random number.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to the grammar, so mutations hit interesting paths often.
const SPECIAL: &[u8] = b" \t\n\r;()\"\\$@.*#0123456789";

/// Tokens to build random entries from.
const WORDS: &[&str] = &[
    "$ORIGIN",
    "$TTL",
    "$INCLUDE",
    "$GENERATE",
    "@",
    ".",
    "*",
    "IN",
    "CH",
    "CLASS9",
    "TYPE65280",
    "A",
    "AAAA",
    "CNAME",
    "MX",
    "TXT",
    "SOA",
    "SRV",
    "CAA",
    "HTTPS",
    "SVCB",
    "DS",
    "DNSKEY",
    "RRSIG",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "TLSA",
    "SSHFP",
    "NAPTR",
    "HINFO",
    "\\#",
    "0",
    "1",
    "65535",
    "4294967296",
    "1h30m",
    "1-10",
    "0-4294967295/1",
    "${-5,3,n}",
    "$",
    "192.0.2.1",
    "::1",
    "a.b.",
    "a..b",
    "\\999",
    "\"q",
    "(",
    ")",
    "alpn=h2",
    "mandatory=alpn",
    "key65535=\"x\"",
    "-",
    "AQID",
    "20240101000000",
    "ab12",
];

/// Reads `input` to the end leniently; every record must also survive writer → parser.
fn read_all(input: &[u8]) {
    let options = ParseOptions::default()
        .max_records(Some(2000))
        .max_line_len(4096)
        .max_entry_len(8192);
    let mut sink = Vec::new();
    for record in ZoneReader::new(input, options).take(10_000).flatten() {
        sink.clear();
        write_record(&mut sink, &record).expect("writing to memory does not fail");
        let text = std::str::from_utf8(&sink).expect("the writer emits ASCII");
        let again =
            parse_str(text, ParseOptions::default()).unwrap_or_else(|err| panic!("{err}: {text}"));
        assert_eq!(again, [record], "{text}");
    }
}

/// The fixture zones, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/zones");
    let mut seeds: Vec<Vec<u8>> = ["normal.zone", "rpz.zone", "generate.zone"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("fixture"))
        .collect();
    seeds.push(b"$ORIGIN example.\n$TTL 1\n@ SOA a b ( 1 2 3 4 5 )\n".to_vec());
    seeds
}

#[test]
fn random_bytes_never_panic_the_parser() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..3000 {
        let len = rng.below(200);
        let input: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(2) == 0 {
                    SPECIAL[rng.below(SPECIAL.len())]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        read_all(&input);
    }
}

#[test]
fn mutated_zones_never_panic_the_parser() {
    let mut rng = Rng(0x5eed_0002);
    let seeds = seeds();
    for _ in 0..3000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(input.len() + 1);
            match rng.below(4) {
                0 if at < input.len() => input[at] = SPECIAL[rng.below(SPECIAL.len())],
                1 => input.insert(at, rng.next() as u8),
                2 if at < input.len() => {
                    input.remove(at);
                }
                _ => input.truncate(at),
            }
        }
        read_all(&input);
    }
}

#[test]
fn random_token_soup_never_panics_the_parser() {
    let mut rng = Rng(0x5eed_0003);
    let mut input = Vec::new();
    for _ in 0..3000 {
        input.clear();
        input.extend_from_slice(b"$ORIGIN example.\n$TTL 60\n");
        for _ in 0..1 + rng.below(6) {
            if rng.below(4) == 0 {
                input.push(b' ');
            }
            for _ in 0..rng.below(9) {
                input.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                input.push(b' ');
            }
            input.push(b'\n');
        }
        read_all(&input);
    }
}
