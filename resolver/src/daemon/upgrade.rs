//! Binary upgrade, the daemon's part: `sekishoctl upgrade` starts the new
//! binary, a new process's `TakeOver` request is answered with the cache and
//! the sockets (`crate::handover`), and its outcome decides whether this
//! process stops (the new one serves) or goes on serving (it failed; one
//! log line says why).
//!
//! ```text
//!  sekishoctl upgrade ─▶ State::upgrade: start /proc/self/exe --take-over ARGS
//!                                         │ waits for the outcome of that pid
//!  control: TakeOver{pid} ─▶ State::take_over ─▶ serve loop ─▶ HandOverJob (a task):
//!      save the cache, hand the sockets over, wait for Serving ─▶ serve loop:
//!      Serving ─▶ stop (drain, no cache save)    failure ─▶ go on serving, logged once
//! ```

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sekisho_conf::Config;
use tokio::sync::mpsc;

use super::handler::State;
use crate::control::Reply;
use crate::handover::{self, HandOverError, Handed, Inherited, Serving};

/// How long the new process may take to serve once it has the sockets (it
/// loads its policy zones first, bounded by 300 s).
const SERVING_WAIT: Duration = Duration::from_secs(600);

/// How long a new process waits for the running daemon's sockets (it saves
/// its cache first).
pub const TAKE_OVER_WAIT: Duration = Duration::from_secs(120);

/// The last hand-over's progress, watched by `sekishoctl upgrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HandOverEvent {
    /// None yet.
    None,
    /// Process `pid` asked for the sockets.
    Started(u32),
    /// Process `pid` failed to take over.
    Failed(u32, String),
    /// Process `pid` serves; this one stops.
    Serving(u32),
}

/// One hand-over to a new process, run as a task of its own.
pub(super) struct HandOverJob {
    /// The connection the request came on.
    pub(super) stream: UnixStream,
    /// The new process.
    pub(super) pid: u32,
    /// Where the cache is saved for it.
    pub(super) cache_file: Option<PathBuf>,
    /// Every socket served.
    pub(super) sockets: Arc<Vec<Handed>>,
}

/// What a hand-over came to: the new process's pid and its word.
pub(super) type Outcome = (u32, Result<Serving, HandOverError>);

impl HandOverJob {
    /// Saves the cache, hands the sockets over, waits for the new process to
    /// serve, and sends the outcome to the serve loop.
    pub(super) async fn run(self, state: Arc<State>, outcomes: mpsc::Sender<Outcome>) {
        let HandOverJob {
            stream,
            pid,
            cache_file,
            sockets,
        } = self;
        let saved = match cache_file {
            None => None,
            Some(path) => {
                let p = state.pipeline.clone();
                match tokio::task::spawn_blocking(move || (p.dump_cache(&path), path)).await {
                    Ok((Ok(n), path)) => {
                        tracing::info!(file = %path.display(), answers = n, pid, "cache saved for the new process");
                        Some(path)
                    }
                    Ok((Err(e), path)) => {
                        tracing::warn!(file = %path.display(), error = %e, pid, "cache not saved; the new process starts cold");
                        None
                    }
                    Err(_) => None,
                }
            }
        };
        let result = tokio::task::spawn_blocking(move || {
            handover::hand_over(&stream, saved.as_deref(), &sockets, SERVING_WAIT)
        })
        .await
        .unwrap_or_else(|e| Err(HandOverError::Message(e.to_string())));
        let _ = outcomes.send((pid, result)).await;
    }
}

/// Where the cache is saved for a new process: `cache.save-file`, or a
/// file of the state directory that the new process removes once read.
pub(super) fn cache_file(config: &Config) -> Option<PathBuf> {
    Some(
        config
            .cache
            .save_file
            .clone()
            .unwrap_or_else(|| config.server.directory.join("handover-cache.dump")),
    )
}

/// Settles a hand-over: `Some` when the new process serves (this one stops),
/// `None` when it failed (logged once; this one goes on serving).
pub(super) fn settle(state: &State, (pid, result): Outcome) -> Option<Serving> {
    match result {
        Ok(serving) => {
            tracing::info!(
                pid = serving.pid,
                sockets = serving.taken.len(),
                "socket hand-over done: the new process serves; stopping"
            );
            state.handovers.send_replace(HandOverEvent::Serving(pid));
            Some(serving)
        }
        Err(error) => {
            tracing::warn!(pid, %error, "socket hand-over failed; this process goes on serving");
            state
                .handovers
                .send_replace(HandOverEvent::Failed(pid, error.to_string()));
            state.handing_over.store(false, Ordering::Release);
            None
        }
    }
}

/// The new process serves: systemd is told this is the main process now,
/// and the old one that it may stop.
pub(super) async fn serving(inherited: Inherited) {
    // MAINPID first, so systemd does not take the old one's exit for the service's.
    super::systemd_notify(&[
        sd_notify::NotifyState::MainPid(std::process::id()),
        sd_notify::NotifyState::Ready,
    ]);
    match tokio::task::spawn_blocking(move || inherited.serving()).await {
        Ok(Ok(())) => tracing::info!("serving on the handed-over sockets; the old process stops"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the old process was not told that this one serves; it stops only when told to")
        }
        Err(_) => {}
    }
}

impl State {
    /// A new process asks for the sockets: one hand-over at a time.
    pub(super) fn start_take_over(
        &self,
        stream: UnixStream,
        pid: u32,
    ) -> Result<(), (UnixStream, String)> {
        let busy = || "a socket hand-over is already under way".to_string();
        if self
            .handing_over
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err((stream, busy()));
        }
        tracing::info!(pid, "a new process asks for the sockets: handing over");
        self.handovers.send_replace(HandOverEvent::Started(pid));
        self.takeover.try_send((stream, pid)).map_err(|e| {
            self.handing_over.store(false, Ordering::Release);
            let (stream, _) = e.into_inner();
            (stream, busy())
        })
    }

    /// `sekishoctl upgrade`: starts the binary at this process's path with
    /// `--take-over` and its arguments, and answers once it serves or failed.
    pub(super) async fn upgrade(&self) -> Reply {
        let exe = match handover::own_binary() {
            Ok(exe) => exe,
            Err(e) => {
                return Reply::Error {
                    message: format!("cannot find this process's binary: {e}"),
                }
            }
        };
        let mut events = self.handovers.subscribe();
        let mut child = match std::process::Command::new(&exe)
            .args(handover::upgrade_arguments())
            .stdin(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                return Reply::Error {
                    message: format!("cannot start {}: {e}", exe.display()),
                }
            }
        };
        let pid = child.id();
        let me = std::process::id();
        tracing::info!(binary = %exe.display(), pid, "upgrade: new process started; it takes the sockets over once ready");
        let mut started = false;
        loop {
            let event = events.borrow_and_update().clone();
            match event {
                HandOverEvent::Started(p) if p == pid => started = true,
                HandOverEvent::Serving(p) if p == pid => {
                    return Reply::Done {
                        message: format!(
                            "upgraded: pid {pid} ({}) serves now; pid {me} stops",
                            exe.display()
                        ),
                    }
                }
                HandOverEvent::Failed(p, reason) if p == pid => {
                    // Reaped when it exits (it may still be on its way out).
                    std::thread::spawn(move || child.wait());
                    return Reply::Error {
                        message: format!(
                            "upgrade failed, pid {me} goes on serving: the new process (pid {pid}) did not take over: {reason}"
                        ),
                    };
                }
                _ => {}
            }
            if !started {
                if let Ok(Some(status)) = child.try_wait() {
                    // A request it sent just before exiting may still be on its way.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if !matches!(*events.borrow(), HandOverEvent::Started(p) | HandOverEvent::Failed(p, _) if p == pid)
                    {
                        tracing::warn!(pid, %status, "upgrade failed: the new process exited before taking over; this process goes on serving");
                        return Reply::Error {
                            message: format!(
                                "upgrade failed, pid {me} goes on serving: the new process (pid {pid}, {}) exited ({status}) before taking over; its reason is in the log",
                                exe.display()
                            ),
                        };
                    }
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), events.changed()).await;
        }
    }
}
