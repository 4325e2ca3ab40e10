//! dnstap output (filled in next).
