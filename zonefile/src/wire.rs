//! Records in wire form, for bulk consumers that never need hickory's record model.
//!
//! The parser works in wire form anyway: owner names and RDATA are encoded into a scratch
//! buffer before hickory's [`Name`] and [`RData`] are decoded from it. A consumer that only
//! looks at the bytes (the RPZ compiler, a policy zone of millions of records) can read
//! [`WireRecord`]s from a [`WireBatch`] with [`ZoneReader::read_into`](crate::ZoneReader::read_into)
//! and skip that decoding, the per-record allocations of a `Name` and the moves of a large
//! [`Record`]. The batch is one flat buffer that is cleared and reused.
//!
//! The bytes are exactly what the record iterator decodes: owner names uncompressed with
//! their case as written, RDATA as the type's schema encodes it (names uncompressed).
//! [`WireRecord::to_record`] turns one into the [`Record`] the iterator would have yielded.

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::error::{ErrorKind, Found};
use crate::{rdata, text};

/// One record of a [`WireBatch`]: spans into its buffer plus the fixed fields.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Start of the owner name in the buffer.
    owner: u32,
    /// Start of the RDATA in the buffer; the owner ends here.
    rdata: u32,
    /// End of the RDATA.
    end: u32,
    /// Record type.
    rtype: RecordType,
    /// Record class.
    class: DNSClass,
    /// TTL.
    ttl: u32,
}

/// A batch of records in wire form, in one reusable buffer.
#[derive(Debug, Default, Clone)]
pub struct WireBatch {
    /// Owner names and RDATA of all records, back to back.
    bytes: Vec<u8>,
    /// The records, in input order.
    entries: Vec<Entry>,
}

/// A record borrowed from a [`WireBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireRecord<'a> {
    /// Owner name: uncompressed wire form, absolute, case as written.
    pub owner: &'a [u8],
    /// Record type.
    pub rtype: RecordType,
    /// Record class.
    pub class: DNSClass,
    /// TTL in seconds.
    pub ttl: u32,
    /// RDATA in wire form, names uncompressed.
    pub rdata: &'a [u8],
}

impl WireBatch {
    /// An empty batch with room for about `records` records.
    pub fn with_capacity(records: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(records * 32),
            entries: Vec::with_capacity(records),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes all records, keeping the memory for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    /// The record at `i`.
    pub fn get(&self, i: usize) -> Option<WireRecord<'_>> {
        self.entries.get(i).map(|e| self.view(e))
    }

    /// The records in input order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = WireRecord<'_>> + '_ {
        self.entries.iter().map(|e| self.view(e))
    }

    /// Appends a record whose owner and RDATA are already in wire form.
    pub fn push(&mut self, record: WireRecord<'_>) {
        self.push_parts(
            record.owner,
            record.rtype,
            record.class,
            record.ttl,
            record.rdata,
        );
    }

    /// Appends a record from its parts.
    pub(crate) fn push_parts(
        &mut self,
        owner: &[u8],
        rtype: RecordType,
        class: DNSClass,
        ttl: u32,
        rdata: &[u8],
    ) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(owner);
        let mid = self.bytes.len();
        self.bytes.extend_from_slice(rdata);
        // Offsets fit: a batch is filled by a bounded number of bounded records.
        self.entries.push(Entry {
            owner: start as u32,
            rdata: mid as u32,
            end: self.bytes.len() as u32,
            rtype,
            class,
            ttl,
        });
    }

    /// Removes the last record (used when a record turns out to be over a limit).
    pub(crate) fn pop(&mut self) {
        if let Some(e) = self.entries.pop() {
            self.bytes.truncate(e.owner as usize);
        }
    }

    fn view(&self, e: &Entry) -> WireRecord<'_> {
        WireRecord {
            owner: &self.bytes[e.owner as usize..e.rdata as usize],
            rtype: e.rtype,
            class: e.class,
            ttl: e.ttl,
            rdata: &self.bytes[e.rdata as usize..e.end as usize],
        }
    }
}

/// Why a [`WireRecord`] could not be turned into a [`Record`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The owner is not a valid uncompressed name.
    #[error("owner name is not valid wire form")]
    Owner,
    /// The RDATA does not decode as its type.
    #[error("RDATA does not decode as {0}")]
    Rdata(RecordType),
}

impl WireRecord<'_> {
    /// The owner as a hickory [`Name`].
    pub fn owner_name(&self) -> Result<Name, WireError> {
        text::name_from_wire(self.owner).map_err(|_| WireError::Owner)
    }

    /// The RDATA as a hickory [`RData`].
    pub fn data(&self) -> Result<RData, WireError> {
        rdata::decode(self.rtype, self.rdata).map_err(|_| WireError::Rdata(self.rtype))
    }

    /// The record as hickory's [`Record`], as the reader's iterator yields it.
    pub fn to_record(&self) -> Result<Record, WireError> {
        self.decode().map_err(|kind| match kind {
            ErrorKind::BadName { .. } => WireError::Owner,
            _ => WireError::Rdata(self.rtype),
        })
    }

    /// [`WireRecord::to_record`] with the parser's error kinds (the reader reports them
    /// with a position).
    pub(crate) fn decode(&self) -> Result<Record, ErrorKind> {
        let owner = text::name_from_wire(self.owner).map_err(|reason| ErrorKind::BadName {
            found: Found::token(b"@"),
            reason,
        })?;
        let mut record =
            Record::from_rdata(owner, self.ttl, rdata::decode(self.rtype, self.rdata)?);
        record.dns_class = self.class;
        Ok(record)
    }
}
