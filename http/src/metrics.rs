//! The Prometheus endpoint: `GET /metrics` on the shared server loop, 64
//! connections at most (a scraper needs one; a few dashboards a handful).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::{serve, Handler, ServerConfig, ServerStats};
use crate::Body;

/// Produces the response body for `GET /metrics`.
pub type Render = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

/// Connections the metrics endpoint serves at once.
pub const METRICS_MAX_CONNECTIONS: usize = 64;

/// Content type of the text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET /metrics`.
struct Metrics {
    /// The body.
    render: Render,
}

impl Handler for Metrics {
    async fn handle(&self, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        answer(req.method(), req.uri().path(), &self.render)
    }
}

/// The answer to `method path`: the exposition for `/metrics`, 405 for
/// another method there, 404 elsewhere.
fn answer(method: &Method, path: &str, render: &Render) -> Response<Body> {
    let mut response = if path != "/metrics" {
        status(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"not found: try /metrics\n"),
        )
    } else if method == Method::GET || method == Method::HEAD {
        status(StatusCode::OK, Bytes::from(render()))
    } else {
        let mut r = status(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"GET /metrics\n"),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
    response
}

/// A response with `code` and `body`.
fn status(code: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::new(body));
    *r.status_mut() = code;
    r
}

/// Serves `GET /metrics` on `listener` until `stop` turns true (or its sender
/// is dropped), with at most [`METRICS_MAX_CONNECTIONS`] connections at once.
pub async fn serve_metrics(listener: TcpListener, render: Render, stop: watch::Receiver<bool>) {
    let mut config = ServerConfig::new("metrics");
    config.max_connections = METRICS_MAX_CONNECTIONS;
    serve(
        vec![listener],
        Metrics { render },
        config,
        Arc::new(ServerStats::default()),
        stop,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Status and body text of the answer.
    async fn get(method: Method, path: &str) -> (StatusCode, String) {
        let render: Render = Arc::new(|| b"up 1\n".to_vec());
        let r = answer(&method, path, &render);
        assert_eq!(r.headers()[CONTENT_TYPE], METRICS_CONTENT_TYPE);
        let status = r.status();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn metrics_is_served_and_everything_else_is_not() {
        assert_eq!(
            get(Method::GET, "/metrics").await,
            (StatusCode::OK, "up 1\n".into())
        );
        assert_eq!(get(Method::GET, "/").await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(Method::GET, "/metricsx").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(Method::POST, "/metrics").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
