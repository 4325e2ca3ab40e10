//! The daemon's side of the control channel `sekishoctl` talks to.
//!
//! One JSON object per line over a Unix socket (mode 0600): the client
//! sends a [`Request`], the daemon answers one [`Reply`] and closes. The
//! types and the framing live in `sekisho-api`, shared with the client. The
//! socket is only read by the control task; it never takes a lock on the
//! query path, and a slow client only holds its own connection (reads and
//! writes are bounded by a timeout).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sekisho_api::MAX_REQUEST;
pub use sekisho_api::{Reply, Request, Status, UpstreamStatus};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// A boxed reply future.
pub type ReplyFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + 'a>>;

/// What the daemon does with a request (implemented by the daemon).
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, request: Request) -> ReplyFuture<'_>;

    /// A new process on `stream` asks for the sockets (`Request::TakeOver`,
    /// crate::handover): the daemon takes the connection over, or gives it
    /// back with the reason it refuses.
    fn take_over(
        &self,
        stream: std::os::unix::net::UnixStream,
        pid: u32,
    ) -> Result<(), (std::os::unix::net::UnixStream, String)>;
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("control socket {path}: {source}")]
pub struct ControlError {
    /// The socket path.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Bound on one client's read and write (a reload of a large zone takes a while).
const IO_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a stopping daemon waits for the replies still being written
/// (`stop`, `upgrade`: their callers want to read them).
const REPLY_GRACE: Duration = Duration::from_secs(1);

/// Bind the control socket at `path` (replacing a stale one), mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let err = |source| ControlError {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if path.exists() {
        // A live daemon answers on it: refuse to steal its socket.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another daemon is answering on it",
            )));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(listener)
}

/// Serve control requests until `stop` turns true, then give the replies
/// being written a moment to go out.
pub async fn serve(
    listener: UnixListener,
    handler: std::sync::Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) {
    let mut clients = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "control accept error");
                    continue;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => continue,
            _ = stop.changed() => break,
        };
        let h = handler.clone();
        clients.spawn(async move {
            let _ = tokio::time::timeout(IO_TIMEOUT, serve_one(stream, h)).await;
        });
    }
    let _ = tokio::time::timeout(REPLY_GRACE, async {
        while clients.join_next().await.is_some() {}
    })
    .await;
}

/// Read one request line, write one reply line.
async fn serve_one(
    stream: UnixStream,
    handler: std::sync::Arc<dyn Handler>,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(rd.take(MAX_REQUEST as u64));
    rd.read_line(&mut line).await?;
    let reply = match sekisho_api::decode::<Request>(&line) {
        // The connection itself goes to the daemon (nothing follows the
        // request line until the daemon answers, so nothing is buffered).
        Ok(Request::TakeOver { pid }) => {
            let stream = rd
                .into_inner()
                .into_inner()
                .reunite(wr)
                .map_err(std::io::Error::other)?;
            let Err((stream, message)) = handler.take_over(stream.into_std()?, pid) else {
                return Ok(());
            };
            let mut stream = UnixStream::from_std(stream)?;
            let out =
                sekisho_api::encode(&Reply::Error { message }).map_err(std::io::Error::other)?;
            stream.write_all(&out).await?;
            return stream.shutdown().await;
        }
        Ok(req) => handler.handle(req).await,
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    let out = sekisho_api::encode(&reply)
        .unwrap_or_else(|_| b"{\"result\":\"error\",\"message\":\"encoding\"}\n".to_vec());
    wr.write_all(&out).await?;
    wr.shutdown().await
}
