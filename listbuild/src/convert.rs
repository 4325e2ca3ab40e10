//! The converter: list records in, policy zone records out (sans-I/O core).
//!
//! [`Converter`] takes any `BufRead` per input and any `Write` for the zone; it
//! never opens a file. Records are written as they are found, in input order,
//! through `sekisho_zonefile::Writer`, which writes exactly what the zone-file
//! parser reads back. Memory: one record buffer, plus the dedupe set of every
//! name written so far (a `HashSet<Box<str>>`, roughly 40 octets plus the name's
//! length per unique name: about 600 MB for 10 million unique names).

use std::collections::HashSet;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};
use sekisho_zonefile::Writer;

use super::lines::{self, LineReader};
use super::name::{self, NameError, MAX_WIRE};

/// Default TTL of every record written, SOA and NS included (5 minutes). Rewritten
/// answers carry min(this, `max-policy-ttl`), and `max-policy-ttl` is 5 s unless
/// configured, so the value matters mostly to resolvers that do not cap it.
pub const DEFAULT_TTL: u32 = 300;
/// Default SOA refresh (1 hour, the guideline's `make_block_zone.sh`): how often a
/// secondary asks the primary for a newer serial when no NOTIFY came.
pub const DEFAULT_REFRESH: u32 = 3600;
/// Default SOA retry (15 minutes, the guideline's): how soon a secondary tries again
/// after a failed refresh.
pub const DEFAULT_RETRY: u32 = 900;
/// Default SOA expire (30 days, the guideline's): how long a secondary that cannot
/// reach its primary keeps serving, and so enforcing, its copy. A day (this tool's
/// value before) lifted every block after a one-day outage of the list master.
pub const DEFAULT_EXPIRE: u32 = 30 * 86_400;
/// Default SOA minimum (2 hours, the guideline's): the negative-caching TTL of the
/// zone itself (RFC 2308).
pub const DEFAULT_MINIMUM: u32 = 7200;
/// Default SOA MNAME and NS target. A policy zone is not delegated, so the name only
/// has to be a valid host name; `localhost.` is what BIND's RPZ examples use.
pub const DEFAULT_NS: &str = "localhost.";
/// Default SOA RNAME (the mailbox `root@localhost`), as in BIND's RPZ examples.
pub const DEFAULT_MBOX: &str = "root.localhost.";
/// The largest TTL or SOA timer written: 2^31 - 1 seconds (about 68 years). RFC 2181
/// §8 reads a TTL with the top bit set as 0, and the SOA timers are signed 32-bit
/// values in the DNS codec.
pub const MAX_SECONDS: u32 = i32::MAX as u32;

/// What a listed name is rewritten to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Local data: the warning page's addresses (at least one is set).
    LocalData {
        /// `--warn-a`.
        a: Option<Ipv4Addr>,
        /// `--warn-aaaa`.
        aaaa: Option<Ipv6Addr>,
    },
    /// `CNAME .`: NXDOMAIN.
    Nxdomain,
    /// `CNAME *.`: NODATA.
    Nodata,
    /// `CNAME rpz-drop.`: no answer at all.
    Drop,
}

/// How one input file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The list organisation's CSV.
    Csv(CsvColumns),
    /// One name per line, `#` or `;` comments.
    Domains,
    /// Hosts file: `0.0.0.0 name name2 # comment`.
    Hosts,
}

/// Which CSV columns matter (0-based here; the command line counts from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumns {
    /// Column of the host name.
    pub host: usize,
    /// Column of the blocking flag.
    pub flag: usize,
    /// The flag value that means "block" (compared after trimming blanks).
    pub flag_value: String,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records read (CSV rows, non-blank hosts and domain lines).
    pub rows: u64,
    /// Unique names written.
    pub names: u64,
    /// Names seen again (in the same or another input).
    pub duplicates: u64,
    /// Lines reported and skipped.
    pub invalid: u64,
    /// CSV rows whose flag column is not the flag value (the header row among them).
    pub not_flagged: u64,
    /// Hosts-file names for the machine itself (`localhost`...), ignored.
    pub local_names: u64,
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// A field that is read is not UTF-8.
    NotUtf8,
    /// The row has fewer columns than `--host-column`/`--flag-column` need.
    MissingColumn {
        /// The column asked for (1-based).
        column: usize,
        /// Columns the row has.
        found: usize,
    },
    /// Longer than the record limit.
    TooLong,
    /// The file ends inside a quoted CSV field.
    UnclosedQuote,
    /// A hosts line whose first field is not an IP address.
    NoAddress,
    /// A hosts line with an address and no name.
    NoName,
    /// A domain-list line with more than one field.
    ExtraFields,
    /// The name is not a host name.
    Name {
        /// The name as found (truncated to 100 characters).
        name: String,
        /// Why.
        error: NameError,
    },
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::NotUtf8 => f.write_str("not UTF-8; line skipped"),
            LineError::MissingColumn { column, found } => {
                write!(f, "no column {column} (the row has {found}); line skipped")
            }
            LineError::TooLong => write!(f, "longer than {} octets; skipped", lines::MAX_RECORD),
            LineError::UnclosedQuote => f.write_str("the file ends inside a quoted field"),
            LineError::NoAddress => f.write_str("a hosts line must start with an IP address"),
            LineError::NoName => f.write_str("a hosts line with an address and no name"),
            LineError::ExtraFields => f.write_str("more than one name on a domain-list line"),
            LineError::Name { name, error } => write!(f, "{name:?}: {error}"),
        }
    }
}

/// One reported line: `source:line: error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic<'a> {
    /// The input's name (its path as given).
    pub source: &'a str,
    /// 1-based line number where the record starts.
    pub line: u64,
    /// What is wrong.
    pub error: LineError,
}

impl fmt::Display for Diagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.error)
    }
}

/// A failure that stops the conversion.
#[derive(Debug)]
pub enum FeedError {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the zone failed.
    Write(io::Error),
}

/// The zone-level settings of a conversion.
#[derive(Debug, Clone)]
pub struct ZoneSpec {
    /// The policy zone's name (absolute).
    pub zone: Name,
    /// What listed names are rewritten to.
    pub action: Action,
    /// Also write `*.name` with the same action.
    pub wildcard: bool,
    /// SOA serial.
    pub serial: u32,
    /// The other SOA fields, the NS record and the TTL of every record.
    pub soa: SoaSettings,
}

/// The zone's SOA (but its serial), its NS record and the TTL of every record.
///
/// Values above [`MAX_SECONDS`] are written as [`MAX_SECONDS`]; the command line
/// refuses them before they get here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoaSettings {
    /// SOA MNAME and the target of the zone's NS record.
    pub ns: Name,
    /// SOA RNAME: the responsible mailbox, written as a name.
    pub mbox: Name,
    /// SOA refresh, seconds.
    pub refresh: u32,
    /// SOA retry, seconds.
    pub retry: u32,
    /// SOA expire, seconds.
    pub expire: u32,
    /// SOA minimum (negative-caching TTL), seconds.
    pub minimum: u32,
    /// TTL of every record written, seconds.
    pub ttl: u32,
}

impl Default for SoaSettings {
    /// The guideline's timers, `localhost.`/`root.localhost.` and a 5-minute TTL.
    fn default() -> Self {
        Self {
            ns: Name::from_ascii(DEFAULT_NS).unwrap_or_else(|_| Name::root()),
            mbox: Name::from_ascii(DEFAULT_MBOX).unwrap_or_else(|_| Name::root()),
            refresh: DEFAULT_REFRESH,
            retry: DEFAULT_RETRY,
            expire: DEFAULT_EXPIRE,
            minimum: DEFAULT_MINIMUM,
            ttl: DEFAULT_TTL,
        }
    }
}

impl SoaSettings {
    /// The SOA record data for `serial`.
    fn rdata(&self, serial: u32) -> SOA {
        let timer = |v: u32| i32::try_from(v.min(MAX_SECONDS)).unwrap_or(i32::MAX);
        SOA::new(
            self.ns.clone(),
            self.mbox.clone(),
            serial,
            timer(self.refresh),
            timer(self.retry),
            timer(self.expire),
            self.minimum.min(MAX_SECONDS),
        )
    }

    /// The TTL written on every record.
    fn record_ttl(&self) -> u32 {
        self.ttl.min(MAX_SECONDS)
    }
}

/// Streams list records into a policy zone on `W`.
#[derive(Debug)]
pub struct Converter<W: Write> {
    /// The zone settings.
    spec: ZoneSpec,
    /// Record data written for every listed name.
    rdatas: Vec<RData>,
    /// The longest wire length a listed name may have (255 minus the zone's name).
    max_wire: usize,
    /// Every name written, for dedupe.
    seen: HashSet<Box<str>>,
    /// Zone output.
    writer: Writer<W>,
    /// Counts.
    summary: Summary,
    /// The current record.
    buf: Vec<u8>,
    /// The current normalised name.
    norm: String,
    /// Scratch for owner names.
    owner: String,
    /// CSV field buffers (host, flag).
    fields: [Vec<u8>; 2],
}

impl<W: Write> Converter<W> {
    /// Starts the zone on `out`: a comment, the SOA and the NS record.
    pub fn new(spec: ZoneSpec, out: W) -> io::Result<Self> {
        let zone = spec.zone.to_lowercase();
        let ttl = spec.soa.record_ttl();
        let soa = spec.soa.rdata(spec.serial);
        let mut writer = Writer::new(out);
        writer.comment(&format!(
            "Response policy zone {zone} written by `sekisho rpz build` (serial {}).\nDo not edit: rebuild it from the lists.",
            spec.serial
        ))?;
        writer.write(&Record::from_rdata(zone.clone(), ttl, RData::SOA(soa)))?;
        writer.write(&Record::from_rdata(
            zone.clone(),
            ttl,
            RData::NS(NS(spec.soa.ns.clone())),
        ))?;
        let rdatas = match &spec.action {
            Action::LocalData { a, aaaa } => a
                .map(|a| RData::A(A(a)))
                .into_iter()
                .chain(aaaa.map(|a| RData::AAAA(AAAA(a))))
                .collect(),
            Action::Nxdomain => vec![RData::CNAME(CNAME(Name::root()))],
            Action::Nodata => vec![RData::CNAME(CNAME(
                Name::from_ascii("*.").map_err(io::Error::other)?,
            ))],
            Action::Drop => vec![RData::CNAME(CNAME(
                Name::from_ascii("rpz-drop.").map_err(io::Error::other)?,
            ))],
        };
        // Owner = name + zone (+ `*.` with --wildcard), at most 255 octets on the
        // wire; `normalise` counts the name's own root octet, hence the + 1.
        let zone_wire = zone.len() + 1;
        let star = if spec.wildcard { 2 } else { 0 };
        let max_wire = (MAX_WIRE + 1).saturating_sub(zone_wire + star);
        Ok(Self {
            spec: ZoneSpec { zone, ..spec },
            rdatas,
            max_wire,
            seen: HashSet::new(),
            writer,
            summary: Summary::default(),
            buf: Vec::with_capacity(1024),
            norm: String::with_capacity(256),
            owner: String::with_capacity(256),
            fields: [Vec::new(), Vec::new()],
        })
    }

    /// Converts every record of `input`; skipped lines go to `report`.
    pub fn feed<R: BufRead>(
        &mut self,
        source: &str,
        format: &Format,
        input: R,
        report: &mut dyn FnMut(&Diagnostic<'_>),
    ) -> Result<(), FeedError> {
        let mut reader = LineReader::new(input);
        let csv = matches!(format, Format::Csv(_));
        loop {
            let rec = match reader.next_record(&mut self.buf, csv) {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => return Err(FeedError::Read(e)),
            };
            let (line, error) = match rec {
                lines::Record::Line(n) => (n, None),
                lines::Record::TooLong(n) => (n, Some(LineError::TooLong)),
                lines::Record::UnclosedQuote(n) => (n, Some(LineError::UnclosedQuote)),
            };
            let result = match error {
                Some(e) => {
                    self.summary.rows += 1;
                    Err(LineErrorOrWrite::Line(e))
                }
                None => match format {
                    Format::Csv(cols) => self.csv_record(cols),
                    Format::Domains => self.domain_record(),
                    Format::Hosts => self.hosts_record(),
                },
            };
            match result {
                Ok(()) => {}
                Err(LineErrorOrWrite::Write(e)) => return Err(FeedError::Write(e)),
                Err(LineErrorOrWrite::Line(error)) => {
                    self.summary.invalid += 1;
                    report(&Diagnostic {
                        source,
                        line,
                        error,
                    });
                }
            }
        }
    }

    /// Finishes the zone: flushes and returns the destination and the counts.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        self.writer.flush()?;
        Ok((self.writer.into_inner(), self.summary))
    }

    /// The counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// One CSV record in `self.buf`.
    fn csv_record(&mut self, cols: &CsvColumns) -> Result<(), LineErrorOrWrite> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.summary.rows += 1;
        let found = lines::csv_fields(&self.buf, [cols.host, cols.flag], &mut self.fields);
        let need = cols.host.max(cols.flag);
        if need >= found {
            return Err(LineError::MissingColumn {
                column: need + 1,
                found,
            }
            .into());
        }
        if self.fields[1].trim_ascii() != cols.flag_value.as_bytes() {
            self.summary.not_flagged += 1;
            return Ok(());
        }
        let host = std::mem::take(&mut self.fields[0]);
        let result = match std::str::from_utf8(&host) {
            Ok(h) => self.add_name(h),
            Err(_) => Err(LineError::NotUtf8.into()),
        };
        self.fields[0] = host;
        result
    }

    /// One domain-list line in `self.buf`.
    fn domain_record(&mut self) -> Result<(), LineErrorOrWrite> {
        let buf = std::mem::take(&mut self.buf);
        let result = match lines::domain_line(&buf) {
            None => Ok(()),
            Some(line) => {
                self.summary.rows += 1;
                match std::str::from_utf8(line) {
                    Err(_) => Err(LineError::NotUtf8.into()),
                    Ok(l) if l.split_ascii_whitespace().nth(1).is_some() => {
                        Err(LineError::ExtraFields.into())
                    }
                    Ok(l) => self.add_name(l),
                }
            }
        };
        self.buf = buf;
        result
    }

    /// One hosts-file line in `self.buf`. Names before an invalid one are kept.
    fn hosts_record(&mut self) -> Result<(), LineErrorOrWrite> {
        let buf = std::mem::take(&mut self.buf);
        let result = (|| {
            let Some(line) = lines::hosts_line(&buf) else {
                return Ok(());
            };
            self.summary.rows += 1;
            let line = std::str::from_utf8(line).map_err(|_| LineError::NotUtf8)?;
            let mut tokens = line.split_ascii_whitespace();
            if !tokens.next().is_some_and(lines::is_hosts_address) {
                return Err(LineError::NoAddress.into());
            }
            let mut any = false;
            let mut first_error = None;
            for name in tokens {
                any = true;
                if lines::is_local_name(name) {
                    self.summary.local_names += 1;
                    continue;
                }
                match self.add_name(name) {
                    Ok(()) => {}
                    Err(LineErrorOrWrite::Line(e)) => {
                        first_error.get_or_insert(e);
                    }
                    Err(w) => return Err(w),
                }
            }
            match (any, first_error) {
                (false, _) => Err(LineError::NoName.into()),
                (true, Some(e)) => Err(e.into()),
                (true, None) => Ok(()),
            }
        })();
        self.buf = buf;
        result
    }

    /// Normalises `raw`, drops it when seen, else writes its records.
    fn add_name(&mut self, raw: &str) -> Result<(), LineErrorOrWrite> {
        if let Err(error) = name::normalise(raw, self.max_wire, &mut self.norm) {
            let name: String = raw.trim().chars().take(100).collect();
            return Err(LineError::Name { name, error }.into());
        }
        if self.seen.contains(self.norm.as_str()) {
            self.summary.duplicates += 1;
            return Ok(());
        }
        self.write_rules()?;
        self.seen.insert(self.norm.as_str().into());
        self.summary.names += 1;
        Ok(())
    }

    /// Writes the records of `self.norm` (and its wildcard).
    fn write_rules(&mut self) -> Result<(), LineErrorOrWrite> {
        let prefixes: &[&str] = if self.spec.wildcard {
            &["", "*."]
        } else {
            &[""]
        };
        for prefix in prefixes {
            self.owner.clear();
            self.owner.push_str(prefix);
            self.owner.push_str(&self.norm);
            // The name was checked by `normalise`; a refusal here is still reported,
            // not unwrapped.
            let owner = Name::from_ascii(&self.owner)
                .and_then(|n| n.append_domain(&self.spec.zone))
                .map_err(|_| LineError::Name {
                    name: self.owner.clone(),
                    error: NameError::TooLong,
                })?;
            for rdata in &self.rdatas {
                let record =
                    Record::from_rdata(owner.clone(), self.spec.soa.record_ttl(), rdata.clone());
                self.writer
                    .write(&record)
                    .map_err(LineErrorOrWrite::Write)?;
            }
        }
        Ok(())
    }
}

/// A line error, or a write error that stops everything.
#[derive(Debug)]
enum LineErrorOrWrite {
    /// Report the line and go on.
    Line(LineError),
    /// Stop.
    Write(io::Error),
}

impl From<LineError> for LineErrorOrWrite {
    fn from(e: LineError) -> Self {
        LineErrorOrWrite::Line(e)
    }
}

#[cfg(test)]
mod tests {
    use sekisho_zonefile::{parse_str, ParseOptions};

    use super::*;

    /// The guideline's columns: host = 2, flag = 5, flag value 1.
    fn guideline() -> Format {
        Format::Csv(CsvColumns {
            host: 1,
            flag: 4,
            flag_value: "1".into(),
        })
    }

    /// Converts `inputs` with `action`; returns the zone text, the summary and the reports.
    fn convert(
        action: Action,
        wildcard: bool,
        inputs: &[(&Format, &[u8])],
    ) -> (String, Summary, Vec<String>) {
        let spec = ZoneSpec {
            zone: Name::from_ascii("block.").expect("zone"),
            action,
            wildcard,
            serial: 7,
            soa: SoaSettings::default(),
        };
        let mut c = Converter::new(spec, Vec::new()).expect("start");
        let mut reports = Vec::new();
        for (i, (format, data)) in inputs.iter().enumerate() {
            c.feed(&format!("in{i}"), format, *data, &mut |d| {
                reports.push(d.to_string())
            })
            .expect("feed");
        }
        let (out, summary) = c.finish().expect("finish");
        (String::from_utf8(out).expect("utf-8"), summary, reports)
    }

    #[test]
    fn flagged_csv_rows_become_local_data_and_the_zone_parses_back() {
        let csv = b"id,host,category,date,dns_block\n1,Bad.Example1.JP,x,2024-01-01,1\n2,ok.example1.jp,x,2024-01-01,0\n";
        let (zone, s, reports) = convert(
            Action::LocalData {
                a: Some(Ipv4Addr::new(192, 0, 2, 10)),
                aaaa: Some("2001:db8::10".parse().expect("v6")),
            },
            true,
            &[(&guideline(), csv)],
        );
        assert!(reports.is_empty(), "{reports:?}");
        assert_eq!(
            s,
            Summary {
                rows: 3,
                names: 1,
                not_flagged: 2,
                ..Summary::default()
            }
        );
        let records = parse_str(&zone, ParseOptions::default()).expect("parses");
        let text: Vec<String> = records
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
            .collect();
        assert_eq!(
            text[2..],
            [
                "bad.example1.jp.block. A 192.0.2.10",
                "bad.example1.jp.block. AAAA 2001:db8::10",
                "*.bad.example1.jp.block. A 192.0.2.10",
                "*.bad.example1.jp.block. AAAA 2001:db8::10",
            ]
        );
        assert_eq!(
            text[0],
            "block. SOA localhost. root.localhost. 7 3600 900 2592000 7200"
        );
        assert_eq!(text[1], "block. NS localhost.");
    }

    #[test]
    fn actions_are_written_as_the_rpz_cname_forms() {
        for (action, target) in [
            (Action::Nxdomain, "."),
            (Action::Nodata, "*."),
            (Action::Drop, "rpz-drop."),
        ] {
            let (zone, _, _) = convert(action, false, &[(&Format::Domains, b"x.example\n")]);
            assert!(
                zone.contains(&format!("x.example.block.\t300\tIN\tCNAME\t{target}\n")),
                "{zone}"
            );
        }
    }

    #[test]
    fn duplicates_across_inputs_are_dropped_and_bad_lines_reported_with_numbers() {
        let domains = b"# list\nA.example\n\na.example.\nhttp://b.example/\nc.example d.example\n\xff.example\n";
        let hosts = b"127.0.0.1 localhost\n0.0.0.0 a.example e.example # dup and new\nnot-an-ip x.example\n0.0.0.0\n";
        let (_, s, reports) = convert(
            Action::Nxdomain,
            false,
            &[(&Format::Domains, domains), (&Format::Hosts, hosts)],
        );
        assert_eq!(
            reports,
            [
                "in0:5: \"http://b.example/\": character ':' is not allowed in a host name",
                "in0:6: more than one name on a domain-list line",
                "in0:7: not UTF-8; line skipped",
                "in1:3: a hosts line must start with an IP address",
                "in1:4: a hosts line with an address and no name",
            ]
        );
        assert_eq!(
            s,
            Summary {
                rows: 9,
                names: 2,
                duplicates: 2,
                invalid: 5,
                not_flagged: 0,
                local_names: 1,
            }
        );
    }

    #[test]
    fn short_rows_and_non_utf8_hosts_are_reported_but_other_columns_may_be_anything() {
        let csv = b"1,a.example,\x82\xa0sjis,d,1\r\n2,b.example\r\n3,\xff,c,d,1\r\n";
        let (_, s, reports) = convert(Action::Nxdomain, false, &[(&guideline(), csv)]);
        assert_eq!(
            reports,
            [
                "in0:2: no column 5 (the row has 2); line skipped",
                "in0:3: not UTF-8; line skipped",
            ]
        );
        assert_eq!(s.names, 1);
    }

    #[test]
    fn names_too_long_for_the_zone_are_reported() {
        let name = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(60)
        );
        let (_, s, reports) = convert(
            Action::Nxdomain,
            false,
            &[(&Format::Domains, name.as_bytes())],
        );
        assert_eq!(s.invalid, 1);
        assert!(reports[0].contains("longer than 255 octets"), "{reports:?}");
    }

    #[test]
    fn the_default_soa_has_the_guideline_timers() {
        let soa = SoaSettings::default();
        assert_eq!(
            (soa.refresh, soa.retry, soa.expire, soa.minimum, soa.ttl),
            (3600, 15 * 60, 30 * 86_400, 2 * 3600, 300)
        );
        assert_eq!(soa.ns.to_string(), "localhost.");
        assert_eq!(soa.mbox.to_string(), "root.localhost.");
    }

    #[test]
    fn the_soa_settings_are_written_into_the_soa_the_ns_and_every_ttl() {
        let spec = ZoneSpec {
            zone: Name::from_ascii("block.").expect("zone"),
            action: Action::Nxdomain,
            wildcard: true,
            serial: 42,
            soa: SoaSettings {
                ns: Name::from_ascii("ns1.example.net.").expect("ns"),
                mbox: Name::from_ascii("hostmaster.example.jp.").expect("mbox"),
                refresh: 7200,
                retry: 1200,
                expire: 42 * 86_400,
                minimum: 5400,
                ttl: 60,
            },
        };
        let mut c = Converter::new(spec, Vec::new()).expect("start");
        c.feed("in", &Format::Domains, &b"x.example\n"[..], &mut |_| {})
            .expect("feed");
        let (out, _) = c.finish().expect("finish");
        let zone = String::from_utf8(out).expect("utf-8");
        let records = parse_str(&zone, ParseOptions::default()).expect("parses");
        let RData::SOA(soa) = &records[0].data else {
            panic!("first record is not the SOA: {zone}");
        };
        assert_eq!(soa.mname.to_string(), "ns1.example.net.");
        assert_eq!(soa.rname.to_string(), "hostmaster.example.jp.");
        assert_eq!(
            (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
            (42, 7200, 1200, 3_628_800, 5400)
        );
        assert_eq!(records[1].data, RData::NS(NS(soa.mname.clone())));
        assert_eq!(records.len(), 4, "{zone}");
        assert!(records.iter().all(|r| r.ttl == 60), "{zone}");
    }

    #[test]
    fn timers_beyond_the_signed_range_are_capped_not_wrapped_negative() {
        let soa = SoaSettings {
            expire: u32::MAX,
            minimum: u32::MAX,
            ttl: u32::MAX,
            ..SoaSettings::default()
        };
        let rdata = soa.rdata(1);
        assert_eq!(rdata.expire, i32::MAX);
        assert_eq!(rdata.minimum, MAX_SECONDS);
        assert_eq!(soa.record_ttl(), MAX_SECONDS);
    }
}
