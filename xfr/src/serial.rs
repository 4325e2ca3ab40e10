//! Zone serial numbers and their sequence-space arithmetic,
//! [RFC 1982](https://www.rfc-editor.org/rfc/rfc1982).
//!
//! ```text
//!            s1 < s2                       s1 > s2
//!   ... ----[s1]=====(< 2^31)====>[s2]---- ... ----[s2]=====(< 2^31)====>[s1]----
//!   i1 == i2 + 2^31 (exactly half way round) is undefined: neither < nor >.
//! ```
//!
//! Serials wrap, so `u32` ordering is wrong for them: 1 is *newer* than 4294967295.
//! [`Serial`] implements [`PartialOrd`] by RFC 1982 section 3.2 and returns `None`
//! for the undefined pair. There is deliberately no [`std::ops::Add`] impl, because
//! RFC 1982 section 3.1 only defines addition of values up to 2^31 - 1, and an
//! operator that panics or saturates would surprise; use [`Serial::add`].

use std::cmp::Ordering;
use std::fmt;

/// The largest increment RFC 1982 section 3.1 allows: "n ... in the range [0 .. (2^(SERIAL_BITS - 1) - 1)]".
pub const MAX_SERIAL_INCREMENT: u32 = (1 << 31) - 1;

/// Half of the serial space, 2^31.
const HALF: u32 = 1 << 31;

/// A zone serial number with RFC 1982 comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial(pub u32);

impl Serial {
    /// Adds `n` under RFC 1982 section 3.1; returns `None` if `n` exceeds
    /// [`MAX_SERIAL_INCREMENT`], for which the result is undefined.
    #[must_use]
    // Named `add` on purpose (the brief and RFC 1982 call it addition), but it is not
    // `std::ops::Add`: it can fail, and an operator must not.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, n: u32) -> Option<Serial> {
        if n > MAX_SERIAL_INCREMENT {
            return None;
        }
        Some(Serial(self.0.wrapping_add(n)))
    }

    /// The raw value.
    pub fn get(self) -> u32 {
        self.0
    }

    /// True if `self` is strictly newer than `other` (RFC 1982 `s1 > s2`).
    pub fn is_newer_than(self, other: Serial) -> bool {
        self.partial_cmp(&other) == Some(Ordering::Greater)
    }
}

impl PartialOrd for Serial {
    /// RFC 1982 section 3.2:
    ///
    /// ```text
    /// s1 is said to be less than s2 if, and only if, s1 is not equal to s2, and
    ///   (i1 < i2 and i2 - i1 < 2^(SERIAL_BITS - 1)) or
    ///   (i1 > i2 and i1 - i2 > 2^(SERIAL_BITS - 1))
    /// ```
    ///
    /// When `i1` and `i2` are exactly 2^31 apart the comparison is undefined, and this
    /// returns `None`.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let (i1, i2) = (self.0, other.0);
        if i1 == i2 {
            return Some(Ordering::Equal);
        }
        let forward = i2.wrapping_sub(i1);
        match forward.cmp(&HALF) {
            Ordering::Less => Some(Ordering::Less),
            Ordering::Greater => Some(Ordering::Greater),
            Ordering::Equal => None,
        }
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for Serial {
    fn from(value: u32) -> Self {
        Serial(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_serials_compare_equal() {
        assert_eq!(Serial(7).partial_cmp(&Serial(7)), Some(Ordering::Equal));
    }

    #[test]
    fn a_serial_just_past_the_wrap_is_newer() {
        assert!(Serial(1) > Serial(u32::MAX));
        assert!(Serial(u32::MAX) < Serial(1));
    }

    #[test]
    fn ordinary_increments_compare_like_integers() {
        assert!(Serial(2026112202) > Serial(2026112201));
        assert!(Serial(100) < Serial(200));
    }

    #[test]
    fn serials_exactly_half_the_space_apart_are_incomparable() {
        let a = Serial(0);
        let b = Serial(1 << 31);
        assert_eq!(a.partial_cmp(&b), None);
        assert_eq!(b.partial_cmp(&a), None);
        assert!(a.partial_cmp(&b).is_none() && a != b);
    }

    #[test]
    fn one_less_than_half_the_space_is_still_newer() {
        assert!(Serial(HALF - 1) > Serial(0));
        assert!(Serial(HALF + 1) < Serial(0));
    }

    #[test]
    fn add_wraps_within_the_allowed_increment() {
        assert_eq!(Serial(u32::MAX).add(2), Some(Serial(1)));
        assert_eq!(
            Serial(5).add(MAX_SERIAL_INCREMENT),
            Some(Serial(5u32.wrapping_add(MAX_SERIAL_INCREMENT)))
        );
    }

    #[test]
    fn add_refuses_increments_beyond_two_to_the_31_minus_one() {
        assert_eq!(Serial(5).add(MAX_SERIAL_INCREMENT + 1), None);
    }

    #[test]
    fn adding_the_maximum_increment_gives_a_newer_serial() {
        let s = Serial(123);
        let t = s.add(MAX_SERIAL_INCREMENT).expect("in range");
        assert!(t > s);
    }
}
