//! Every socket the daemon serves on, bound at start-up or taken from the
//! daemon it replaces (`crate::handover`), and a copy of each kept for the
//! next hand-over.
//!
//! ```text
//!  (kind, address) ──handed over?──yes──▶ that socket (the old process's own: nothing queued is lost)
//!                                 └─no───▶ bound here (a bind error stops the start-up)
//!                  ──▶ a copy (dup) kept in `handable`, handed to the next process on request
//! ```

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::Path;

use sekisho_api::SocketKind;
use socket2::Socket;
use tokio::net::{TcpListener, UnixListener};

use super::DaemonError;
use crate::control;
use crate::handover::{Handed, Inherited};
use crate::listen;

/// Takes handed-over sockets, binds the others, and keeps a copy of each.
pub(super) struct Sockets<'a> {
    /// What the daemon being replaced handed over (`None`: a plain start).
    pub(super) inherited: Option<&'a mut Inherited>,
    /// A copy of every socket served, for a hand-over.
    pub(super) handable: Vec<Handed>,
}

impl Sockets<'_> {
    /// The handed sockets of `kind` at `address` (none on a plain start).
    fn take(&mut self, kind: SocketKind, address: &str) -> Vec<std::os::fd::OwnedFd> {
        match self.inherited.as_deref_mut() {
            Some(i) => i.take(kind, address),
            None => Vec::new(),
        }
    }

    /// Keeps a copy of `fd`, serving `kind` at `address`.
    fn keep(
        &mut self,
        kind: SocketKind,
        address: String,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> std::io::Result<()> {
        self.handable.push(Handed::copy(kind, address, fd)?);
        Ok(())
    }

    /// `workers` UDP sockets on `addr` (or more: every one handed over is
    /// served, so that nothing queued in one is left unread).
    pub(super) fn udp(
        &mut self,
        addr: SocketAddr,
        workers: usize,
    ) -> Result<Vec<std::net::UdpSocket>, DaemonError> {
        let err = |source| DaemonError::Bind {
            addr,
            proto: "udp",
            source,
        };
        let mut sockets: Vec<std::net::UdpSocket> = self
            .take(SocketKind::Udp, &addr.to_string())
            .into_iter()
            .map(std::net::UdpSocket::from)
            .collect();
        if sockets.len() < workers.max(1) {
            sockets.extend(listen::bind_udp(addr, workers.max(1) - sockets.len()).map_err(err)?);
        }
        for s in &sockets {
            self.keep(SocketKind::Udp, addr.to_string(), s.as_fd())
                .map_err(err)?;
        }
        Ok(sockets)
    }

    /// A stream socket of `kind` on `addr` (not listening yet when bound here).
    pub(super) fn stream(
        &mut self,
        kind: SocketKind,
        addr: SocketAddr,
    ) -> Result<Socket, DaemonError> {
        let err = |source| DaemonError::Bind {
            addr,
            proto: proto(kind),
            source,
        };
        let socket = match self.take(kind, &addr.to_string()).into_iter().next() {
            Some(fd) => Socket::from(fd),
            None => listen::bind_tcp(addr).map_err(err)?,
        };
        self.keep(kind, addr.to_string(), socket.as_fd())
            .map_err(err)?;
        Ok(socket)
    }

    /// A stream socket of `kind` on each of `addrs`, with their addresses.
    pub(super) fn streams(
        &mut self,
        kind: SocketKind,
        addrs: &[SocketAddr],
    ) -> Result<Vec<(SocketAddr, Socket)>, DaemonError> {
        addrs
            .iter()
            .map(|&addr| Ok((addr, self.stream(kind, addr)?)))
            .collect()
    }

    /// The metrics endpoint's listener on `addr`.
    pub(super) async fn metrics(&mut self, addr: SocketAddr) -> Result<TcpListener, DaemonError> {
        let err = |source| DaemonError::Bind {
            addr,
            proto: "tcp",
            source,
        };
        let listener = match self
            .take(SocketKind::Metrics, &addr.to_string())
            .into_iter()
            .next()
        {
            Some(fd) => {
                let l = std::net::TcpListener::from(fd);
                l.set_nonblocking(true).map_err(err)?;
                TcpListener::from_std(l).map_err(err)?
            }
            None => TcpListener::bind(addr).await.map_err(err)?,
        };
        self.keep(SocketKind::Metrics, addr.to_string(), listener.as_fd())
            .map_err(err)?;
        Ok(listener)
    }

    /// The control socket at `path`.
    pub(super) fn control(&mut self, path: &Path) -> Result<UnixListener, DaemonError> {
        let err = |source| control::ControlError {
            path: path.to_owned(),
            source,
        };
        let address = path.display().to_string();
        let listener = match self.take(SocketKind::Control, &address).into_iter().next() {
            Some(fd) => {
                let l = std::os::unix::net::UnixListener::from(fd);
                l.set_nonblocking(true).map_err(err)?;
                UnixListener::from_std(l).map_err(err)?
            }
            None => control::bind(path)?,
        };
        self.keep(SocketKind::Control, address, listener.as_fd())
            .map_err(err)?;
        Ok(listener)
    }
}

/// How a bind error names `kind`.
fn proto(kind: SocketKind) -> &'static str {
    match kind {
        SocketKind::Udp => "udp",
        SocketKind::Tls => "tls",
        SocketKind::Https => "https",
        SocketKind::Http => "http",
        SocketKind::Tcp | SocketKind::Metrics | SocketKind::Control => "tcp",
    }
}
