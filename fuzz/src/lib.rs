//! Shared pieces of the AFL++ fuzz targets in `src/bin/`: how a target cuts its
//! input into messages, and the fixed key, zone and clock the harnesses use.
//!
//! Each target is a persistent-mode AFL++ binary (`afl::fuzz!`) that asserts the
//! properties its parser promises; a failed assertion aborts, which AFL++ records
//! as a crash. The seed generator (`src/bin/seeds.rs`) writes starting inputs in
//! the same layouts, so the fuzzer begins from well-formed messages.

use hickory_proto::rr::Name;
use sekisho_xfr::{TsigAlgorithm, TsigKey};

/// The clock every harness passes as "now" (seconds since the Unix epoch), so a
/// crash replays identically.
pub const NOW: u64 = 1_795_334_409;

/// The zone the `xfr` target transfers: the one of the recorded BIND transfer in
/// `testdata/xfr/`, so its messages seed the fuzzer.
pub const XFR_ZONE: &str = "zone.xfr.test.";

/// The query ID of the `xfr` target's request (that of the recorded transfer).
pub const XFR_ID: u16 = 4660;

/// The key name of the fixed key: the same name as the recorded transfer's key so
/// its signed messages reach the MAC check, with a different secret so they fail it.
pub const KEY_NAME: &str = "k-hmac-sha256.";

/// The secret of the fixed key. No seed is signed with it: a message the harness
/// did not sign itself must never verify.
pub const KEY_SECRET: &[u8] = b"sekisho-fuzz: not the secret of any recording";

/// The fixed key with the algorithm picked by `selector` (its two low bits).
pub fn fixed_key(selector: u8) -> TsigKey {
    let algorithm = TsigAlgorithm::ALL[usize::from(selector & 3)];
    // A constant, valid name: parsing it cannot fail.
    let name = Name::from_ascii(KEY_NAME).unwrap_or_else(|_| Name::root());
    TsigKey::new(name, algorithm, KEY_SECRET.to_vec())
}

/// Splits `data` into messages the way DNS over TCP frames them (RFC 1035
/// section 4.2.2): a two-octet big-endian length, then that many octets. A last
/// frame shorter than its length prefix yields what is left.
pub fn frames(data: &[u8]) -> Frames<'_> {
    Frames { rest: data }
}

/// Iterator returned by [`frames`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    /// Input not yet split.
    rest: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let [hi, lo, rest @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        self.rest = rest;
        Some(frame)
    }
}

/// Appends `msg` to `out` as one frame (the inverse of [`frames`]); messages
/// longer than 65535 octets are cut, as TCP framing could not carry them.
pub fn push_frame(out: &mut Vec<u8>, msg: &[u8]) {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&msg[..usize::from(len)]);
}

/// Builds a structurally valid DNS message from arbitrary bytes: the first 4
/// octets give the ID and flags (missing ones are 0), the rest is read as a list of
/// answer records (owner label, type, class, TTL, RDATA of up to 255 octets), and
/// the section counts are written to match. Every byte string gives a message whose
/// records all lie inside it and that carries no TSIG RR in the additional section.
pub fn well_formed_message(data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 12];
    let head_len = data.len().min(4);
    header[..head_len].copy_from_slice(&data[..head_len]);
    let mut body = data.get(4..).unwrap_or_default();
    let mut out = header.to_vec();
    let mut count: u16 = 0;
    while let [label_len, rest @ ..] = body {
        if count == 64 {
            break;
        }
        let label_len = usize::from(label_len % 64).min(rest.len());
        let (label, rest) = rest.split_at(label_len);
        let mut fixed = [0u8; 9];
        let fixed_len = rest.len().min(9);
        fixed[..fixed_len].copy_from_slice(&rest[..fixed_len]);
        let rest = &rest[fixed_len..];
        let rdlen = usize::from(fixed[8]).min(rest.len());
        let (rdata, rest) = rest.split_at(rdlen);
        if !label.is_empty() {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        // type (2), class (2), TTL (4), then RDLENGTH as two octets.
        out.extend_from_slice(&fixed[..8]);
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        out.extend_from_slice(rdata);
        count += 1;
        body = rest;
    }
    out[6..8].copy_from_slice(&count.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_on_length_prefixes_and_keep_a_short_tail() {
        let data = [0, 2, b'a', b'b', 0, 0, 0, 5, b'c'];
        let got: Vec<&[u8]> = frames(&data).collect();
        assert_eq!(got, vec![&b"ab"[..], &b""[..], &b"c"[..]]);
        let mut again = Vec::new();
        push_frame(&mut again, b"ab");
        assert_eq!(again, [0, 2, b'a', b'b']);
    }

    #[test]
    fn well_formed_messages_walk_to_their_end() {
        let msg = well_formed_message(
            b"\x12\x34\x01\x00\x03www\x00\x01\x00\x01\x00\x00\x00\x3c\x04\xc0\x00\x02\x01",
        );
        assert_eq!(&msg[..4], b"\x12\x34\x01\x00");
        assert_eq!(&msg[4..12], &[0, 0, 0, 1, 0, 0, 0, 0]);
        let span = sekisho_wire::skip_record(&msg, 12).expect("one record");
        assert_eq!(span.end, msg.len());
        assert_eq!(&msg[span.rdata_start..], &[192, 0, 2, 1]);
    }
}
