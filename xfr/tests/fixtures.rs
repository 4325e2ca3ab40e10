//! Replays of recorded transfers from `testdata/xfr/` (see its README): the TSIG
//! chain and the interpreter against real BIND bytes, with no server running.

mod support;

use std::path::PathBuf;

use hickory_proto::rr::Name;
use sekisho_xfr::{
    Limits, Progress, Request, Transfer, TsigError, TsigKey, XfrError, XfrInterpreter,
};
use support::{canonical, zone, zone_records};

/// A recorded exchange.
struct Recording {
    key: TsigKey,
    now: u64,
    id: u16,
    request: Vec<u8>,
    responses: Vec<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn load(name: &str) -> Recording {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/xfr")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut key, mut now, mut id, mut request, mut responses) =
        (None, 0, 0, Vec::new(), Vec::new());
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["key", name, alg, secret] => {
                key = Some(TsigKey::new(
                    Name::from_ascii(name).expect("key name"),
                    alg.parse().expect("algorithm"),
                    unhex(secret),
                ))
            }
            ["now", t] => now = t.parse().expect("now"),
            ["id", i] => id = i.parse().expect("id"),
            ["request", h] => request = unhex(h),
            ["response", h] => responses.push(unhex(h)),
            other => panic!("{}: bad line {other:?}", path.display()),
        }
    }
    Recording {
        key: key.expect("key line"),
        now,
        id,
        request,
        responses,
    }
}

/// Starts an interpreter that rebuilds the recorded request byte for byte.
fn replay_start(r: &Recording) -> XfrInterpreter {
    let (x, request) = XfrInterpreter::start(
        &zone(),
        Request::Axfr,
        Some(&r.key),
        Limits::default(),
        r.id,
        r.now,
    )
    .expect("start");
    assert_eq!(
        request, r.request,
        "our signer reproduces the recorded request"
    );
    x
}

/// Feeds `messages`, returning the transfer or the first error.
fn feed_all(
    x: &mut XfrInterpreter,
    messages: &[Vec<u8>],
    now: u64,
) -> Result<Option<Transfer>, XfrError> {
    for m in messages {
        if let Progress::Done(t) = x.feed(m, now)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

#[test]
fn a_recorded_bind_axfr_signed_in_every_message_verifies_and_matches_the_zone() {
    let r = load("bind918-axfr-hmac-sha256.txt");
    assert!(
        r.responses.len() > 1,
        "the recording spans several messages"
    );
    let mut x = replay_start(&r);
    let t = feed_all(&mut x, &r.responses, r.now)
        .expect("verifies")
        .expect("complete");
    let Transfer::Full { records, .. } = t else {
        panic!("expected a full zone");
    };
    assert_eq!(canonical(&records), canonical(&zone_records(0)));
}

#[test]
fn a_recorded_bind_axfr_with_one_flipped_byte_fails_with_badsig() {
    let r = load("bind918-axfr-hmac-sha256.txt");
    let mut responses = r.responses.clone();
    // A byte in the middle of the third message's records.
    let m = &mut responses[2];
    let mid = m.len() / 2;
    m[mid] ^= 0x01;
    let mut x = replay_start(&r);
    let err = feed_all(&mut x, &responses, r.now).expect_err("tampered");
    assert!(
        matches!(
            err,
            XfrError::Tsig(TsigError::BadSig) | XfrError::Malformed(_)
        ),
        "got {err:?}"
    );
}

#[test]
fn a_recorded_bind_axfr_with_a_message_dropped_fails_with_badsig() {
    let r = load("bind918-axfr-hmac-sha256.txt");
    let mut responses = r.responses.clone();
    responses.remove(2);
    let mut x = replay_start(&r);
    let err = feed_all(&mut x, &responses, r.now).expect_err("chain broken");
    assert!(
        matches!(err, XfrError::Tsig(TsigError::BadSig)),
        "got {err:?}"
    );
}

#[test]
fn a_recorded_bind_axfr_replayed_an_hour_later_fails_with_badtime() {
    let r = load("bind918-axfr-hmac-sha256.txt");
    let mut x = replay_start(&r);
    let err = feed_all(&mut x, &r.responses, r.now + 3600).expect_err("stale");
    assert!(
        matches!(err, XfrError::Tsig(TsigError::BadTime { .. })),
        "got {err:?}"
    );
}
