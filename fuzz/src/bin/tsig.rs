//! Fuzz target `tsig`: TSIG (RFC 8945) verification and signing in `sekisho_xfr::tsig`.
//!
//! Input layout: the two low bits of octet 0 pick the algorithm of the fixed key;
//! the rest is a message.
//!
//! Properties:
//! - the message as received, verified with the fixed key as a request
//!   (`verify_request`) and as the first message of a response (`ResponseVerifier`),
//!   never panics and is never accepted: no input is validly signed with a key
//!   only the harness holds;
//! - a well-formed message made from the same bytes, signed as a request, verifies
//!   and gives back the message and MAC exactly; outside the time window it is
//!   refused; with any octet of the message changed it is refused;
//! - the same message signed as a chain of response messages verifies message by
//!   message, and the chain is complete.

use sekisho_fuzz::{fixed_key, well_formed_message, NOW};
use sekisho_xfr::tsig::{sign_request, verify_request, DEFAULT_FUDGE};
use sekisho_xfr::{RequestMac, ResponseSigner, ResponseVerifier, TsigError};

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// All properties for one input.
fn check(data: &[u8]) {
    let [selector, msg @ ..] = data else {
        return;
    };
    let key = fixed_key(*selector);
    let keys = std::slice::from_ref(&key);

    // Arbitrary bytes: never accepted.
    if let Ok(Some(v)) = verify_request(msg, keys, NOW) {
        panic!(
            "arbitrary bytes verified as a request signed by {:?}",
            v.key
        );
    }
    let mut verifier = ResponseVerifier::new(key.clone(), RequestMac(vec![0x5a; 32]));
    let first = verifier.verify(msg, NOW);
    assert!(first.is_err(), "arbitrary bytes verified as a response");
    assert!(verifier.finish().is_err());

    // Sign -> verify round trip of a well-formed message from the same bytes.
    let plain = well_formed_message(msg);
    let (signed, mac) = sign_request(&key, &plain, NOW).expect("a well-formed message signs");
    assert_eq!(&signed[2..10], &plain[2..10]);
    let verified = verify_request(&signed, keys, NOW)
        .expect("our signature verifies")
        .expect("our message is signed");
    assert_eq!(verified.message, plain);
    assert_eq!(verified.mac, mac);
    assert_eq!(verified.key, key);
    // The clock: at the edge of the fudge it passes, past it BADTIME.
    let fudge = u64::from(DEFAULT_FUDGE);
    assert!(verify_request(&signed, keys, NOW + fudge).is_ok());
    assert!(matches!(
        verify_request(&signed, keys, NOW + fudge + 1),
        Err(TsigError::BadTime { .. })
    ));
    // Any octet of the message proper changed (the ID is replaced by the Original ID
    // before the MAC, so it is left out): never accepted.
    if plain.len() > 2 {
        let at = 2 + usize::from(*selector >> 2) * 7 % (plain.len() - 2);
        let mut tampered = signed.clone();
        tampered[at] ^= (*selector | 1).rotate_left(3);
        if let Ok(Some(_)) = verify_request(&tampered, keys, NOW) {
            panic!("a signed message changed at octet {at} still verifies");
        }
    }

    // A response of several messages, each signed and chained to the previous MAC.
    let mut signer = ResponseSigner::new(key.clone(), mac.clone());
    let mut verifier = ResponseVerifier::new(key.clone(), mac);
    for i in 0..1 + usize::from(*selector >> 6) {
        let part = signer
            .sign(&plain, NOW)
            .expect("a well-formed message signs");
        let back = verifier
            .verify(&part, NOW)
            .unwrap_or_else(|e| panic!("response message {i} does not verify: {e}"));
        assert_eq!(back, plain, "response message {i}");
    }
    verifier
        .finish()
        .expect("a chain ending on a signed message");
}
