//! Reloading a zone file by difference: the lines that changed, not the whole file.
//!
//! A list organisation's zone changes by a few percent between versions, and a full load
//! parses and compiles every line again (about 0.25 s of two cores for a million rules,
//! and more while the cores also serve queries). When the live version of a zone was
//! loaded from a file and that file was replaced (a rename, as every publisher and
//! `sekisho rpz build` do), the old text is still readable through the descriptor kept
//! from the load ([`Basis`]). The two texts are compared line by line; only the lines
//! that differ are parsed, and the records they give are applied to the live version as
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
    // Both texts are read and checked at once, one on a second thread (a load has two).
    let (old, new) = std::thread::scope(|scope| {
        let old = scope.spawn(|| {
            let text = read_all(&basis.file, basis.id.len).ok_or("the kept file cannot be read")?;
            let header = shape(&text)?;
            Ok::<_, NotByDifference>((text, header))
        });
        let new = read_all(&file, id.len)
            .ok_or("the file cannot be read")
            .and_then(|text| {
                let header = shape(&text)?;
                Ok((text, header))
            });
        let old = old.join().unwrap_or(Err("the reading thread failed"));
        (old, new)
    });
    let ((old, old_header), (new, new_header)) = (old?, new?);
    if FileId::of(&file.metadata().map_err(|_| "the file cannot be read")?) != id {
        return Err("the file changed while it was read");
    }
    let delta = compare(&old, old_header, &new, new_header, max_changed)?;
    let origin = settings.name.clone();
    let (removed, added) = std::thread::scope(|scope| {
        let removed = scope.spawn(|| parse_lines(delta.header, &delta.removed, &origin));
        let added = parse_lines(delta.header, &delta.added, &origin);
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
    // Freeing two texts of tens of megabytes takes milliseconds: not before the swap.
    let lines = (delta.removed.len(), delta.added.len());
    drop(delta);
    dispose((old, new));
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
        lines,
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

/// The whole content of `file`, `len` bytes (`None` if it cannot be read or is shorter).
fn read_all(file: &File, len: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buf, 0).ok()?;
    Some(buf)
}

/// Parses `lines` (each one record, newline included) after `header`, as the zone file's
/// parser would read them there. Any error, or a class other than IN, is a refusal.
fn parse_lines(
    header: &[u8],
    lines: &[&[u8]],
    origin: &hickory_proto::rr::Name,
) -> Result<Vec<Record>, NotByDifference> {
    let mut text = Vec::with_capacity(header.len() + lines.iter().map(|l| l.len()).sum::<usize>());
    text.extend_from_slice(header);
    for l in lines {
        text.extend_from_slice(l);
    }
    let reader = ZoneReader::new(&text[..], ParseOptions::with_origin(origin.clone()));
    let mut out = Vec::with_capacity(lines.len());
    for r in reader {
        let r = r.map_err(|_| "a changed line does not parse")?;
        if r.dns_class != DNSClass::IN {
            return Err("a changed line is not of class IN");
        }
        out.push(r);
    }
    Ok(out)
}

/// The lines that differ between two texts of a zone file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineDelta<'a> {
    /// The header both texts share (directives, comments, blank lines before the first
    /// record).
    pub(crate) header: &'a [u8],
    /// Lines only in the old text, newline included.
    pub(crate) removed: Vec<&'a [u8]>,
    /// Lines only in the new text, newline included.
    pub(crate) added: Vec<&'a [u8]>,
}

/// [`shape`] of both texts, then [`compare`] (for the tests).
#[cfg(test)]
pub(crate) fn line_delta<'a>(
    old: &'a [u8],
    new: &'a [u8],
    max_changed: usize,
) -> Result<LineDelta<'a>, NotByDifference> {
    compare(old, shape(old)?, new, shape(new)?, max_changed)
}

/// The changed lines of `new` against `old`, two texts [`shape`] accepted (with their
/// header lengths), walking both in order: equal stretches are skipped by comparing
/// bytes in blocks; at a difference, one replaced line (the texts agree again on the
/// next) or lines inserted or deleted within the next [`LOOK_AHEAD`] are recognised,
/// otherwise the two lines count as one replaced by the other. Lines that only moved
/// further come out as removed and added, which the delta applies as no change. `Err`
/// if the headers' directives differ, a record next to a change takes the previous
/// line's owner, or more than `max_changed` lines differ.
fn compare<'a>(
    old: &'a [u8],
    old_header: usize,
    new: &'a [u8],
    new_header: usize,
    max_changed: usize,
) -> Result<LineDelta<'a>, NotByDifference> {
    if directives(&old[..old_header]) != directives(&new[..new_header]) {
        return Err("the header's directives changed");
    }
    let header = &new[..new_header];
    let (mut o, mut n) = (old_header, new_header);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    loop {
        let common = common_prefix(&old[o..], &new[n..]);
        // Back to the start of the line where the texts part.
        let whole = old[o..o + common]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        o += whole;
        n += whole;
        if o == old.len() {
            added.extend(Lines(&new[n..]));
            break;
        }
        if n == new.len() {
            removed.extend(Lines(&old[o..]));
            break;
        }
        let lo = line(old, o);
        let ln = line(new, n);
        // Most often one line was replaced: the texts agree again on the next line.
        let replaced = {
            let next = line(old, o + lo.len());
            !next.is_empty() && next == line(new, n + ln.len())
        };
        if replaced {
            removed.push(lo);
            added.push(ln);
            o += lo.len();
            n += ln.len();
        } else if let Some(skip) = find_line(&new[n + ln.len()..], lo) {
            // Lines inserted before `lo`.
            let inserted = &new[n..n + ln.len() + skip];
            added.extend(Lines(inserted));
            n += inserted.len();
        } else if let Some(skip) = find_line(&old[o + lo.len()..], ln) {
            // Lines deleted before `ln`.
            let deleted = &old[o..o + lo.len() + skip];
            removed.extend(Lines(deleted));
            o += deleted.len();
        } else {
            removed.push(lo);
            added.push(ln);
            o += lo.len();
            n += ln.len();
        }
        if removed.len() + added.len() > max_changed {
            return Err("too many lines changed");
        }
        // A line after a change that takes the owner of the line before it would take
        // another owner now ([`shape`] leaves this check to here, where it is local).
        if without_owner(line(old, o)) || without_owner(line(new, n)) {
            return Err("a record without its owner (a line starting with a blank)");
        }
    }
    if removed.iter().chain(&added).any(|l| without_owner(l)) {
        return Err("a record without its owner (a line starting with a blank)");
    }
    // Blank and comment lines give no record.
    removed.retain(|l| !is_blank_or_comment(l));
    added.retain(|l| !is_blank_or_comment(l));
    if removed.len() + added.len() > max_changed {
        return Err("too many lines changed");
    }
    Ok(LineDelta {
        header,
        removed,
        added,
    })
}

/// Checks that `text` has its directives only before the first record and no entry over
/// several lines; returns the length of that header. The text ends with a newline (a
/// load checks that first). Lines that take the owner of the line before them are
/// refused by [`compare`] where that matters: next to a changed line.
fn shape(text: &[u8]) -> Result<usize, NotByDifference> {
    if text.last().is_some_and(|&b| b != b'\n') {
        return Err("the text does not end with a newline");
    }
    // One pass for the rare bytes: parentheses, and `$` (checked below the header).
    let mut dollars = Vec::new();
    for at in memchr::memchr3_iter(b'(', b')', b'$', text) {
        if text[at] == b'$' {
            dollars.push(at);
            continue;
        }
        let start = text[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if !self_contained(line(text, start)) {
            return Err("parentheses (an entry over several lines)");
        }
    }
    let mut at = 0;
    let mut ttl = false;
    while at < text.len() {
        let l = line(text, at);
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
    // A `$` below the header that starts its line is a directive.
    for &i in dollars.iter().filter(|&&i| i >= at) {
        if i == 0 || text[i - 1] == b'\n' {
            return Err("a directive after the first record");
        }
    }
    Ok(at)
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

/// Length of the common prefix of two byte strings, compared in blocks first.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 128;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
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
        let text = |v: Vec<&[u8]>| {
            v.into_iter()
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
