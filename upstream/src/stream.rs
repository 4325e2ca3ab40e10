//! A pipelined DNS connection over TCP or TLS (RFC 7766, RFC 7858).
//!
//! ```text
//!  query() ──▶ pick free ID, park a oneshot ──▶ writer task ──frames──▶ upstream
//!  upstream ──frames──▶ reader task ──ID──▶ wake that query's oneshot
//! ```
//!
//! Many queries share one connection; answers may come back in any order
//! and are matched by message ID. The connection stays open between queries
//! and is reused until either side closes it; then [`StreamConn::is_alive`]
//! turns false and the owner opens a new one. A query that gives up (timeout)
//! removes its parked slot, so nothing leaks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::UpstreamError;

/// Queries waiting for their answer, by message ID.
type Pending = Arc<Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>>;

/// Most queries parked on one connection at once.
const MAX_IN_FLIGHT: usize = 4096;

/// One open connection to an upstream.
#[derive(Debug)]
pub(crate) struct StreamConn {
    /// Frames to write.
    tx: mpsc::Sender<Vec<u8>>,
    /// Parked queries.
    pending: Pending,
    /// False once either task has stopped.
    alive: Arc<AtomicBool>,
}

/// Removes a parked query when its future is dropped (timeout or cancel).
struct Parked<'a> {
    /// The parking lot.
    pending: &'a Pending,
    /// The ID to clear.
    id: u16,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl StreamConn {
    /// Start the reader and writer tasks on an established stream.
    pub(crate) fn start<S>(stream: S) -> StreamConn
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let alive = Arc::new(AtomicBool::new(true));

        let w_alive = alive.clone();
        let w_pending = pending.clone();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if wr.write_all(&frame).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
            }
            w_alive.store(false, Ordering::Release);
            // Wake everyone still waiting: their senders drop.
            w_pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
            let _ = wr.shutdown().await;
        });

        let r_alive = alive.clone();
        let r_pending = pending.clone();
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                if rd.read_exact(&mut len).await.is_err() {
                    break;
                }
                let len = usize::from(u16::from_be_bytes(len));
                let mut msg = vec![0u8; len];
                if rd.read_exact(&mut msg).await.is_err() {
                    break;
                }
                if msg.len() < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([msg[0], msg[1]]);
                let waiter = r_pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(msg);
                }
            }
            r_alive.store(false, Ordering::Release);
            r_pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });

        StreamConn { tx, pending, alive }
    }

    /// False once the connection has failed or been closed.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    /// Send `query` (its ID is replaced) and wait for the matching answer.
    /// The caller bounds the wait with a timeout.
    pub(crate) async fn exchange(&self, query: &[u8]) -> Result<Vec<u8>, UpstreamError> {
        if query.len() < 12 || query.len() > usize::from(u16::MAX) {
            return Err(UpstreamError::BadResponse);
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let id = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.len() >= MAX_IN_FLIGHT {
                return Err(UpstreamError::Busy);
            }
            let mut id: u16 = rand::random();
            while p.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            p.insert(id, reply_tx);
            id
        };
        let _parked = Parked {
            pending: &self.pending,
            id,
        };
        let mut frame = Vec::with_capacity(query.len() + 2);
        // Length checked above.
        frame.extend_from_slice(&(query.len() as u16).to_be_bytes());
        frame.extend_from_slice(query);
        frame[2..4].copy_from_slice(&id.to_be_bytes());
        self.tx
            .send(frame)
            .await
            .map_err(|_| UpstreamError::Closed)?;
        reply_rx.await.map_err(|_| UpstreamError::Closed)
    }
}
