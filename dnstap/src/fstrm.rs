//! Frame Streams control frames, the writer's side of the bidirectional
//! handshake (<https://github.com/farsightsec/fstrm>, `fstrm/control.h`).
//!
//! ```text
//! writer                                 reader (collector)
//!   READY  (content type)  ------------->
//!          <-------------  ACCEPT (content types it takes)
//!   START  (content type)  ------------->
//!   data frames: u32 length (> 0), payload
//!   STOP                   ------------->
//!          <-------------  FINISH
//! ```
//!
//! A control frame is escaped by a zero length where a data frame's length
//! would be, then its own length, then the body:
//!
//! ```text
//! 00 00 00 00 | u32 length | u32 control type | fields...
//! field: u32 CONTENT_TYPE (1) | u32 length | content type bytes
//! ```
//!
//! All integers are big-endian. This module only builds and parses bytes;
//! the writer thread does the I/O.

use std::io::Read;

/// The content type dnstap uses on Frame Streams.
pub(crate) const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";

/// Longest control frame body a reader may send (`FSTRM_CONTROL_FRAME_LENGTH_MAX`).
const MAX_CONTROL_LEN: usize = 512;

/// The control field that carries a content type.
const FIELD_CONTENT_TYPE: u32 = 1;

/// Control frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// The reader accepts the stream (answer to READY).
    Accept = 1,
    /// The writer starts sending data frames.
    Start = 2,
    /// The writer stops; it sends no more data frames.
    Stop = 3,
    /// The writer offers a stream (bidirectional mode).
    Ready = 4,
    /// The reader acknowledges STOP.
    Finish = 5,
}

impl Control {
    /// The control type for its number.
    fn from_code(code: u32) -> Option<Control> {
        Some(match code {
            1 => Control::Accept,
            2 => Control::Start,
            3 => Control::Stop,
            4 => Control::Ready,
            5 => Control::Finish,
            _ => return None,
        })
    }
}

/// What went wrong in the handshake, for the "lost" log line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// The socket failed or timed out.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The collector sent a data frame where a control frame belongs.
    #[error("collector sent a data frame during the handshake")]
    NotControl,
    /// The control frame was longer than the protocol allows.
    #[error("control frame of {len} bytes is too long")]
    TooLong {
        /// The announced length.
        len: usize,
    },
    /// The control frame did not parse.
    #[error("malformed control frame")]
    Malformed,
    /// A control frame of another type arrived.
    #[error("expected {expected:?}, collector sent {got:?}")]
    Unexpected {
        /// What the handshake waited for.
        expected: Control,
        /// What came (`None`: an unknown type).
        got: Option<Control>,
    },
    /// The collector does not accept dnstap.
    #[error("collector does not accept content type protobuf:dnstap.Dnstap")]
    ContentType,
}

/// Builds a control frame (escape, length, type, optional content type).
pub(crate) fn control_frame(kind: Control, content_type: Option<&[u8]>) -> Vec<u8> {
    let mut body = (kind as u32).to_be_bytes().to_vec();
    if let Some(ct) = content_type {
        body.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        // The content type is a short constant, far below 4 GiB.
        body.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        body.extend_from_slice(ct);
    }
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// A parsed control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Received {
    /// Its type (`None`: a type this code does not know).
    pub(crate) kind: Option<Control>,
    /// Its content type fields.
    pub(crate) content_types: Vec<Vec<u8>>,
}

/// Parses a control frame body (after escape and length).
pub(crate) fn parse_control(body: &[u8]) -> Result<Received, HandshakeError> {
    let (kind, mut rest) = take_u32(body).ok_or(HandshakeError::Malformed)?;
    let mut content_types = Vec::new();
    while !rest.is_empty() {
        let (field, r) = take_u32(rest).ok_or(HandshakeError::Malformed)?;
        let (len, r) = take_u32(r).ok_or(HandshakeError::Malformed)?;
        let len = len as usize;
        if r.len() < len {
            return Err(HandshakeError::Malformed);
        }
        if field == FIELD_CONTENT_TYPE {
            content_types.push(r[..len].to_vec());
        }
        rest = &r[len..];
    }
    Ok(Received {
        kind: Control::from_code(kind),
        content_types,
    })
}

/// Splits a big-endian u32 off the front.
fn take_u32(buf: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), rest))
}

/// Reads one control frame from `r` (blocking, bounded by the socket's
/// read timeout).
pub(crate) fn read_control(r: &mut impl Read) -> Result<Received, HandshakeError> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head)?;
    if head[..4] != [0, 0, 0, 0] {
        return Err(HandshakeError::NotControl);
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_CONTROL_LEN {
        return Err(HandshakeError::TooLong { len });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    parse_control(&body)
}

/// Checks that `got` is an ACCEPT that takes dnstap. fstrm readers list the
/// content types they accept; one that lists none accepts anything.
pub(crate) fn check_accept(got: &Received) -> Result<(), HandshakeError> {
    if got.kind != Some(Control::Accept) {
        return Err(HandshakeError::Unexpected {
            expected: Control::Accept,
            got: got.kind,
        });
    }
    if got.content_types.is_empty() || got.content_types.iter().any(|c| c == CONTENT_TYPE) {
        Ok(())
    } else {
        Err(HandshakeError::ContentType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_frame_matches_the_spec_layout() {
        let frame = control_frame(Control::Ready, Some(CONTENT_TYPE));
        let mut expected = vec![0, 0, 0, 0]; // escape
        expected.extend_from_slice(&(4u32 + 4 + 4 + 22).to_be_bytes()); // body length
        expected.extend_from_slice(&[0, 0, 0, 4]); // READY
        expected.extend_from_slice(&[0, 0, 0, 1]); // CONTENT_TYPE
        expected.extend_from_slice(&[0, 0, 0, 22]);
        expected.extend_from_slice(b"protobuf:dnstap.Dnstap");
        assert_eq!(frame, expected);
    }

    #[test]
    fn stop_frame_has_no_fields() {
        assert_eq!(
            control_frame(Control::Stop, None),
            [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3]
        );
    }

    #[test]
    fn an_accept_frame_reads_back() {
        let frame = control_frame(Control::Accept, Some(CONTENT_TYPE));
        let got = read_control(&mut &frame[..]).expect("well-formed frame");
        assert_eq!(got.kind, Some(Control::Accept));
        assert_eq!(got.content_types, vec![CONTENT_TYPE.to_vec()]);
        check_accept(&got).expect("accepts dnstap");
    }

    #[test]
    fn an_accept_for_another_content_type_is_refused() {
        let frame = control_frame(Control::Accept, Some(b"protobuf:other"));
        let got = read_control(&mut &frame[..]).expect("well-formed frame");
        assert!(matches!(
            check_accept(&got),
            Err(HandshakeError::ContentType)
        ));
    }

    #[test]
    fn a_finish_where_accept_belongs_is_refused() {
        let frame = control_frame(Control::Finish, None);
        let got = read_control(&mut &frame[..]).expect("well-formed frame");
        assert!(matches!(
            check_accept(&got),
            Err(HandshakeError::Unexpected {
                got: Some(Control::Finish),
                ..
            })
        ));
    }

    #[test]
    fn data_frames_long_frames_and_truncated_fields_are_errors() {
        let data = [0, 0, 0, 5, 1, 2, 3, 4, 5];
        assert!(matches!(
            read_control(&mut &data[..]),
            Err(HandshakeError::NotControl)
        ));
        let long = [0, 0, 0, 0, 0, 0, 2, 1];
        assert!(matches!(
            read_control(&mut &long[..]),
            Err(HandshakeError::TooLong { len: 513 })
        ));
        let truncated = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, b'x'];
        assert!(matches!(
            parse_control(&truncated),
            Err(HandshakeError::Malformed)
        ));
        assert!(matches!(
            parse_control(&[0, 0]),
            Err(HandshakeError::Malformed)
        ));
    }
}
