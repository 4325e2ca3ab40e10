//! Fuzz target `xfr`: a primary's answer to our AXFR or IXFR, as one or several
//! messages, into `sekisho_xfr::XfrInterpreter`.
//!
//! Input layout: octet 0 picks the request (bit 0: IXFR, else AXFR) and whether the
//! harness signs each message with TSIG as a primary would (bit 1; the two low bits
//! of octet 1 pick the algorithm); octets 1-4 are the serial of an IXFR; the rest
//! is the stream of messages with DNS-over-TCP framing (two-octet lengths).
//!
//! Properties: nothing panics; the interpreter ends at most once and refuses
//! anything after its end; a full transfer starts with its SOA and holds it once;
//! an incremental one chains its deltas from our serial to the new SOA's, each
//! moving forward; "up to date" is only said for a serial not newer than ours;
//! every record belongs to the zone.

use hickory_proto::rr::{Name, RData, Record};
use sekisho_fuzz::{fixed_key, frames, NOW, XFR_ID, XFR_ZONE};
use sekisho_xfr::tsig::verify_request;
use sekisho_xfr::{
    Limits, Progress, Request, ResponseSigner, Serial, Transfer, XfrError, XfrInterpreter,
};

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// All properties for one input.
fn check(data: &[u8]) {
    let [mode, s0, s1, s2, s3, stream @ ..] = data else {
        return;
    };
    let ours = Serial(u32::from_be_bytes([*s0, *s1, *s2, *s3]));
    let request = if mode & 1 != 0 {
        Request::Ixfr {
            serial: ours,
            soa: None,
        }
    } else {
        Request::Axfr
    };
    let sign = mode & 2 != 0;
    let key = fixed_key(*s0);
    let zone = Name::from_ascii(XFR_ZONE).expect("constant zone name");
    let limits = Limits {
        max_bytes: 1 << 20,
        max_records: 10_000,
        ..Limits::default()
    };
    let (mut interpreter, query) = XfrInterpreter::start(
        &zone,
        request.clone(),
        sign.then_some(&key),
        limits,
        XFR_ID,
        NOW,
    )
    .expect("building the request cannot fail");
    // The primary's side of TSIG: verify our request, sign each answer in turn.
    let mut signer = sign.then(|| {
        let verified = verify_request(&query, std::slice::from_ref(&key), NOW)
            .expect("our own request verifies")
            .expect("our own request is signed");
        ResponseSigner::new(key.clone(), verified.mac)
    });

    let mut done = false;
    for frame in frames(stream) {
        let signed;
        let msg = match signer.as_mut().map(|s| s.sign(frame, NOW)) {
            Some(Ok(bytes)) => {
                signed = bytes;
                &signed[..]
            }
            _ => frame,
        };
        let result = interpreter.feed(msg, NOW);
        if done {
            assert!(
                matches!(result, Err(XfrError::TrailingRecords)),
                "fed after the end: {result:?}"
            );
            continue;
        }
        match result {
            Ok(Progress::NeedMore) => assert!(!interpreter.is_done()),
            Ok(Progress::Done(transfer)) => {
                assert!(interpreter.is_done());
                check_transfer(&zone, &request, &transfer);
                done = true;
            }
            // An error ends the transfer for the caller; later messages are not fed.
            Err(err) => {
                assert!(!err.to_string().is_empty());
                return;
            }
        }
    }
}

/// The serial of an SOA record.
fn serial_of(record: &Record) -> Option<Serial> {
    match &record.data {
        RData::SOA(soa) => Some(Serial(soa.serial)),
        _ => None,
    }
}

/// Properties of a completed transfer.
fn check_transfer(zone: &Name, request: &Request, transfer: &Transfer) {
    match transfer {
        Transfer::Full { soa, records } => {
            assert_eq!(&soa.name, zone);
            let serial = serial_of(soa).expect("the SOA of a full transfer");
            assert_eq!(transfer.serial(), serial);
            assert_eq!(
                records.first(),
                Some(soa),
                "a full zone starts with its SOA"
            );
            assert_eq!(
                records.iter().filter(|r| serial_of(r).is_some()).count(),
                1,
                "a full zone holds its SOA once"
            );
            for r in records {
                assert!(zone.zone_of(&r.name), "{} outside the zone", r.name);
            }
        }
        Transfer::Incremental { soa, deltas } => {
            let Request::Ixfr { serial: ours, .. } = request else {
                panic!("an incremental answer to an AXFR");
            };
            let new = serial_of(soa).expect("the SOA of an incremental transfer");
            let first = deltas.first().expect("an incremental transfer has a delta");
            assert_eq!(first.from_serial, *ours);
            let mut at = *ours;
            for delta in deltas {
                assert_eq!(delta.from_serial, at, "deltas chain");
                assert!(delta.to_serial.is_newer_than(delta.from_serial));
                at = delta.to_serial;
                for r in delta.removed.iter().chain(&delta.added) {
                    assert!(zone.zone_of(&r.name), "{} outside the zone", r.name);
                    assert!(serial_of(r).is_none(), "an SOA inside a delta");
                }
            }
            assert_eq!(at, new, "the last delta reaches the new serial");
        }
        Transfer::UpToDate { soa } => {
            let Request::Ixfr { serial: ours, .. } = request else {
                panic!("'up to date' for an AXFR");
            };
            let theirs = serial_of(soa).expect("the SOA of an up-to-date answer");
            assert!(!theirs.is_newer_than(*ours));
        }
    }
}
