//! Decoding `COPY ... TO STDOUT (FORMAT binary)` straight into Arrow.
//!
//! [`CopyDecoder`] takes the COPY stream in chunks that may split anywhere,
//! and appends each value into a per-column builder chosen once per stream.
//! Values are read big-endian straight from the input slices; the only copy
//! of a row is the carry-over of a tuple that straddles two chunks.
//!
//! Errors come in two kinds ([`DecodeErrorKind`]): a *value* error rejects one
//! row (a NaN in a `Decimal128` column, a NULL in a non-nullable column, bytes
//! that are not the type they claim to be); the row is dropped and the decoder
//! can go on. A *stream* error means the framing is broken; the decoder
//! refuses further input.

use std::fmt;
use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Time64MicrosecondType, TimestampMicrosecondType,
};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, ListArray, PrimitiveArray,
    RecordBatch, RecordBatchOptions, StringArray, StructArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, FieldRef, Fields, Schema, SchemaRef};

use crate::inet::write_inet;
use crate::numeric::Numeric;
use crate::types::{
    PG_EPOCH_OFFSET_DAYS, PgType, TIMESTAMPTZ_ZONE, interval_fields, timestamp_from_pg,
};

/// The 11-byte signature that opens every binary COPY stream.
pub const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Signature, flags (i32) and header-extension length (i32).
const HEADER_FIXED_LEN: usize = 11 + 4 + 4;

/// Minimum bytes moved from a chunk into the carry-over at a time.
const CARRY_TOP_UP: usize = 256;

/// Flag bit 16: each tuple carries an OID (tables `WITH OIDS`, gone since
/// PostgreSQL 12). Bits 17..=31 are reserved and must abort a reader.
const FLAG_HAS_OIDS: u32 = 1 << 16;
const FLAGS_CRITICAL: u32 = 0xffff_0000;

/// One column of the COPY output, in `SELECT` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The Arrow field name.
    pub name: String,
    /// The PostgreSQL type, resolved once per stream.
    pub ty: PgType,
    /// Whether NULLs are allowed; a NULL in a non-nullable column is a value error.
    pub nullable: bool,
}

/// The Arrow schema the decoder produces for `columns`: one field per column,
/// named as the column, as [`PgType::field`] makes it (typed by
/// [`PgType::arrow_type`], with metadata [`crate::PG_TYPE_KEY`] =
/// [`PgType::sql_name`] at every level).
pub fn schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| c.ty.field(&c.name, c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Whether the decoder can go on after a [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// One row holds a value that is invalid or cannot be represented in its
    /// Arrow type. That row was dropped (nothing of it is in the builders) and
    /// the decoder continues with the next `feed` / `finish` call.
    Value,
    /// The stream itself is malformed or truncated, or a batch could not be
    /// built. The decoder refuses further input.
    Stream,
}

/// A failure to decode the COPY stream, naming where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// 1-based position of the tuple in the COPY stream; 0 for the header.
    pub row: u64,
    /// The column whose value failed, when one did.
    pub column: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Whether the decoder can continue.
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("binary COPY ")?;
        if self.row == 0 {
            f.write_str("header")?;
        } else {
            write!(f, "row {}", self.row)?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

/// What one step over the input did.
enum Step {
    /// This many bytes were consumed (header, tuple or trailer).
    Consumed(usize),
    /// The input is too short; at least this many bytes (from the start of
    /// the given input) are needed to make progress.
    Need(usize),
    /// A complete tuple of this many bytes was rejected by a value error.
    Rejected(usize, DecodeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Tuples,
    Done,
    Failed,
}

/// Decodes one binary COPY stream into Arrow record batches.
///
/// ```
/// use rapidbyte_pgcopy::{Column, CopyDecoder, PgType};
///
/// let mut decoder = CopyDecoder::new(vec![Column {
///     name: "id".into(),
///     ty: PgType::Int4,
///     nullable: false,
/// }]);
/// let mut stream = b"PGCOPY\n\xff\r\n\0".to_vec();
/// stream.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // flags, extension length
/// stream.extend_from_slice(&[0, 1, 0, 0, 0, 4, 0, 0, 0, 42]); // one row: (42)
/// stream.extend_from_slice(&[0xff, 0xff]); // trailer
/// for chunk in stream.chunks(5) {
///     decoder.feed(chunk).unwrap();
/// }
/// decoder.finish().unwrap();
/// let batch = decoder.take_batch().unwrap().unwrap();
/// assert_eq!(batch.num_rows(), 1);
/// ```
pub struct CopyDecoder {
    columns: Vec<Column>,
    schema: SchemaRef,
    builders: Vec<ColumnBuilder>,
    phase: Phase,
    /// Bytes of an incomplete header/tuple (or input left after a value error).
    carry: Vec<u8>,
    /// How much of `carry` is already consumed.
    carry_pos: usize,
    /// Tuples seen so far in the stream, accepted or rejected.
    rows_seen: u64,
    /// Rows in the builders.
    rows_buffered: usize,
    /// The raw fields of the last tuple a value error rejected.
    rejected: Option<Vec<Option<Vec<u8>>>>,
}

impl fmt::Debug for CopyDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyDecoder")
            .field("columns", &self.columns)
            .field("phase", &self.phase)
            .field("rows_seen", &self.rows_seen)
            .field("rows_buffered", &self.rows_buffered)
            .field("carry", &(self.carry.len() - self.carry_pos))
            .finish()
    }
}

impl CopyDecoder {
    /// A decoder for a COPY stream whose tuples hold `columns`, in order.
    pub fn new(columns: Vec<Column>) -> Self {
        let schema = schema(&columns);
        let builders = columns.iter().map(|c| ColumnBuilder::new(&c.ty)).collect();
        CopyDecoder {
            columns,
            schema,
            builders,
            phase: Phase::Header,
            carry: Vec::new(),
            carry_pos: 0,
            rows_seen: 0,
            rows_buffered: 0,
            rejected: None,
        }
    }

    /// The schema of the batches this decoder produces.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Feeds the next chunk of the COPY stream. Chunks may split anywhere;
    /// an incomplete header or tuple is kept until the rest arrives.
    ///
    /// On a [`DecodeErrorKind::Value`] error the offending row has been
    /// dropped and any input after it is kept; call `feed` again (with the
    /// next chunk, or an empty slice) to go on. On a
    /// [`DecodeErrorKind::Stream`] error the decoder is finished for good.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        if self.phase == Phase::Failed {
            return Err(self.stream_error(None, "the decoder already failed".into()));
        }
        let mut carry = std::mem::take(&mut self.carry);
        let mut pos = self.carry_pos;
        let result = self.feed_inner(&mut carry, &mut pos, chunk);
        if pos == carry.len() {
            carry.clear();
            pos = 0;
        }
        self.carry = carry;
        self.carry_pos = pos;
        if let Err(e) = &result
            && e.kind == DecodeErrorKind::Stream
        {
            self.phase = Phase::Failed;
            self.carry.clear();
            self.carry_pos = 0;
        }
        result
    }

    fn feed_inner(
        &mut self,
        carry: &mut Vec<u8>,
        pos: &mut usize,
        mut chunk: &[u8],
    ) -> Result<(), DecodeError> {
        // First finish whatever the carry-over holds, topping it up from
        // `chunk` only by as many bytes as the pending tuple still needs.
        while *pos < carry.len() {
            match self.step(&carry[*pos..])? {
                Step::Consumed(n) => *pos += n,
                Step::Rejected(n, e) => {
                    *pos += n;
                    carry.extend_from_slice(chunk);
                    return Err(e);
                }
                Step::Need(total) => {
                    if chunk.is_empty() {
                        return Ok(());
                    }
                    if *pos > 0 {
                        carry.drain(..*pos);
                        *pos = 0;
                    }
                    // A little more than the minimum, so a tuple whose
                    // lengths are revealed one field at a time is not
                    // rescanned once per field.
                    let take = (total - carry.len()).max(CARRY_TOP_UP).min(chunk.len());
                    carry.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                }
            }
        }
        carry.clear();
        *pos = 0;
        // Then decode straight from the chunk.
        while !chunk.is_empty() {
            match self.step(chunk)? {
                Step::Consumed(n) => chunk = &chunk[n..],
                Step::Rejected(n, e) => {
                    carry.extend_from_slice(&chunk[n..]);
                    return Err(e);
                }
                Step::Need(_) => {
                    carry.extend_from_slice(chunk);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Processes input kept after a value error, then checks that the stream
    /// ended with its trailer. Call once the connection reports the end of
    /// COPY data. A truncated stream is a [`DecodeErrorKind::Stream`] error
    /// naming the row and, when the cut was inside a value, the column.
    /// A [`DecodeErrorKind::Value`] error here rejected one of the kept rows;
    /// call `finish` again.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        self.feed(&[])?;
        let rest = &self.carry[self.carry_pos..];
        let error = match self.phase {
            Phase::Done => return Ok(()),
            Phase::Failed => self.stream_error(None, "the decoder already failed".into()),
            Phase::Header => self.stream_error(
                None,
                format!(
                    "stream ended inside the header ({} bytes received)",
                    rest.len()
                ),
            ),
            Phase::Tuples if rest.is_empty() => DecodeError {
                row: self.rows_seen + 1,
                column: None,
                message: "stream ended before the COPY trailer".into(),
                kind: DecodeErrorKind::Stream,
            },
            Phase::Tuples => {
                let column = self.incomplete_column(rest);
                DecodeError {
                    row: self.rows_seen + 1,
                    column: column.map(|i| self.columns[i].name.clone()),
                    message: "stream ended in the middle of a row".into(),
                    kind: DecodeErrorKind::Stream,
                }
            }
        };
        self.phase = Phase::Failed;
        Err(error)
    }

    /// Rows decoded and not yet taken.
    pub fn buffered_rows(&self) -> usize {
        self.rows_buffered
    }

    /// Approximate bytes held in the builders (values, offsets and validity),
    /// for sizing batches against `max_batch_bytes`.
    pub fn buffered_bytes(&self) -> usize {
        self.builders.iter().map(ColumnBuilder::bytes).sum()
    }

    /// Takes the rows decoded so far as one batch, leaving the builders
    /// empty (their capacity is kept for the next batch). `None` when no rows
    /// are buffered.
    pub fn take_batch(&mut self) -> Result<Option<RecordBatch>, DecodeError> {
        if self.rows_buffered == 0 {
            return Ok(None);
        }
        let rows = self.rows_buffered;
        self.rows_buffered = 0;
        let mut arrays = Vec::with_capacity(self.builders.len());
        for (builder, column) in self.builders.iter_mut().zip(&self.columns) {
            let array = builder.finish().map_err(|e| DecodeError {
                row: self.rows_seen,
                column: Some(column.name.clone()),
                message: format!("building the Arrow array failed: {e}"),
                kind: DecodeErrorKind::Stream,
            })?;
            arrays.push(array);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &options)
            .map(Some)
            .map_err(|e| {
                self.phase = Phase::Failed;
                self.stream_error(None, format!("building the record batch failed: {e}"))
            })
    }

    /// The tuple the last [`DecodeErrorKind::Value`] error rejected, for
    /// the dead-letter table (SPEC § Errors, `dlq`). Taken once.
    pub fn take_rejected(&mut self) -> Option<Rejected> {
        let fields = self.rejected.take()?;
        let values = self
            .columns
            .iter()
            .zip(&fields)
            .map(|(column, raw)| {
                let mut out = String::new();
                match raw {
                    None => out.push_str("null"),
                    Some(bytes) => {
                        let mut builder = ColumnBuilder::new(&column.ty);
                        match builder.append_value(bytes).map(|()| builder.finish()) {
                            Ok(Ok(array)) => crate::json::value_json(&mut out, &array, 0),
                            _ => crate::json::hex(&mut out, bytes),
                        }
                    }
                }
                (column.name.clone(), out, raw.clone())
            })
            .collect();
        Some(Rejected { values })
    }

    /// Whether the trailer has been seen.
    pub fn finished(&self) -> bool {
        self.phase == Phase::Done
    }

    fn stream_error(&self, column: Option<usize>, message: String) -> DecodeError {
        DecodeError {
            row: if self.phase == Phase::Header {
                0
            } else {
                self.rows_seen + 1
            },
            column: column.map(|i| self.columns[i].name.clone()),
            message,
            kind: DecodeErrorKind::Stream,
        }
    }

    /// Which column's length or bytes are missing from an incomplete tuple
    /// (`None` when even the field count is incomplete).
    fn incomplete_column(&self, tuple: &[u8]) -> Option<usize> {
        let mut off = 2;
        if tuple.len() < off {
            return None;
        }
        for i in 0..self.columns.len() {
            if tuple.len() < off + 4 {
                return Some(i);
            }
            let len = read_i32(&tuple[off..]);
            off += 4;
            if len > 0 {
                off += len as usize;
                if tuple.len() < off {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Decodes one header, tuple or trailer from the front of `input`.
    fn step(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        match self.phase {
            Phase::Header => self.step_header(input),
            Phase::Tuples => self.step_tuple(input),
            Phase::Done => Err(self.stream_error(
                None,
                format!("{} bytes of data after the COPY trailer", input.len()),
            )),
            Phase::Failed => Err(self.stream_error(None, "the decoder already failed".into())),
        }
    }

    fn step_header(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        let sig = input.len().min(COPY_SIGNATURE.len());
        if input[..sig] != COPY_SIGNATURE[..sig] {
            return Err(self.stream_error(None, "not a binary COPY stream (bad signature)".into()));
        }
        if input.len() < HEADER_FIXED_LEN {
            return Ok(Step::Need(HEADER_FIXED_LEN));
        }
        let flags = read_i32(&input[11..]) as u32;
        if flags & FLAG_HAS_OIDS != 0 {
            return Err(self.stream_error(None, "tuples with OIDs are not supported".into()));
        }
        if flags & FLAGS_CRITICAL != 0 {
            return Err(
                self.stream_error(None, format!("unknown critical header flags {flags:#010x}"))
            );
        }
        let ext = read_i32(&input[15..]);
        if ext < 0 {
            return Err(self.stream_error(None, format!("negative header extension length {ext}")));
        }
        let total = HEADER_FIXED_LEN + ext as usize;
        if input.len() < total {
            return Ok(Step::Need(total));
        }
        self.phase = Phase::Tuples;
        Ok(Step::Consumed(total))
    }

    fn step_tuple(&mut self, input: &[u8]) -> Result<Step, DecodeError> {
        if input.len() < 2 {
            return Ok(Step::Need(2));
        }
        let count = read_i16(input);
        if count == -1 {
            self.phase = Phase::Done;
            return Ok(Step::Consumed(2));
        }
        if count < 0 || count as usize != self.columns.len() {
            return Err(self.stream_error(
                None,
                format!("tuple has {count} fields, expected {}", self.columns.len()),
            ));
        }
        // Find the tuple's extent before touching any builder.
        let mut off = 2;
        for i in 0..self.columns.len() {
            if input.len() < off + 4 {
                return Ok(Step::Need(off + 4));
            }
            let len = read_i32(&input[off..]);
            off += 4;
            if len < -1 {
                return Err(self.stream_error(Some(i), format!("invalid field length {len}")));
            }
            if len > 0 {
                off += len as usize;
                if input.len() < off {
                    return Ok(Step::Need(off));
                }
            }
        }
        self.rows_seen += 1;
        match self.decode_row(&input[..off]) {
            Ok(()) => {
                self.rows_buffered += 1;
                Ok(Step::Consumed(off))
            }
            Err(e) => Ok(Step::Rejected(off, e)),
        }
    }

    /// Appends one complete tuple; on failure, nothing of it stays appended.
    fn decode_row(&mut self, tuple: &[u8]) -> Result<(), DecodeError> {
        let mut off = 2;
        for i in 0..self.builders.len() {
            let len = read_i32(&tuple[off..]);
            off += 4;
            let result = if len < 0 {
                if self.columns[i].nullable {
                    self.builders[i].append_null();
                    Ok(())
                } else {
                    Err("NULL in a non-nullable column".to_string())
                }
            } else {
                let value = &tuple[off..off + len as usize];
                off += len as usize;
                self.builders[i].append_value(value)
            };
            if let Err(message) = result {
                for builder in &mut self.builders[..=i] {
                    builder.truncate(self.rows_buffered);
                }
                self.rejected = Some(split_fields(tuple, self.builders.len()));
                return Err(DecodeError {
                    row: self.rows_seen,
                    column: Some(self.columns[i].name.clone()),
                    message,
                    kind: DecodeErrorKind::Value,
                });
            }
        }
        Ok(())
    }
}

/// A row the decoder rejected, kept for the dead-letter table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Per column: its name, its value as JSON, its raw bytes (`None`: NULL).
    values: Vec<(String, String, Option<Vec<u8>>)>,
}

impl Rejected {
    /// A JSON object of the columns `keep` accepts, in order: a value that
    /// decodes on its own as [`crate::json::value_json`] writes it, one that
    /// does not (or a NULL in a non-nullable column) as its binary COPY
    /// bytes, `"\\x…"`.
    pub fn json(&self, keep: impl Fn(&str) -> bool) -> String {
        let mut out = String::from("{");
        for (name, value, _) in self.values.iter().filter(|(name, ..)| keep(name)) {
            if out.len() > 1 {
                out.push(',');
            }
            crate::json::json_string(&mut out, name);
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        out
    }

    /// A column's raw bytes as text, when they are UTF-8 (a cursor column
    /// the query casts to text).
    pub fn text(&self, column: &str) -> Option<&str> {
        let (_, _, raw) = self.values.iter().find(|(name, ..)| name == column)?;
        std::str::from_utf8(raw.as_deref()?).ok()
    }
}

/// A complete tuple's fields (`None`: NULL), for a rejected row.
fn split_fields(tuple: &[u8], count: usize) -> Vec<Option<Vec<u8>>> {
    let mut off = 2;
    (0..count)
        .map(|_| {
            let len = read_i32(&tuple[off..]);
            off += 4;
            (len >= 0).then(|| {
                let value = tuple[off..off + len as usize].to_vec();
                off += len as usize;
                value
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Big-endian readers. Callers guarantee the length.

pub(crate) fn read_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

pub(crate) fn read_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn read_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The value as a fixed-size array, or a "wrong length" message.
fn fixed<const N: usize>(value: &[u8]) -> Result<[u8; N], String> {
    value
        .try_into()
        .map_err(|_| format!("expected a {N}-byte value, got {} bytes", value.len()))
}

fn utf8(value: &[u8]) -> Result<&[u8], String> {
    match std::str::from_utf8(value) {
        Ok(_) => Ok(value),
        Err(e) => Err(format!("text is not valid UTF-8: {e}")),
    }
}

// ---------------------------------------------------------------------------
// Builders.

/// Takes the values out of `v`, leaving an empty vector with room for as
/// many values (the next batch is usually the same size).
fn take<T>(v: &mut Vec<T>) -> Vec<T> {
    let cap = v.len();
    std::mem::replace(v, Vec::with_capacity(cap))
}

/// Variable-length values (Utf8 / Binary): i32 offsets and the bytes.
#[derive(Debug, Default)]
struct VarData {
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl VarData {
    fn new() -> Self {
        VarData {
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    /// Records the end of the value just written into `data`.
    fn close(&mut self, start: usize) -> Result<(), String> {
        match i32::try_from(self.data.len()) {
            Ok(end) => {
                self.offsets.push(end);
                Ok(())
            }
            Err(_) => {
                self.data.truncate(start);
                Err("batch holds more than 2 GiB of variable-length data in one column; take batches sooner".into())
            }
        }
    }

    fn push(&mut self, value: &[u8]) -> Result<(), String> {
        let start = self.data.len();
        self.data.extend_from_slice(value);
        self.close(start)
    }

    fn push_empty(&mut self) {
        let last = *self.offsets.last().unwrap_or(&0);
        self.offsets.push(last);
    }

    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len + 1);
        self.data.truncate(self.offsets[len] as usize);
    }

    fn bytes(&self) -> usize {
        self.data.len() + (self.offsets.len() - 1) * 4
    }

    fn take(&mut self) -> (OffsetBuffer<i32>, Buffer) {
        let offsets = take(&mut self.offsets);
        let data = take(&mut self.data);
        self.offsets.push(0);
        (
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(data),
        )
    }
}

/// The values of one column, one variant per decoding kind.
enum Store {
    Int2(Vec<i16>),
    Int4(Vec<i32>),
    Int8(Vec<i64>),
    Float4(Vec<f32>),
    Float8(Vec<f64>),
    Bool(BooleanBufferBuilder),
    Decimal {
        values: Vec<i128>,
        precision: u8,
        scale: i8,
    },
    /// numeric as PostgreSQL's text.
    NumericText(VarData),
    /// text, varchar, bpchar, json, enum labels: UTF-8 bytes as sent.
    Text(VarData),
    /// jsonb: version byte 1, then the text.
    Jsonb(VarData),
    /// inet / cidr formatted as PostgreSQL prints them.
    Inet {
        data: VarData,
        cidr: bool,
    },
    /// bytea, and the binary send bytes of fallback types.
    Bytes(VarData),
    Date(Vec<i32>),
    Time(Vec<i64>),
    Timestamp(Vec<i64>),
    Timestamptz(Vec<i64>),
    /// months, days, microseconds.
    Interval(Vec<i32>, Vec<i32>, Vec<i64>),
    Uuid(Vec<u8>),
    Array {
        offsets: Vec<i32>,
        element: Box<ColumnBuilder>,
        /// The element OID the source's array values announce, when known.
        element_oid: Option<u32>,
        shape: Shape,
        fields: Fields,
    },
    Composite {
        children: Vec<ColumnBuilder>,
        fields: Fields,
    },
}

/// The `shape` child of an array: NULL for one-dimensional arrays with
/// lower bound 1, else `[len1, lower1, …]`.
struct Shape {
    offsets: Vec<i32>,
    values: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Shape {
    fn new() -> Self {
        Shape {
            offsets: vec![0],
            values: Vec::new(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    fn push_null(&mut self) {
        self.offsets.push(self.values.len() as i32);
        self.nulls.append_null();
    }

    fn push(&mut self, dims: &[(i32, i32)]) {
        for (len, lower) in dims {
            self.values.push(*len);
            self.values.push(*lower);
        }
        self.offsets.push(self.values.len() as i32);
        self.nulls.append_non_null();
    }

    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len + 1);
        self.values.truncate(self.offsets[len] as usize);
        self.nulls.truncate(len);
    }

    fn finish(&mut self, field: FieldRef) -> Result<ArrayRef, ArrowError> {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let values = take(&mut self.values);
        let nulls = self.nulls.finish();
        Ok(Arc::new(ListArray::try_new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Arc::new(PrimitiveArray::<Int32Type>::new(ScalarBuffer::from(values), None)),
            nulls,
        )?))
    }
}

/// One column's builder: validity plus values.
struct ColumnBuilder {
    nulls: NullBufferBuilder,
    store: Store,
}

impl ColumnBuilder {
    fn new(ty: &PgType) -> Self {
        let store = match ty.storage() {
            PgType::Int2 => Store::Int2(Vec::new()),
            PgType::Int4 => Store::Int4(Vec::new()),
            PgType::Int8 => Store::Int8(Vec::new()),
            PgType::Float4 => Store::Float4(Vec::new()),
            PgType::Float8 => Store::Float8(Vec::new()),
            t @ PgType::Numeric { .. } => match t.decimal128() {
                Some((precision, scale)) => Store::Decimal {
                    values: Vec::new(),
                    precision,
                    scale,
                },
                None => Store::NumericText(VarData::new()),
            },
            PgType::Text
            | PgType::Varchar(_)
            | PgType::Bpchar(_)
            | PgType::Json
            | PgType::Enum(_) => Store::Text(VarData::new()),
            PgType::Jsonb => Store::Jsonb(VarData::new()),
            PgType::Inet => Store::Inet {
                data: VarData::new(),
                cidr: false,
            },
            PgType::Cidr => Store::Inet {
                data: VarData::new(),
                cidr: true,
            },
            PgType::Bool => Store::Bool(BooleanBufferBuilder::new(0)),
            PgType::Bytea | PgType::Opaque { .. } => Store::Bytes(VarData::new()),
            PgType::Date => Store::Date(Vec::new()),
            PgType::Time(_) => Store::Time(Vec::new()),
            PgType::Timestamp(_) => Store::Timestamp(Vec::new()),
            PgType::Timestamptz(_) => Store::Timestamptz(Vec::new()),
            PgType::Interval(_) => Store::Interval(Vec::new(), Vec::new(), Vec::new()),
            PgType::Uuid => Store::Uuid(Vec::new()),
            t @ PgType::Array(element) => Store::Array {
                offsets: vec![0],
                element: Box::new(ColumnBuilder::new(element)),
                element_oid: element.oid(),
                shape: Shape::new(),
                fields: struct_fields(t),
            },
            t @ PgType::Composite { attributes, .. } => Store::Composite {
                children: attributes.iter().map(|a| ColumnBuilder::new(&a.ty)).collect(),
                fields: struct_fields(t),
            },
            PgType::Domain { .. } => unreachable!("storage() resolves domains"),
        };
        ColumnBuilder {
            nulls: NullBufferBuilder::new(0),
            store,
        }
    }

    fn len(&self) -> usize {
        self.nulls.len()
    }

    fn append_null(&mut self) {
        match &mut self.store {
            Store::Int2(v) => v.push(0),
            Store::Int4(v) | Store::Date(v) => v.push(0),
            Store::Int8(v) | Store::Time(v) | Store::Timestamp(v) | Store::Timestamptz(v) => {
                v.push(0)
            }
            Store::Float4(v) => v.push(0.0),
            Store::Float8(v) => v.push(0.0),
            Store::Bool(b) => b.append(false),
            Store::Decimal { values, .. } => values.push(0),
            Store::NumericText(d)
            | Store::Text(d)
            | Store::Jsonb(d)
            | Store::Inet { data: d, .. }
            | Store::Bytes(d) => d.push_empty(),
            Store::Interval(m, d, us) => {
                m.push(0);
                d.push(0);
                us.push(0);
            }
            Store::Uuid(v) => v.extend_from_slice(&[0; 16]),
            Store::Array { offsets, shape, .. } => {
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last);
                shape.push_null();
            }
            Store::Composite { children, .. } => {
                for c in children {
                    c.append_null();
                }
            }
        }
        self.nulls.append_null();
    }

    /// Appends one non-NULL value. On error nothing is appended (an array or
    /// a composite may leave partial children behind, which `truncate`
    /// removes).
    fn append_value(&mut self, value: &[u8]) -> Result<(), String> {
        match &mut self.store {
            Store::Int2(v) => v.push(i16::from_be_bytes(fixed(value)?)),
            Store::Int4(v) => v.push(i32::from_be_bytes(fixed(value)?)),
            Store::Int8(v) => v.push(i64::from_be_bytes(fixed(value)?)),
            Store::Float4(v) => v.push(f32::from_be_bytes(fixed(value)?)),
            Store::Float8(v) => v.push(f64::from_be_bytes(fixed(value)?)),
            Store::Bool(b) => {
                let [byte] = fixed::<1>(value)?;
                // boolrecv: any non-zero byte is true.
                b.append(byte != 0);
            }
            Store::Decimal {
                values,
                precision,
                scale,
            } => {
                let n = Numeric::parse(value)?;
                values.push(n.to_i128(*precision, *scale)?);
            }
            Store::NumericText(d) => {
                let n = Numeric::parse(value)?;
                let start = d.data.len();
                n.write_text(&mut d.data);
                d.close(start)?;
            }
            Store::Text(d) => d.push(utf8(value)?)?,
            Store::Jsonb(d) => match value.split_first() {
                Some((1, text)) => d.push(utf8(text)?)?,
                Some((version, _)) => {
                    return Err(format!("unsupported jsonb binary version {version}"));
                }
                None => return Err("empty jsonb value (missing version byte)".into()),
            },
            Store::Inet { data, cidr } => {
                let start = data.data.len();
                write_inet(value, *cidr, &mut data.data)?;
                data.close(start)?;
            }
            Store::Bytes(d) => d.push(value)?,
            Store::Date(v) => {
                let days = i32::from_be_bytes(fixed(value)?);
                v.push(match days {
                    // 'infinity' / '-infinity': kept as sentinels.
                    i32::MAX | i32::MIN => days,
                    _ => days
                        .checked_add(PG_EPOCH_OFFSET_DAYS)
                        .filter(|d| *d != i32::MAX)
                        .ok_or_else(|| {
                            format!("date {days} (days since 2000-01-01) out of range")
                        })?,
                });
            }
            Store::Time(v) => v.push(i64::from_be_bytes(fixed(value)?)),
            Store::Timestamp(v) | Store::Timestamptz(v) => {
                v.push(timestamp_from_pg(i64::from_be_bytes(fixed(value)?)))
            }
            Store::Interval(m, d, us) => {
                let b: [u8; 16] = fixed(value)?;
                us.push(i64::from_be_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]));
                d.push(i32::from_be_bytes([b[8], b[9], b[10], b[11]]));
                m.push(i32::from_be_bytes([b[12], b[13], b[14], b[15]]));
            }
            Store::Uuid(v) => v.extend_from_slice(&fixed::<16>(value)?),
            Store::Array {
                offsets,
                element,
                element_oid,
                shape,
                ..
            } => {
                let dims = decode_array(value, element, *element_oid)?;
                let end = i32::try_from(element.len())
                    .map_err(|_| "too many array elements in one batch".to_string())?;
                offsets.push(end);
                match dims.as_slice() {
                    [] | [(_, 1)] => shape.push_null(),
                    dims => shape.push(dims),
                }
            }
            Store::Composite { children, fields } => {
                decode_record(value, children, fields)?;
            }
        }
        self.nulls.append_non_null();
        Ok(())
    }

    /// Drops everything after the first `len` values.
    fn truncate(&mut self, len: usize) {
        self.nulls.truncate(len);
        match &mut self.store {
            Store::Int2(v) => v.truncate(len),
            Store::Int4(v) | Store::Date(v) => v.truncate(len),
            Store::Int8(v) | Store::Time(v) | Store::Timestamp(v) | Store::Timestamptz(v) => {
                v.truncate(len)
            }
            Store::Float4(v) => v.truncate(len),
            Store::Float8(v) => v.truncate(len),
            Store::Bool(b) => b.truncate(len),
            Store::Decimal { values, .. } => values.truncate(len),
            Store::NumericText(d)
            | Store::Text(d)
            | Store::Jsonb(d)
            | Store::Inet { data: d, .. }
            | Store::Bytes(d) => d.truncate(len),
            Store::Interval(m, d, us) => {
                m.truncate(len);
                d.truncate(len);
                us.truncate(len);
            }
            Store::Uuid(v) => v.truncate(len * 16),
            Store::Array {
                offsets,
                element,
                shape,
                ..
            } => {
                offsets.truncate(len + 1);
                element.truncate(offsets[len] as usize);
                shape.truncate(len);
            }
            Store::Composite { children, .. } => {
                for c in children {
                    c.truncate(len);
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        let validity = self.len().div_ceil(8);
        validity
            + match &self.store {
                Store::Int2(v) => v.len() * 2,
                Store::Int4(v) | Store::Date(v) => v.len() * 4,
                Store::Int8(v) | Store::Time(v) | Store::Timestamp(v) | Store::Timestamptz(v) => {
                    v.len() * 8
                }
                Store::Float4(v) => v.len() * 4,
                Store::Float8(v) => v.len() * 8,
                Store::Bool(b) => b.len().div_ceil(8),
                Store::Decimal { values, .. } => values.len() * 16,
                Store::NumericText(d)
                | Store::Text(d)
                | Store::Jsonb(d)
                | Store::Inet { data: d, .. }
                | Store::Bytes(d) => d.bytes(),
                Store::Interval(m, _, _) => m.len() * 16,
                Store::Uuid(v) => v.len(),
                Store::Array {
                    offsets,
                    element,
                    shape,
                    ..
                } => (offsets.len() - 1) * 8 + shape.values.len() * 4 + element.bytes(),
                Store::Composite { children, .. } => children.iter().map(|c| c.bytes()).sum(),
            }
    }

    /// Builds the Arrow array and empties the builder, keeping its capacity.
    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        fn prim<T: arrow_array::ArrowPrimitiveType>(
            v: &mut Vec<T::Native>,
            nulls: Option<arrow_buffer::NullBuffer>,
        ) -> PrimitiveArray<T> {
            PrimitiveArray::<T>::new(ScalarBuffer::from(take(v)), nulls)
        }
        let nulls = self.nulls.finish();
        Ok(match &mut self.store {
            Store::Int2(v) => Arc::new(prim::<Int16Type>(v, nulls)),
            Store::Int4(v) => Arc::new(prim::<Int32Type>(v, nulls)),
            Store::Int8(v) => Arc::new(prim::<Int64Type>(v, nulls)),
            Store::Float4(v) => Arc::new(prim::<Float32Type>(v, nulls)),
            Store::Float8(v) => Arc::new(prim::<Float64Type>(v, nulls)),
            Store::Bool(b) => Arc::new(BooleanArray::new(b.finish(), nulls)),
            Store::Decimal {
                values,
                precision,
                scale,
            } => Arc::new(
                prim::<Decimal128Type>(values, nulls)
                    .with_precision_and_scale(*precision, *scale)?,
            ),
            Store::NumericText(d)
            | Store::Text(d)
            | Store::Jsonb(d)
            | Store::Inet { data: d, .. } => {
                let (offsets, data) = d.take();
                Arc::new(StringArray::try_new(offsets, data, nulls)?)
            }
            Store::Bytes(d) => {
                let (offsets, data) = d.take();
                Arc::new(BinaryArray::try_new(offsets, data, nulls)?)
            }
            Store::Date(v) => Arc::new(prim::<Date32Type>(v, nulls)),
            Store::Time(v) => Arc::new(prim::<Time64MicrosecondType>(v, nulls)),
            Store::Timestamp(v) => Arc::new(prim::<TimestampMicrosecondType>(v, nulls)),
            Store::Timestamptz(v) => {
                Arc::new(prim::<TimestampMicrosecondType>(v, nulls).with_timezone(TIMESTAMPTZ_ZONE))
            }
            Store::Interval(m, d, us) => Arc::new(StructArray::try_new(
                interval_fields(),
                vec![
                    Arc::new(prim::<Int32Type>(m, None)) as ArrayRef,
                    Arc::new(prim::<Int32Type>(d, None)),
                    Arc::new(prim::<Int64Type>(us, None)),
                ],
                nulls,
            )?),
            Store::Uuid(v) => Arc::new(FixedSizeBinaryArray::try_new(
                16,
                Buffer::from_vec(take(v)),
                nulls,
            )?),
            Store::Array {
                offsets,
                element,
                shape,
                fields,
                ..
            } => {
                let offsets_vec = std::mem::replace(offsets, vec![0]);
                let DataType::List(item) = fields[0].data_type() else {
                    unreachable!("array items are a list")
                };
                let DataType::List(shape_item) = fields[1].data_type() else {
                    unreachable!("array shape is a list")
                };
                let values = element.finish()?;
                let items = Arc::new(ListArray::try_new(
                    Arc::clone(item),
                    OffsetBuffer::new(ScalarBuffer::from(offsets_vec)),
                    values,
                    None,
                )?);
                let shape = shape.finish(Arc::clone(shape_item))?;
                Arc::new(StructArray::try_new(fields.clone(), vec![items, shape], nulls)?)
            }
            Store::Composite { children, fields } => {
                let arrays = children
                    .iter_mut()
                    .map(|c| c.finish())
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields.clone(), arrays, nulls)?)
            }
        })
    }
}

/// The children of the `Struct` an array or composite type is carried in.
fn struct_fields(ty: &PgType) -> Fields {
    match ty.arrow_type() {
        DataType::Struct(fields) => fields,
        _ => unreachable!("arrays and composites are structs"),
    }
}

/// PostgreSQL's limit on array dimensions (`MAXDIM`).
const MAX_ARRAY_DIMS: i32 = 6;

/// Decodes a binary array value (`array_send`) into the element builder
/// (elements in row-major order) and returns its dimensions as
/// `(length, lower bound)`, outermost first (empty for the empty array).
fn decode_array(
    value: &[u8],
    element: &mut ColumnBuilder,
    element_oid: Option<u32>,
) -> Result<Vec<(i32, i32)>, String> {
    if value.len() < 12 {
        return Err(format!(
            "array header is {} bytes, expected at least 12",
            value.len()
        ));
    }
    let ndim = read_i32(value);
    let flags = read_i32(&value[4..]);
    let oid = read_i32(&value[8..]) as u32;
    if flags != 0 && flags != 1 {
        return Err(format!("invalid array has-null flag {flags}"));
    }
    if let Some(expected) = element_oid
        && oid != expected
    {
        return Err(format!("array element type OID {oid}, expected {expected}"));
    }
    if !(0..=MAX_ARRAY_DIMS).contains(&ndim) {
        return Err(format!("invalid array dimension count {ndim}"));
    }
    let header = 12 + 8 * ndim as usize;
    if value.len() < header {
        return Err("truncated array dimension header".into());
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    let mut total: usize = if ndim == 0 { 0 } else { 1 };
    for d in 0..ndim as usize {
        let len = read_i32(&value[12 + 8 * d..]);
        let lower = read_i32(&value[16 + 8 * d..]);
        if len < 0 {
            return Err(format!("invalid array dimension length {len}"));
        }
        total = total
            .checked_mul(len as usize)
            .filter(|t| *t <= value.len())
            .ok_or_else(|| "array dimensions larger than the value".to_string())?;
        dims.push((len, lower));
    }
    let mut off = header;
    for k in 0..total {
        if value.len() < off + 4 {
            return Err(format!("array truncated at element {}", k + 1));
        }
        let len = read_i32(&value[off..]);
        off += 4;
        if len == -1 {
            element.append_null();
            continue;
        }
        if len < 0 {
            return Err(format!("invalid length {len} of array element {}", k + 1));
        }
        let end = off + len as usize;
        if value.len() < end {
            return Err(format!("array truncated at element {}", k + 1));
        }
        element
            .append_value(&value[off..end])
            .map_err(|e| format!("array element {}: {e}", k + 1))?;
        off = end;
    }
    if off != value.len() {
        return Err(format!(
            "{} trailing bytes after array elements",
            value.len() - off
        ));
    }
    Ok(dims)
}

/// Decodes a binary composite value (`record_send`: field count, then per
/// field its type OID, length and bytes) into one builder per attribute.
fn decode_record(
    value: &[u8],
    children: &mut [ColumnBuilder],
    fields: &Fields,
) -> Result<(), String> {
    if value.len() < 4 {
        return Err("truncated record header".into());
    }
    let count = read_i32(value);
    if count != children.len() as i32 {
        return Err(format!(
            "record has {count} fields, expected {}",
            children.len()
        ));
    }
    let mut off = 4;
    for (child, field) in children.iter_mut().zip(fields.iter()) {
        if value.len() < off + 8 {
            return Err(format!("record truncated at field `{}`", field.name()));
        }
        let len = read_i32(&value[off + 4..]);
        off += 8;
        if len == -1 {
            child.append_null();
            continue;
        }
        if len < 0 {
            return Err(format!("invalid length {len} of record field `{}`", field.name()));
        }
        let end = off + len as usize;
        if value.len() < end {
            return Err(format!("record truncated at field `{}`", field.name()));
        }
        child
            .append_value(&value[off..end])
            .map_err(|e| format!("field `{}`: {e}", field.name()))?;
        off = end;
    }
    if off != value.len() {
        return Err(format!("{} trailing bytes after record fields", value.len() - off));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
