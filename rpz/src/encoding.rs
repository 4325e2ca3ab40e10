//! IP trigger owner names: `prefix.B4.B3.B2.B1` (IPv4) and `prefix.W8…W1` with `zz` (IPv6).
//!
//! ```text
//!   32.1.0.0.127.rpz-ip          127.0.0.1/32
//!   24.0.2.0.192.rpz-client-ip   192.0.2.0/24
//!   128.3.zz.db8.2001.rpz-nsip   2001:db8::3/128
//!   48.zz.101.db8.2001.rpz-ip    2001:db8:101::/48
//! ```
//!
//! Parsing follows BIND 9.18 (`name2ipkey`): a name with exactly four address labels and no
//! `zz` is IPv4 (prefix 1–32), anything else is IPv6 (prefix 1–128), `zz` stands for as many
//! zero words as make eight, and host bits set beyond the prefix make the rule invalid. A name
//! that parses but is not in canonical form (leading zeros, upper case hex, `zz` not on the
//! longest zero run) is accepted with a warning, as BIND does. The canonical form puts `zz` on
//! the longest run of at least two zero words; among equal runs the one written last in the
//! name (the first in address order), which is BIND's `ip2name` choice.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::iptrie::{key_of, mask};

/// A network prefix: the address with host bits zero, and its length within its family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPrefix {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// Prefix length in bits within the address family (0–32 for IPv4, 0–128 for IPv6).
    pub len: u8,
}

impl IpPrefix {
    /// The prefix length on BIND's common scale, where IPv4 counts as prefix + 96.
    pub fn scaled_len(&self) -> u8 {
        match self.addr {
            IpAddr::V4(_) => self.len + 96,
            IpAddr::V6(_) => self.len,
        }
    }

    /// The 128-bit trie key (IPv4 mapped into `::ffff:0:0/96`).
    pub(crate) fn key(&self) -> u128 {
        key_of(self.addr)
    }

    /// Whether `addr` lies inside the prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let len = self.scaled_len();
        match (self.addr, addr) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(key_of(addr), len) == self.key()
            }
            _ => false,
        }
    }

    /// The canonical RPZ owner labels for this prefix (without the `rpz-*` label).
    pub fn to_rpz_labels(&self) -> String {
        match self.addr {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}.{}", self.len, o[3], o[2], o[1], o[0])
            }
            IpAddr::V6(v6) => {
                // Words in name order: W8 first.
                let mut w = v6.segments();
                w.reverse();
                let (first, len) = zz_run(&w);
                let mut s = self.len.to_string();
                let mut n = 0;
                while n < 8 {
                    if Some(n) == first {
                        s.push_str(".zz");
                        n += len;
                    } else {
                        s.push_str(&format!(".{:x}", w[n]));
                        n += 1;
                    }
                }
                s
            }
        }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The run of zero words that `zz` replaces, in name order: the longest run of two or more,
/// the one written last among equal runs. Returns `(start, len)`.
fn zz_run(w: &[u16; 8]) -> (Option<usize>, usize) {
    let (mut best, mut best_len) = (None, 0);
    let mut n = 0;
    while n < 8 {
        if w[n] != 0 {
            n += 1;
            continue;
        }
        let start = n;
        while n < 8 && w[n] == 0 {
            n += 1;
        }
        let len = n - start;
        if len >= 2 && len >= best_len {
            best = Some(start);
            best_len = len;
        }
    }
    (best, best_len)
}

/// Why an IP trigger owner name was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpTriggerError {
    /// Fewer than two labels before the `rpz-*` label.
    #[error("IP trigger name too short")]
    TooShort,
    /// The first label is not a decimal prefix length in range.
    #[error("invalid prefix length {0:?}")]
    BadPrefix(String),
    /// An IPv4 octet label is not a decimal number 0–255.
    #[error("invalid IPv4 octet {0:?}")]
    BadOctet(String),
    /// An IPv6 word label is not 1–4 hex digits.
    #[error("invalid IPv6 word {0:?}")]
    BadWord(String),
    /// Wrong number of IPv6 words (eight, or fewer with one `zz`).
    #[error("IPv6 address needs eight words or one zz")]
    BadWordCount,
    /// Bits are set in the address beyond the prefix length.
    #[error("host bits set beyond prefix length {0}")]
    HostBitsSet(u8),
}

/// A parsed IP trigger: the prefix and whether the name was in canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParsedIp {
    /// The prefix.
    pub(crate) prefix: IpPrefix,
    /// Whether the owner labels were the canonical encoding of `prefix`.
    pub(crate) canonical: bool,
}

/// Parses the labels in front of `rpz-ip`/`rpz-client-ip`/`rpz-nsip` (prefix label first).
pub(crate) fn parse_ip_labels(labels: &[&[u8]]) -> Result<ParsedIp, IpTriggerError> {
    if labels.len() < 2 {
        return Err(IpTriggerError::TooShort);
    }
    let text = |l: &[u8]| String::from_utf8_lossy(l).into_owned();
    let prefix_len: u8 = std::str::from_utf8(labels[0])
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u8>().ok())
        .filter(|p| (1..=128).contains(p))
        .ok_or_else(|| IpTriggerError::BadPrefix(text(labels[0])))?;
    let words = &labels[1..];
    let is_v4 = words.len() == 4 && !words.iter().any(|w| w.contains(&b'z') || w.contains(&b'Z'));
    let prefix = if is_v4 {
        if prefix_len > 32 {
            return Err(IpTriggerError::BadPrefix(text(labels[0])));
        }
        let mut o = [0u8; 4];
        for (i, w) in words.iter().enumerate() {
            let v: u8 = std::str::from_utf8(w)
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| IpTriggerError::BadOctet(text(w)))?;
            o[3 - i] = v;
        }
        IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::from(o)),
            len: prefix_len,
        }
    } else {
        // Name order: W8 first; `zz` expands to fill eight words.
        let zz = words
            .iter()
            .filter(|w| w.eq_ignore_ascii_case(b"zz"))
            .count();
        if zz > 1 || (zz == 0 && words.len() != 8) || (zz == 1 && words.len() > 8) {
            return Err(IpTriggerError::BadWordCount);
        }
        let mut w = [0u16; 8];
        let mut n = 0;
        for word in words {
            if word.eq_ignore_ascii_case(b"zz") {
                n += 8 - (words.len() - 1);
                continue;
            }
            let v = std::str::from_utf8(word)
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 4)
                .and_then(|s| u16::from_str_radix(s, 16).ok())
                .ok_or_else(|| IpTriggerError::BadWord(text(word)))?;
            w[n] = v;
            n += 1;
        }
        w.reverse();
        IpPrefix {
            addr: IpAddr::V6(Ipv6Addr::from(w)),
            len: prefix_len,
        }
    };
    if mask(prefix.key(), prefix.scaled_len()) != prefix.key() {
        return Err(IpTriggerError::HostBitsSet(prefix.len));
    }
    let canonical = {
        let canon = prefix.to_rpz_labels();
        let given: Vec<String> = labels.iter().map(|l| text(l)).collect();
        canon == given.join(".")
    };
    Ok(ParsedIp { prefix, canonical })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ParsedIp, IpTriggerError> {
        let labels: Vec<&[u8]> = s.split('.').map(str::as_bytes).collect();
        parse_ip_labels(&labels)
    }

    fn prefix(s: &str) -> IpPrefix {
        parse(s).expect("valid trigger").prefix
    }

    #[test]
    fn ipv4_owner_32_1_0_0_127_is_127_0_0_1_slash_32() {
        assert_eq!(prefix("32.1.0.0.127").to_string(), "127.0.0.1/32");
    }

    #[test]
    fn ipv4_owner_24_0_2_0_192_is_192_0_2_0_slash_24() {
        assert_eq!(prefix("24.0.2.0.192").to_string(), "192.0.2.0/24");
    }

    #[test]
    fn ipv6_owner_with_zz_128_3_zz_db8_2001_is_2001_db8_3() {
        assert_eq!(prefix("128.3.zz.db8.2001").to_string(), "2001:db8::3/128");
    }

    #[test]
    fn ipv6_owner_48_zz_101_db8_2001_is_2001_db8_101_prefix_48() {
        assert_eq!(
            prefix("48.zz.101.db8.2001").to_string(),
            "2001:db8:101::/48"
        );
    }

    #[test]
    fn ipv6_owner_with_all_eight_words_parses_without_zz() {
        let p = parse("128.1.0.0.0.0.0.db8.2001").expect("valid");
        assert_eq!(p.prefix.to_string(), "2001:db8::1/128");
        assert!(!p.canonical, "zz should have been used");
    }

    #[test]
    fn host_bits_beyond_the_prefix_make_the_trigger_invalid() {
        assert_eq!(parse("24.1.2.0.192"), Err(IpTriggerError::HostBitsSet(24)));
        assert_eq!(
            parse("32.1.zz.db8.2001"),
            Err(IpTriggerError::HostBitsSet(32))
        );
    }

    #[test]
    fn prefix_lengths_out_of_range_are_rejected() {
        assert!(matches!(
            parse("33.1.0.0.127"),
            Err(IpTriggerError::BadPrefix(_))
        ));
        assert!(matches!(
            parse("0.0.0.0.0"),
            Err(IpTriggerError::BadPrefix(_))
        ));
        assert!(matches!(parse("129.zz"), Err(IpTriggerError::BadPrefix(_))));
    }

    #[test]
    fn bad_octets_words_and_counts_are_rejected() {
        assert!(matches!(
            parse("32.1.0.0.256"),
            Err(IpTriggerError::BadOctet(_))
        ));
        assert!(matches!(
            parse("128.g.zz.2001"),
            Err(IpTriggerError::BadWord(_))
        ));
        assert_eq!(parse("128.1.2.3"), Err(IpTriggerError::BadWordCount));
        assert_eq!(parse("128.zz.1.zz"), Err(IpTriggerError::BadWordCount));
        assert_eq!(parse("32"), Err(IpTriggerError::TooShort));
    }

    #[test]
    fn non_canonical_names_are_accepted_but_flagged() {
        let p = parse("32.001.0.0.127").expect("accepted");
        assert_eq!(p.prefix.to_string(), "127.0.0.1/32");
        assert!(!p.canonical);
        let p = parse("128.3.zz.DB8.2001").expect("accepted");
        assert!(!p.canonical);
        assert!(parse("32.1.0.0.127").expect("valid").canonical);
    }

    #[test]
    fn zz_goes_on_the_longest_zero_run_and_on_the_last_written_among_equal_runs() {
        let p = IpPrefix {
            addr: "2001:db8:0:0:1:0:0:1".parse().expect("addr"),
            len: 128,
        };
        assert_eq!(p.to_rpz_labels(), "128.1.0.0.1.zz.db8.2001");
        let p = IpPrefix {
            addr: "2001:0:0:1:0:0:0:1".parse().expect("addr"),
            len: 128,
        };
        assert_eq!(p.to_rpz_labels(), "128.1.zz.1.0.0.2001");
        let p = IpPrefix {
            addr: "::".parse().expect("addr"),
            len: 1,
        };
        assert_eq!(p.to_rpz_labels(), "1.zz");
        assert_eq!(prefix("1.zz").to_string(), "::/1");
    }
}
