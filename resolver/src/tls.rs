//! The server side of TLS for the encrypted client listeners: DNS over TLS
//! (RFC 7858) and DNS over HTTPS (RFC 8484).
//!
//! ```text
//!  tls-cert-file + tls-key-file ─read─▶ CertifiedKey ─store─▶ ServerCert (ArcSwap)
//!                  ▲                                            │ resolve() per handshake
//!   start, SIGHUP, sekishoctl reload                             ▼
//!                                      DoT ServerConfig (ALPN dot)   DoH ServerConfig (ALPN h2, http/1.1)
//! ```
//!
//! Both listeners share one certificate and key. The certificate is not baked
//! into the rustls `ServerConfig`s: they ask [`ServerCert`] for it on every
//! handshake, and a reload swaps the key pair behind it. So a reload changes
//! what new handshakes present, connections already up go on untouched, and
//! the session cache and ticket keys survive the reload (clients keep
//! resuming). A reload whose files are bad keeps the pair in use and says why.
//!
//! TLS 1.2 and 1.3 are offered (RFC 8310 section 8.1 wants at least 1.2);
//! resumption uses both a server-side session cache (TLS 1.2 session IDs and
//! TLS 1.3 stateful tickets) and stateless tickets, on the ring provider the
//! DoT upstreams use too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN of DNS over TLS (RFC 7858 section 3.2, registered by RFC 8310).
pub const ALPN_DOT: &[u8] = b"dot";
/// ALPN of HTTP/2, which DNS over HTTPS prefers (RFC 8484 section 5.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Sessions remembered for resumption (each a few hundred bytes).
const SESSION_CACHE_SIZE: usize = 4096;

/// Why the certificate or key of the TLS listeners is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsFileError {
    /// A file could not be read or holds no PEM section of the kind needed.
    #[error("server.{key}: {path}: {reason}")]
    File {
        /// The configuration key naming the file (`tls-cert-file`, `tls-key-file`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key does not fit the certificate, or rustls cannot use it.
    #[error("server.tls-key-file: {path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
    /// The TLS settings could not be built (a provider without TLS 1.2 or 1.3).
    #[error("tls: {0}")]
    Setup(#[source] rustls::Error),
}

/// The certificate chain and key the TLS listeners present, swapped whole by
/// a reload.
#[derive(Debug)]
pub struct ServerCert {
    /// What new handshakes present.
    current: ArcSwap<CertifiedKey>,
    /// The files it was read from (`sekishoctl reload` reads them again;
    /// SIGHUP may name others).
    files: Mutex<(PathBuf, PathBuf)>,
}

impl ServerCert {
    /// Reads `cert` (PEM chain, end entity first) and `key` (PEM private key).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerCert>, TlsFileError> {
        let pair = read_pair(cert, key)?;
        Ok(Arc::new(ServerCert {
            current: ArcSwap::from_pointee(pair),
            files: Mutex::new((cert.to_path_buf(), key.to_path_buf())),
        }))
    }

    /// Reads the files again (`None`: the ones in use) and, when they are
    /// good, presents them from the next handshake on. On error nothing
    /// changes. Returns the certificate file read.
    pub fn reload(&self, files: Option<(&Path, &Path)>) -> Result<PathBuf, TlsFileError> {
        let (cert, key) = match files {
            Some((c, k)) => (c.to_path_buf(), k.to_path_buf()),
            None => self.lock().clone(),
        };
        let pair = read_pair(&cert, &key)?;
        self.current.store(Arc::new(pair));
        *self.lock() = (cert.clone(), key);
        Ok(cert)
    }

    /// The file names (a poisoned lock still holds a whole pair).
    fn lock(&self) -> std::sync::MutexGuard<'_, (PathBuf, PathBuf)> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rustls settings of a listener offering `alpn`, presenting this
    /// certificate (as it is at each handshake).
    pub fn server_config(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, TlsFileError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsFileError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsFileError::Setup)?;
        // TLS 1.3: two tickets, so a client can resume twice (RFC 8446 section 4.6.1
        // lets it use each once), as OpenSSL sends.
        config.send_tls13_tickets = 2;
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads and checks a certificate chain and its key.
fn read_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsFileError> {
    let file_error = |k: &'static str, p: &Path, reason: String| TlsFileError::File {
        key: k,
        path: p.to_path_buf(),
        reason,
    };
    let cert_text =
        std::fs::read(cert).map_err(|e| file_error("tls-cert-file", cert, e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<_, _>>()
        .map_err(|e| file_error("tls-cert-file", cert, format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(
            "tls-cert-file",
            cert,
            "no CERTIFICATE section".into(),
        ));
    }
    let key_text =
        std::fs::read(key).map_err(|e| file_error("tls-key-file", key, e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_text).map_err(|e| {
        file_error(
            "tls-key-file",
            key,
            match e {
                rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY section".into(),
                e => format!("bad PEM: {e}"),
            },
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, private, &provider).map_err(|source| TlsFileError::Key {
        path: key.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_its_key_and_path() {
        let err = ServerCert::load(
            Path::new("/nonexistent/c.pem"),
            Path::new("/nonexistent/k.pem"),
        )
        .expect_err("no such file");
        let text = err.to_string();
        assert!(
            text.starts_with("server.tls-cert-file: /nonexistent/c.pem: "),
            "{text}"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = std::env::temp_dir().join(format!("sekisho-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").expect("write");
        let err = ServerCert::load(&junk, &junk).expect_err("no certificate");
        assert!(err.to_string().contains("no CERTIFICATE section"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
