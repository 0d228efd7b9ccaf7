//! Encoding Arrow record batches as `COPY t FROM STDIN (FORMAT binary)`.
//!
//! [`CopyEncoder`] is the inverse of [`crate::CopyDecoder`]: every Arrow
//! representation the decoder produces for a PostgreSQL type is written back
//! as exactly the bytes that type's `*_recv` function reads, so a value read
//! from one PostgreSQL table and written to another is unchanged.
//!
//! The writer for each column is chosen once per stream, in
//! [`CopyEncoder::new`], from the Arrow type and the target column's
//! PostgreSQL type; a pair that cannot be written exactly is refused there.
//! Each batch is then downcast once, and every value is written big-endian
//! straight into the caller's buffer: no per-value heap allocation, no text
//! round-trip (text-carried `numeric`, `inet`/`cidr` and `uuid` are parsed
//! on the stack).
//!
//! Accepted Arrow types per PostgreSQL type (the decoder's type first):
//!
//! | PostgreSQL | Arrow |
//! |---|---|
//! | `int2` | `Int16` |
//! | `int4` | `Int32`, `Int16` |
//! | `int8` | `Int64`, `Int32`, `Int16` |
//! | `float4` | `Float32` |
//! | `float8` | `Float64`, `Float32` |
//! | `numeric` | `Decimal128(p,s)`, any string type (`numeric_in` syntax) |
//! | `text`, `varchar`, `bpchar`, `json`, enum | any string type |
//! | `jsonb` | any string type |
//! | `inet`, `cidr` | any string type (PostgreSQL's text form) |
//! | `uuid` | `FixedSizeBinary(16)`, any string type |
//! | `bool` | `Boolean` |
//! | `bytea` | `Binary`, `LargeBinary`, `BinaryView` |
//! | `date` | `Date32` |
//! | `time` | `Time64(Microsecond)` |
//! | `timestamp` | `Timestamp(Microsecond, None)` |
//! | `timestamptz` | `Timestamp(Microsecond, Some(_))` (any zone: the value is the UTC instant) |
//! | `interval` | `Interval(MonthDayNano)` |
//! | `T[]` | `List` / `LargeList` of an Arrow type accepted for `T` |
//!
//! "Any string type" is `Utf8`, `LargeUtf8` or `Utf8View`.
//!
//! Values are never silently changed: an interval with sub-microsecond
//! nanoseconds, or a numeric with non-zero digits beyond the target column's
//! declared scale (which PostgreSQL would round away), is an [`EncodeError`]
//! naming the row and column.

use std::fmt;
use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNanoType, Time64MicrosecondType, TimestampMicrosecondType,
};
use arrow_array::{
    Array, ArrowPrimitiveType, BinaryViewArray, FixedSizeBinaryArray, RecordBatch, StringViewArray,
};
use arrow_buffer::{BooleanBuffer, IntervalMonthDayNano, NullBuffer};
use arrow_schema::{DataType, Fields, IntervalUnit, Schema, TimeUnit};

use crate::decode::COPY_SIGNATURE;
use crate::inet::parse_inet;
use crate::numeric::{write_decimal, write_numeric_text};
use crate::types::{
    ARRAY_ITEMS, ARRAY_SHAPE, CatalogType, PG_EPOCH_OFFSET_DAYS, PgType, UnsupportedType,
    timestamp_to_pg,
};

/// One target column of `COPY t (cols) FROM STDIN (FORMAT binary)`, in
/// column-list order: its PostgreSQL type (from the destination table's
/// catalog) and OIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeColumn {
    /// The column name (used in errors).
    pub name: String,
    /// The column's PostgreSQL type.
    pub ty: PgType,
    /// The column's type OID (`pg_attribute.atttypid`). Binary COPY tuples
    /// do not carry it; it is kept for the caller's bookkeeping.
    pub oid: u32,
    /// For arrays, the element type OID (`pg_type.typelem`), which every
    /// array value announces and `array_recv` checks. May be `None` when the
    /// element is a built-in type (its OID is known); required for arrays of
    /// enums, whose OIDs are per database.
    pub element_oid: Option<u32>,
}

impl EncodeColumn {
    /// A column from its catalog facts: the type via
    /// [`PgType::from_catalog`], the OID, and for arrays the element's OID.
    pub fn from_catalog(
        name: impl Into<String>,
        catalog: &CatalogType,
    ) -> Result<Self, UnsupportedType> {
        Ok(EncodeColumn {
            name: name.into(),
            ty: PgType::from_catalog(catalog)?,
            oid: catalog.oid,
            element_oid: catalog.element.as_ref().map(|e| e.oid),
        })
    }
}

/// A failure to encode, naming the column and, for a value error, the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// For a value that cannot be written: its 0-based row index in the
    /// batch passed to [`CopyEncoder::encode`] / [`CopyEncoder::encode_rows`].
    /// `None` for a type mismatch or a batch whose shape does not match.
    pub row: Option<u64>,
    /// The target column's name (empty when the error concerns no one column).
    pub column: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("binary COPY encoding")?;
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        if !self.column.is_empty() {
            write!(f, ", column `{}`", self.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for EncodeError {}

/// Encodes Arrow record batches as the tuples of one binary COPY stream.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int32Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use rapidbyte_pgcopy::{CopyEncoder, EncodeColumn, PgType};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, true)]));
/// let column = EncodeColumn { name: "id".into(), ty: PgType::Int4, oid: 23, element_oid: None };
/// let mut encoder = CopyEncoder::new(vec![column], &schema).unwrap();
///
/// let batch = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![Some(42), None]))]).unwrap();
/// let mut out = Vec::new();
/// CopyEncoder::header(&mut out);
/// encoder.encode(&batch, &mut out).unwrap();
/// CopyEncoder::trailer(&mut out);
///
/// assert_eq!(&out[..11], b"PGCOPY\n\xff\r\n\0");
/// assert_eq!(&out[19..29], &[0, 1, 0, 0, 0, 4, 0, 0, 0, 42]); // (42)
/// assert_eq!(&out[29..35], &[0, 1, 0xff, 0xff, 0xff, 0xff]); // (NULL)
/// assert_eq!(&out[35..], &[0xff, 0xff]); // trailer
/// ```
pub struct CopyEncoder {
    columns: Vec<EncodeColumn>,
    /// The Arrow type of each column, as checked in `new`.
    types: Vec<DataType>,
    kinds: Vec<Kind>,
    /// The tuple field count, big-endian.
    field_count: [u8; 2],
    rows_encoded: u64,
}

impl fmt::Debug for CopyEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyEncoder")
            .field("columns", &self.columns)
            .field("types", &self.types)
            .field("rows_encoded", &self.rows_encoded)
            .finish()
    }
}

impl CopyEncoder {
    /// An encoder writing the fields of `schema` to `columns`, by position.
    ///
    /// Checks once per stream that each Arrow field can be written exactly
    /// to its target column; otherwise the error names the column, the Arrow
    /// type and the PostgreSQL type. A different number of fields and
    /// columns, or an array column without a known element OID, is also an
    /// error.
    pub fn new(columns: Vec<EncodeColumn>, schema: &Schema) -> Result<Self, EncodeError> {
        let fields = schema.fields();
        if fields.len() != columns.len() {
            let column = match columns.get(fields.len()) {
                Some(c) => c.name.clone(),
                None => fields[columns.len()].name().clone(),
            };
            return Err(EncodeError {
                row: None,
                column,
                message: format!(
                    "the Arrow schema has {} fields but {} target columns were given",
                    fields.len(),
                    columns.len()
                ),
            });
        }
        let field_count = i16::try_from(columns.len()).map_err(|_| EncodeError {
            row: None,
            column: String::new(),
            message: format!("{} columns is more than a COPY tuple holds", columns.len()),
        })?;
        let mut kinds = Vec::with_capacity(columns.len());
        for (column, field) in columns.iter().zip(fields.iter()) {
            let kind = resolve(column, field.data_type()).map_err(|message| EncodeError {
                row: None,
                column: column.name.clone(),
                message,
            })?;
            kinds.push(kind);
        }
        Ok(CopyEncoder {
            types: fields.iter().map(|f| f.data_type().clone()).collect(),
            columns,
            kinds,
            field_count: field_count.to_be_bytes(),
            rows_encoded: 0,
        })
    }

    /// Appends the 19-byte stream header: signature, flags 0, header
    /// extension length 0.
    pub fn header(out: &mut Vec<u8>) {
        out.extend_from_slice(COPY_SIGNATURE);
        out.extend_from_slice(&[0; 8]);
    }

    /// Appends the stream trailer (field count -1).
    pub fn trailer(out: &mut Vec<u8>) {
        out.extend_from_slice(&(-1i16).to_be_bytes());
    }

    /// The target columns.
    pub fn columns(&self) -> &[EncodeColumn] {
        &self.columns
    }

    /// Rows appended so far, over all batches.
    pub fn rows_encoded(&self) -> u64 {
        self.rows_encoded
    }

    /// Appends every row of `batch` as a tuple. See [`Self::encode_rows`].
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_rows(batch, 0..batch.num_rows(), out)
    }

    /// Appends the rows `rows` of `batch` as tuples (field count, then per
    /// field its length, or -1 for NULL, and its bytes), so a caller can
    /// flush `out` in bounded chunks. `out` only grows; its capacity is
    /// reused.
    ///
    /// `batch` must have the schema's field types. On a value error, `out`
    /// holds the tuples of the rows before the failing one (none of the
    /// failing row), and [`EncodeError::row`] is that row's index in
    /// `batch`; encoding can resume after it.
    pub fn encode_rows(
        &mut self,
        batch: &RecordBatch,
        rows: Range<usize>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if rows.start > rows.end || rows.end > batch.num_rows() {
            return Err(EncodeError {
                row: None,
                column: String::new(),
                message: format!(
                    "row range {rows:?} is out of bounds for a batch of {} rows",
                    batch.num_rows()
                ),
            });
        }
        let bound = self.bind(batch)?;
        if rows.is_empty() {
            return Ok(());
        }
        let hint = (2 + 4 * bound.len()) * rows.len()
            + bound
                .iter()
                .map(|b| b.values.size_hint(rows.clone()))
                .sum::<usize>();
        out.reserve(hint);
        for row in rows {
            let start = out.len();
            out.extend_from_slice(&self.field_count);
            for (c, b) in bound.iter().enumerate() {
                if b.is_null(row) {
                    out.extend_from_slice(&NULL_LENGTH);
                } else if let Err(message) = b.values.write(row, out) {
                    out.truncate(start);
                    return Err(EncodeError {
                        row: Some(row as u64),
                        column: self.columns[c].name.clone(),
                        message,
                    });
                }
            }
            self.rows_encoded += 1;
        }
        Ok(())
    }

    /// Downcasts every column of `batch` once.
    fn bind<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<Bound<'a>>, EncodeError> {
        if batch.num_columns() != self.columns.len() {
            return Err(EncodeError {
                row: None,
                column: String::new(),
                message: format!(
                    "the batch has {} columns, expected {}",
                    batch.num_columns(),
                    self.columns.len()
                ),
            });
        }
        let mut bound = Vec::with_capacity(self.columns.len());
        for (c, array) in batch.columns().iter().enumerate() {
            let error = |message| EncodeError {
                row: None,
                column: self.columns[c].name.clone(),
                message,
            };
            if array.data_type() != &self.types[c] {
                return Err(error(format!(
                    "the batch carries Arrow type {} but the encoder was created for {}",
                    array.data_type(),
                    self.types[c]
                )));
            }
            bound.push(bind(&self.kinds[c], array.as_ref()).map_err(error)?);
        }
        Ok(bound)
    }
}

/// A NULL field: length -1.
const NULL_LENGTH: [u8; 4] = [0xff; 4];

// ---------------------------------------------------------------------------
// Resolving writers (once per stream).

/// How one column (or array element) is written, resolved from its Arrow
/// and PostgreSQL types.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Int2,
    Int4From16,
    Int4,
    Int8From16,
    Int8From32,
    Int8,
    Float4,
    Float8From32,
    Float8,
    /// `Decimal128(_, scale)` → numeric. `column_scale` is the target's
    /// declared scale when it is smaller than `scale` (digits beyond it must
    /// be zero, or PostgreSQL would round them away).
    Decimal {
        scale: i8,
        column_scale: Option<i32>,
    },
    /// numeric text → numeric; `column_scale` as for `Decimal`.
    NumericText {
        column_scale: Option<i32>,
    },
    /// Raw UTF-8 bytes: text, varchar, bpchar, json, enum labels.
    Text,
    /// Version byte 1, then the text.
    Jsonb,
    Inet {
        cidr: bool,
    },
    UuidText,
    Bool,
    Bytea,
    Date,
    Time,
    /// timestamp and timestamptz (both µs since the Unix epoch in Arrow).
    Timestamp,
    /// `Interval(MonthDayNano)` (non-PostgreSQL sources).
    Interval,
    /// `Struct<months, days, microseconds>`.
    IntervalStruct,
    Uuid,
    /// An array: a plain `List`, or the `Struct<items, shape>` the decoder makes.
    List {
        element_oid: u32,
        element: Box<Kind>,
        shaped: bool,
    },
    /// A composite: one writer per attribute, with the attribute's type OID.
    Composite(Vec<(u32, Kind)>),
}

/// The declared scale of a constrained numeric (`numeric(p)` is scale 0).
fn declared_scale(ty: &PgType) -> Option<i32> {
    match ty {
        PgType::Numeric {
            precision: Some(_),
            scale,
        } => Some(scale.unwrap_or(0)),
        _ => None,
    }
}

fn resolve_scalar(ty: &PgType, dt: &DataType) -> Option<Kind> {
    use DataType as D;
    let string = matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let ty = ty.storage();
    Some(match (ty, dt) {
        (PgType::Int2, D::Int16) => Kind::Int2,
        (PgType::Int4, D::Int16) => Kind::Int4From16,
        (PgType::Int4, D::Int32) => Kind::Int4,
        (PgType::Int8, D::Int16) => Kind::Int8From16,
        (PgType::Int8, D::Int32) => Kind::Int8From32,
        (PgType::Int8, D::Int64) => Kind::Int8,
        (PgType::Float4, D::Float32) => Kind::Float4,
        (PgType::Float8, D::Float32) => Kind::Float8From32,
        (PgType::Float8, D::Float64) => Kind::Float8,
        (PgType::Numeric { .. }, D::Decimal128(_, scale)) => Kind::Decimal {
            scale: *scale,
            column_scale: declared_scale(ty).filter(|cs| (*scale as i32) > *cs),
        },
        (PgType::Numeric { .. }, _) if string => Kind::NumericText {
            column_scale: declared_scale(ty),
        },
        (
            PgType::Text | PgType::Varchar(_) | PgType::Bpchar(_) | PgType::Json | PgType::Enum(_),
            _,
        ) if string => Kind::Text,
        (PgType::Jsonb, _) if string => Kind::Jsonb,
        (PgType::Inet, _) if string => Kind::Inet { cidr: false },
        (PgType::Cidr, _) if string => Kind::Inet { cidr: true },
        (PgType::Uuid, D::FixedSizeBinary(16)) => Kind::Uuid,
        (PgType::Uuid, _) if string => Kind::UuidText,
        (PgType::Bool, D::Boolean) => Kind::Bool,
        // Fallback types carry their binary send bytes, which are what
        // binary COPY reads.
        (PgType::Bytea | PgType::Opaque { .. }, D::Binary | D::LargeBinary | D::BinaryView) => {
            Kind::Bytea
        }
        (PgType::Date, D::Date32) => Kind::Date,
        (PgType::Time(_), D::Time64(TimeUnit::Microsecond)) => Kind::Time,
        (PgType::Timestamp(_), D::Timestamp(TimeUnit::Microsecond, None)) => Kind::Timestamp,
        (PgType::Timestamptz(_), D::Timestamp(TimeUnit::Microsecond, Some(_))) => Kind::Timestamp,
        (PgType::Interval(_), D::Interval(IntervalUnit::MonthDayNano)) => Kind::Interval,
        (PgType::Interval(_), D::Struct(f)) if is_interval_struct(f) => Kind::IntervalStruct,
        _ => return None,
    })
}

fn is_interval_struct(f: &Fields) -> bool {
    f.len() == 3
        && f[0].data_type() == &DataType::Int32
        && f[1].data_type() == &DataType::Int32
        && f[2].data_type() == &DataType::Int64
}

/// The element field of an array's Arrow type: a `List`/`LargeList`, or the
/// decoder's `Struct<items: List, shape: List<Int32>>` (then `true`).
fn array_item(dt: &DataType) -> Option<(&DataType, bool)> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) => Some((f.data_type(), false)),
        DataType::Struct(fields)
            if fields.len() == 2
                && fields[0].name() == ARRAY_ITEMS
                && fields[1].name() == ARRAY_SHAPE
                && matches!(fields[1].data_type(), DataType::List(s) if s.data_type() == &DataType::Int32) =>
        {
            match fields[0].data_type() {
                DataType::List(f) => Some((f.data_type(), true)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The writer for a value of `ty` carried as `dt`, at any nesting level.
/// `element_oid` overrides the element OID of an array (the caller's
/// catalog knows it).
fn resolve_kind(ty: &PgType, dt: &DataType, element_oid: Option<u32>) -> Result<Kind, String> {
    let mismatch = || {
        format!(
            "Arrow type {dt} cannot be written to PostgreSQL type {}",
            ty.sql_name()
        )
    };
    match ty.storage() {
        PgType::Array(element) => {
            let (item, shaped) = array_item(dt).ok_or_else(mismatch)?;
            if matches!(element.storage(), PgType::Array(_)) {
                return Err(mismatch());
            }
            let kind = resolve_kind(element, item, None)?;
            let element_oid = match (element_oid, element.oid()) {
                (Some(given), Some(known)) if given != known && known < crate::types::oid::FIRST_NORMAL => {
                    return Err(format!(
                        "element OID {given} given for an array of {} (OID {known})",
                        element.sql_name()
                    ));
                }
                (Some(oid), _) | (None, Some(oid)) => oid,
                (None, None) => {
                    return Err(format!(
                        "the element type OID of {} is required (EncodeColumn::element_oid)",
                        ty.sql_name()
                    ));
                }
            };
            Ok(Kind::List {
                element_oid,
                element: Box::new(kind),
                shaped,
            })
        }
        PgType::Composite { attributes, .. } => {
            let DataType::Struct(fields) = dt else {
                return Err(mismatch());
            };
            if fields.len() != attributes.len() {
                return Err(format!(
                    "{} has {} attributes but the Arrow struct has {} fields",
                    ty.sql_name(),
                    attributes.len(),
                    fields.len()
                ));
            }
            let mut kinds = Vec::with_capacity(fields.len());
            for (a, f) in attributes.iter().zip(fields.iter()) {
                if a.oid == 0 {
                    return Err(format!("the type OID of attribute `{}` of {} is required", a.name, ty.sql_name()));
                }
                let kind = resolve_kind(&a.ty, f.data_type(), None)
                    .map_err(|e| format!("attribute `{}`: {e}", a.name))?;
                kinds.push((a.oid, kind));
            }
            Ok(Kind::Composite(kinds))
        }
        _ => resolve_scalar(ty, dt).ok_or_else(mismatch),
    }
}

fn resolve(column: &EncodeColumn, dt: &DataType) -> Result<Kind, String> {
    resolve_kind(&column.ty, dt, column.element_oid)
}

// ---------------------------------------------------------------------------
// Binding arrays (once per batch).

/// Variable-length values of one array, whatever its physical layout.
#[derive(Clone, Copy)]
enum Bytes<'a> {
    Small { offsets: &'a [i32], data: &'a [u8] },
    Large { offsets: &'a [i64], data: &'a [u8] },
    StrView(&'a StringViewArray),
    BinView(&'a BinaryViewArray),
}

impl<'a> Bytes<'a> {
    #[inline]
    fn get(&self, i: usize) -> &'a [u8] {
        match *self {
            Bytes::Small { offsets, data } => &data[offsets[i] as usize..offsets[i + 1] as usize],
            Bytes::Large { offsets, data } => &data[offsets[i] as usize..offsets[i + 1] as usize],
            Bytes::StrView(a) => a.value(i).as_bytes(),
            Bytes::BinView(a) => a.value(i),
        }
    }

    /// Roughly the bytes of the values in `rows`.
    fn size_hint(&self, rows: Range<usize>) -> usize {
        match *self {
            Bytes::Small { offsets, .. } => (offsets[rows.end] - offsets[rows.start]) as usize,
            Bytes::Large { offsets, .. } => (offsets[rows.end] - offsets[rows.start]) as usize,
            Bytes::StrView(_) | Bytes::BinView(_) => rows.len() * 16,
        }
    }
}

#[derive(Clone, Copy)]
enum Offsets<'a> {
    Small(&'a [i32]),
    Large(&'a [i64]),
}

impl Offsets<'_> {
    #[inline]
    fn range(&self, i: usize) -> Range<usize> {
        match *self {
            Offsets::Small(o) => o[i] as usize..o[i + 1] as usize,
            Offsets::Large(o) => o[i] as usize..o[i + 1] as usize,
        }
    }
}

/// One column of a batch, downcast, with its writer.
struct Bound<'a> {
    nulls: Option<&'a NullBuffer>,
    values: Values<'a>,
}

impl Bound<'_> {
    #[inline]
    fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(i))
    }
}

enum Values<'a> {
    Int2(&'a [i16]),
    Int4From16(&'a [i16]),
    Int4(&'a [i32]),
    Int8From16(&'a [i16]),
    Int8From32(&'a [i32]),
    Int8(&'a [i64]),
    Float4(&'a [f32]),
    Float8From32(&'a [f32]),
    Float8(&'a [f64]),
    Decimal {
        values: &'a [i128],
        scale: i8,
        column_scale: Option<i32>,
    },
    NumericText {
        text: Bytes<'a>,
        column_scale: Option<i32>,
    },
    Text(Bytes<'a>),
    Jsonb(Bytes<'a>),
    Inet {
        text: Bytes<'a>,
        cidr: bool,
    },
    UuidText(Bytes<'a>),
    Bool(&'a BooleanBuffer),
    Bytea(Bytes<'a>),
    Date(&'a [i32]),
    Time(&'a [i64]),
    Timestamp(&'a [i64]),
    Interval(&'a [IntervalMonthDayNano]),
    IntervalStruct(&'a [i32], &'a [i32], &'a [i64]),
    Uuid(&'a FixedSizeBinaryArray),
    List {
        offsets: Offsets<'a>,
        element_oid: u32,
        element: Box<Bound<'a>>,
        /// The `shape` child of a decoder-made array: offsets, values, nulls.
        shape: Option<(&'a [i32], &'a [i32], Option<&'a NullBuffer>)>,
    },
    Composite(Vec<(u32, Bound<'a>)>),
}

fn prim<T: ArrowPrimitiveType>(array: &dyn Array) -> Result<&[T::Native], String> {
    array
        .as_primitive_opt::<T>()
        .map(|a| &a.values()[..])
        .ok_or_else(|| downcast_failed(array))
}

fn downcast_failed(array: &dyn Array) -> String {
    format!("cannot read an Arrow {} array", array.data_type())
}

fn bytes(array: &dyn Array) -> Result<Bytes<'_>, String> {
    let bytes = match array.data_type() {
        DataType::Utf8 => array.as_string_opt::<i32>().map(|a| Bytes::Small {
            offsets: a.value_offsets(),
            data: a.value_data(),
        }),
        DataType::LargeUtf8 => array.as_string_opt::<i64>().map(|a| Bytes::Large {
            offsets: a.value_offsets(),
            data: a.value_data(),
        }),
        DataType::Utf8View => array.as_string_view_opt().map(Bytes::StrView),
        DataType::Binary => array.as_binary_opt::<i32>().map(|a| Bytes::Small {
            offsets: a.value_offsets(),
            data: a.value_data(),
        }),
        DataType::LargeBinary => array.as_binary_opt::<i64>().map(|a| Bytes::Large {
            offsets: a.value_offsets(),
            data: a.value_data(),
        }),
        DataType::BinaryView => array.as_binary_view_opt().map(Bytes::BinView),
        _ => None,
    };
    bytes.ok_or_else(|| downcast_failed(array))
}

fn bind<'a>(kind: &Kind, array: &'a dyn Array) -> Result<Bound<'a>, String> {
    let values = match kind {
        Kind::Int2 => Values::Int2(prim::<Int16Type>(array)?),
        Kind::Int4From16 => Values::Int4From16(prim::<Int16Type>(array)?),
        Kind::Int4 => Values::Int4(prim::<Int32Type>(array)?),
        Kind::Int8From16 => Values::Int8From16(prim::<Int16Type>(array)?),
        Kind::Int8From32 => Values::Int8From32(prim::<Int32Type>(array)?),
        Kind::Int8 => Values::Int8(prim::<Int64Type>(array)?),
        Kind::Float4 => Values::Float4(prim::<Float32Type>(array)?),
        Kind::Float8From32 => Values::Float8From32(prim::<Float32Type>(array)?),
        Kind::Float8 => Values::Float8(prim::<Float64Type>(array)?),
        Kind::Decimal {
            scale,
            column_scale,
        } => Values::Decimal {
            values: prim::<Decimal128Type>(array)?,
            scale: *scale,
            column_scale: *column_scale,
        },
        Kind::NumericText { column_scale } => Values::NumericText {
            text: bytes(array)?,
            column_scale: *column_scale,
        },
        Kind::Text => Values::Text(bytes(array)?),
        Kind::Jsonb => Values::Jsonb(bytes(array)?),
        Kind::Inet { cidr } => Values::Inet {
            text: bytes(array)?,
            cidr: *cidr,
        },
        Kind::UuidText => Values::UuidText(bytes(array)?),
        Kind::Bool => Values::Bool(
            array
                .as_boolean_opt()
                .map(|a| a.values())
                .ok_or_else(|| downcast_failed(array))?,
        ),
        Kind::Bytea => Values::Bytea(bytes(array)?),
        Kind::Date => Values::Date(prim::<Date32Type>(array)?),
        Kind::Time => Values::Time(prim::<Time64MicrosecondType>(array)?),
        Kind::Timestamp => Values::Timestamp(prim::<TimestampMicrosecondType>(array)?),
        Kind::Interval => Values::Interval(prim::<IntervalMonthDayNanoType>(array)?),
        Kind::IntervalStruct => {
            let st = array.as_struct_opt().ok_or_else(|| downcast_failed(array))?;
            Values::IntervalStruct(
                prim::<Int32Type>(st.column(0).as_ref())?,
                prim::<Int32Type>(st.column(1).as_ref())?,
                prim::<Int64Type>(st.column(2).as_ref())?,
            )
        }
        Kind::Composite(kinds) => {
            let st = array.as_struct_opt().ok_or_else(|| downcast_failed(array))?;
            let mut fields = Vec::with_capacity(kinds.len());
            for ((oid, kind), child) in kinds.iter().zip(st.columns()) {
                fields.push((*oid, bind(kind, child.as_ref())?));
            }
            Values::Composite(fields)
        }
        Kind::Uuid => Values::Uuid(
            array
                .as_fixed_size_binary_opt()
                .filter(|a| a.value_length() == 16)
                .ok_or_else(|| downcast_failed(array))?,
        ),
        Kind::List {
            element_oid,
            element,
            shaped: true,
        } => {
            let st = array.as_struct_opt().ok_or_else(|| downcast_failed(array))?;
            let items = st.column(0).as_list_opt::<i32>().ok_or_else(|| downcast_failed(array))?;
            let shape = st.column(1).as_list_opt::<i32>().ok_or_else(|| downcast_failed(array))?;
            let shape_values = prim::<Int32Type>(shape.values().as_ref())?;
            Values::List {
                offsets: Offsets::Small(items.value_offsets()),
                element_oid: *element_oid,
                element: Box::new(bind(element, items.values().as_ref())?),
                shape: Some((shape.value_offsets(), shape_values, shape.nulls())),
            }
        }
        Kind::List {
            element_oid,
            element,
            shaped: false,
        } => {
            let (offsets, child) = match array.data_type() {
                DataType::List(_) => array
                    .as_list_opt::<i32>()
                    .map(|a| (Offsets::Small(a.value_offsets()), a.values())),
                DataType::LargeList(_) => array
                    .as_list_opt::<i64>()
                    .map(|a| (Offsets::Large(a.value_offsets()), a.values())),
                _ => None,
            }
            .ok_or_else(|| downcast_failed(array))?;
            Values::List {
                offsets,
                element_oid: *element_oid,
                element: Box::new(bind(element, child.as_ref())?),
                shape: None,
            }
        }
    };
    Ok(Bound {
        nulls: array.nulls(),
        values,
    })
}

// ---------------------------------------------------------------------------
// Writing values (per row).

#[inline]
fn put_fixed<const N: usize>(out: &mut Vec<u8>, bytes: [u8; N]) {
    out.extend_from_slice(&(N as i32).to_be_bytes());
    out.extend_from_slice(&bytes);
}

fn length(n: usize) -> Result<[u8; 4], String> {
    i32::try_from(n)
        .map(i32::to_be_bytes)
        .map_err(|_| format!("a {n}-byte value is larger than a COPY field holds"))
}

#[inline]
fn put_var(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), String> {
    out.extend_from_slice(&length(bytes.len())?);
    out.extend_from_slice(bytes);
    Ok(())
}

impl Values<'_> {
    /// Writes the non-NULL value at `i`: its i32 length, then its bytes.
    /// On error, what was written of the value may stay in `out`.
    #[inline]
    fn write(&self, i: usize, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Values::Int2(v) => put_fixed(out, v[i].to_be_bytes()),
            Values::Int4From16(v) => put_fixed(out, i32::from(v[i]).to_be_bytes()),
            Values::Int4(v) => put_fixed(out, v[i].to_be_bytes()),
            Values::Int8From16(v) => put_fixed(out, i64::from(v[i]).to_be_bytes()),
            Values::Int8From32(v) => put_fixed(out, i64::from(v[i]).to_be_bytes()),
            Values::Int8(v) => put_fixed(out, v[i].to_be_bytes()),
            Values::Float4(v) => put_fixed(out, v[i].to_bits().to_be_bytes()),
            // f32 -> f64 is exact (NaN payloads, infinities and -0 included).
            Values::Float8From32(v) => put_fixed(out, f64::from(v[i]).to_bits().to_be_bytes()),
            Values::Float8(v) => put_fixed(out, v[i].to_bits().to_be_bytes()),
            Values::Decimal {
                values,
                scale,
                column_scale,
            } => write_decimal(out, values[i], *scale, *column_scale)?,
            Values::NumericText { text, column_scale } => {
                write_numeric_text(out, text.get(i), *column_scale)?
            }
            Values::Text(b) | Values::Bytea(b) => put_var(out, b.get(i))?,
            Values::Jsonb(b) => {
                let text = b.get(i);
                out.extend_from_slice(&length(text.len() + 1)?);
                out.push(1);
                out.extend_from_slice(text);
            }
            Values::Inet { text, cidr } => {
                let text = text.get(i);
                let (buf, len) = parse_inet(text, *cidr).ok_or_else(|| {
                    format!(
                        "invalid {} value {:?}",
                        if *cidr { "cidr" } else { "inet" },
                        String::from_utf8_lossy(text)
                    )
                })?;
                put_var(out, &buf[..len])?;
            }
            Values::UuidText(b) => {
                let text = b.get(i);
                let uuid = parse_uuid(text).ok_or_else(|| {
                    format!("invalid uuid value {:?}", String::from_utf8_lossy(text))
                })?;
                put_fixed(out, uuid);
            }
            Values::Bool(b) => put_fixed(out, [b.value(i) as u8]),
            Values::Date(v) => {
                let days = v[i];
                let pg = match days {
                    // 'infinity' / '-infinity' sentinels.
                    i32::MAX | i32::MIN => days,
                    _ => days
                        .checked_sub(PG_EPOCH_OFFSET_DAYS)
                        // Would read back as -infinity.
                        .filter(|d| *d != i32::MIN)
                        .ok_or_else(|| {
                            format!("date {days} (days since 1970-01-01) is out of range")
                        })?,
                };
                put_fixed(out, pg.to_be_bytes());
            }
            Values::Time(v) => put_fixed(out, v[i].to_be_bytes()),
            Values::Timestamp(v) => {
                let micros = v[i];
                // ±infinity sentinels and the wrapped end of the range (types.rs).
                let pg = timestamp_to_pg(micros).ok_or_else(|| {
                    format!("timestamp {micros} (µs since 1970-01-01) is out of range")
                })?;
                put_fixed(out, pg.to_be_bytes());
            }
            Values::IntervalStruct(months, days, micros) => {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&micros[i].to_be_bytes());
                b[8..12].copy_from_slice(&days[i].to_be_bytes());
                b[12..].copy_from_slice(&months[i].to_be_bytes());
                put_fixed(out, b);
            }
            Values::Composite(fields) => write_record(out, i, fields)?,
            Values::Interval(v) => {
                let IntervalMonthDayNano {
                    months,
                    days,
                    nanoseconds,
                } = v[i];
                let micros = match (months, days, nanoseconds) {
                    // PostgreSQL 17 'infinity' / '-infinity' sentinels.
                    (i32::MAX, i32::MAX, i64::MAX) => i64::MAX,
                    (i32::MIN, i32::MIN, i64::MIN) => i64::MIN,
                    _ if nanoseconds % 1000 != 0 => {
                        return Err(format!(
                            "interval of {months} months, {days} days, {nanoseconds} ns has \
                             sub-microsecond precision, which PostgreSQL cannot hold"
                        ));
                    }
                    _ => nanoseconds / 1000,
                };
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&micros.to_be_bytes());
                b[8..12].copy_from_slice(&days.to_be_bytes());
                b[12..].copy_from_slice(&months.to_be_bytes());
                put_fixed(out, b);
            }
            Values::Uuid(a) => {
                out.extend_from_slice(&16i32.to_be_bytes());
                out.extend_from_slice(a.value(i));
            }
            Values::List {
                offsets,
                element_oid,
                element,
                shape,
            } => {
                let dims = match shape {
                    Some((so, sv, nulls)) if !nulls.is_some_and(|n| n.is_null(i)) => {
                        Some(&sv[so[i] as usize..so[i + 1] as usize])
                    }
                    _ => None,
                };
                write_array(out, offsets.range(i), *element_oid, element, dims)?
            }
        }
        Ok(())
    }

    /// Roughly the bytes the values in `rows` take, lengths excluded.
    fn size_hint(&self, rows: Range<usize>) -> usize {
        let n = rows.len();
        match self {
            Values::Int2(_) | Values::Bool(_) => n * 2,
            Values::Int4From16(_) | Values::Int4(_) | Values::Float4(_) | Values::Date(_) => n * 4,
            Values::Int8From16(_)
            | Values::Int8From32(_)
            | Values::Int8(_)
            | Values::Float8From32(_)
            | Values::Float8(_)
            | Values::Time(_)
            | Values::Timestamp(_) => n * 8,
            Values::Interval(_)
            | Values::IntervalStruct(..)
            | Values::Uuid(_)
            | Values::UuidText(_) => n * 16,
            Values::Composite(fields) => {
                n * 4 + fields
                    .iter()
                    .map(|(_, b)| 8 * n + b.values.size_hint(rows.clone()))
                    .sum::<usize>()
            }
            Values::Decimal { .. } => n * 20,
            Values::NumericText { text, .. } => n * 8 + text.size_hint(rows),
            Values::Text(b) | Values::Bytea(b) | Values::Jsonb(b) => n + b.size_hint(rows),
            Values::Inet { .. } => n * 20,
            Values::List {
                offsets, element, ..
            } => {
                let elements = if n == 0 {
                    0..0
                } else {
                    offsets.range(rows.start).start..offsets.range(rows.end - 1).end
                };
                n * 20 + elements.len() * 4 + element.values.size_hint(elements)
            }
        }
    }
}

/// Writes an array value (`array_send` layout). `dims` is the decoder's
/// shape (`[len1, lower1, …]`); without it the array is one-dimensional
/// with lower bound 1, and an empty list is the zero-dimensional empty array.
fn write_array(
    out: &mut Vec<u8>,
    elements: Range<usize>,
    element_oid: u32,
    element: &Bound<'_>,
    dims: Option<&[i32]>,
) -> Result<(), String> {
    let count = i32::try_from(elements.len())
        .map_err(|_| format!("an array of {} elements is too large", elements.len()))?;
    let dims: Vec<(i32, i32)> = match dims {
        Some(d) => {
            if d.len() % 2 != 0 || d.len() / 2 > 6 {
                return Err(format!("invalid array shape of {} numbers", d.len()));
            }
            let pairs: Vec<(i32, i32)> = d.chunks_exact(2).map(|p| (p[0], p[1])).collect();
            let mut total: i64 = if pairs.is_empty() { 0 } else { 1 };
            for (len, _) in &pairs {
                if *len < 0 {
                    return Err(format!("invalid array dimension length {len}"));
                }
                total = total.saturating_mul(*len as i64);
            }
            if total != count as i64 {
                return Err(format!("array shape {d:?} holds {total} elements, but {count} were given"));
            }
            pairs
        }
        None if elements.is_empty() => Vec::new(),
        None => vec![(count, 1)],
    };
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    out.extend_from_slice(&(dims.len() as i32).to_be_bytes()); // ndim
    let has_null_at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes()); // has-null, patched below
    out.extend_from_slice(&element_oid.to_be_bytes());
    for (len, lower) in &dims {
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&lower.to_be_bytes());
    }
    if !dims.is_empty() {
        let mut has_null = false;
        for (k, j) in elements.enumerate() {
            if element.is_null(j) {
                has_null = true;
                out.extend_from_slice(&NULL_LENGTH);
            } else {
                element
                    .values
                    .write(j, out)
                    .map_err(|e| format!("array element {}: {e}", k + 1))?;
            }
        }
        if has_null {
            out[has_null_at + 3] = 1;
        }
    }
    let len = length(out.len() - start)?;
    out[len_at..start].copy_from_slice(&len);
    Ok(())
}

/// Writes a composite value (`record_send` layout): field count, then per
/// attribute its type OID and its value (or -1 for NULL).
fn write_record(out: &mut Vec<u8>, i: usize, fields: &[(u32, Bound<'_>)]) -> Result<(), String> {
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    out.extend_from_slice(&(fields.len() as i32).to_be_bytes());
    for (oid, b) in fields {
        out.extend_from_slice(&oid.to_be_bytes());
        if b.is_null(i) {
            out.extend_from_slice(&NULL_LENGTH);
        } else {
            b.values.write(i, out)?;
        }
    }
    let len = length(out.len() - start)?;
    out[len_at..start].copy_from_slice(&len);
    Ok(())
}

// ---------------------------------------------------------------------------
// uuid text

/// What `uuid_in` reads: 32 hex digits, optionally with a hyphen after any
/// group of four, optionally in braces.
fn parse_uuid(text: &[u8]) -> Option<[u8; 16]> {
    let text = match text {
        [b'{', inner @ .., b'}'] => inner,
        _ => text,
    };
    let mut out = [0u8; 16];
    let mut nibbles = 0usize;
    let mut i = 0;
    while nibbles < 32 {
        let d = (*text.get(i)? as char).to_digit(16)? as u8;
        out[nibbles / 2] |= if nibbles.is_multiple_of(2) { d << 4 } else { d };
        nibbles += 1;
        i += 1;
        if nibbles.is_multiple_of(4) && nibbles < 32 && text.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    (i == text.len()).then_some(out)
}

#[cfg(test)]
mod tests;
