//! Reloading a zone file by difference: the lines that changed, not the whole file.
//!
//! A list organisation's zone changes by a few percent between versions, and a full load
//! parses and compiles every line again (about 0.25 s of two cores for a million rules,
//! and more while the cores also serve queries). When the live version of a zone was
//! loaded from a file and that file was replaced (a rename, as every publisher and
//! `sekisho rpz build` do), the old text is still readable through the descriptor kept
//! from the load ([`Basis`]). The two texts are read side by side through two small
//! reused windows ([`Window`]: no tens of megabytes of fresh pages) and compared line by
//! line; only the lines that differ are parsed, and the records they give are applied to the live version as
//! one exact delta (`ZoneRules::apply_exact_delta`, the same step as an IXFR).
//!
//! ```text
//!  old text (kept fd) ─┐
//!                      ├─ aligned line comparison ─▶ removed lines, added lines
//!  new text (path) ────┘                              │ parsed with the file's header
//!                                                     ▼
//!                      live ZoneRules ── apply_exact_delta ──▶ new version
//! ```
//!
//! The result must be what a full load of the new file gives, so the comparison is used
//! only where a line is one record whatever surrounds it ([`shape`], [`compare`]): no
//! entry over several lines (parentheses closed on their line are fine), no line next
//! to a change that starts with a blank (it would take another owner), directives
//! (`$ORIGIN`, `$TTL`) only in a header before the first record and the same in both
//! texts, and a `$TTL` there (otherwise a record's TTL could come from the line before
//! it). The live version
//! must be the one the old text gave: compiled with the same settings, with no owner
//! merged from two places and nothing skipped, so that every removed line names exactly
//! one record of it. A delta that does not match it record for record, a parse error,
//! a warning, a class other than IN, or a change too large for the overlay makes the
//! reload a full load, which is always right. The caller decides; this module only
//! computes and applies the delta.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use hickory_proto::rr::{DNSClass, Record, RecordType};
use sekisho_rpz::{ZoneRules, ZoneSettings};
use sekisho_zonefile::{ParseOptions, ZoneReader};

/// Lines looked ahead for a line that was inserted or deleted before the comparison
/// takes two differing lines as one replaced by the other.
const LOOK_AHEAD: usize = 32;

/// Identity and state of a file: which inode, and its size and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileId {
    /// The identity of an open file's inode now.
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// The identity of the file at `path` now.
    pub(crate) fn at(path: &Path) -> std::io::Result<FileId> {
        std::fs::metadata(path).map(|m| FileId::of(&m))
    }
}

/// What the next reload of a zone can compare against: the file its live version was
/// loaded from, held open (so a replacement by rename leaves the old text readable), and
/// that version.
#[derive(Debug)]
pub(crate) struct Basis {
    file: File,
    id: FileId,
    rules: Weak<ZoneRules>,
}

impl Basis {
    /// A basis for `rules`, loaded from the text of `file` (identity `id`, checked by the
    /// caller against the path before and after the load).
    pub(crate) fn new(file: File, id: FileId, rules: &Arc<ZoneRules>) -> Basis {
        Basis {
            file,
            id,
            rules: Arc::downgrade(rules),
        }
    }
}

/// Why a reload was not done by difference (a full load follows; logged at debug level).
pub(crate) type NotByDifference = &'static str;

/// A reload done by difference.
#[derive(Debug)]
pub(crate) struct Reloaded {
    /// The new version.
    pub(crate) rules: ZoneRules,
    /// The new text's file and identity: the basis for the reload after this one.
    file: File,
    id: FileId,
    /// Lines removed and added.
    pub(crate) lines: (usize, usize),
}

/// Reloads the zone file at `path` as a delta against `live`, which `basis` says was
/// loaded from the file's previous text. `max_changed` bounds the changed lines (the
/// overlay the delta leaves); `Err` says why a full load must be done instead.
pub(crate) fn reload(
    basis: &Basis,
    live: &Arc<ZoneRules>,
    settings: &ZoneSettings,
    path: &Path,
    max_changed: usize,
) -> Result<Reloaded, NotByDifference> {
    let same_version = basis.rules.upgrade().is_some_and(|b| Arc::ptr_eq(&b, live));
    if !same_version {
        return Err("the live version did not come from the last load of the file");
    }
    if live.settings() != settings {
        return Err("the zone's settings changed");
    }
    if live.merged_owners() {
        return Err("the live version merged an owner from two places");
    }
    // The old text must still be what was loaded: not rewritten in place.
    let kept = basis
        .file
        .metadata()
        .map_err(|_| "the kept file cannot be read")?;
    if FileId::of(&kept) != basis.id {
        return Err("the loaded file was changed in place");
    }
    let file = File::open(path).map_err(|_| "the file cannot be opened")?;
    let meta = file.metadata().map_err(|_| "the file cannot be read")?;
    let id = FileId::of(&meta);
    if id.ino == basis.id.ino && id.dev == basis.id.dev {
        return Err("the file is the loaded one (unchanged, or written in place)");
    }
    // Both texts are read in windows through two small reused buffers: reading them
    // whole would fault in tens of megabytes of fresh pages, most of a reload's cost
    // while the cores also serve queries.
    let mut old = Window::new(&basis.file, basis.id.len)?;
    let mut new = Window::new(&file, id.len)?;
    let delta = compare(&mut old, &mut new, max_changed)?;
    if FileId::of(&file.metadata().map_err(|_| "the file cannot be read")?) != id {
        return Err("the file changed while it was read");
    }
    let origin = settings.name.clone();
    let (removed, added) = std::thread::scope(|scope| {
        let removed = scope.spawn(|| parse_lines(&delta.header, &delta.removed, &origin));
        let added = parse_lines(&delta.header, &delta.added, &origin);
        (
            removed.join().unwrap_or(Err("the parsing thread failed")),
            added,
        )
    });
    let (removed, added) = (removed?, added?);
    // The delta keeps the SOA unless one is added: a file that lost its SOA is no zone,
    // which only the whole load reports.
    let apex_soa = |r: &&Record| r.record_type() == RecordType::SOA && r.name == settings.name;
    let soa_added = added.iter().filter(apex_soa).count();
    if soa_added > 1 || (soa_added == 0 && removed.iter().any(|r| apex_soa(&r))) {
        return Err("the SOA was removed or given twice");
    }
    let (rules, warnings) = live
        .apply_exact_delta(&removed, &added)
        .ok_or("the changed lines do not match the live version record for record")?;
    if !warnings.is_empty() {
        return Err("a changed line gives a rule the compiler warns about");
    }
    if rules.serial().is_none() {
        return Err("no SOA");
    }
    Ok(Reloaded {
        rules,
        file,
        id,
        lines: delta.lines,
    })
}

impl Reloaded {
    /// Publishes the version: returns it shared, with the basis pointing at it.
    pub(crate) fn into_shared(self) -> (Arc<ZoneRules>, Basis, (usize, usize)) {
        let rules = Arc::new(self.rules);
        let basis = Basis::new(self.file, self.id, &rules);
        (rules, basis, self.lines)
    }
}

/// Drops `garbage` on a thread of its own, off the path to the swap (inline if no thread
/// can be started).
pub(crate) fn dispose<T: Send + 'static>(garbage: T) {
    let _ = std::thread::Builder::new()
        .name("sekisho-free".into())
        .spawn(move || drop(garbage));
}

/// Parses `body` (lines of one record each) after `header`, as the zone file's parser
/// would read them there. Any error, or a class other than IN, is a refusal.
fn parse_lines(
    header: &[u8],
    body: &[u8],
    origin: &hickory_proto::rr::Name,
) -> Result<Vec<Record>, NotByDifference> {
    let mut text = Vec::with_capacity(header.len() + body.len());
    text.extend_from_slice(header);
    text.extend_from_slice(body);
    let reader = ZoneReader::new(&text[..], ParseOptions::with_origin(origin.clone()));
    let mut out = Vec::new();
    for r in reader {
        let r = r.map_err(|_| "a changed line does not parse")?;
        if r.dns_class != DNSClass::IN {
            return Err("a changed line is not of class IN");
        }
        out.push(r);
    }
    Ok(out)
}

/// Where a text is read from by offset: a file, or (in tests) bytes in memory.
trait Source {
    /// Reads into `buf` from offset `at`; the bytes read (0 at the end).
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize>;
}

impl Source for File {
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        FileExt::read_at(self, buf, at)
    }
}

impl Source for [u8] {
    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
        let rest = usize::try_from(at).map_or(&[][..], |at| self.get(at..).unwrap_or_default());
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// Bytes of a comparison window, and the fewest kept ahead of the comparison (refilled
/// below that): room for [`LOOK_AHEAD`] lines of any list, and few enough reads. Tests
/// use small windows so that every refill path is taken by short texts.
const WINDOW: usize = if cfg!(test) { 2048 } else { 1 << 20 };
const AHEAD: usize = if cfg!(test) { 1024 } else { 64 << 10 };

/// A text read front to back through one reused buffer. Every byte the comparison
/// passes goes through [`Window::consume`], which checks its [`shape`] on the way.
struct Window<'s, S: Source + ?Sized> {
    source: &'s S,
    /// Length of the text (a file's size when it was opened).
    len: u64,
    buf: Vec<u8>,
    /// The unread part of the window: `buf[start..end]`.
    start: usize,
    end: usize,
    /// Offset in the text of `buf[end]`.
    read: u64,
}

impl<'s, S: Source + ?Sized> Window<'s, S> {
    /// A window on the `len` bytes of `source`, which must end with a newline.
    fn new(source: &'s S, len: u64) -> Result<Self, NotByDifference> {
        if len > 0 {
            let mut last = [0u8];
            let n = source
                .read_at(&mut last, len - 1)
                .map_err(|_| "the text cannot be read")?;
            if n != 1 || last[0] != b'\n' {
                return Err("the text does not end with a newline");
            }
        }
        Ok(Window {
            source,
            len,
            buf: vec![0; WINDOW],
            start: 0,
            end: 0,
            read: 0,
        })
    }

    /// What is left of the window; empty only at the end of the text (after `top_up`).
    fn rest(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Refills the window when fewer than [`AHEAD`] bytes are left.
    fn top_up(&mut self) -> Result<(), NotByDifference> {
        if self.end - self.start >= AHEAD || self.read == self.len {
            return Ok(());
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < self.buf.len() && self.read < self.len {
            let want = (self.buf.len() - self.end).min((self.len - self.read) as usize);
            let n = self
                .source
                .read_at(&mut self.buf[self.end..self.end + want], self.read)
                .map_err(|_| "the text cannot be read")?;
            if n == 0 {
                return Err("the text is shorter than its size");
            }
            self.end += n;
            self.read += n as u64;
        }
        Ok(())
    }

    /// The window's first line, newline included (empty at the end of the text).
    fn first_line(&self) -> Result<&[u8], NotByDifference> {
        let rest = self.rest();
        match memchr::memchr(b'\n', rest) {
            Some(i) => Ok(&rest[..=i]),
            None if rest.is_empty() => Ok(rest),
            None => Err("a line longer than the comparison's window"),
        }
    }

    /// Passes the next `n` bytes (whole lines of the records' part), checking them.
    fn consume(&mut self, n: usize) -> Result<(), NotByDifference> {
        shape(&self.buf[self.start..self.start + n], false)?;
        self.start += n;
        Ok(())
    }

    /// Reads the header: the directives, comments and blank lines before the first
    /// record. `Err` if a directive other than `$ORIGIN` and `$TTL` is there, or no
    /// `$TTL`, or the header does not fit in the window.
    fn header(&mut self) -> Result<Vec<u8>, NotByDifference> {
        self.top_up()?;
        let rest = self.rest();
        let mut at = 0;
        let mut ttl = false;
        loop {
            let l = line(rest, at);
            if l.last() != Some(&b'\n') {
                if self.read < self.len {
                    return Err("a header longer than the comparison's window");
                }
                break;
            }
            if l.first() == Some(&b'$') {
                let word = l
                    .split(|b| b.is_ascii_whitespace())
                    .next()
                    .unwrap_or_default();
                if word.eq_ignore_ascii_case(b"$TTL") {
                    ttl = true;
                } else if !word.eq_ignore_ascii_case(b"$ORIGIN") {
                    return Err("a directive other than $ORIGIN and $TTL");
                }
            } else if !is_blank_or_comment(l) {
                break;
            }
            at += l.len();
        }
        if !ttl {
            return Err("no $TTL before the first record");
        }
        let header = rest[..at].to_vec();
        shape(&header, true)?;
        self.start += at;
        Ok(header)
    }
}

/// The lines that differ between two texts of a zone file.
#[derive(Debug, Default, PartialEq, Eq)]
struct LineDelta {
    /// The new text's header (directives, comments, blank lines before the first
    /// record; the old one's has the same directives).
    header: Vec<u8>,
    /// Record lines only in the old text, each with its newline.
    removed: Vec<u8>,
    /// Record lines only in the new text, each with its newline.
    added: Vec<u8>,
    /// Record lines removed and added.
    lines: (usize, usize),
}

impl LineDelta {
    /// Takes `lines` (whole lines) as removed (`old`) or added; blank and comment lines
    /// give no record. `Err` for a record that takes the owner of the line before it.
    fn take(&mut self, lines: &[u8], old: bool) -> Result<(), NotByDifference> {
        for l in Lines(lines) {
            if without_owner(l) {
                return Err("a record without its owner (a line starting with a blank)");
            }
            if is_blank_or_comment(l) {
                continue;
            }
            if old {
                self.removed.extend_from_slice(l);
                self.lines.0 += 1;
            } else {
                self.added.extend_from_slice(l);
                self.lines.1 += 1;
            }
        }
        Ok(())
    }
}

/// [`compare`] of two texts in memory (for the tests).
#[cfg(test)]
fn line_delta(old: &[u8], new: &[u8], max_changed: usize) -> Result<LineDelta, NotByDifference> {
    compare(
        &mut Window::new(old, old.len() as u64)?,
        &mut Window::new(new, new.len() as u64)?,
        max_changed,
    )
}

/// The changed lines of `new` against `old`, walking both in order: equal stretches are
/// skipped by comparing bytes in blocks; at a difference, one replaced line (the texts
/// agree again on the next) or lines inserted or deleted within the next
/// [`LOOK_AHEAD`] are recognised, otherwise the two lines count as one replaced by the
/// other. Lines that only moved further come out as removed and added, which the delta
/// applies as no change (any alignment gives a right delta; a good one a small delta).
/// `Err` if a text's [`shape`] does not allow a comparison by lines, the headers'
/// directives differ, a record next to a change takes the previous line's owner, or
/// more than `max_changed` lines differ.
fn compare<S: Source + ?Sized, T: Source + ?Sized>(
    old: &mut Window<'_, S>,
    new: &mut Window<'_, T>,
    max_changed: usize,
) -> Result<LineDelta, NotByDifference> {
    let old_header = old.header()?;
    let header = new.header()?;
    if directives(&old_header) != directives(&header) {
        return Err("the header's directives changed");
    }
    let mut delta = LineDelta {
        header,
        ..LineDelta::default()
    };
    // Lines that differ, blank ones included.
    let mut changed = 0;
    let mut after_change = false;
    loop {
        old.top_up()?;
        new.top_up()?;
        // A line after a change that takes the owner of the line before it would take
        // another owner now ([`shape`] leaves this check to here, where it is local).
        if after_change {
            if without_owner(old.first_line()?) || without_owner(new.first_line()?) {
                return Err("a record without its owner (a line starting with a blank)");
            }
            after_change = false;
        }
        let (a, b) = (old.rest(), new.rest());
        if a.is_empty() && b.is_empty() {
            break;
        }
        let common = common_prefix(a, b);
        // Back to the start of the line where the texts part.
        let whole = a[..common]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if whole > 0 {
            old.consume(whole)?;
            new.consume(whole)?;
            continue;
        }
        let (lo, ln) = (old.first_line()?, new.first_line()?);
        // (old lines, new lines) taken as changed.
        // Most often one line was replaced: the texts agree again on the next line.
        let replaced = {
            let next = line(a, lo.len());
            !next.is_empty() && next == line(b, ln.len())
        };
        let (taken_old, taken_new) = if lo.is_empty() || ln.is_empty() {
            // One text ended: the other's lines are all changes.
            (lo.len(), ln.len())
        } else if replaced {
            (lo.len(), ln.len())
        } else if let Some(skip) = find_line(&b[ln.len()..], lo) {
            // Lines inserted before `lo`.
            (0, ln.len() + skip)
        } else if let Some(skip) = find_line(&a[lo.len()..], ln) {
            // Lines deleted before `ln`.
            (lo.len() + skip, 0)
        } else {
            (lo.len(), ln.len())
        };
        changed += Lines(&a[..taken_old]).count() + Lines(&b[..taken_new]).count();
        if changed > max_changed {
            return Err("too many lines changed");
        }
        delta.take(&a[..taken_old], true)?;
        delta.take(&b[..taken_new], false)?;
        old.consume(taken_old)?;
        new.consume(taken_new)?;
        after_change = true;
    }
    Ok(delta)
}

/// Checks that `lines` (whole lines) hold no entry over several lines and, unless they
/// are the `header`, no directive: what a comparison by lines needs of every line. Lines
/// that take the owner of the line before them are refused by [`compare`] where that
/// matters: next to a changed line.
fn shape(lines: &[u8], header: bool) -> Result<(), NotByDifference> {
    // One pass for the rare bytes: parentheses, and `$`.
    for at in memchr::memchr3_iter(b'(', b')', b'$', lines) {
        let start = lines[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if lines[at] == b'$' {
            // A `$` that starts its line is a directive.
            if start == at && !header {
                return Err("a directive after the first record");
            }
        } else if !self_contained(line(lines, start)) {
            return Err("parentheses (an entry over several lines)");
        }
    }
    Ok(())
}

/// The directive lines of a header.
fn directives(header: &[u8]) -> Vec<&[u8]> {
    Lines(header).filter(|l| l.first() == Some(&b'$')).collect()
}

/// Whether a line holds a record that takes the owner of the line before it.
fn without_owner(l: &[u8]) -> bool {
    l.first().is_some_and(|&b| b == b' ' || b == b'\t') && !is_blank_or_comment(l)
}

/// Whether a line with parentheses is an entry of its own: no quotes or escapes (which
/// could hide them), and the parentheses before any comment balanced.
fn self_contained(l: &[u8]) -> bool {
    if memchr::memchr2(b'"', b'\\', l).is_some() {
        return false;
    }
    let code = memchr::memchr(b';', l).map_or(l, |i| &l[..i]);
    let mut depth = 0i32;
    for &b in code {
        match b {
            b'(' => depth += 1,
            b')' if depth == 0 => return false,
            b')' => depth -= 1,
            _ => {}
        }
    }
    depth == 0
}

/// Whether a line holds nothing but blanks and perhaps a comment.
fn is_blank_or_comment(l: &[u8]) -> bool {
    match l.iter().position(|b| !b.is_ascii_whitespace()) {
        None => true,
        Some(i) => l[i] == b';',
    }
}

/// The line of `text` starting at `at`, newline included.
fn line(text: &[u8], at: usize) -> &[u8] {
    let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i + 1);
    &text[at..end]
}

/// Where `wanted` starts as a whole line among the first [`LOOK_AHEAD`] lines of `text`.
fn find_line(text: &[u8], wanted: &[u8]) -> Option<usize> {
    let mut at = 0;
    for _ in 0..LOOK_AHEAD {
        if at >= text.len() {
            return None;
        }
        let l = line(text, at);
        if l == wanted {
            return Some(at);
        }
        at += l.len();
    }
    None
}

/// Length of the common prefix of two byte strings, compared in large blocks, then
/// small ones (one `memcmp` each), then octets.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    for block in [4096, 128] {
        while i + block <= n && a[i..i + block] == b[i..i + block] {
            i += block;
        }
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The lines of a text that ends with a newline.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let l = line(self.0, 0);
        self.0 = &self.0[l.len()..];
        Some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "$ORIGIN rpz.test.\n$TTL 300\n";

    fn zone(body: &str) -> String {
        format!("{HEAD}@ SOA ns. host. 1 3600 600 86400 300\n{body}")
    }

    fn delta(old: &str, new: &str) -> Result<(Vec<String>, Vec<String>), NotByDifference> {
        let d = line_delta(old.as_bytes(), new.as_bytes(), 1000)?;
        let text = |v: Vec<u8>| {
            Lines(&v)
                .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
                .collect()
        };
        Ok((text(d.removed), text(d.added)))
    }

    #[test]
    fn a_replaced_line_is_one_removed_and_one_added() {
        let old = zone("a CNAME .\nb CNAME .\nc CNAME .\n");
        let new = zone("a CNAME .\nx CNAME .\nc CNAME .\n");
        assert_eq!(
            delta(&old, &new).expect("delta"),
            (vec!["b CNAME .".into()], vec!["x CNAME .".into()])
        );
    }

    #[test]
    fn inserted_and_deleted_lines_do_not_shift_the_rest() {
        let body: String = (0..100).map(|i| format!("n{i} CNAME .\n")).collect();
        let old = zone(&body);
        let inserted = body.replacen(
            "n50 CNAME .\n",
            "n50 CNAME .\nnew1 CNAME .\nnew2 CNAME .\n",
            1,
        );
        assert_eq!(
            delta(&old, &zone(&inserted)).expect("delta"),
            (vec![], vec!["new1 CNAME .".into(), "new2 CNAME .".into()])
        );
        let deleted = body.replacen("n7 CNAME .\nn8 CNAME .\n", "", 1);
        assert_eq!(
            delta(&old, &zone(&deleted)).expect("delta"),
            (vec!["n7 CNAME .".into(), "n8 CNAME .".into()], vec![])
        );
        // At the ends too.
        let appended = format!("{body}z CNAME .\n");
        assert_eq!(
            delta(&old, &zone(&appended)).expect("delta"),
            (vec![], vec!["z CNAME .".into()])
        );
        let prepended = format!("first CNAME .\n{body}");
        assert_eq!(
            delta(&old, &zone(&prepended)).expect("delta"),
            (vec![], vec!["first CNAME .".into()])
        );
    }

    #[test]
    fn a_changed_serial_is_a_changed_line_and_comments_give_nothing() {
        let old = zone("; list of 2026-12-01\na CNAME .\n");
        let new = zone("; list of 2026-12-02\na CNAME .\n").replace(" 1 3600", " 2 3600");
        assert_eq!(
            delta(&old, &new).expect("delta"),
            (
                vec!["@ SOA ns. host. 1 3600 600 86400 300".into()],
                vec!["@ SOA ns. host. 2 3600 600 86400 300".into()]
            )
        );
    }

    #[test]
    fn texts_whose_lines_depend_on_each_other_are_refused() {
        let ok = zone("a CNAME .\n");
        for (new, why) in [
            (zone("a A 192.0.2.1\n  AAAA 2001:db8::1\n"), "owner"),
            (zone("a TXT ( \"x\"\n  \"y\" )\n"), "parentheses"),
            (zone("a CNAME .\n$TTL 60\nb CNAME .\n"), "directive after"),
            (zone("a CNAME .\n").replace("$TTL 300\n", ""), "$TTL"),
            (
                zone("a CNAME .\n").replace("$TTL 300\n", "$TTL 60\n"),
                "header",
            ),
            (
                format!("$INCLUDE other\n{}", zone("a CNAME .\n")),
                "directive other",
            ),
        ] {
            let err = line_delta(ok.as_bytes(), new.as_bytes(), 1000).expect_err("refused");
            assert!(err.contains(why), "{new:?}: {err}");
        }
        // A blank line that starts with blanks is fine, and so are parentheses in a
        // comment or closed on their line.
        assert!(delta(&ok, &zone("a CNAME .\n   \n\t; note\nb CNAME .\n")).is_ok());
        assert!(delta(&ok, &zone("a CNAME . ; phishing (reported)\n")).is_ok());
        assert!(delta(&ok, &zone("a MX ( 10 mail. )\n")).is_ok());
        // A header comment may change (lists date their files); its directives may not.
        let dated = format!("; 2026-12-02\n{}", zone("a CNAME .\n"));
        assert_eq!(delta(&ok, &dated).expect("delta"), (vec![], vec![]));
    }

    #[test]
    fn changes_on_either_side_of_a_window_refill_are_found() {
        // Many windows' worth of lines (the tests' windows are 2 KiB); each edit is
        // placed at every line in turn, so some fall on a refill.
        let body: Vec<String> = (0..400).map(|i| format!("n{i} CNAME .\n")).collect();
        let old = zone(&body.concat());
        for at in 0..body.len() {
            let mut replaced = body.clone();
            replaced[at] = format!("r{at} CNAME .\n");
            assert_eq!(
                delta(&old, &zone(&replaced.concat())).expect("replaced"),
                (
                    vec![body[at].trim_end().to_owned()],
                    vec![format!("r{at} CNAME .")]
                ),
                "line {at}"
            );
            let mut inserted = body.clone();
            inserted.insert(at, format!("i{at} CNAME .\ni{at}b CNAME .\n"));
            assert_eq!(
                delta(&old, &zone(&inserted.concat())).expect("inserted"),
                (
                    vec![],
                    vec![format!("i{at} CNAME ."), format!("i{at}b CNAME .")]
                ),
                "line {at}"
            );
            let mut deleted = body.clone();
            deleted.remove(at);
            assert_eq!(
                delta(&old, &zone(&deleted.concat())).expect("deleted"),
                (vec![body[at].trim_end().to_owned()], vec![]),
                "line {at}"
            );
        }
    }

    #[test]
    fn what_a_window_cannot_hold_is_refused_not_misread() {
        let ok = zone("a CNAME .\n");
        let long = format!("a TXT \"{}\"\n", "x".repeat(WINDOW));
        let err = line_delta(ok.as_bytes(), zone(&long).as_bytes(), 1000).expect_err("long");
        assert!(err.contains("longer than"), "{err}");
        let comments = "; a long preamble\n".repeat(WINDOW / 10);
        let err = line_delta(ok.as_bytes(), format!("{comments}{ok}").as_bytes(), 1000)
            .expect_err("header");
        assert!(err.contains("header"), "{err}");
        // A text that does not end with a newline, or is shorter than it was said to be.
        let cut = &ok.as_bytes()[..ok.len() - 1];
        assert!(line_delta(ok.as_bytes(), cut, 1000).is_err());
        let err = Window::new(ok.as_bytes(), ok.len() as u64 + 10).map(|_| ());
        assert!(err.is_err());
    }

    #[test]
    fn too_many_changes_are_refused() {
        let old = zone(
            &(0..50)
                .map(|i| format!("n{i} CNAME .\n"))
                .collect::<String>(),
        );
        let new = zone(
            &(0..50)
                .map(|i| format!("m{i} CNAME .\n"))
                .collect::<String>(),
        );
        assert!(line_delta(old.as_bytes(), new.as_bytes(), 99).is_err());
        assert!(line_delta(old.as_bytes(), new.as_bytes(), 100).is_ok());
    }
}

#[cfg(test)]
mod reload_tests {
    //! Reloads by difference against full loads of the same files.

    use std::path::PathBuf;

    use hickory_proto::rr::Name;
    use sekisho_rpz::Rule;

    use super::*;
    use crate::{load_file, load_or_difference, Loaded};

    /// A directory of its own under the system's temporary directory.
    pub(super) fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sekisho-difference-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// Replaces `path` by a new file with `text` (write, then rename), as publishers do.
    fn publish(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }

    fn settings() -> ZoneSettings {
        ZoneSettings::new(Name::from_ascii("rpz.test.").expect("name"))
    }

    /// Rules in a comparable form (owner case aside), sorted.
    fn listing(z: &ZoneRules) -> Vec<(String, String)> {
        let key = |r: &Rule| {
            (
                r.owner.to_ascii().to_ascii_lowercase(),
                format!("{:?} {:?}", r.kind, r.action),
            )
        };
        let mut v: Vec<_> = z.rules().iter().map(key).collect();
        v.sort();
        v
    }

    /// The store's steps for one reload: the zone's basis and live version go in, the
    /// new ones come out.
    struct Zone {
        path: PathBuf,
        basis: Option<Basis>,
        live: Option<Arc<ZoneRules>>,
    }

    impl Zone {
        /// Reloads; returns whether it went by difference, after checking the result
        /// against a full load of the same file.
        fn reload(&mut self) -> bool {
            let Loaded {
                rules,
                basis,
                changed,
                skipped,
            } = load_or_difference(
                settings(),
                &self.path,
                self.basis.take(),
                self.live.take(),
                "rpz.test.",
            )
            .expect("load");
            let (full, full_skipped) = load_file(settings(), &self.path).expect("full load");
            assert_eq!(listing(&rules), listing(&full));
            assert_eq!(rules.counts(), full.counts());
            assert_eq!(rules.serial(), full.serial());
            assert_eq!(skipped, full_skipped);
            self.basis = basis;
            self.live = Some(rules);
            changed.is_some()
        }
    }

    fn rule_line(i: usize) -> String {
        match i % 10 {
            0 => format!("*.wild{i}.example CNAME .\n"),
            5 => format!(
                "host{i}.example A 192.0.2.{}\nhost{i}.example AAAA 2001:db8::{i:x}\n",
                i % 250
            ),
            7 => format!("garden{i}.example 60 CNAME walled.example.net.\n"),
            // Address and name-server triggers.
            3 => format!("32.{}.{}.0.10.rpz-ip CNAME .\n", i % 256, i / 256),
            9 => format!("ns{i}.example.rpz-nsdname CNAME .\n"),
            1 if i % 20 == 1 => {
                format!("24.0.{}.0.10.rpz-client-ip CNAME rpz-drop.\n", i / 20 % 256)
            }
            _ => format!("bad{i}.example CNAME .\n"),
        }
    }

    fn file(serial: u32, lines: &[String]) -> String {
        let mut text = format!(
            "; generated for serial {serial}\n$TTL 300\n@ SOA ns.rpz.test. host.rpz.test. {serial} 3600 600 86400 300\n@ NS ns.rpz.test.\n"
        );
        for l in lines {
            text.push_str(l);
        }
        text
    }

    #[test]
    fn a_replaced_file_reloads_by_difference_as_a_full_load_would() {
        let dir = scratch("rounds");
        let path = dir.join("rpz.test.zone");
        let mut lines: Vec<String> = (0..2_000).map(rule_line).collect();
        publish(&path, &file(1, &lines));
        let mut zone = Zone {
            path: path.clone(),
            basis: None,
            live: None,
        };
        assert!(!zone.reload(), "the first load is whole");
        // Rounds of edits of every kind a list goes through; a small LCG picks the lines.
        let mut seed = 7u64;
        let mut pick = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for round in 0..12u32 {
            let n = lines.len();
            match round % 6 {
                // Renamed rules (the benchmark's 1%).
                0 => (0..20).for_each(|_| {
                    let i = pick(n);
                    lines[i] = lines[i].replace(".example", &format!(".r{round}.example"));
                }),
                // Deleted and inserted rules.
                1 => {
                    for _ in 0..10 {
                        let i = pick(lines.len());
                        lines.remove(i);
                    }
                    for k in 0..10 {
                        let i = pick(lines.len());
                        lines.insert(i, format!("new{round}-{k}.example CNAME *.\n"));
                    }
                }
                // A changed TTL, address and action.
                2 => {
                    let i = (0..n)
                        .find(|&i| lines[i].contains(" A 192.0.2."))
                        .expect("local data");
                    lines[i] = lines[i].replace(" A 192.0.2.", " 120 A 198.51.100.");
                    let j = (0..n).find(|&j| lines[j].starts_with("bad")).expect("rule");
                    lines[j] = lines[j].replace("CNAME .", "CNAME rpz-passthru.");
                }
                // Lines moved (the same records elsewhere) and a name's case changed.
                3 => {
                    let moved: Vec<String> =
                        (0..5).map(|_| lines.remove(pick(lines.len()))).collect();
                    lines.extend(moved);
                    let k = (0..n).find(|&k| lines[k].starts_with("bad")).expect("rule");
                    lines[k] = lines[k].to_ascii_uppercase();
                }
                // A comment and a blank line added; a local-data rule removed.
                4 => {
                    lines.insert(3, "; reviewed\n".into());
                    lines.insert(9, "\n".into());
                    let i = (0..n)
                        .find(|&i| lines[i].contains(" AAAA "))
                        .expect("local data");
                    lines.remove(i);
                }
                // Address triggers: one action changed, one removed, one added.
                5 if round == 5 => {
                    let i = (0..n)
                        .find(|&i| lines[i].contains(".rpz-ip "))
                        .expect("ip rule");
                    lines[i] = lines[i].replace("CNAME .", "CNAME *.");
                    let j = (0..n)
                        .find(|&j| lines[j].contains(".rpz-client-ip "))
                        .expect("client rule");
                    lines.remove(j);
                    lines.push("32.7.7.7.10.rpz-ip CNAME .\n".into());
                }
                // Nothing but the serial.
                _ => {}
            }
            publish(&path, &file(2 + round, &lines));
            assert!(zone.reload(), "round {round} went by difference");
        }
    }

    #[test]
    fn what_a_line_cannot_say_alone_is_loaded_whole() {
        let dir = scratch("whole");
        let path = dir.join("rpz.test.zone");
        let lines: Vec<String> = (0..200).map(rule_line).collect();
        publish(&path, &file(1, &lines));
        let mut zone = Zone {
            path: path.clone(),
            basis: None,
            live: None,
        };
        assert!(!zone.reload());
        // A record given twice: the delta cannot tell which line held it.
        let mut twice = lines.clone();
        twice.push(lines[3].clone());
        publish(&path, &file(2, &twice));
        assert!(!zone.reload(), "a duplicate record is loaded whole");
        // The version it gave merged a record: the next reload is whole as well, and the
        // duplicate's removal then loads by difference again.
        publish(&path, &file(3, &twice));
        assert!(!zone.reload(), "a version with a merged record is no basis");
        publish(&path, &file(4, &lines));
        assert!(!zone.reload());
        publish(&path, &file(5, &lines));
        assert!(zone.reload(), "by difference again");
        // A record that takes the owner of the line before it.
        let mut blank = lines.clone();
        blank.push("last.example A 192.0.2.1\n  AAAA 2001:db8::1\n".into());
        publish(&path, &file(6, &blank));
        assert!(!zone.reload(), "an omitted owner is loaded whole");
        // A file written in place (no rename): the old text is gone.
        publish(&path, &file(7, &lines));
        assert!(
            !zone.reload(),
            "a change to the owners above is whole (no basis)"
        );
        std::fs::write(&path, file(8, &lines)).expect("write in place");
        assert!(!zone.reload(), "written in place");
        // A bad line: the full load names it and skips it; no basis after that.
        let mut bad = lines.clone();
        bad.push("broken.example A 300.1.2.3\n".into());
        publish(&path, &file(9, &bad));
        assert!(!zone.reload(), "a line that does not parse is loaded whole");
        publish(&path, &file(10, &lines));
        assert!(!zone.reload(), "a version with skipped records is no basis");
        publish(&path, &file(11, &lines));
        assert!(zone.reload());
        // Another version went live meanwhile (an IXFR, say): no difference against it.
        let live = zone.live.clone().expect("live");
        let (patched, _) = live.apply_delta(&[], &[]);
        zone.live = Some(Arc::new(patched));
        publish(&path, &file(12, &lines));
        assert!(!zone.reload(), "the live version is not the basis's");
        // A file that lost its SOA is refused as a whole load refuses it; the last good
        // version stays.
        let no_soa: String = file(12, &lines)
            .lines()
            .filter(|l| !l.contains(" SOA "))
            .map(|l| format!("{l}\n"))
            .collect();
        publish(&path, &no_soa);
        let before = zone.live.clone();
        let err = load_or_difference(
            settings(),
            &path,
            zone.basis.take(),
            zone.live.take(),
            "rpz.test.",
        )
        .err()
        .expect("refused");
        assert!(matches!(err, crate::LoadError::NoSoa { .. }), "{err}");
        zone.live = before;
        publish(&path, &file(12, &lines));
        assert!(!zone.reload(), "the failed load took the basis with it");
        // Different settings compile differently.
        publish(&path, &file(13, &lines));
        let mut other = settings();
        other.max_policy_ttl += 60;
        let basis = zone.basis.take().expect("basis");
        let live = zone.live.clone().expect("live");
        let err = reload(&basis, &live, &other, &path, 1000).expect_err("refused");
        assert!(err.contains("settings"), "{err}");
    }
}

#[cfg(test)]
mod store_tests {
    //! The store keeps what a reload compares against from one load to the next.

    use sekisho_conf::Config;

    use crate::PolicyStore;

    #[test]
    fn the_store_reloads_a_replaced_file_by_difference_and_a_rewritten_one_whole() {
        let dir = super::reload_tests::scratch("store");
        let config = Config::from_toml_str(
            "[server]\ndirectory = \".\"\n[[response-policy.zone]]\nname = \"rpz.test\"\nfile = \"rpz.test.zone\"\n",
            &dir.join("sekisho.toml"),
        )
        .expect("config");
        let store = PolicyStore::new(&config.response_policy, &dir, None);
        let path = dir.join("rpz.test.zone");
        let text = |serial: u32, extra: &str| {
            let mut t = format!("$TTL 300\n@ SOA ns.rpz.test. h.rpz.test. {serial} 1 1 1 1\n");
            for i in 0..300 {
                t.push_str(&format!("bad{i}.example CNAME .\n"));
            }
            t.push_str(extra);
            t
        };
        let publish = |t: String| {
            std::fs::write(dir.join("next"), t).expect("write");
            std::fs::rename(dir.join("next"), &path).expect("rename");
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let load = || {
            let out = rt.block_on(store.load(None)).expect("load");
            let (rules, serial) = out[0].result.clone().expect("loaded");
            (rules, serial, out[0].changed_lines)
        };
        publish(text(1, ""));
        assert_eq!(load(), (300, Some(1), None));
        publish(text(2, "new.example CNAME *.\n"));
        assert_eq!(
            load(),
            (301, Some(2), Some((1, 2))),
            "SOA out; SOA and a rule in"
        );
        publish(text(3, ""));
        assert_eq!(load(), (300, Some(3), Some((2, 1))));
        // Written in place: the kept text is gone, so the file is compiled whole.
        std::fs::write(&path, text(4, "other.example CNAME .\n")).expect("write in place");
        assert_eq!(load(), (301, Some(4), None));
        let live = store
            .zone_rules(&"rpz.test.".parse().expect("name"))
            .expect("zone");
        assert_eq!(live.overlay_len(), 0, "a whole compile leaves no overlay");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
