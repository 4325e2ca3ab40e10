//! Eight bytes at a time: the word tricks the tokenizer and the name encoder share to find
//! the next byte of interest without a branch per byte (both were the hottest loops of
//! parsing a big policy zone).
//!
//! A *flag word* has bit 7 of a byte set where that byte matched. The flags of
//! [`equal_to`] are exact for the lowest matching byte (borrows only run upwards from a true
//! match), so [`first_flagged`] of any OR of such words is the first match.

/// Bit 7 of every byte.
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

/// 0x01 in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The eight bytes of `buf` at `at` as a little-endian word (`at + 8 <= buf.len()`).
#[inline]
pub(crate) fn word_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Flags of the bytes of `w` equal to `byte` (exact for the lowest one).
#[inline]
pub(crate) fn equal_to(w: u64, byte: u8) -> u64 {
    let x = w ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Offset in its word of the first flagged byte (`flags` non-zero).
#[inline]
pub(crate) fn first_flagged(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}
