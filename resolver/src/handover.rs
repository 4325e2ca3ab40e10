//! Binary upgrade without lost queries: the running daemon hands its bound
//! sockets to a new process over the control socket (`SCM_RIGHTS`,
//! `unix(7)`), as nginx and HAProxy do.
//!
//! ```text
//!  new process (sekisho --take-over)              running daemon
//!   connect to control.socket ── TakeOver{pid} ──▶  save the answer cache (cache.save-file)
//!                            ◀── HandOver{cache_file, sockets} line,
//!                                then the descriptors, in that order
//!   build as usual (zones, caches, the saved answers);
//!   take the handed socket where kind + address match, bind the rest
//!   serve; READY=1 and MAINPID=<own pid> to systemd
//!                            ── Serving{pid, taken} ──▶  stop reading and accepting, drain,
//!                                                        exit 0 (no second cache save; the
//!                                                        control socket's path is left to the new one)
//!   closed before Serving (failed, killed) ─────────▶  go on serving; one log line why
//! ```
//!
//! While both run they read the same sockets: the kernel gives each datagram
//! and each pending connection to one reader, and both answer correctly.
//! Nothing queued in a socket is lost when the old process stops reading it,
//! since the new one holds the same socket, not a new one beside it.
//!
//! This module is the conversation only (blocking, on a thread of its own
//! on either side); [`crate::daemon`] decides what is handed and what is taken.

use std::io::{BufRead, BufReader, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
pub use sekisho_api::{HandedSocket, Serving, SocketKind};
use sekisho_api::{Reply, Request, MAX_REPLY, MAX_REQUEST};

/// Descriptors per message, well below the kernel's `SCM_MAX_FD` (253).
const FDS_PER_MESSAGE: usize = 64;

/// Bound on each write of the conversation and on reading the sockets.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a hand-over failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandOverError {
    /// Reading or writing the connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The other side closed the connection.
    #[error("the other process closed the connection before {0}")]
    Closed(&'static str),
    /// No message within the time allowed.
    #[error("no word from the other process within {0:?}")]
    Timeout(Duration),
    /// A message that is not what the conversation expects.
    #[error("unexpected message: {0}")]
    Message(String),
    /// The running daemon refused to hand over (its reason).
    #[error("the running daemon refused: {0}")]
    Refused(String),
    /// The kernel dropped descriptors (the open-file limit).
    #[error("descriptors were cut off in transit (open-file limit?)")]
    Truncated,
}

impl HandOverError {
    /// An I/O error, with a read timeout of `wait` turned into [`HandOverError::Timeout`].
    fn of_io(e: std::io::Error, wait: Duration) -> HandOverError {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => HandOverError::Timeout(wait),
            _ => HandOverError::Io(e),
        }
    }
}

/// A bound socket and what it serves. The daemon keeps a copy of each
/// descriptor beside the one its listener serves, so that it can hand them
/// over at any time.
#[derive(Debug)]
pub struct Handed {
    /// What it serves.
    pub socket: HandedSocket,
    /// The descriptor.
    pub fd: OwnedFd,
}

impl Handed {
    /// A copy of `fd` (`dup`), serving `kind` at `address`.
    pub fn copy(kind: SocketKind, address: String, fd: BorrowedFd<'_>) -> std::io::Result<Handed> {
        Ok(Handed {
            socket: HandedSocket { kind, address },
            fd: fd.try_clone_to_owned()?,
        })
    }
}

/// The running daemon's side, on a blocking thread: sends `cache_file` and
/// `sockets` on `stream`, then waits up to `wait` for the new process to say
/// it serves.
pub fn hand_over(
    stream: &UnixStream,
    cache_file: Option<&Path>,
    sockets: &[Handed],
    wait: Duration,
) -> Result<Serving, HandOverError> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let reply = Reply::HandOver {
        cache_file: cache_file.map(|p| p.display().to_string()),
        sockets: sockets.iter().map(|h| h.socket.clone()).collect(),
    };
    let line = sekisho_api::encode(&reply).map_err(|e| HandOverError::Message(e.to_string()))?;
    (&*stream).write_all(&line)?;
    let fds: Vec<BorrowedFd<'_>> = sockets.iter().map(|h| h.fd.as_fd()).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MESSAGE))];
    for chunk in fds.chunks(FDS_PER_MESSAGE) {
        let mut control = SendAncillaryBuffer::new(&mut space);
        // Cannot fail: the buffer has room for FDS_PER_MESSAGE descriptors.
        if !control.push(SendAncillaryMessage::ScmRights(chunk)) {
            return Err(HandOverError::Truncated);
        }
        // One octet carries each batch (a stream socket sends no empty message).
        rustix::net::sendmsg(
            stream,
            &[IoSlice::new(b"F")],
            &mut control,
            SendFlags::NOSIGNAL,
        )
        .map_err(std::io::Error::from)?;
    }
    stream.set_read_timeout(Some(wait))?;
    let mut line = String::new();
    let n = BufReader::new(stream.take(MAX_REQUEST as u64))
        .read_line(&mut line)
        .map_err(|e| HandOverError::of_io(e, wait))?;
    if n == 0 {
        return Err(HandOverError::Closed("it served"));
    }
    sekisho_api::decode::<Serving>(&line).map_err(|e| HandOverError::Message(e.to_string()))
}

/// What a new process took from the running daemon: the sockets (not served
/// yet) and where the answers were saved. The connection stays open until
/// the new process serves and says so ([`Inherited::serving`]).
#[derive(Debug)]
pub struct Inherited {
    /// The control connection the sockets came on.
    conn: UnixStream,
    /// Where the running daemon saved its answer cache (`None`: it did not).
    pub cache_file: Option<PathBuf>,
    /// The sockets not taken yet.
    sockets: Vec<Handed>,
    /// The sockets taken, for the last message.
    taken: Vec<HandedSocket>,
}

/// The new process's side: asks the daemon answering on `control` for its
/// sockets and takes them, waiting up to `wait` for its answer (it saves its
/// cache first).
pub fn take_over(control: &Path, wait: Duration) -> Result<Inherited, HandOverError> {
    let conn = UnixStream::connect(control)?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    conn.set_read_timeout(Some(wait))?;
    let line = sekisho_api::encode(&Request::TakeOver {
        pid: std::process::id(),
    })
    .map_err(|e| HandOverError::Message(e.to_string()))?;
    (&conn).write_all(&line)?;
    let (cache_file, sockets) = receive(&conn, wait)?;
    Ok(Inherited {
        conn,
        cache_file: cache_file.map(PathBuf::from),
        sockets,
        taken: Vec::new(),
    })
}

/// Reads the [`Reply::HandOver`] line and the descriptors announced in it.
fn receive(
    conn: &UnixStream,
    wait: Duration,
) -> Result<(Option<String>, Vec<Handed>), HandOverError> {
    let mut data = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut announced: Option<(Option<String>, Vec<HandedSocket>)> = None;
    let mut buf = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_MESSAGE))];
    loop {
        if let Some((_, sockets)) = &announced {
            if fds.len() >= sockets.len() {
                break;
            }
        }
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            conn,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| HandOverError::of_io(e.into(), wait))?;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = m {
                fds.extend(received);
            }
        }
        if msg.flags.contains(ReturnFlags::CTRUNC) {
            return Err(HandOverError::Truncated);
        }
        if msg.bytes == 0 {
            return Err(HandOverError::Closed("it handed its sockets over"));
        }
        if announced.is_some() {
            // The octets that carry the descriptors.
            continue;
        }
        data.extend_from_slice(&buf[..msg.bytes]);
        let Some(end) = data.iter().position(|&b| b == b'\n') else {
            if data.len() > MAX_REPLY {
                return Err(HandOverError::Message("an endless line".into()));
            }
            continue;
        };
        let line = String::from_utf8_lossy(&data[..end]);
        match sekisho_api::decode::<Reply>(&line) {
            Ok(Reply::HandOver {
                cache_file,
                sockets,
            }) => announced = Some((cache_file, sockets)),
            Ok(Reply::Error { message }) => return Err(HandOverError::Refused(message)),
            Ok(_) => return Err(HandOverError::Message(line.into_owned())),
            Err(e) => return Err(HandOverError::Message(e.to_string())),
        }
    }
    let Some((cache_file, sockets)) = announced else {
        return Err(HandOverError::Closed("it handed its sockets over"));
    };
    if fds.len() != sockets.len() {
        return Err(HandOverError::Message(format!(
            "{} sockets announced, {} descriptors received",
            sockets.len(),
            fds.len()
        )));
    }
    let handed = sockets
        .into_iter()
        .zip(fds)
        .map(|(socket, fd)| Handed { socket, fd })
        .collect();
    Ok((cache_file, handed))
}

impl Inherited {
    /// Every handed socket serving `kind` at `address` (none: bind one). A
    /// socket of an internet kind whose own address or type is not what was
    /// announced is closed, with a warning, and not returned.
    pub fn take(&mut self, kind: SocketKind, address: &str) -> Vec<OwnedFd> {
        let (matching, rest) = std::mem::take(&mut self.sockets)
            .into_iter()
            .partition(|h| h.socket.kind == kind && h.socket.address == address);
        self.sockets = rest;
        let mut fds = Vec::new();
        for h in matching {
            match check(&h) {
                Ok(()) => {
                    self.taken.push(h.socket);
                    fds.push(h.fd);
                }
                Err(reason) => {
                    tracing::warn!(socket = %h.socket, %reason, "handed-over socket closed; binding a new one")
                }
            }
        }
        fds
    }

    /// Closes the handed sockets nothing took (addresses the configuration
    /// no longer names), each logged once.
    pub fn close_unused(&mut self) {
        for h in self.sockets.drain(..) {
            tracing::info!(socket = %h.socket, "handed-over socket not in the configuration; closed");
        }
    }

    /// Tells the old process that this one serves (it stops then).
    pub fn serving(self) -> Result<(), HandOverError> {
        let line = sekisho_api::encode(&Serving {
            pid: std::process::id(),
            taken: self.taken,
        })
        .map_err(|e| HandOverError::Message(e.to_string()))?;
        (&self.conn).write_all(&line)?;
        Ok(())
    }
}

/// Whether `h` is the socket it is announced as: for the internet kinds,
/// bound to that address with the right type.
fn check(h: &Handed) -> Result<(), String> {
    let want = match h.socket.kind {
        SocketKind::Control => return Ok(()),
        SocketKind::Udp => socket2::Type::DGRAM,
        _ => socket2::Type::STREAM,
    };
    let sock = socket2::SockRef::from(&h.fd);
    let kind = sock.r#type().map_err(|e| e.to_string())?;
    let local = sock
        .local_addr()
        .map_err(|e| e.to_string())?
        .as_socket()
        .ok_or("not an internet socket")?;
    let address: SocketAddr = h
        .socket
        .address
        .parse()
        .map_err(|_| "not an address".to_string())?;
    if kind != want || local != address {
        return Err(format!("it is bound to {local}"));
    }
    Ok(())
}

/// The binary to start for an upgrade: the one this process runs from, as
/// it is now on disk (a package upgrade replaces the file; the kernel then
/// names the old one `PATH (deleted)`).
pub fn own_binary() -> std::io::Result<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

/// The flag that makes a new process take the sockets over.
pub const TAKE_OVER_FLAG: &str = "--take-over";

/// The arguments of an upgraded process: this one's, with [`TAKE_OVER_FLAG`] once at the end.
pub fn upgrade_arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != TAKE_OVER_FLAG)
        .collect();
    args.push(TAKE_OVER_FLAG.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_travel_with_their_descriptions_and_unused_ones_are_closed() {
        let (old, new) = UnixStream::pair().expect("pair");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
        let (ua, ta) = (
            udp.local_addr().expect("a").to_string(),
            tcp.local_addr().expect("a").to_string(),
        );
        // More than one message's worth, so batches are tested too.
        let mut handed: Vec<Handed> = (0..FDS_PER_MESSAGE + 3)
            .map(|_| Handed::copy(SocketKind::Udp, ua.clone(), udp.as_fd()).expect("dup"))
            .collect();
        handed.push(Handed::copy(SocketKind::Tcp, ta.clone(), tcp.as_fd()).expect("dup"));
        // Announced as TCP on the UDP socket's address: refused by the check.
        handed.push(Handed::copy(SocketKind::Tcp, ua.clone(), tcp.as_fd()).expect("dup"));
        let sender = std::thread::spawn(move || {
            let dump = Path::new("/x/cache.dump");
            hand_over(&old, Some(dump), &handed, Duration::from_secs(5))
        });
        new.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let (cache_file, sockets) = receive(&new, Duration::from_secs(5)).expect("received");
        let mut inherited = Inherited {
            conn: new,
            cache_file: cache_file.map(PathBuf::from),
            sockets,
            taken: Vec::new(),
        };
        assert_eq!(inherited.cache_file, Some(PathBuf::from("/x/cache.dump")));
        assert_eq!(
            inherited.take(SocketKind::Udp, &ua).len(),
            FDS_PER_MESSAGE + 3
        );
        let tcp_fds = inherited.take(SocketKind::Tcp, &ta);
        assert_eq!(tcp_fds.len(), 1);
        let taken_tcp = std::net::TcpListener::from(tcp_fds.into_iter().next().expect("fd"));
        assert_eq!(taken_tcp.local_addr().expect("a").to_string(), ta);
        assert!(inherited.take(SocketKind::Tcp, &ua).is_empty());
        assert!(inherited.take(SocketKind::Metrics, &ta).is_empty());
        inherited.close_unused();
        inherited.serving().expect("serving sent");
        let serving = sender.join().expect("thread").expect("hand-over");
        assert_eq!(serving.pid, std::process::id());
        assert_eq!(serving.taken.len(), FDS_PER_MESSAGE + 4);
    }

    #[test]
    fn a_new_process_that_closes_before_serving_fails_the_hand_over() {
        let (old, new) = UnixStream::pair().expect("pair");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        let handed = vec![Handed::copy(
            SocketKind::Udp,
            udp.local_addr().expect("a").to_string(),
            udp.as_fd(),
        )
        .expect("dup")];
        let sender =
            std::thread::spawn(move || hand_over(&old, None, &handed, Duration::from_secs(5)));
        let got = receive(&new, Duration::from_secs(5)).expect("received");
        assert_eq!(got.0, None);
        drop(got);
        drop(new);
        let err = sender.join().expect("thread").expect_err("no Serving");
        assert!(matches!(err, HandOverError::Closed(_)), "{err}");
    }

    #[test]
    fn a_refusal_is_reported_with_its_reason() {
        let (old, new) = UnixStream::pair().expect("pair");
        let reply = Reply::Error {
            message: "a hand-over is already under way".into(),
        };
        (&old)
            .write_all(&sekisho_api::encode(&reply).expect("encode"))
            .expect("write");
        let err = receive(&new, Duration::from_secs(5)).expect_err("refused");
        assert!(err.to_string().contains("already under way"), "{err}");
    }
}
