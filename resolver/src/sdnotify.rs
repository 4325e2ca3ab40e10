//! systemd readiness notification (`sd_notify(3)`), without libsystemd.
//!
//! With `Type=notify-reload` systemd waits for `READY=1` before it counts
//! the service as started (Sekisho sends it after the policy zones are
//! loaded and the listeners are open), expects `RELOADING=1` plus
//! `MONOTONIC_USEC` when a SIGHUP reload starts and `READY=1` when it ends,
//! and `STOPPING=1` on shutdown. Outside systemd (`NOTIFY_SOCKET` unset)
//! every call does nothing.

use std::os::unix::net::UnixDatagram;

/// Send `state` to systemd if it is listening. Failures are ignored:
/// notification is advisory.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(name) = bytes.strip_prefix(b"@") {
        // An abstract socket: '@' stands for the leading NUL byte.
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), std::path::Path::new(&path))
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// `RELOADING=1` with the monotonic timestamp systemd requires for
/// `Type=notify-reload`.
pub fn reloading() {
    let mut ts = std::time::Duration::ZERO;
    if let Ok(up) = std::fs::read_to_string("/proc/uptime") {
        if let Some(secs) = up
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
        {
            ts = std::time::Duration::from_secs_f64(secs);
        }
    }
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", ts.as_micros()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_reaches_a_listening_notify_socket() {
        let dir = std::env::temp_dir().join(format!("sekisho-sdnotify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).expect("bind");
        // The environment is process-wide; this is the only test touching NOTIFY_SOCKET.
        std::env::set_var("NOTIFY_SOCKET", &path);
        notify("READY=1");
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("a datagram");
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
