//! Fuzz target `http_head`: what a browser sends to the warning page. The head
//! is parsed by `httparse` (the parser hyper uses for HTTP/1.1), then its Host
//! header goes through the page's own decisions: `sekisho_warnpage::host_part`,
//! `HostKey::parse`, `route` for each configuration (page only, redirect only,
//! both) and `respond` for the answer.
//!
//! Properties: nothing panics; a Host accepted by `host_part` is a slice of the
//! header that holds only name characters or a bracketed IPv6 literal; a request
//! whose Host names the warning URL's host is never redirected (no loop), and
//! every other request is redirected whenever a URL is configured; a redirect
//! carries exactly the configured URL in Location; header values are printable
//! ASCII; the built-in page shows the Host only escaped.

use std::future::Future;
use std::sync::Arc;

use http::Method;
use http_body_util::BodyExt;
use sekisho_warnpage::{host_part, respond, route, HostKey, Outcome, Route, Routes};

/// The URL every redirecting configuration points at.
const URL: &str = "http://warning.example/blocked?a=1&b=2";

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

/// The three configurations a warning page can run with.
fn configurations() -> [Routes; 3] {
    let url = URL.parse().expect("the fixed URL parses");
    [
        Routes {
            page: Some(Arc::from(&b"<html>operator page</html>\n"[..])),
            redirect: None,
        },
        Routes {
            page: None,
            redirect: Some(url),
        },
        Routes {
            page: Some(Arc::from(&b"<html>operator page</html>\n"[..])),
            redirect: Some(URL.parse().expect("the fixed URL parses")),
        },
    ]
}

/// All properties for one input.
fn check(data: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(data) else {
        return;
    };
    let Some(method) = req.method.and_then(|m| Method::from_bytes(m.as_bytes()).ok()) else {
        return;
    };
    // hyper hands over header values as bytes; the page reads them as text.
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok());
    if let Some(raw) = host {
        if let Some(part) = host_part(raw) {
            assert!(raw.contains(part), "a slice of the header");
            assert!(part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:[]".contains(&b)));
        }
    }
    let warning_host = URL.parse::<sekisho_warnpage::RedirectUrl>().expect("url");
    let for_warning_host = host.and_then(HostKey::parse).as_ref() == Some(warning_host.host());
    for routes in configurations() {
        let r = route(host, &routes);
        match (&routes.redirect, r) {
            (None, Route::Blocked) => {}
            (Some(_), Route::WarningHost) => assert!(for_warning_host, "{host:?}"),
            (Some(_), Route::Redirect) => assert!(!for_warning_host, "a loop for {host:?}"),
            (cfg, r) => panic!("route {r:?} with redirect {cfg:?}"),
        }
        let (response, outcome) = respond(r, &method, host, &routes);
        match outcome {
            Outcome::Redirect => {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .expect("a redirect has a Location");
                assert_eq!(location.as_bytes(), URL.as_bytes());
            }
            Outcome::Page => {}
            Outcome::BadRequest => panic!("a parsed request is not a bad request"),
        }
        for (name, value) in response.headers() {
            assert!(value.as_bytes().iter().all(|b| (0x20..0x7f).contains(b)), "{name}");
        }
        // The built-in page shows the Host in one paragraph, escaped: no markup from
        // the request may appear there raw.
        let body = String::from_utf8_lossy(&futures_body(response.into_body())).into_owned();
        if let Some(start) = body.find("<p class=\"host\">") {
            let shown = &body[start + "<p class=\"host\">".len()..];
            let shown = &shown[..shown.find("</p>").expect("the paragraph ends")];
            assert!(!shown.contains(['<', '>', '"', '\'']), "unescaped Host {shown:?}");
        }
    }
}

/// The whole body of an answer (bodies here are in memory: one poll suffices).
fn futures_body<B>(body: B) -> Vec<u8>
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    let collected = BodyExt::collect(body);
    let mut fut = std::pin::pin!(collected);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(c)) => c.to_bytes().to_vec(),
        _ => panic!("an in-memory body is ready at once"),
    }
}
