//! TLS client settings for DNS-over-TLS and DNS-over-HTTPS upstreams
//! (RFC 7858, RFC 8310, RFC 8484).
//!
//! Sekisho authenticates the upstream by default ("strict privacy" of
//! RFC 8310): the certificate must chain to the configured CA file (or to the
//! public web PKI roots when none is given) and must name the upstream's
//! `#auth-name`, as Unbound checks `forward-addr: ip@853#name`. Without an
//! auth name the certificate must carry the upstream's IP address. There is
//! no opportunistic mode: a handshake that fails authentication fails the
//! query, so no plaintext fallback can leak queries. DoH upstreams are
//! authenticated the same way, with the same roots, and offer ALPN `h2`
//! only ([`with_alpn_h2`]).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// Why TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// The CA file could not be read or holds no certificate.
    #[error("tls-ca-file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The auth name is not a valid DNS name.
    #[error("invalid TLS auth name {name:?}")]
    AuthName {
        /// The name given.
        name: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Build a client configuration trusting `ca_file` (PEM) or the web PKI.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let err = |reason: String| TlsSetupError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| err(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no certificate found".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| err(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the certificate must carry: the auth name, else the IP address.
pub fn server_name(
    auth_name: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<ServerName<'static>, TlsSetupError> {
    match auth_name {
        Some(n) => ServerName::try_from(n.trim_end_matches('.').to_owned())
            .map_err(|_| TlsSetupError::AuthName { name: n.to_owned() }),
        None => Ok(ServerName::IpAddress(ip.into())),
    }
}

/// A copy of `config` that offers ALPN `h2` only, for DoH upstreams (RFC 8484
/// section 5.2 names HTTP/2 the minimum). DoT keeps a config without ALPN:
/// RFC 7858 does not use it.
pub fn with_alpn_h2(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}
