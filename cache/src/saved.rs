//! The packet cache on disk: what a dump holds and how it is read back.
//!
//! A restart or an upgrade should not start cold: the daemon writes the
//! fresh answers on stop (and `sekishoctl dump-cache FILE` at any time) and
//! reads them on start (`load-cache FILE`), as Unbound's `dump_cache` and
//! `load_cache` do. An answer is kept as the wire bytes it would have been
//! served with at the moment of the dump; reading it back takes the time
//! since the dump off every TTL and drops what has expired meanwhile, so
//! nothing is served longer than its owner allowed.
//!
//! ```text
//!  "SEKISHO-CACHE\n" ‖ format u32 ‖ len u8 ‖ build version ‖ saved-at u64 (Unix s) ‖ count u32
//!  count × ( key len u16 ‖ key ‖ wire len u16 ‖ wire )
//!  FNV-1a 64 of everything before it
//! ```
//!
//! All integers big-endian. A file that is not one (wrong magic), of
//! another format, truncated, with a bad checksum or older than the caller
//! allows is refused whole with a [`SavedError`] that says which: a cache
//! is an optimisation, and a half-read one is not worth a doubt. A dump of
//! another build of the same format is read (an upgrade keeps its cache):
//! the reader re-prepares each answer (`Prepared::new`) as it would a fresh
//! one, so what the writer normalised does not matter, and the format
//! number changes whenever the key or the layout does. The writer's version
//! is reported ([`Dump::writer`]). This module only encodes and decodes.

use std::time::Duration;

/// The file's first bytes.
const MAGIC: &[u8] = b"SEKISHO-CACHE\n";
/// The layout written here.
pub const FORMAT: u32 = 1;

/// One saved answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The cache key (see `PacketCache::key_into`).
    pub key: Vec<u8>,
    /// The answer as it would have been served at the dump, TTLs counted
    /// down to then.
    pub wire: Vec<u8>,
}

/// Why a dump was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SavedError {
    /// Not a cache dump at all.
    #[error("not a Sekisho cache dump")]
    NotADump,
    /// A dump of another layout.
    #[error("cache dump format {found}, this build reads {FORMAT}")]
    Format {
        /// The file's format.
        found: u32,
    },
    /// Cut short, or a length that runs past the end.
    #[error("cache dump truncated")]
    Truncated,
    /// The checksum does not match the contents.
    #[error("cache dump corrupt (checksum mismatch)")]
    Checksum,
    /// Older than the caller accepts.
    #[error("cache dump is {age} s old, older than {limit} s")]
    TooOld {
        /// Its age in seconds.
        age: u64,
        /// The limit in seconds.
        limit: u64,
    },
}

/// FNV-1a, 64 bits: enough to tell a damaged file from a good one (it is
/// not a defence against someone who can write the state directory).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The dump of `entries`, written by build `version` at `saved_at` (Unix
/// seconds). Entries whose key or answer does not fit a u16 length are left
/// out (a DNS message is at most 65,535 bytes, so none should).
pub fn encode(entries: &[Saved], version: &str, saved_at: u64) -> Vec<u8> {
    let version = &version.as_bytes()[..version.len().min(255)];
    let fits =
        |e: &&Saved| e.key.len() <= usize::from(u16::MAX) && e.wire.len() <= usize::from(u16::MAX);
    let kept: Vec<&Saved> = entries.iter().filter(fits).collect();
    let size: usize = kept.iter().map(|e| 4 + e.key.len() + e.wire.len()).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + 1 + version.len() + 12 + size + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    // `version` was cut to 255 bytes above.
    out.push(version.len() as u8);
    out.extend_from_slice(version);
    out.extend_from_slice(&saved_at.to_be_bytes());
    out.extend_from_slice(&u32::try_from(kept.len()).unwrap_or(u32::MAX).to_be_bytes());
    for e in kept.iter().take(u32::MAX as usize) {
        // Both lengths were checked by `fits`.
        out.extend_from_slice(&(e.key.len() as u16).to_be_bytes());
        out.extend_from_slice(&e.key);
        out.extend_from_slice(&(e.wire.len() as u16).to_be_bytes());
        out.extend_from_slice(&e.wire);
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_be_bytes());
    out
}

/// What a dump holds, read back.
#[derive(Debug)]
pub struct Dump {
    /// The version of the build that wrote it.
    pub writer: String,
    /// When it was written (Unix seconds).
    pub saved_at: u64,
    /// Seconds between the dump and `now` given to [`decode`] (0 when the
    /// clock went back): what every TTL has lost since.
    pub age: u64,
    /// The answers, as written.
    pub entries: Vec<Saved>,
}

/// A cursor over the dump's bytes.
struct Reader<'a> {
    /// The bytes.
    bytes: &'a [u8],
    /// The next one.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], SavedError> {
        let end = self.pos.checked_add(n).ok_or(SavedError::Truncated)?;
        let out = self.bytes.get(self.pos..end).ok_or(SavedError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// A big-endian integer of `N` bytes.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SavedError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

/// Reads a dump at Unix time `now`; refuses one older than `max_age`.
pub fn decode(bytes: &[u8], now: u64, max_age: Duration) -> Result<Dump, SavedError> {
    if !bytes.starts_with(MAGIC) {
        return Err(SavedError::NotADump);
    }
    if bytes.len() < MAGIC.len() + 8 {
        return Err(SavedError::Truncated);
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut r = Reader {
        bytes: body,
        pos: MAGIC.len(),
    };
    let format = u32::from_be_bytes(r.array()?);
    if format != FORMAT {
        return Err(SavedError::Format { found: format });
    }
    let [vlen] = r.array::<1>()?;
    let writer = String::from_utf8_lossy(r.take(usize::from(vlen))?).into_owned();
    // The checksum after the header checks: a dump of another format may
    // lay its body out differently, and says so more usefully above.
    if sum != fnv1a(body).to_be_bytes() {
        return Err(SavedError::Checksum);
    }
    let saved_at = u64::from_be_bytes(r.array()?);
    let age = now.saturating_sub(saved_at);
    if age > max_age.as_secs() {
        return Err(SavedError::TooOld {
            age,
            limit: max_age.as_secs(),
        });
    }
    let count = u32::from_be_bytes(r.array()?);
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 20));
    for _ in 0..count {
        let klen = u16::from_be_bytes(r.array()?);
        let key = r.take(usize::from(klen))?.to_vec();
        let wlen = u16::from_be_bytes(r.array()?);
        let wire = r.take(usize::from(wlen))?.to_vec();
        entries.push(Saved { key, wire });
    }
    if r.pos != body.len() {
        return Err(SavedError::Truncated);
    }
    Ok(Dump {
        writer,
        saved_at,
        age,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `decode` gives (a test failure when it reads the bytes).
    fn refused(bytes: &[u8], now: u64) -> SavedError {
        match decode(bytes, now, DAY) {
            Ok(d) => panic!("read {} entries from a bad dump", d.entries.len()),
            Err(e) => e,
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    fn sample() -> Vec<Saved> {
        vec![
            Saved {
                key: b"\x03www\x07example\x00\x00\x01\x00\x01\x00\x00".to_vec(),
                wire: vec![0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 2, 3],
            },
            Saved {
                key: b"\x00\x00\x02\x00\x01\x01\x00".to_vec(),
                wire: vec![9; 300],
            },
        ]
    }

    #[test]
    fn a_dump_reads_back_whole_with_its_age() {
        let bytes = encode(&sample(), "0.1.0", 1_000);
        let d = decode(&bytes, 1_060, DAY).expect("reads");
        assert_eq!((d.saved_at, d.age), (1_000, 60));
        assert_eq!(d.entries, sample());
        // The clock went back: age 0, not an error.
        assert_eq!(decode(&bytes, 900, DAY).expect("reads").age, 0);
        let empty = encode(&[], "0.1.0", 5);
        assert!(decode(&empty, 5, DAY).expect("reads").entries.is_empty());
    }

    #[test]
    fn a_bad_dump_is_refused_whole_and_says_why() {
        let bytes = encode(&sample(), "0.1.0", 1_000);
        assert_eq!(refused(b"# unbound cache\n", 1_000), SavedError::NotADump);
        // Another build of the same format is read, and named.
        let other_build = encode(&sample(), "0.2.0", 1_000);
        let d = decode(&other_build, 1_000, DAY).expect("reads");
        assert_eq!(
            (d.writer.as_str(), d.entries.len()),
            ("0.2.0", sample().len())
        );
        let mut other_format = bytes.clone();
        other_format[MAGIC.len() + 3] = 9;
        assert_eq!(
            refused(&other_format, 1_000),
            SavedError::Format { found: 9 }
        );
        // Every cut is refused, never read in part (and never a panic).
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 1_000, DAY).is_err(), "cut at {cut}");
        }
        // Any flipped bit after the header is caught.
        let header = MAGIC.len() + 4 + 1 + 5;
        for i in header..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad, 1_000, DAY).is_err(), "flip at {i}");
        }
        assert_eq!(
            refused(&bytes, 1_000 + 90_000),
            SavedError::TooOld {
                age: 90_000,
                limit: 86_400
            }
        );
    }
}
