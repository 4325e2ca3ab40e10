//! Record builder: one scanned entry plus the parse context → a record in wire form
//! (appended to a [`WireBatch`]) or a directive for the reader.
//!
//! ```text
//!   Entry tokens ──▶ directive?  $ORIGIN / $TTL: update State
//!                    │           $INCLUDE / $GENERATE: hand to the reader
//!                    ▼
//!                  owner [TTL] [class] type rdata  ──▶ WireBatch (owner, type, class, TTL, RDATA)
//! ```
//!
//! Records stay in wire form here: RDATA that is not built from simple fields is decoded
//! once to check it, but no hickory [`Record`](hickory_proto::rr::Record) is built; the
//! reader does that for callers that want one.
//!
//! Inheritance rules, [RFC 1035 section 5.1](https://www.rfc-editor.org/rfc/rfc1035#section-5.1)
//! and [RFC 2308 section 4](https://www.rfc-editor.org/rfc/rfc2308#section-4):
//! - a blank owner is the previous record's owner;
//! - an omitted class is the previous record's class (the first defaults to
//!   [`ParseOptions::default_class`](crate::ParseOptions));
//! - an omitted TTL is the `$TTL` value; without `$TTL`, the previous record's TTL
//!   ("the last explicitly stated values"); without either, an SOA takes its own MINIMUM
//!   field, as BIND does for files written before RFC 2308; anything else is an error.
//!
//! Like the scanner, this does no I/O: it reads tokens and returns values.

use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::error::{ErrorKind, Expected, Found, Located};
use crate::generate::Generate;
use crate::rdata::{self, unexpected, Cursor, EncodeContext};
use crate::scanner::{Scanner, Token};
use crate::text;
use crate::wire::WireBatch;

/// The parse context carried from entry to entry.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// Current origin (`$ORIGIN`), if any.
    origin: Option<Name>,
    /// Current origin in wire form, kept beside `origin` to complete names without converting.
    origin_wire: Option<Vec<u8>>,
    /// Owner of the previous record in wire form, inherited by lines that start with a
    /// blank. Kept as bytes because copying them is cheaper than cloning a `Name` for
    /// every record when few lines inherit.
    last_owner: Option<Vec<u8>>,
    /// `$TTL` value (or the `default_ttl` option).
    ttl_directive: Option<u32>,
    /// TTL of the previous record.
    last_ttl: Option<u32>,
    /// Class of the previous record (or the `default_class` option).
    last_class: DNSClass,
    /// Scratch buffer for wire-form names and RDATA, reused across entries.
    scratch: Vec<u8>,
}

/// Origin and previous owner (wire form), saved across an `$INCLUDE`.
pub(crate) type Scope = (Option<Name>, Option<Vec<u8>>);

/// What an entry asks the reader to do besides returning a record.
#[derive(Debug)]
pub(crate) enum Directive {
    /// `$INCLUDE file [origin]`.
    Include {
        /// The file name as written (escapes decoded).
        path: Vec<u8>,
        /// The origin for the included file, if given.
        origin: Option<Name>,
        /// Where the file name token is, for errors.
        line: u64,
        /// Column of the file name token.
        column: u32,
    },
    /// `$GENERATE ...`: records for the reader to expand one at a time.
    Generate(Generate),
}

/// What one entry produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A resource record, appended to the batch given to [`State::build`].
    Record,
    /// A directive the reader must carry out.
    Directive(Directive),
    /// A directive already applied to the state (`$ORIGIN`, `$TTL`).
    Applied,
}

impl State {
    /// The starting context: `origin`, `default_ttl` and `default_class` from the options.
    pub(crate) fn new(origin: Option<Name>, default_ttl: Option<u32>, class: DNSClass) -> Self {
        let mut state = Self {
            origin: None,
            origin_wire: None,
            last_owner: None,
            ttl_directive: default_ttl,
            last_ttl: None,
            last_class: class,
            scratch: Vec::with_capacity(512),
        };
        if let Some(origin) = origin {
            state.set_origin(origin);
        }
        state
    }

    /// Sets the origin (an absolute name).
    pub(crate) fn set_origin(&mut self, origin: Name) {
        let mut wire = Vec::with_capacity(origin.len() + 2);
        text::name_into_wire(&origin, &mut wire);
        self.origin_wire = Some(wire);
        self.origin = Some(origin);
    }

    /// The current origin.
    pub(crate) fn origin(&self) -> Option<&Name> {
        self.origin.as_ref()
    }

    /// Saves what an `$INCLUDE` must not change in the including file: origin and owner.
    pub(crate) fn save_scope(&self) -> Scope {
        (self.origin.clone(), self.last_owner.clone())
    }

    /// Restores what [`State::save_scope`] saved, after an included file ends.
    ///
    /// RFC 1035 section 5.1: "$INCLUDE ... does not change the origin in the parent file".
    pub(crate) fn restore_scope(&mut self, (origin, owner): Scope) {
        match origin {
            Some(origin) => self.set_origin(origin),
            None => {
                self.origin = None;
                self.origin_wire = None;
            }
        }
        self.last_owner = owner;
    }

    /// Reads the complete entry in `scanner`; a record is appended to `out`.
    pub(crate) fn build(
        &mut self,
        scanner: &Scanner,
        out: &mut WireBatch,
    ) -> Result<Outcome, Located> {
        let tokens = scanner.tokens();
        if let Some(first) = tokens.first() {
            let text = scanner.text(first);
            if !scanner.blank_start() && !first.quoted && text.first() == Some(&b'$') {
                return self.directive(scanner, first, text);
            }
        }
        self.record(scanner, out).map(|()| Outcome::Record)
    }

    /// Encodes a name token relative to the current origin into the scratch buffer.
    fn name_wire(&mut self, token: &Token, text: &[u8]) -> Result<(), Located> {
        self.scratch.clear();
        let ctx = EncodeContext {
            origin_wire: self.origin_wire.as_deref(),
        };
        rdata::encode_name(token, text, &ctx, &mut self.scratch)
    }

    /// Parses a name token relative to the current origin.
    fn name(&mut self, token: &Token, text: &[u8]) -> Result<Name, Located> {
        self.name_wire(token, text)?;
        text::name_from_wire(&self.scratch).map_err(|reason| Located {
            line: token.line,
            column: token.column,
            kind: ErrorKind::BadName {
                found: Found::token(text),
                reason,
            },
        })
    }

    /// Carries out or returns the directive starting with `first`.
    fn directive(
        &mut self,
        scanner: &Scanner,
        first: &Token,
        keyword: &[u8],
    ) -> Result<Outcome, Located> {
        let mut cursor = Cursor::new(scanner, &scanner.tokens()[1..]);
        if keyword.eq_ignore_ascii_case(b"$ORIGIN") {
            let (token, text) = cursor.take(Expected::Name)?;
            let origin = self.name(&token, text)?;
            cursor.finish()?;
            self.set_origin(origin);
            Ok(Outcome::Applied)
        } else if keyword.eq_ignore_ascii_case(b"$TTL") {
            let (token, text) = cursor.take(Expected::Ttl)?;
            let ttl =
                text::parse_ttl(text).ok_or_else(|| unexpected(&token, text, Expected::Ttl))?;
            cursor.finish()?;
            self.ttl_directive = Some(ttl);
            Ok(Outcome::Applied)
        } else if keyword.eq_ignore_ascii_case(b"$INCLUDE") {
            let (token, text) = cursor.take(Expected::FileName)?;
            let mut path = Vec::with_capacity(text.len());
            text::unescape_into(text, &mut path).map_err(|_| Located {
                line: token.line,
                column: token.column,
                kind: ErrorKind::BadEscape {
                    found: Found::token(text),
                },
            })?;
            let origin = match cursor.peek() {
                Some(_) => {
                    let (origin_token, origin_text) = cursor.take(Expected::Name)?;
                    Some(self.name(&origin_token, origin_text)?)
                }
                None => None,
            };
            cursor.finish()?;
            Ok(Outcome::Directive(Directive::Include {
                path,
                origin,
                line: token.line,
                column: token.column,
            }))
        } else if keyword.eq_ignore_ascii_case(b"$GENERATE") {
            let generate = Generate::parse(&mut cursor, first)?;
            Ok(Outcome::Directive(Directive::Generate(generate)))
        } else {
            Err(Located {
                line: first.line,
                column: first.column,
                kind: ErrorKind::UnknownDirective {
                    found: Found::token(keyword),
                },
            })
        }
    }

    /// Reads a resource record (owner, TTL, class, type and RDATA) into `out`.
    fn record(&mut self, scanner: &Scanner, out: &mut WireBatch) -> Result<(), Located> {
        let tokens = scanner.tokens();
        let mut cursor = Cursor::new(scanner, tokens);
        if scanner.blank_start() {
            if self.last_owner.is_none() {
                let (line, column) = tokens.first().map(|t| (t.line, t.column)).unwrap_or((0, 0));
                return Err(Located {
                    line,
                    column,
                    kind: ErrorKind::NoOwner,
                });
            }
        } else {
            let (token, text) = cursor.take(Expected::Name)?;
            self.name_wire(&token, text)?;
            // The buffers trade places instead of the owner being copied: the scratch
            // buffer is cleared before every use.
            let last = self.last_owner.get_or_insert_with(Vec::new);
            std::mem::swap(last, &mut self.scratch);
        }

        // [TTL] [class] type, with TTL and class in either order (RFC 1035 section 5.1).
        let mut ttl = None;
        let mut class = None;
        // TTLs start with a digit, types and classes with a letter, and no class mnemonic is
        // also a type mnemonic, so the order of the checks below does not change the result;
        // the type goes first because every record has one.
        let (type_token, rtype) = loop {
            let (token, text) = cursor.take(Expected::TtlClassOrType)?;
            if text.first().is_some_and(u8::is_ascii_digit) {
                if ttl.is_some() {
                    return Err(unexpected(&token, text, Expected::TtlClassOrType));
                }
                let value =
                    text::parse_ttl(text).ok_or_else(|| unexpected(&token, text, Expected::Ttl))?;
                ttl = Some(value);
                continue;
            }
            if let Some(rtype) = text::parse_type(text) {
                break (token, rtype);
            }
            match text::parse_class(text) {
                Some(c) if class.is_none() => class = Some(c),
                _ => return Err(unexpected(&token, text, Expected::TtlClassOrType)),
            }
        };
        if !rdata::allowed_in_zone(rtype) {
            return Err(Located {
                line: type_token.line,
                column: type_token.column,
                kind: ErrorKind::UnsupportedType { rtype },
            });
        }

        self.rdata(rtype, &mut cursor, &type_token)?;

        let ttl = match ttl.or(self.ttl_directive).or(self.last_ttl) {
            Some(ttl) => ttl,
            // RFC 1035 files predating $TTL: the SOA's MINIMUM (its last four octets, the
            // RDATA was checked to decode) is the zone default, as in BIND.
            None if rtype == RecordType::SOA && self.scratch.len() >= 4 => {
                let m = &self.scratch[self.scratch.len() - 4..];
                u32::from_be_bytes([m[0], m[1], m[2], m[3]])
            }
            None => {
                return Err(Located {
                    line: type_token.line,
                    column: type_token.column,
                    kind: ErrorKind::NoTtl,
                });
            }
        };
        let class = class.unwrap_or(self.last_class);
        self.last_ttl = Some(ttl);
        self.last_class = class;
        let owner = self.last_owner.as_deref().unwrap_or_default();
        out.push_parts(owner, rtype, class, ttl, &self.scratch);
        Ok(())
    }

    /// Encodes the RDATA of `rtype` from the rest of the entry into the scratch buffer.
    fn rdata(
        &mut self,
        rtype: RecordType,
        cursor: &mut Cursor<'_>,
        type_token: &Token,
    ) -> Result<(), Located> {
        let generic = matches!(cursor.peek(), Some((t, b"\\#")) if !t.quoted);
        self.scratch.clear();
        if generic {
            cursor.take(Expected::GenericRdata)?;
            rdata::encode_generic(cursor, &mut self.scratch)?;
        } else {
            // Fast paths: the types that make up nearly all of an RPZ zone, whose wire form
            // is valid by construction (no decoding to check it).
            match rtype {
                RecordType::A => {
                    let (token, text) = cursor.take(Expected::Ipv4)?;
                    let addr = rdata::parse_ipv4(text)
                        .ok_or_else(|| unexpected(&token, text, Expected::Ipv4))?;
                    cursor.finish()?;
                    self.scratch.extend_from_slice(&addr.octets());
                    return Ok(());
                }
                RecordType::AAAA => {
                    let (token, text) = cursor.take(Expected::Ipv6)?;
                    let addr = rdata::parse_ipv6(text)
                        .ok_or_else(|| unexpected(&token, text, Expected::Ipv6))?;
                    cursor.finish()?;
                    self.scratch.extend_from_slice(&addr.octets());
                    return Ok(());
                }
                RecordType::CNAME | RecordType::NS | RecordType::PTR => {
                    let (token, text) = cursor.take(Expected::Name)?;
                    self.name_wire(&token, text)?;
                    return cursor.finish();
                }
                _ => {}
            }
            let Some(fields) = rdata::schema(rtype) else {
                return Err(match cursor.peek() {
                    Some((token, text)) => unexpected(&token, text, Expected::GenericRdata),
                    None => cursor.missing(Expected::GenericRdata),
                });
            };
            let ctx = EncodeContext {
                origin_wire: self.origin_wire.as_deref(),
            };
            rdata::encode(fields, cursor, &ctx, &mut self.scratch)?;
        }
        // Checked here so that bad data is reported with its position, whatever the caller.
        rdata::decode(rtype, &self.scratch)
            .map(drop)
            .map_err(|kind| Located {
                line: type_token.line,
                column: type_token.column,
                kind,
            })
    }
}
