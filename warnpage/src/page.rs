//! The answers themselves (sans-I/O): the page, the redirect, their headers.
//!
//! - The page to a blocked name is `403 Forbidden`, so scripts and crawlers
//!   see the content is not the site's (browsers show the body all the same);
//!   on the warning URL's own host it is `200 OK`, that being its real content.
//! - A redirect is `307 Temporary Redirect` for GET and HEAD; other methods (a
//!   form posted to a blocked site) get `303 See Other`, which makes the
//!   browser fetch the warning URL with GET instead of re-posting the form
//!   there ([RFC 9110 section 15.4.4](https://www.rfc-editor.org/rfc/rfc9110#section-15.4.4)).
//! - Every answer says `Cache-Control: no-store`, so the real site is not
//!   shadowed by a cached copy once the block is lifted, and the built-in
//!   page (Japanese and English) loads nothing from anywhere.
//!
//! HEAD gets the same head without the body (hyper leaves the body out).

use hyper::body::Bytes;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Response, StatusCode};
use sekisho_http::Body;

use crate::route::{host_part, Route, Routes};

/// Result of one request, the `result` label of the request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The page was served.
    Page,
    /// A redirect was sent.
    Redirect,
    /// Not a usable HTTP request (hyper answered `400`, `414` or `431`).
    BadRequest,
}

impl Outcome {
    /// Label value.
    pub fn as_label(self) -> &'static str {
        match self {
            Outcome::Page => "page",
            Outcome::Redirect => "redirect",
            Outcome::BadRequest => "bad_request",
        }
    }
}

/// The answer for `route` to a `method` request whose Host is `host`.
pub fn respond(
    route: Route,
    method: &Method,
    host: Option<&str>,
    routes: &Routes,
) -> (Response<Body>, Outcome) {
    match (route, &routes.redirect) {
        (Route::Redirect, Some(url)) => {
            let status = if method == Method::GET || method == Method::HEAD {
                StatusCode::TEMPORARY_REDIRECT
            } else {
                StatusCode::SEE_OTHER
            };
            let body = format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Blocked</title></head><body><p><a href=\"{0}\">{0}</a></p></body></html>\n",
                html_escape(url.as_str())
            );
            let mut r = html(status, Bytes::from(body));
            // Checked printable ASCII when parsed, so always a valid header value.
            if let Ok(v) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(LOCATION, v);
            }
            (r, Outcome::Redirect)
        }
        (route, _) => {
            let status = if route == Route::WarningHost {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            let r = match &routes.page {
                Some(page) => html(status, Bytes::copy_from_slice(page)),
                None => {
                    // On the warning host the blocked name is not known: the
                    // page names no host rather than the warning host's own.
                    let shown = (route == Route::Blocked)
                        .then(|| host.and_then(host_part))
                        .flatten();
                    let mut r = html(status, Bytes::from(default_page(shown)));
                    r.headers_mut().insert(
                        CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
                    );
                    r
                }
            };
            (r, Outcome::Page)
        }
    }
}

/// An HTML answer with the headers every answer carries.
fn html(status: StatusCode, body: Bytes) -> Response<Body> {
    let length = body.len();
    let mut r = Response::new(Body::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

/// Escapes text for HTML content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The built-in page; `host` (already restricted to name characters) is shown escaped.
pub fn default_page(host: Option<&str>) -> String {
    let site = host
        .map(|h| format!("<p class=\"host\">{}</p>", html_escape(h)))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>アクセスが制限されています / Access blocked</title>
<style>
body {{ font-family: sans-serif; background: #f4f4f4; color: #222; margin: 0; }}
main {{ max-width: 44em; margin: 3em auto; background: #fff; border-top: 6px solid #c0392b; padding: 1.5em 2em; }}
h1 {{ font-size: 1.4em; color: #c0392b; }}
h2 {{ font-size: 1.2em; color: #c0392b; margin-top: 2em; }}
.host {{ font-family: monospace; font-size: 1.1em; background: #f4f4f4; padding: .3em .6em; word-break: break-all; }}
p {{ line-height: 1.6; }}
</style>
</head>
<body>
<main>
<h1>このサイトへのアクセスは制限されています</h1>
{site}
<p>お使いのインターネット接続事業者は、このサイトをブロッキングの対象としています。このサイトは、児童の性的虐待を記録した画像、マルウェア、フィッシングなど、利用者に害を及ぼす内容を掲載しているとしてリストに登録されています。</p>
<p>ブロッキングが誤っているとお考えの場合は、ご契約のインターネット接続事業者にお問い合わせください。</p>
<h2 lang="en">Access to this site is blocked</h2>
<div lang="en">
{site}
<p>Your Internet service provider blocks this site. It is on a blocking list of sites that carry content harmful to users, such as images of child sexual abuse, malware or phishing.</p>
<p>If you believe this is a mistake, please contact your Internet service provider.</p>
</div>
</main>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::route;
    use http_body_util::BodyExt;
    use std::sync::Arc;

    /// Status, one header and the body of the answer to `method` for `host`.
    async fn answer(
        routes: &Routes,
        method: Method,
        host: Option<&str>,
        header: &str,
    ) -> (StatusCode, Option<String>, String, Outcome) {
        let (r, outcome) = respond(route(host, routes), &method, host, routes);
        let status = r.status();
        let value = r
            .headers()
            .get(header)
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        let body = r.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            value,
            String::from_utf8(body.to_vec()).expect("utf-8"),
            outcome,
        )
    }

    /// `--page FILE --redirect URL`.
    fn both() -> Routes {
        Routes {
            page: Some(Arc::from(&b"<h1>ISP notice</h1>"[..])),
            redirect: Some(
                "http://warning.example.net/blocked.html"
                    .parse()
                    .expect("url"),
            ),
        }
    }

    #[tokio::test]
    async fn any_host_gets_the_built_in_page_naming_it() {
        let routes = Routes {
            page: None,
            redirect: None,
        };
        let (status, csp, text, outcome) = answer(
            &routes,
            Method::GET,
            Some("Blocked.Example1.JP:8080"),
            "content-security-policy",
        )
        .await;
        assert_eq!((status, outcome), (StatusCode::FORBIDDEN, Outcome::Page));
        assert!(csp.expect("csp").starts_with("default-src 'none'"));
        assert!(text.contains("<p class=\"host\">Blocked.Example1.JP</p>"));
        assert!(text.contains("このサイトへのアクセスは制限されています"));
        assert!(text.contains("Access to this site is blocked"));
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "no external resources"
        );
        let (_, _, hostile, _) =
            answer(&routes, Method::GET, Some("<script>alert(1)</script>"), "x").await;
        assert!(!hostile.contains("<script>") && !hostile.contains("class=\"host\""));
    }

    #[tokio::test]
    async fn both_flags_page_on_the_warning_host_and_redirect_elsewhere() {
        let routes = both();
        let (status, _, text, outcome) = answer(
            &routes,
            Method::GET,
            Some("WARNING.example.net:80"),
            "location",
        )
        .await;
        assert_eq!((status, outcome), (StatusCode::OK, Outcome::Page));
        assert_eq!(text, "<h1>ISP notice</h1>");
        let (status, location, _, outcome) = answer(
            &routes,
            Method::GET,
            Some("blocked.example1.jp"),
            "location",
        )
        .await;
        assert_eq!(
            (status, outcome),
            (StatusCode::TEMPORARY_REDIRECT, Outcome::Redirect)
        );
        assert_eq!(
            location.as_deref(),
            Some("http://warning.example.net/blocked.html")
        );
        let (status, _, _, _) =
            answer(&routes, Method::POST, Some("blocked.example1.jp"), "x").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }

    #[tokio::test]
    async fn redirect_alone_serves_the_built_in_page_on_the_warning_host() {
        let routes = Routes {
            page: None,
            redirect: Some("https://warning.example.net/".parse().expect("url")),
        };
        let (status, location, text, outcome) = answer(
            &routes,
            Method::GET,
            Some("warning.example.net"),
            "location",
        )
        .await;
        assert_eq!((status, outcome), (StatusCode::OK, Outcome::Page));
        assert_eq!(location, None, "never a redirect to itself");
        assert!(text.contains("Access to this site is blocked"));
        assert!(
            !text.contains("class=\"host\""),
            "the warning host is not named as blocked"
        );
    }
}
