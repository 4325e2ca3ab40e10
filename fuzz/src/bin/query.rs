//! Fuzz target `query`: a client datagram into `sekisho_wire::parse_query`, the first
//! thing the listener does with every packet, then the raw-wire walkers
//! (`skip_name`, `skip_record`) over the whole message and the error answers built
//! from it.
//!
//! Properties: nothing panics; an accepted query's question lies inside the packet,
//! is an uncompressed name of at most 255 octets followed by QTYPE and QCLASS, and
//! every record after it walks to exactly the end of the packet; each rejection is
//! the one its header calls for; the answers built from the packet are responses
//! that echo its ID and question.

use sekisho_wire::{
    badvers_response, error_response, parse_query, rcode, skip_name, skip_record,
    truncated_response, Query, WireError, HEADER_LEN, MAX_NAME_LEN,
};

/// Our advertised EDNS buffer in the checks (the resolver's default).
const OUR_BUFFER: u16 = 1232;

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// All properties for one packet.
fn check(packet: &[u8]) {
    let walked = walk(packet);
    match parse_query(packet) {
        Ok(query) => accepted(packet, &query, walked),
        Err(err) => rejected(packet, err),
    }
}

/// Walks the whole message with the public walkers; true if every counted
/// question and record is inside the packet and the last one ends it.
fn walk(packet: &[u8]) -> bool {
    // Every offset: a name found anywhere ends after it and inside the packet.
    for pos in 0..packet.len() {
        if let Some(end) = skip_name(packet, pos) {
            assert!(end > pos && end <= packet.len(), "skip_name({pos}) = {end}");
        }
    }
    if packet.len() < HEADER_LEN {
        return false;
    }
    let count = |at: usize| u32::from(u16::from_be_bytes([packet[at], packet[at + 1]]));
    let mut pos = HEADER_LEN;
    for _ in 0..count(4) {
        let Some(end) = skip_name(packet, pos) else {
            return false;
        };
        if end + 4 > packet.len() {
            return false;
        }
        pos = end + 4;
    }
    for _ in 0..count(6) + count(8) + count(10) {
        let Some(span) = skip_record(packet, pos) else {
            return false;
        };
        assert_eq!(span.name_start, pos);
        assert!(span.name_end > span.name_start);
        assert_eq!(span.ttl_offset, span.name_end + 4);
        assert_eq!(span.rdata_start, span.name_end + 10);
        assert!(span.rdata_start <= span.end && span.end <= packet.len());
        let rdlen = u16::from_be_bytes([packet[span.name_end + 8], packet[span.name_end + 9]]);
        assert_eq!(span.end - span.rdata_start, usize::from(rdlen));
        pos = span.end;
    }
    pos == packet.len()
}

/// Properties of an accepted query.
fn accepted(packet: &[u8], query: &Query<'_>, walked: bool) {
    assert!(std::ptr::eq(query.packet, packet));
    // The question span lies inside the packet.
    assert!(query.qname_end > HEADER_LEN);
    assert!(query.qname_end + 4 <= packet.len());
    let qname = query.qname_wire();
    assert!(qname.len() <= MAX_NAME_LEN);
    assert_eq!(query.question_wire().len(), qname.len() + 4);
    // Uncompressed labels ending in the root label exactly at qname_end.
    let mut at = 0;
    loop {
        let len = usize::from(qname[at]);
        assert!(len < 64, "label type bits in an accepted question");
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    assert_eq!(at, qname.len());
    let qfields = &packet[query.qname_end..query.qname_end + 4];
    assert_eq!(query.qtype, u16::from_be_bytes([qfields[0], qfields[1]]));
    assert_eq!(query.qclass, u16::from_be_bytes([qfields[2], qfields[3]]));
    assert_eq!(query.id, u16::from_be_bytes([packet[0], packet[1]]));
    // A query's records all walk to the end of the packet.
    assert!(walked, "parse_query accepted what the walkers reject");
    let limit = query.udp_limit(OUR_BUFFER);
    assert!((512..=usize::from(OUR_BUFFER)).contains(&limit));

    for code in [rcode::FORMERR, rcode::REFUSED, rcode::SERVFAIL] {
        let answer = error_response(packet, Some(query), code, OUR_BUFFER);
        check_answer(packet, &answer, Some(query));
        assert_eq!(answer[3] & 0x0f, code);
        // The TC=1 form of a response keeps the question and sets TC.
        let tc = truncated_response(&answer, query, OUR_BUFFER);
        check_answer(packet, &tc, Some(query));
        assert!(tc[2] & 0x02 != 0);
    }
}

/// Properties of a rejected packet.
fn rejected(packet: &[u8], err: WireError) {
    match err {
        WireError::TooShort => assert!(packet.len() < HEADER_LEN),
        WireError::IsResponse => assert!(packet[2] & 0x80 != 0),
        WireError::NotImplemented { opcode } => {
            assert_eq!(opcode, (packet[2] >> 3) & 0x0f);
            assert!(opcode != 0 && opcode != 4);
        }
        WireError::BadVersion => {
            let answer = badvers_response(packet, OUR_BUFFER);
            assert_eq!(&answer[..2], &packet[..2]);
            assert!(answer[2] & 0x80 != 0);
            let span = skip_record(&answer, HEADER_LEN).expect("the OPT record of BADVERS");
            assert_eq!(span.end, answer.len());
        }
        WireError::Malformed(m) => {
            assert!(!m.as_label().is_empty());
        }
    }
    // What the listener answers for a packet it could not read (no question).
    if packet.len() >= HEADER_LEN {
        let answer = error_response(packet, None, rcode::FORMERR, OUR_BUFFER);
        check_answer(packet, &answer, None);
    }
}

/// An answer built for `packet` is a response echoing the ID and question, and
/// walks to its end.
fn check_answer(packet: &[u8], answer: &[u8], query: Option<&Query<'_>>) {
    assert!(answer.len() >= HEADER_LEN);
    assert_eq!(&answer[..2], &packet[..2], "ID echoed");
    assert!(answer[2] & 0x80 != 0, "QR set");
    assert_eq!(answer[2] & 0x78, packet[2] & 0x78, "opcode echoed");
    match query {
        Some(q) => {
            assert_eq!(&answer[4..6], &[0, 1]);
            let end = HEADER_LEN + q.question_wire().len();
            assert_eq!(&answer[HEADER_LEN..end], q.question_wire());
            let arcount = u16::from_be_bytes([answer[10], answer[11]]);
            assert_eq!(arcount, u16::from(q.edns.is_some()));
            let mut pos = end;
            for _ in 0..arcount {
                pos = skip_record(answer, pos).expect("OPT record").end;
            }
            assert_eq!(pos, answer.len());
        }
        None => assert_eq!(answer.len(), HEADER_LEN),
    }
}
