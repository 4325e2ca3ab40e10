//! Fuzz target `http_head`: what a browser sends to the warning page, through
//! `sekisho_warnpage::head_end` (finding the end of the head), `parse_head` and the
//! answer `respond` builds for each kind of configured response.
//!
//! Properties: nothing panics; the head ends inside the buffer on a blank line; a
//! parsed method is an HTTP token and a Host holds only name characters; every
//! answer is one well-formed HTTP/1.1 message whose Content-Length is the length of
//! its body (no body for HEAD), whose header lines carry nothing from the request,
//! and whose built-in page shows the Host only escaped; a TLS handshake gets no
//! answer at all.

use std::sync::Arc;

use sekisho_warnpage::{head_end, parse_head, respond, BadRequest, Outcome, Response, MAX_HEAD};

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// The answers a warning page can be configured with.
fn responses() -> [Response; 3] {
    [
        Response::DefaultPage,
        Response::Page(Arc::from(&b"<html>operator page</html>\n"[..])),
        Response::Redirect(Arc::from("http://warning.example/blocked?a=1&b=\"2\"")),
    ]
}

/// All properties for one input.
fn check(data: &[u8]) {
    // As the server reads: at most MAX_HEAD octets, then the head up to its end.
    let buf = &data[..data.len().min(MAX_HEAD)];
    let head = match head_end(buf) {
        Some(end) => {
            assert!(end <= buf.len());
            let head = &buf[..end];
            assert!(head.ends_with(b"\n\n") || head.ends_with(b"\r\n\r\n"));
            head
        }
        // The server answers what it has once the limit is reached.
        None => buf,
    };
    let parsed = parse_head(head);
    match &parsed {
        Ok(req) => {
            assert!(!req.method.is_empty());
            assert!(req
                .method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)));
            if let Some(host) = req.host {
                assert!(!host.is_empty() && host.len() <= 253);
                assert!(host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b)));
            }
        }
        Err(BadRequest::Tls) => assert!(head.starts_with(&[0x16, 0x03])),
        Err(_) => {}
    }
    for response in responses() {
        let (answer, outcome) = respond(&response, parsed.as_ref().map_err(|e| *e));
        match (&parsed, outcome) {
            (Err(BadRequest::Tls), Outcome::BadRequest) => {
                assert!(answer.is_empty(), "a TLS client gets no answer");
                continue;
            }
            (Err(_), Outcome::BadRequest) => check_message(&answer, "400 ", false),
            (Ok(req), Outcome::Redirect) => {
                assert!(matches!(response, Response::Redirect(_)));
                let status = if matches!(req.method, "GET" | "HEAD") {
                    "307 "
                } else {
                    "303 "
                };
                check_message(&answer, status, req.method == "HEAD");
            }
            (Ok(req), Outcome::Page) => {
                assert!(!matches!(response, Response::Redirect(_)));
                check_message(&answer, "403 ", req.method == "HEAD");
                if let (Response::DefaultPage, Some(host), false) =
                    (&response, req.host, req.method == "HEAD")
                {
                    let text = String::from_utf8_lossy(&answer);
                    assert!(!host.contains(['<', '>', '"', '\'', '&']));
                    assert!(text.contains(&format!("<p class=\"host\">{host}</p>")));
                }
            }
            (p, o) => panic!("outcome {o:?} for {p:?}"),
        }
    }
}

/// One HTTP/1.1 message: status line with `status`, header lines of printable
/// ASCII, a Content-Length equal to the body's length, and no body when `head_only`.
fn check_message(answer: &[u8], status: &str, head_only: bool) {
    let end = head_end(answer).expect("a complete head");
    let (head, body) = answer.split_at(end);
    let head = std::str::from_utf8(head).expect("an ASCII head");
    assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
    let mut length = None;
    for line in head.split("\r\n").take_while(|l| !l.is_empty()) {
        assert!(
            line.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "header line {line:?}"
        );
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            assert!(length.is_none(), "one Content-Length");
            length = Some(v.parse::<usize>().expect("a number"));
        }
    }
    let length = length.expect("a Content-Length");
    if head_only {
        assert!(body.is_empty(), "HEAD gets no body");
    } else {
        assert_eq!(body.len(), length);
    }
}
