//! A minimal HTTP/1.x endpoint serving one path (`GET /metrics`).
//!
//! Prometheus only needs `GET /metrics`; a full HTTP stack would be a large
//! dependency for one path. Each client gets at most 8 KiB of request head
//! and 5 seconds, then the connection closes, so a slow or hostile scraper
//! holds nothing but its own task; the body is produced by a callback that
//! reads atomics and snapshots, never a lock on the query path.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Produces the response body for `GET /metrics`.
pub type Render = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;

/// Longest request head read.
const MAX_HEAD: usize = 8192;
/// Time allowed for one exchange.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve `GET /metrics` on `listener` until `stop` turns true.
pub async fn serve_metrics(listener: TcpListener, render: Render, mut stop: watch::Receiver<bool>) {
    loop {
        let (mut stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let render = render.clone();
        tokio::spawn(async move {
            let work = async {
                let mut req = vec![0u8; MAX_HEAD];
                let mut n = 0;
                while n < req.len() {
                    let k = stream.read(&mut req[n..]).await?;
                    if k == 0 {
                        break;
                    }
                    n += k;
                    if req[..n].windows(4).any(|w| w == b"\r\n\r\n")
                        || req[..n].windows(2).any(|w| w == b"\n\n")
                    {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&req[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = if head.starts_with("GET ")
                    && (path == "/metrics" || path.starts_with("/metrics?"))
                {
                    ("200 OK", render())
                } else {
                    ("404 Not Found", b"not found: try /metrics\n".to_vec())
                };
                let header = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(header.as_bytes()).await?;
                stream.write_all(&body).await?;
                stream.shutdown().await
            };
            let _ = tokio::time::timeout(CLIENT_TIMEOUT, work).await;
        });
    }
}
