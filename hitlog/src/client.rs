//! How a client address appears in the outputs of a policy zone.
//!
//! ```text
//!   client IP ──► ClientPolicy (per zone) ──► ClientView ──► hit log line
//!                      │                          │     ├──► dnstap client field
//!                  KeyRing (HMAC keys by period) ─┘     └──► top-clients key
//! ```
//!
//! An ISP blocks malware domains partly to find its infected customers, so
//! that zone's hits carry the full address; a child-abuse list must not
//! record who asked, so its hits carry none. Each policy zone therefore
//! has its own [`ClientPolicy`], and the one [`ClientView`] built from it
//! is what every output of that hit shows: no output can leak what the
//! policy withholds, because none of them sees the raw address.
//!
//! [`ClientPolicy::KeyedHash`] sits in between: the same client gets the
//! same pseudonym for one key period (so one infected host stands out in
//! the top-clients table), different pseudonyms in different periods, and
//! only someone holding the operator's secret can check whether a suspect
//! address is behind a pseudonym.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as a dual-stack socket
//! reports IPv4 clients) are treated as the IPv4 address they carry, for
//! every policy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use ring::hmac;

/// The shortest secret [`KeyRing::from_file`] accepts, in bytes: 128 bits.
pub const MIN_SECRET_LEN: usize = 16;

/// The length of a random per-process secret ([`KeyRing::random`]), in bytes.
const RANDOM_SECRET_LEN: usize = 32;

/// How many bytes of the HMAC tag a pseudonym shows (as twice as many hex
/// digits): 64 bits, enough that two clients of one resolver do not collide.
const PSEUDONYM_BYTES: usize = 8;

/// What a policy zone's outputs may show of the client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientPolicy {
    /// No client field at all.
    None,
    /// The address with only its first `v4` (0..=32) or `v6` (0..=128)
    /// bits kept and the host bits zeroed; larger values keep everything.
    Masked {
        /// Prefix length kept of IPv4 addresses.
        v4: u8,
        /// Prefix length kept of IPv6 addresses.
        v6: u8,
    },
    /// A pseudonym keyed by the [`KeyRing`]'s key of the current period.
    KeyedHash,
    /// The address as it is.
    Full,
}

/// Why the pseudonym key file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read the client pseudonym key file {}: {error}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// What reading it returned.
        #[source]
        error: std::io::Error,
    },
    /// The file holds fewer than [`MIN_SECRET_LEN`] bytes.
    #[error(
        "the client pseudonym key file {} holds {len} bytes; at least {MIN_SECRET_LEN} are needed",
        path.display()
    )]
    TooShort {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
}

/// The HMAC-SHA256 keys of the pseudonyms, one per period.
///
/// The key of period `p = unix_secs / period_secs` is
/// `HMAC-SHA256(secret, p as u64 big-endian)`, and a pseudonym is
/// `"k:"` followed by the first 16 hex digits of
/// `HMAC-SHA256(period key, address bytes)` (4 bytes for IPv4, including
/// IPv4-mapped IPv6, 16 for IPv6). Someone holding the secret can thus
/// recompute the pseudonym of a suspect address for any period, while a
/// reader of the logs alone cannot link periods or reverse a pseudonym.
///
/// The key of the current period is cached, so a pseudonym costs one HMAC
/// and a mutex held for it.
pub struct KeyRing {
    /// The operator's (or this process's random) secret.
    secret: hmac::Key,
    /// The period length in whole seconds, at least 1.
    period_secs: u64,
    /// The last period used and its key.
    current: Mutex<Option<(u64, hmac::Key)>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("KeyRing")
            .field("period_secs", &self.period_secs)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A key ring from a secret and the period length; periods shorter
    /// than a second are one second long.
    pub fn new(secret: Vec<u8>, period: Duration) -> KeyRing {
        KeyRing {
            secret: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            period_secs: period.as_secs().max(1),
            current: Mutex::new(None),
        }
    }

    /// A key ring with a random secret of this process: pseudonyms are
    /// stable within a period and a run, and nobody can check them later.
    pub fn random(period: Duration) -> KeyRing {
        let mut secret = vec![0u8; RANDOM_SECRET_LEN];
        rand::rng().fill_bytes(&mut secret);
        KeyRing::new(secret, period)
    }

    /// A key ring whose secret is the whole content of the file at `path`,
    /// taken as raw bytes (no decoding, a trailing newline included), at
    /// least [`MIN_SECRET_LEN`] bytes long. Make one with
    /// `head -c 32 /dev/urandom > key` and keep it readable by the
    /// resolver only.
    pub fn from_file(path: &Path, period: Duration) -> Result<KeyRing, KeyError> {
        let secret = std::fs::read(path).map_err(|error| KeyError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort {
                path: path.to_path_buf(),
                len: secret.len(),
            });
        }
        Ok(KeyRing::new(secret, period))
    }

    /// The pseudonym of `ip` in the period of `now`: `"k:"` and 16 hex digits.
    pub fn pseudonym(&self, ip: IpAddr, now: SystemTime) -> String {
        let period = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / self.period_secs);
        let ip = ip.to_canonical();
        let tag = {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            let key = match &*current {
                Some((p, key)) if *p == period => key,
                _ => {
                    let tag = hmac::sign(&self.secret, &period.to_be_bytes());
                    &current
                        .insert((period, hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref())))
                        .1
                }
            };
            match ip {
                IpAddr::V4(a) => hmac::sign(key, &a.octets()),
                IpAddr::V6(a) => hmac::sign(key, &a.octets()),
            }
        };
        let mut out = String::with_capacity(2 + 2 * PSEUDONYM_BYTES);
        out.push_str("k:");
        for b in &tag.as_ref()[..PSEUDONYM_BYTES] {
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
        out
    }
}

/// The lower-case hex digit of a nibble.
fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// How one client appears in every output of one policy hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientView {
    /// The policy withholds the client.
    Omitted,
    /// The address, full or masked (host bits zero).
    Address(IpAddr),
    /// A keyed pseudonym (`k:` and 16 hex digits).
    Pseudonym(String),
}

impl ClientView {
    /// The view `policy` allows of `ip` at `now`.
    pub fn of(policy: ClientPolicy, keys: &KeyRing, ip: IpAddr, now: SystemTime) -> ClientView {
        match policy {
            ClientPolicy::None => ClientView::Omitted,
            ClientPolicy::Masked { v4, v6 } => ClientView::Address(mask(ip.to_canonical(), v4, v6)),
            ClientPolicy::KeyedHash => ClientView::Pseudonym(keys.pseudonym(ip, now)),
            ClientPolicy::Full => ClientView::Address(ip.to_canonical()),
        }
    }

    /// The client as BIND's query and RPZ logs write it (`client ADDR#PORT`):
    /// `-` when omitted, else the address or pseudonym with port `#0`
    /// (the port would identify a client behind a masked address).
    pub fn bind_label(&self) -> String {
        match self {
            ClientView::Omitted => "-".to_owned(),
            ClientView::Address(ip) => format!("{ip}#0"),
            ClientView::Pseudonym(p) => format!("{p}#0"),
        }
    }

    /// The value of a JSON `client` field as a plain (unquoted) string, or
    /// `None` when the field is to be left out.
    pub fn json(&self) -> Option<String> {
        match self {
            ClientView::Omitted => None,
            ClientView::Address(ip) => Some(ip.to_string()),
            ClientView::Pseudonym(p) => Some(p.clone()),
        }
    }

    /// The address, for outputs with an address field (dnstap); `None`
    /// when the client is omitted or pseudonymous.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            ClientView::Address(ip) => Some(*ip),
            ClientView::Omitted | ClientView::Pseudonym(_) => None,
        }
    }
}

/// `ip` with only its first `v4` or `v6` bits kept.
fn mask(ip: IpAddr, v4: u8, v6: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(v4.min(32));
            // checked_shl: a shift by 32 (keep nothing) overflows.
            let keep = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & keep))
        }
        IpAddr::V6(a) => {
            let bits = u32::from(v6.min(128));
            let keep = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & keep))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed instant: 2026-12-06T22:01:37Z.
    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_594_497)
    }

    fn keys() -> KeyRing {
        KeyRing::new(b"0123456789abcdef".to_vec(), Duration::from_secs(86_400))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address literal")
    }

    #[test]
    fn none_policy_omits_the_client_everywhere() {
        let v = ClientView::of(ClientPolicy::None, &keys(), ip("192.0.2.7"), t0());
        assert_eq!(v, ClientView::Omitted);
        assert_eq!(v.bind_label(), "-");
        assert_eq!(v.json(), None);
        assert_eq!(v.address(), None);
    }

    #[test]
    fn full_policy_shows_the_address() {
        let v = ClientView::of(ClientPolicy::Full, &keys(), ip("2001:db8::1"), t0());
        assert_eq!(v.bind_label(), "2001:db8::1#0");
        assert_eq!(v.json().as_deref(), Some("2001:db8::1"));
        assert_eq!(v.address(), Some(ip("2001:db8::1")));
    }

    #[test]
    fn mapped_addresses_are_shown_as_ipv4() {
        let v = ClientView::of(ClientPolicy::Full, &keys(), ip("::ffff:192.0.2.7"), t0());
        assert_eq!(v.address(), Some(ip("192.0.2.7")));
        let m = ClientPolicy::Masked { v4: 24, v6: 48 };
        let v = ClientView::of(m, &keys(), ip("::ffff:192.0.2.7"), t0());
        assert_eq!(v.address(), Some(ip("192.0.2.0")));
    }

    #[test]
    fn masked_policy_zeroes_the_host_bits() {
        let k = keys();
        let m = |v4, v6, a| ClientView::of(ClientPolicy::Masked { v4, v6 }, &k, ip(a), t0());
        assert_eq!(m(24, 48, "10.1.2.3").bind_label(), "10.1.2.0#0");
        assert_eq!(m(20, 48, "10.1.255.3").address(), Some(ip("10.1.240.0")));
        assert_eq!(m(0, 0, "10.1.2.3").address(), Some(ip("0.0.0.0")));
        assert_eq!(m(32, 128, "10.1.2.3").address(), Some(ip("10.1.2.3")));
        assert_eq!(m(40, 200, "10.1.2.3").address(), Some(ip("10.1.2.3")));
        assert_eq!(
            m(24, 48, "2001:db8:aaaa:bbbb::1").address(),
            Some(ip("2001:db8:aaaa::"))
        );
        assert_eq!(m(24, 0, "2001:db8::1").address(), Some(ip("::")));
        assert_eq!(m(24, 127, "2001:db8::3").address(), Some(ip("2001:db8::2")));
        assert_eq!(m(24, 128, "2001:db8::3").address(), Some(ip("2001:db8::3")));
    }

    #[test]
    fn keyed_hash_is_stable_within_a_period_and_changes_across() {
        let k = keys();
        let a = ClientView::of(ClientPolicy::KeyedHash, &k, ip("192.0.2.7"), t0());
        let b = ClientView::of(
            ClientPolicy::KeyedHash,
            &k,
            ip("192.0.2.7"),
            t0() + Duration::from_secs(60),
        );
        let c = ClientView::of(
            ClientPolicy::KeyedHash,
            &k,
            ip("192.0.2.7"),
            t0() + Duration::from_secs(86_400),
        );
        let other = ClientView::of(ClientPolicy::KeyedHash, &k, ip("192.0.2.8"), t0());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, other);
        assert_eq!(a.address(), None);
        let label = a.json().expect("a pseudonym has a JSON value");
        assert!(label.starts_with("k:"), "{label}");
        assert_eq!(label.len(), 18);
        assert!(label[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a.bind_label(), format!("{label}#0"));
    }

    #[test]
    fn pseudonym_is_hmac_of_the_period_key_as_documented() {
        let k = keys();
        // Back to the earlier period after a later one: the cache is refreshed.
        let later = k.pseudonym(ip("192.0.2.7"), t0() + Duration::from_secs(86_400));
        let got = k.pseudonym(ip("::ffff:192.0.2.7"), t0());
        assert_ne!(later, got);
        let period = 1_796_594_497u64 / 86_400;
        let secret = hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef");
        let pk = hmac::sign(&secret, &period.to_be_bytes());
        let pk = hmac::Key::new(hmac::HMAC_SHA256, pk.as_ref());
        let tag = hmac::sign(&pk, &[192, 0, 2, 7]);
        let want: String = tag.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, format!("k:{want}"));
    }

    #[test]
    fn different_secrets_give_different_pseudonyms() {
        let a = keys().pseudonym(ip("2001:db8::1"), t0());
        let b = KeyRing::random(Duration::from_secs(86_400)).pseudonym(ip("2001:db8::1"), t0());
        assert_ne!(a, b);
    }

    #[test]
    fn key_file_is_read_raw_and_must_be_long_enough() {
        let dir =
            std::env::temp_dir().join(format!("sekisho-hitlog-{}-keyfile", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("key");
        std::fs::write(&path, b"0123456789abcdef").expect("write key");
        let k = KeyRing::from_file(&path, Duration::from_secs(86_400)).expect("16 bytes suffice");
        assert_eq!(
            k.pseudonym(ip("192.0.2.7"), t0()),
            keys().pseudonym(ip("192.0.2.7"), t0())
        );

        std::fs::write(&path, b"short\n").expect("write key");
        let err = KeyRing::from_file(&path, Duration::from_secs(1)).expect_err("6 bytes");
        assert!(matches!(err, KeyError::TooShort { len: 6, .. }));
        assert!(err.to_string().contains(&path.display().to_string()));

        let missing = dir.join("missing");
        let err = KeyRing::from_file(&missing, Duration::from_secs(1)).expect_err("missing");
        assert!(matches!(err, KeyError::Read { .. }));
        assert!(err.to_string().contains("missing"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let s = format!("{:?}", keys());
        assert!(!s.contains("0123456789abcdef"), "{s}");
    }
}
