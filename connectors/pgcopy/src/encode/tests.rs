//! The encoder checked against the decoder (every type round-trips to the
//! same record batch), against hand-written `*_send` bytes, and on its
//! refusals.

use std::sync::Arc;

use super::*;
use crate::decode::{Column, CopyDecoder, schema};
use crate::numeric::reference::numeric_bytes;
use crate::types::{
    Attribute, DECIMAL_INFINITY, DECIMAL_NAN, DECIMAL_NEG_INFINITY, DomainDef, PG_ENCODING_KEY,
    PG_EPOCH_OFFSET_MICROS, PG_TYPE_KEY, UserType, array_fields, interval_fields, oid,
};
use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, LargeBinaryArray,
    LargeListArray, LargeStringArray, ListArray, StringArray, StructArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{Field, SchemaRef};

// ---------------------------------------------------------------------------
// Helpers.

const MOOD_OID: u32 = 16_385;

/// The target column for `ty`, with built-in OIDs (enum: `MOOD_OID`).
fn target(name: &str, ty: PgType) -> EncodeColumn {
    let builtin = |t: &PgType| t.oid().unwrap_or(MOOD_OID);
    let (oid, element_oid) = match &ty {
        PgType::Array(e) => (0, Some(builtin(e))),
        t => (builtin(t), None),
    };
    EncodeColumn {
        name: name.into(),
        ty,
        oid,
        element_oid,
    }
}

fn col(name: &str, ty: PgType) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable: true,
    }
}

/// A batch shaped like the decoder's output for `(name, type)` columns.
fn batch_of(cols: &[(&str, PgType)], arrays: Vec<ArrayRef>) -> RecordBatch {
    let columns: Vec<Column> = cols.iter().map(|(n, t)| col(n, t.clone())).collect();
    RecordBatch::try_new(schema(&columns), arrays).unwrap()
}

/// A one-field batch with a plain schema (no metadata), any Arrow type.
fn plain_batch(array: ArrayRef) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "c",
        array.data_type().clone(),
        true,
    )]));
    RecordBatch::try_new(schema, vec![array]).unwrap()
}

/// The whole stream (header, tuples, trailer) for `batch` written to `targets`.
fn encode_stream(targets: Vec<EncodeColumn>, batch: &RecordBatch) -> Vec<u8> {
    let mut encoder = CopyEncoder::new(targets, &batch.schema()).unwrap();
    let mut out = Vec::new();
    CopyEncoder::header(&mut out);
    encoder.encode(batch, &mut out).unwrap();
    CopyEncoder::trailer(&mut out);
    assert_eq!(encoder.rows_encoded(), batch.num_rows() as u64);
    out
}

/// Just the tuples for a one-column batch written to a column of type `ty`.
fn tuples(ty: PgType, array: ArrayRef) -> Result<Vec<u8>, EncodeError> {
    let batch = plain_batch(array);
    let mut encoder = CopyEncoder::new(vec![target("c", ty)], &batch.schema())?;
    let mut out = Vec::new();
    encoder.encode(&batch, &mut out)?;
    Ok(out)
}

/// The value bytes of the single field of the single tuple in `tuples`.
fn single_value(tuples: &[u8]) -> Option<&[u8]> {
    assert_eq!(&tuples[..2], &[0, 1]);
    let len = i32::from_be_bytes(tuples[2..6].try_into().unwrap());
    if len == -1 {
        assert_eq!(tuples.len(), 6);
        return None;
    }
    assert_eq!(tuples.len(), 6 + len as usize);
    Some(&tuples[6..])
}

/// The bytes one non-NULL value of `ty` is written as.
fn value_bytes(ty: PgType, array: ArrayRef) -> Vec<u8> {
    assert_eq!(array.len(), 1);
    single_value(&tuples(ty, array).unwrap()).unwrap().to_vec()
}

/// The error writing a one-value column of type `ty`.
fn value_error(ty: PgType, array: ArrayRef) -> EncodeError {
    let err = tuples(ty, array).unwrap_err();
    assert_eq!(err.row, Some(0), "{err}");
    assert_eq!(err.column, "c");
    err
}

/// Asserts two batches are equal, column by column first for a readable failure.
#[track_caller]
fn assert_batches_eq(got: &RecordBatch, want: &RecordBatch) {
    assert_eq!(got.num_columns(), want.num_columns());
    for (i, field) in want.schema().fields().iter().enumerate() {
        assert_eq!(
            got.column(i).as_ref(),
            want.column(i).as_ref(),
            "column `{}`",
            field.name()
        );
    }
    assert_eq!(got, want);
}

fn decode(columns: Vec<Column>, bytes: &[u8]) -> Option<RecordBatch> {
    let mut d = CopyDecoder::new(columns);
    d.feed(bytes).unwrap();
    d.finish().unwrap();
    d.take_batch().unwrap()
}

/// Encodes `batch` (a decoder-shaped batch of `cols`), decodes the stream
/// and checks the decoder gives back the same batch; returns the stream.
fn round_trip(cols: &[(&str, PgType)], arrays: Vec<ArrayRef>) -> Vec<u8> {
    let batch = batch_of(cols, arrays);
    let targets = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    let bytes = encode_stream(targets, &batch);
    let columns = cols.iter().map(|(n, t)| col(n, t.clone())).collect();
    let decoded = decode(columns, &bytes).expect("rows");
    assert_batches_eq(&decoded, &batch);
    bytes
}

fn round_trip_one(ty: PgType, array: ArrayRef) {
    round_trip(&[("c", ty)], vec![array]);
}

/// Writes a column of type `ty` from `array` (any accepted Arrow type) and
/// decodes it back as the decoder represents `ty`.
fn through(ty: PgType, array: ArrayRef) -> ArrayRef {
    let batch = plain_batch(array);
    let bytes = encode_stream(vec![target("c", ty.clone())], &batch);
    decode(vec![col("c", ty)], &bytes)
        .unwrap()
        .column(0)
        .clone()
}

/// `through` for string-carried types, as strings.
fn through_text(ty: PgType, values: &[&str]) -> Vec<String> {
    let array = through(ty, Arc::new(StringArray::from(values.to_vec())));
    array
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn dec(p: u32, s: i32) -> PgType {
    PgType::Numeric {
        precision: Some(p),
        scale: Some(s),
    }
}

const NUMERIC: PgType = PgType::Numeric {
    precision: None,
    scale: None,
};

fn decimals(values: &[Option<i128>], p: u8, s: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(p, s)
            .unwrap(),
    )
}

/// A list array (field "item", nullable) over `child`; `lens[i]` is the
/// length of list `i`, `None` for a NULL list.
fn list(child: ArrayRef, lens: &[Option<usize>]) -> ArrayRef {
    let field = Arc::new(Field::new_list_field(child.data_type().clone(), true));
    let offsets = OffsetBuffer::from_lengths(lens.iter().map(|l| l.unwrap_or(0)));
    let nulls = NullBuffer::from(lens.iter().map(Option::is_some).collect::<Vec<_>>());
    Arc::new(ListArray::new(field, offsets, child, Some(nulls)))
}

fn array_of(ty: PgType) -> PgType {
    PgType::Array(Box::new(ty))
}

/// The decoder's `Struct<items, shape>` for an array of `element` whose
/// rows are the lists of `lists` (a `ListArray`), and whose shapes are
/// `shapes` (`None`: one dimension with lower bound 1, or the empty array).
fn shaped_with(element: &PgType, lists: ArrayRef, shapes: &[Option<Vec<i32>>]) -> ArrayRef {
    let l = lists.as_list::<i32>();
    assert_eq!(l.len(), shapes.len());
    let item = element.field("item", true);
    let items = ListArray::new(
        Arc::new(item.clone()),
        l.offsets().clone(),
        l.values().clone(),
        None,
    );
    let dims: Vec<i32> = shapes.iter().flatten().flatten().copied().collect();
    let shape = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int32, false)),
        OffsetBuffer::from_lengths(shapes.iter().map(|s| s.as_ref().map_or(0, Vec::len))),
        Arc::new(Int32Array::from(dims)),
        Some(NullBuffer::from(
            shapes.iter().map(Option::is_some).collect::<Vec<_>>(),
        )),
    );
    Arc::new(StructArray::new(
        array_fields(item),
        vec![Arc::new(items), Arc::new(shape)],
        l.nulls().cloned(),
    ))
}

/// `shaped_with` for one-dimensional arrays (every shape NULL).
fn shaped(element: &PgType, lists: ArrayRef) -> ArrayRef {
    let n = lists.len();
    shaped_with(element, lists, &vec![None; n])
}

/// Decoder-shaped arrays of `element`: `list(child, lens)`, shapes NULL.
fn arrays(element: &PgType, child: ArrayRef, lens: &[Option<usize>]) -> ArrayRef {
    shaped(element, list(child, lens))
}

fn tstz(values: Vec<Option<i64>>, zone: &str) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone(zone))
}

fn uuids(values: &[Option<[u8; 16]>]) -> ArrayRef {
    Arc::new(
        FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.iter().copied(), 16).unwrap(),
    )
}

/// The decoder's interval `Struct<months, days, microseconds>`.
fn interval_structs(values: &[Option<(i32, i32, i64)>]) -> ArrayRef {
    let get = |f: fn(&(i32, i32, i64)) -> i64| -> Vec<i64> {
        values.iter().map(|v| v.as_ref().map_or(0, f)).collect()
    };
    let months: Vec<i32> = get(|v| v.0 as i64).into_iter().map(|v| v as i32).collect();
    let days: Vec<i32> = get(|v| v.1 as i64).into_iter().map(|v| v as i32).collect();
    Arc::new(StructArray::new(
        interval_fields(),
        vec![
            Arc::new(Int32Array::from(months)),
            Arc::new(Int32Array::from(days)),
            Arc::new(Int64Array::from(get(|v| v.2))),
        ],
        Some(NullBuffer::from(
            values.iter().map(Option::is_some).collect::<Vec<_>>(),
        )),
    ))
}

/// Arrow `Interval(MonthDayNano)` values (months, days, nanoseconds).
fn intervals(values: &[Option<(i32, i32, i64)>]) -> ArrayRef {
    Arc::new(IntervalMonthDayNanoArray::from(
        values
            .iter()
            .map(|v| v.map(|(m, d, n)| IntervalMonthDayNano::new(m, d, n)))
            .collect::<Vec<_>>(),
    ))
}

/// `v / 10^s` as PostgreSQL prints it (s >= 0), written independently.
fn decimal_literal(v: i128, s: u32) -> String {
    let digits = v.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = s as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - s as usize);
    let sign = if v < 0 { "-" } else { "" };
    if s == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A value with 1..=max_digits decimal digits, random sign.
    fn decimal(&mut self, max_digits: u32) -> i128 {
        let digits = 1 + self.below(max_digits as u64) as u32;
        let mut v: i128 = 0;
        for _ in 0..digits {
            v = v * 10 + self.below(10) as i128;
        }
        if self.below(2) == 0 { -v } else { v }
    }
}

// ---------------------------------------------------------------------------
// Exact bytes.

#[test]
fn header_and_trailer() {
    let mut out = vec![7];
    CopyEncoder::header(&mut out);
    assert_eq!(out.len(), 20);
    assert_eq!(&out[1..], b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
    CopyEncoder::trailer(&mut out);
    assert_eq!(&out[20..], &[0xff, 0xff]);
}

#[test]
fn int4_row_bytes() {
    let batch = plain_batch(Arc::new(Int32Array::from(vec![Some(42), None, Some(-2)])));
    let bytes = encode_stream(vec![target("c", PgType::Int4)], &batch);
    let mut want = b"PGCOPY\n\xff\r\n\0".to_vec();
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(&[0, 1, 0, 0, 0, 4, 0, 0, 0, 42]);
    want.extend_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0xff]);
    want.extend_from_slice(&[0, 1, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
    want.extend_from_slice(&[0xff, 0xff]);
    assert_eq!(bytes, want);
}

#[test]
fn several_columns_row_bytes() {
    let cols = [
        ("a", PgType::Int2),
        ("b", PgType::Text),
        ("c", PgType::Bool),
    ];
    let batch = batch_of(
        &cols,
        vec![
            Arc::new(Int16Array::from(vec![7])),
            strings(&[Some("hé")]),
            Arc::new(BooleanArray::from(vec![true])),
        ],
    );
    let targets = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    let bytes = encode_stream(targets, &batch);
    assert_eq!(
        &bytes[19..bytes.len() - 2],
        &[
            0, 3, // fields
            0, 0, 0, 2, 0, 7, // int2 7
            0, 0, 0, 3, b'h', 0xc3, 0xa9, // text "hé"
            0, 0, 0, 1, 1, // true
        ]
    );
}

#[test]
fn numeric_1234_50_bytes() {
    // ndigits 2, weight 0, sign +, dscale 2, digits [1234, 5000].
    let want = [0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xd2, 0x13, 0x88];
    assert_eq!(
        value_bytes(dec(12, 2), decimals(&[Some(123_450)], 12, 2)),
        want
    );
    assert_eq!(value_bytes(NUMERIC, strings(&[Some("1234.50")])), want);
    assert_eq!(numeric_bytes("1234.50"), want);
    // -0.001: ndigits 1, weight -1, sign -, dscale 3, digits [10].
    let want = [0, 1, 0xff, 0xff, 0x40, 0, 0, 3, 0, 10];
    assert_eq!(value_bytes(dec(5, 3), decimals(&[Some(-1)], 5, 3)), want);
    assert_eq!(value_bytes(NUMERIC, strings(&[Some("-0.001")])), want);
    // Zero keeps its display scale: no digits, weight 0, positive.
    let want = [0, 0, 0, 0, 0, 0, 0, 2];
    assert_eq!(value_bytes(dec(5, 2), decimals(&[Some(0)], 5, 2)), want);
    assert_eq!(value_bytes(NUMERIC, strings(&[Some("0.00")])), want);
    assert_eq!(value_bytes(NUMERIC, strings(&[Some("-0.00")])), want);
    // 10000: one digit [1] of weight 1.
    assert_eq!(
        value_bytes(dec(5, 0), decimals(&[Some(10_000)], 5, 0)),
        [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    );
    // Specials.
    assert_eq!(
        value_bytes(NUMERIC, strings(&[Some("NaN")])),
        [0, 0, 0, 0, 0xc0, 0, 0, 0]
    );
    assert_eq!(
        value_bytes(NUMERIC, strings(&[Some("Infinity")])),
        [0, 0, 0, 0, 0xd0, 0, 0, 0]
    );
    assert_eq!(
        value_bytes(NUMERIC, strings(&[Some("-Infinity")])),
        [0, 0, 0, 0, 0xf0, 0, 0, 0]
    );
}

#[test]
fn jsonb_bytes_carry_version_one() {
    assert_eq!(
        value_bytes(PgType::Jsonb, strings(&[Some("{\"a\": 1}")])),
        b"\x01{\"a\": 1}"
    );
    assert_eq!(value_bytes(PgType::Jsonb, strings(&[Some("")])), b"\x01");
    assert_eq!(
        value_bytes(PgType::Json, strings(&[Some("{\"a\": 1}")])),
        b"{\"a\": 1}"
    );
}

#[test]
fn inet_bytes() {
    let inet = |ty: PgType, s: &str| value_bytes(ty, strings(&[Some(s)]));
    assert_eq!(inet(PgType::Inet, "10.0.0.1"), [2, 32, 0, 4, 10, 0, 0, 1]);
    assert_eq!(inet(PgType::Cidr, "10.0.0.0/8"), [2, 8, 1, 4, 10, 0, 0, 0]);
    assert_eq!(inet(PgType::Inet, "10.1.2.3/8"), [2, 8, 0, 4, 10, 1, 2, 3]);
    let mut want = vec![3, 64, 0, 16, 0x20, 0x01, 0x0d, 0xb8];
    want.extend_from_slice(&[0; 11]);
    want.push(1);
    assert_eq!(inet(PgType::Inet, "2001:db8::1/64"), want);
    let mut want = vec![3, 128, 0, 16];
    want.extend_from_slice(&[0; 12]);
    want.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(inet(PgType::Inet, "::1.2.3.4"), want);
    let mut want = vec![3, 128, 1, 16];
    want.extend_from_slice(&[0; 10]);
    want.extend_from_slice(&[0xff, 0xff, 1, 2, 3, 4]);
    assert_eq!(inet(PgType::Cidr, "::ffff:1.2.3.4/128"), want);
}

#[test]
fn array_bytes() {
    let child: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
    let lists = list(child, &[Some(2), Some(0), None, Some(1)]);
    let out = tuples(array_of(PgType::Int4), lists).unwrap();
    let mut want = vec![0, 1];
    // {1,NULL}: length 36 = 20 header + (4+4) + 4.
    want.extend_from_slice(&32i32.to_be_bytes());
    want.extend_from_slice(&[0, 0, 0, 1]); // ndim
    want.extend_from_slice(&[0, 0, 0, 1]); // has null
    want.extend_from_slice(&23u32.to_be_bytes()); // int4
    want.extend_from_slice(&[0, 0, 0, 2]); // dimension size
    want.extend_from_slice(&[0, 0, 0, 1]); // lower bound
    want.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 1]);
    want.extend_from_slice(&[0xff; 4]);
    // {}: zero dimensions.
    want.extend_from_slice(&[0, 1, 0, 0, 0, 12]);
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23]);
    // NULL.
    want.extend_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0xff]);
    // {3}: no NULLs.
    want.extend_from_slice(&[0, 1, 0, 0, 0, 28]);
    want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 1, 0, 0, 0, 1]);
    want.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 3]);
    assert_eq!(out, want);
}

#[test]
fn enum_array_announces_the_given_element_oid() {
    let child = strings(&[Some("happy")]);
    let lists = list(child, &[Some(1)]);
    let batch = plain_batch(lists);
    let column = EncodeColumn {
        name: "c".into(),
        ty: array_of(PgType::Enum("mood".into())),
        oid: 16_390,
        element_oid: Some(16_389),
    };
    let mut encoder = CopyEncoder::new(vec![column], &batch.schema()).unwrap();
    let mut out = Vec::new();
    encoder.encode(&batch, &mut out).unwrap();
    let value = single_value(&out).unwrap();
    assert_eq!(&value[8..12], &16_389u32.to_be_bytes());
    assert_eq!(&value[20..], b"\0\0\0\x05happy");
}

// ---------------------------------------------------------------------------
// Round trips, type by type.

#[test]
fn integers_round_trip_with_extremes() {
    round_trip(
        &[
            ("a", PgType::Int2),
            ("b", PgType::Int4),
            ("c", PgType::Int8),
        ],
        vec![
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(-1),
                None,
                Some(0),
                Some(i16::MAX),
            ])),
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                None,
                Some(1),
                Some(0),
                Some(i32::MAX),
            ])),
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(-42),
                Some(0),
                None,
                Some(i64::MAX),
            ])),
        ],
    );
}

#[test]
fn integers_widen() {
    let i16s =
        || -> ArrayRef { Arc::new(Int16Array::from(vec![Some(i16::MIN), None, Some(i16::MAX)])) };
    let got = through(PgType::Int4, i16s());
    assert_eq!(
        got.as_primitive::<Int32Type>().iter().collect::<Vec<_>>(),
        vec![Some(-32_768), None, Some(32_767)]
    );
    let got = through(PgType::Int8, i16s());
    assert_eq!(
        got.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
        vec![Some(-32_768), None, Some(32_767)]
    );
    let got = through(
        PgType::Int8,
        Arc::new(Int32Array::from(vec![Some(i32::MIN), Some(i32::MAX), None])),
    );
    assert_eq!(
        got.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
        vec![Some(i32::MIN as i64), Some(i32::MAX as i64), None]
    );
}

#[test]
fn floats_round_trip_bit_for_bit() {
    let f4 = vec![
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_1234),
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1), // subnormal
        f32::MAX,
        f32::MIN,
        1.5,
    ];
    let f8 = vec![
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_0000_dead_beef),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        -2.25,
    ];
    let bytes = round_trip(
        &[("a", PgType::Float4), ("b", PgType::Float8)],
        vec![
            Arc::new(Float32Array::from(f4.clone())),
            Arc::new(Float64Array::from(f8.clone())),
        ],
    );
    let decoded = decode(
        vec![col("a", PgType::Float4), col("b", PgType::Float8)],
        &bytes,
    )
    .unwrap();
    let got4: Vec<u32> = decoded
        .column(0)
        .as_primitive::<Float32Type>()
        .values()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let got8: Vec<u64> = decoded
        .column(1)
        .as_primitive::<Float64Type>()
        .values()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(got4, f4.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    assert_eq!(got8, f8.iter().map(|v| v.to_bits()).collect::<Vec<_>>());

    // float4 -> float8 widening is exact.
    let got = through(PgType::Float8, Arc::new(Float32Array::from(f4.clone())));
    let got: Vec<f64> = got.as_primitive::<Float64Type>().values().to_vec();
    for (w, n) in got.iter().zip(&f4) {
        if n.is_nan() {
            assert!(w.is_nan());
            assert_eq!(w.is_sign_negative(), n.is_sign_negative());
        } else {
            assert_eq!(w.to_bits(), f64::from(*n).to_bits());
        }
    }
    assert_eq!(
        value_bytes(PgType::Float4, Arc::new(Float32Array::from(vec![-0.0f32]))),
        [0x80, 0, 0, 0]
    );
}

#[test]
fn decimal128_round_trips() {
    let max38 = 10i128.pow(38) - 1;
    let cases: Vec<(u8, i8, Vec<Option<i128>>)> = vec![
        (
            12,
            2,
            vec![
                Some(123_450),
                Some(0),
                Some(-1),
                Some(1),
                None,
                Some(-123_450),
                Some(999_999_999_999),
                Some(-999_999_999_999),
                Some(100),
                Some(10_000),
            ],
        ),
        (
            38,
            0,
            vec![Some(max38), Some(-max38), Some(0), Some(1), None],
        ),
        (38, 38, vec![Some(max38), Some(-max38), Some(1), Some(-1)]),
        (
            38,
            10,
            vec![Some(max38), Some(-max38), Some(10_000_000_000)],
        ),
        (1, 0, vec![Some(9), Some(-9), Some(0)]),
        (1, 1, vec![Some(9), Some(-5)]),
        (5, 4, vec![Some(10_000), Some(1), Some(99_999)]),
        (20, 3, vec![Some(10i128.pow(19)), Some(-10i128.pow(17) - 1)]),
    ];
    for (p, s, values) in cases {
        round_trip_one(dec(p as u32, s as i32), decimals(&values, p, s));
    }
}

#[test]
fn decimal128_bytes_match_numeric_send() {
    let mut rng = Lcg(7);
    for s in 0..=38u32 {
        for _ in 0..60 {
            let v = rng.decimal(38);
            let got = value_bytes(NUMERIC, decimals(&[Some(v)], 38, s as i8));
            assert_eq!(
                got,
                numeric_bytes(&decimal_literal(v, s)),
                "{v} scale {s}"
            );
        }
    }
    // Values beyond u64 and at the i128 edges of Decimal128(38, _).
    for v in [
        10i128.pow(38) - 1,
        -(10i128.pow(38) - 1),
        u64::MAX as i128 + 1,
        -(u64::MAX as i128) - 1,
        10i128.pow(20),
        10i128.pow(37),
    ] {
        for s in [0u32, 1, 2, 3, 4, 5, 19, 37, 38] {
            let got = value_bytes(NUMERIC, decimals(&[Some(v)], 38, s as i8));
            assert_eq!(
                got,
                numeric_bytes(&decimal_literal(v, s)),
                "{v} scale {s}"
            );
        }
    }
}

#[test]
fn decimal128_with_negative_scale() {
    // Decimal128(5,-2) holds multiples of 100.
    let got = through_text_from(NUMERIC, decimals(&[Some(123), Some(-1), Some(0)], 5, -2));
    assert_eq!(got, ["12300", "-100", "0"]);
    let got = through_text_from(NUMERIC, decimals(&[Some(7), Some(12_345)], 5, -6));
    assert_eq!(got, ["7000000", "12345000000"]);
}

fn through_text_from(ty: PgType, array: ArrayRef) -> Vec<String> {
    through(ty, array)
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

#[test]
fn decimal128_into_text_numeric_keeps_its_scale() {
    let got = through_text_from(
        NUMERIC,
        decimals(
            &[Some(123_450), Some(0), Some(-1), Some(100), Some(5)],
            12,
            2,
        ),
    );
    assert_eq!(got, ["1234.50", "0.00", "-0.01", "1.00", "0.05"]);
    // Into numeric(50,2) (text-carried, p > 38).
    let got = through_text_from(dec(50, 2), decimals(&[Some(-123_450)], 12, 2));
    assert_eq!(got, ["-1234.50"]);
}

#[test]
fn decimal128_into_a_smaller_scale_must_not_round() {
    // Decimal128(12,4) into numeric(12,2): fine while the extra digits are zero.
    let got = through(
        dec(12, 2),
        decimals(&[Some(1_234_500), Some(-100), None, Some(0)], 12, 4),
    );
    assert_eq!(
        got.as_primitive::<Decimal128Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some(12_345), Some(-1), None, Some(0)]
    );
    let err = tuples(dec(12, 2), decimals(&[Some(100), Some(1_234_567)], 12, 4)).unwrap_err();
    assert_eq!((err.row, err.column.as_str()), (Some(1), "c"));
    assert!(
        err.message.contains("123.4567") && err.message.contains("scale 2"),
        "{err}"
    );
    // numeric(5,-2): multiples of 100 only.
    let got = through_text_from(dec(5, -2), decimals(&[Some(12_300)], 10, 0));
    assert_eq!(got, ["12300"]);
    value_error(dec(5, -2), decimals(&[Some(12_345)], 10, 0));
    // A scale difference beyond 10^38: only zero fits.
    let got = through_text_from(dec(3, -100), decimals(&[Some(0)], 38, 38));
    assert_eq!(got, ["0"]);
    // Like PostgreSQL's typmod coercion, the display scale is the column's.
    let got = through_text_from(dec(50, 2), decimals(&[Some(1_230_000)], 38, 6));
    assert_eq!(got, ["1.23"]);
    value_error(dec(3, -100), decimals(&[Some(1)], 38, 38));
}

#[test]
fn text_numeric_round_trips_exactly() {
    let cases = [
        "0",
        "0.000",
        "1",
        "-1",
        "-0.001",
        "123.4500",
        "1234.50",
        "10000",
        "100000000",
        "0.0001",
        "0.00001",
        "0.0000000001",
        "99999999999999999999999999999999999999",
        "123456789012345678901234567890123456789",
        "-12345678901234567890123456789012345678901234.5678",
        "1000000000000000000000000000000000000000000000000",
        "0.000000000000000000000000000000000000000000000001",
        "NaN",
        "Infinity",
        "-Infinity",
    ];
    let values: Vec<Option<&str>> = cases.iter().map(|s| Some(*s)).collect();
    round_trip_one(NUMERIC, strings(&values));
    // With NULLs, and long: 1000 digits each side.
    let long = format!("{}.{}", "9".repeat(1000), "1".repeat(1000));
    let long_neg = format!("-{}.{}0", "1".repeat(999), "0".repeat(500));
    round_trip_one(
        NUMERIC,
        strings(&[Some(long.as_str()), None, Some(long_neg.as_str())]),
    );
    for text in cases {
        assert_eq!(
            value_bytes(NUMERIC, strings(&[Some(text)])),
            numeric_bytes(text),
            "{text}"
        );
    }
    // Into text-carried constrained types too.
    round_trip_one(dec(50, 5), strings(&[Some("-123.45000"), Some("NaN")]));
    round_trip_one(dec(5, -2), strings(&[Some("12300"), Some("-100")]));
}

#[test]
fn text_numeric_accepts_numeric_in_syntax() {
    let got = through_text(
        NUMERIC,
        &[
            "+1.50",
            "1.5e3",
            "1.50E-2",
            "  7 ",
            ".5",
            "5.",
            "inf",
            "-INF",
            "+Infinity",
            "nan",
            "-0.00",
            "000123.4500",
            "1e0",
            "12e-5",
            "-1.0e+2",
            "0e10",
        ],
    );
    assert_eq!(
        got,
        [
            "1.50",
            "1500",
            "0.0150",
            "7",
            "0.5",
            "5",
            "Infinity",
            "-Infinity",
            "Infinity",
            "NaN",
            "0.00",
            "123.4500",
            "1",
            "0.00012",
            "-100",
            "0"
        ]
    );
}

#[test]
fn invalid_text_numeric_is_a_value_error() {
    for bad in [
        "",
        " ",
        "abc",
        "1.2.3",
        "1e",
        "1e+",
        "--1",
        "-",
        ".",
        "1 2",
        "1e1001",
        "-nan",
        "+nan",
        "0x10",
        "1_000",
        "Infinityx",
        "١",
    ] {
        let err = value_error(NUMERIC, strings(&[Some(bad)]));
        assert!(err.message.contains("numeric"), "{bad}: {err}");
    }
}

#[test]
fn text_numeric_into_decimal_columns() {
    // numeric(10,2) columns take text too; the decoder reads them as Decimal128.
    let got = through(
        dec(10, 2),
        strings(&[Some("1.23"), Some("-5"), Some("1.230"), None, None]),
    );
    assert_eq!(
        got.as_primitive::<Decimal128Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some(123), Some(-500), Some(123), None, None]
    );
    let err = value_error(dec(10, 2), strings(&[Some("1.234")]));
    assert!(err.message.contains("scale 2"), "{err}");
    value_error(dec(5, -2), strings(&[Some("12345")]));
    value_error(dec(5, -2), strings(&[Some("0.5")]));
}

#[test]
fn text_types_round_trip() {
    let values = [
        Some("plain"),
        Some(""),
        None,
        Some("é ü 中文 🦀"),
        Some("tab\tnewline\nquote\"backslash\\"),
        Some("ab  "),
    ];
    round_trip(
        &[
            ("t", PgType::Text),
            ("v", PgType::Varchar(Some(40))),
            ("b", PgType::Bpchar(Some(40))),
            ("j", PgType::Json),
            ("e", PgType::Enum("mood".into())),
        ],
        (0..5).map(|_| strings(&values)).collect(),
    );
    round_trip_one(
        PgType::Jsonb,
        strings(&[
            Some("{\"a\": [1, 2.5, \"é\"]}"),
            None,
            Some("null"),
            Some("[]"),
        ]),
    );
    // The same bytes from LargeUtf8 and Utf8View.
    let utf8 = tuples(PgType::Text, strings(&values)).unwrap();
    let large = tuples(
        PgType::Text,
        Arc::new(LargeStringArray::from(values.to_vec())),
    )
    .unwrap();
    let view = tuples(
        PgType::Text,
        Arc::new(StringViewArray::from(values.to_vec())),
    )
    .unwrap();
    assert_eq!(large, utf8);
    assert_eq!(view, utf8);
    let jsonb = tuples(PgType::Jsonb, Arc::new(StringViewArray::from(vec!["{}"]))).unwrap();
    assert_eq!(single_value(&jsonb).unwrap(), b"\x01{}");
}

#[test]
fn inet_and_cidr_round_trip() {
    round_trip_one(
        PgType::Inet,
        strings(&[
            Some("10.0.0.1"),
            Some("10.0.0.1/8"),
            Some("0.0.0.0/0"),
            Some("255.255.255.255"),
            None,
            Some("192.168.1.5/24"),
            Some("2001:db8::1"),
            Some("2001:db8::1/64"),
            Some("::1"),
            Some("::"),
            Some("::/0"),
            Some("::1.2.3.4"),
            Some("::ffff:1.2.3.4"),
            Some("::ffff:1.2.3.4/120"),
            Some("fe80::1:2:3:4"),
            Some("1:2:3:4:5:6:7:8"),
            Some("1::8"),
            Some("1:0:0:2::3"),
            Some("2001:db8:0:1:1:1:1:1"),
            Some("1::"),
            Some("0:2:3:4:5:6:7:8"),
            Some("1:2:3:4:5:6:7:0"),
        ]),
    );
    round_trip_one(
        PgType::Cidr,
        strings(&[
            Some("10.0.0.0/8"),
            Some("192.168.1.0/24"),
            Some("10.1.2.3/32"),
            Some("0.0.0.0/0"),
            None,
            Some("2001:db8::/32"),
            Some("::/0"),
            Some("::1.2.3.4/128"),
            Some("2001:db8:0:1::/64"),
            Some("10.128.0.0/9"),
        ]),
    );
}

#[test]
fn inet_accepts_other_spellings() {
    let got = through_text(
        PgType::Inet,
        &[
            "2001:DB8:0:0:0:0:0:1",
            "0:0:0:0:0:0:0:1",
            "10.0.0.1/32",
            "2001:db8::1/128",
            "0000:0000::0001",
            "::0:1",
            "010.000.000.001",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
        ],
    );
    assert_eq!(
        got,
        [
            "2001:db8::1",
            "::1",
            "10.0.0.1",
            "2001:db8::1",
            "::1",
            "::1",
            "10.0.0.1",
            "0:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:0",
        ]
    );
    let got = through_text(PgType::Cidr, &["10.1.2.3", "2001:db8::1"]);
    assert_eq!(got, ["10.1.2.3/32", "2001:db8::1/128"]);
}

#[test]
fn invalid_inet_is_a_value_error() {
    for bad in [
        "",
        "10.0.0",
        "10.0.0.0.1",
        "10.0.0.256",
        "1.2.3.4/33",
        "1.2.3.4/",
        "1.2.3.4/-1",
        "1.2.3.4/1/2",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.-4",
        "1..2.3",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        ":::",
        "1::2::3",
        "::1/129",
        "12345::",
        "g::1",
        ":1::",
        "1:",
        ":",
        "1::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:1.2.3.4",
        "::1.2.3",
        "::1.2.3.4:5",
        "::ffff:1.2.3.4.5",
        "fe80::1%eth0",
        "localhost",
    ] {
        let err = value_error(PgType::Inet, strings(&[Some(bad)]));
        assert!(err.message.contains("invalid inet"), "{bad}: {err}");
    }
    // cidr refuses host bits right of the prefix.
    for bad in [
        "10.0.0.1/8",
        "192.168.1.1/24",
        "10.128.0.0/8",
        "2001:db8::1/32",
        "::1/127",
    ] {
        let err = value_error(PgType::Cidr, strings(&[Some(bad)]));
        assert!(err.message.contains("invalid cidr"), "{bad}: {err}");
    }
}

#[test]
fn uuid_from_fixed_size_binary_and_text() {
    let a = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43,
        0x21,
    ];
    round_trip_one(
        PgType::Uuid,
        uuids(&[Some(a), None, Some([0; 16]), Some([0xff; 16])]),
    );
    let fixed = tuples(PgType::Uuid, uuids(&[Some(a)])).unwrap();
    for text in [
        "12345678-9abc-def0-0fed-cba987654321",
        "12345678-9ABC-DEF0-0FED-CBA987654321",
        "123456789abcdef00fedcba987654321",
        "{12345678-9abc-def0-0fed-cba987654321}",
        "1234-5678-9abc-def0-0fed-cba9-8765-4321",
    ] {
        assert_eq!(
            tuples(PgType::Uuid, strings(&[Some(text)])).unwrap(),
            fixed,
            "{text}"
        );
    }
    for bad in [
        "",
        "12345678-9abc-def0-0fed-cba98765432",
        "12345678-9abc-def0-0fed-cba9876543210",
        "12345678-9abc-def0-0fed-cba98765432g",
        "123-45678-9abc-def0-0fed-cba987654321",
        "12345678--9abc-def0-0fed-cba987654321",
        "{12345678-9abc-def0-0fed-cba987654321",
        "12345678-9abc-def0-0fed-cba987654321-",
    ] {
        let err = value_error(PgType::Uuid, strings(&[Some(bad)]));
        assert!(err.message.contains("invalid uuid"), "{bad}: {err}");
    }
}

#[test]
fn bool_and_bytea() {
    round_trip(
        &[("b", PgType::Bool), ("y", PgType::Bytea)],
        vec![
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\xff\x01"[..]),
                Some(&b""[..]),
                Some(&b"\\x"[..]),
                None,
            ])),
        ],
    );
    let values = vec![Some(&b"\x00\x01"[..]), None, Some(&b""[..])];
    let binary = tuples(PgType::Bytea, Arc::new(BinaryArray::from(values.clone()))).unwrap();
    let large = tuples(
        PgType::Bytea,
        Arc::new(LargeBinaryArray::from(values.clone())),
    )
    .unwrap();
    let view = tuples(PgType::Bytea, Arc::new(BinaryViewArray::from(values))).unwrap();
    assert_eq!(large, binary);
    assert_eq!(view, binary);
}

#[test]
fn dates_round_trip_with_infinities() {
    let days = vec![
        Some(0),          // 1970-01-01
        Some(10_957),     // 2000-01-01
        Some(-1),         // 1969-12-31
        Some(-719_528),   // 0001-01-01
        Some(-2_440_588), // 4713-11-24 BC, PostgreSQL's first date
        Some(24_855),     // 2038-01-19
        Some(2_932_896),  // 9999-12-31
        None,
        Some(i32::MAX), // infinity
        Some(i32::MIN), // -infinity
    ];
    let bytes = round_trip(
        &[("d", PgType::Date)],
        vec![Arc::new(Date32Array::from(days))],
    );
    // 2000-01-01 is day 0 on the wire; infinity is i32::MAX unshifted.
    assert_eq!(&bytes[19 + 10..19 + 20], &[0, 1, 0, 0, 0, 4, 0, 0, 0, 0]);
    assert_eq!(
        value_bytes(PgType::Date, Arc::new(Date32Array::from(vec![i32::MAX]))),
        i32::MAX.to_be_bytes()
    );
    assert_eq!(
        value_bytes(PgType::Date, Arc::new(Date32Array::from(vec![i32::MIN]))),
        i32::MIN.to_be_bytes()
    );
}

#[test]
fn dates_that_would_become_infinite_or_overflow_are_errors() {
    // This day minus the epoch shift is i32::MIN, which PostgreSQL reads as -infinity.
    value_error(
        PgType::Date,
        Arc::new(Date32Array::from(vec![i32::MIN + PG_EPOCH_OFFSET_DAYS])),
    );
    value_error(
        PgType::Date,
        Arc::new(Date32Array::from(vec![i32::MIN + 1])),
    );
    // The one instant that would be written as i64::MAX, PostgreSQL's
    // +infinity: the wrapped image of PostgreSQL's i64::MAX (types.rs).
    let would_be_infinity = i64::MIN + 1 + PG_EPOCH_OFFSET_MICROS;
    assert_eq!(timestamp_to_pg(would_be_infinity), None);
    let err = value_error(
        PgType::Timestamp(None),
        Arc::new(TimestampMicrosecondArray::from(vec![would_be_infinity])),
    );
    assert!(err.message.contains("out of range"), "{err}");
    value_error(
        PgType::Timestamptz(None),
        tstz(vec![Some(would_be_infinity)], "UTC"),
    );
}

/// 294276-12-31 23:59:59.999999, PostgreSQL's last timestamp, in µs since 2000-01-01.
const PG_LAST_TIMESTAMP: i64 = 9_223_371_331_199_999_999;

#[test]
fn wrapped_timestamps_write_the_end_of_postgres_range() {
    let wrapped = -9_222_426_057_709_551_615i64;
    assert!(wrapped < -9_000_000_000_000_000_000);
    for ty in [PgType::Timestamp(None), PgType::Timestamptz(Some(3))] {
        let array: ArrayRef = match &ty {
            PgType::Timestamp(_) => Arc::new(TimestampMicrosecondArray::from(vec![wrapped])),
            _ => tstz(vec![Some(wrapped)], "UTC"),
        };
        assert_eq!(
            value_bytes(ty.clone(), array),
            PG_LAST_TIMESTAMP.to_be_bytes()
        );
    }
    // The first wrapped value, just above i64::MIN, and its neighbours.
    let values = vec![
        Some(wrapped),
        Some(i64::MIN + 1),
        Some(i64::MIN + 2),
        Some(i64::MAX - 1),
        Some(i64::MAX),
        Some(i64::MIN),
        None,
    ];
    round_trip(
        &[
            ("ts", PgType::Timestamp(None)),
            ("tz", PgType::Timestamptz(None)),
        ],
        vec![
            Arc::new(TimestampMicrosecondArray::from(values.clone())),
            tstz(values, "UTC"),
        ],
    );
    assert_eq!(
        value_bytes(
            PgType::Timestamp(None),
            Arc::new(TimestampMicrosecondArray::from(vec![i64::MIN + 1]))
        ),
        (i64::MAX - PG_EPOCH_OFFSET_MICROS).to_be_bytes()
    );
}

#[test]
fn times_round_trip() {
    round_trip_one(
        PgType::Time(None),
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(0),
            Some(1),
            None,
            Some(45_296_789_012),
            Some(86_399_999_999),
            Some(86_400_000_000), // 24:00:00
        ])),
    );
}

#[test]
fn timestamps_round_trip() {
    let micros = vec![
        Some(0),
        Some(PG_EPOCH_OFFSET_MICROS),   // 2000-01-01
        Some(-1),                       // 1969-12-31 23:59:59.999999
        Some(-62_135_596_800_000_000),  // 0001-01-01
        Some(-210_866_803_200_000_000), // 4714-11-24 BC, PostgreSQL's first
        Some(2_147_483_648_000_000),    // 2038-01-19 03:14:08 (past i32 seconds)
        Some(253_402_300_799_999_999),  // 9999-12-31 23:59:59.999999
        Some(i64::MAX - 1),             // the last Arrow instant that is not +infinity
        None,
        Some(i64::MAX), // infinity
        Some(i64::MIN), // -infinity
    ];
    let bytes = round_trip(
        &[
            ("ts", PgType::Timestamp(None)),
            ("tz", PgType::Timestamptz(None)),
        ],
        vec![
            Arc::new(TimestampMicrosecondArray::from(micros.clone())),
            tstz(micros.clone(), "UTC"),
        ],
    );
    // Row 1 (2000-01-01) is 0 on the wire in both columns.
    let row1 = 19 + 2 + 24;
    assert_eq!(
        &bytes[row1..row1 + 26],
        &[
            0, 2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0
        ][..]
    );
    // Any zone: the value is the UTC instant.
    let got = through(PgType::Timestamptz(None), tstz(micros.clone(), "+05:30"));
    assert_eq!(
        got.as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect::<Vec<_>>(),
        micros
    );
    let got = through(
        PgType::Timestamptz(None),
        tstz(micros.clone(), "America/New_York"),
    );
    assert_eq!(
        got.as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect::<Vec<_>>(),
        micros
    );
}

#[test]
fn intervals_round_trip() {
    let values = [
        Some((0, 0, 0)),
        Some((1, 2, 3)),
        Some((-1, -2, -3)),
        Some((14, -3, 3_723_000_000)), // 1 year 2 mons -3 days 01:02:03
        None,
        Some((i32::MAX, i32::MAX, i64::MAX)), // infinity (PostgreSQL 17)
        Some((i32::MIN, i32::MIN, i64::MIN)), // -infinity
        Some((i32::MAX, i32::MIN, i64::MAX - 1)),
        Some((0, 0, i64::MAX)), // past what MonthDayNano holds
        Some((0, 0, i64::MIN + 1)),
    ];
    round_trip_one(PgType::Interval(None), interval_structs(&values));
    let bytes = [
        0, 0, 0, 0, 0, 0, 0x05, 0xdc, // 1500 µs
        0xff, 0xff, 0xff, 0xfd, // -3 days
        0, 0, 0, 14, // 14 months
    ];
    assert_eq!(
        value_bytes(
            PgType::Interval(None),
            interval_structs(&[Some((14, -3, 1_500))])
        ),
        bytes
    );
    // Arrow's own interval type is accepted too, in whole microseconds.
    assert_eq!(
        value_bytes(
            PgType::Interval(None),
            intervals(&[Some((14, -3, 1_500_000))])
        ),
        bytes
    );
    let max = [
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff,
        0xff,
    ];
    assert_eq!(
        value_bytes(
            PgType::Interval(None),
            intervals(&[Some((i32::MAX, i32::MAX, i64::MAX))])
        ),
        max
    );
    assert_eq!(
        value_bytes(
            PgType::Interval(Some(3)),
            interval_structs(&[Some((i32::MAX, i32::MAX, i64::MAX))])
        ),
        max
    );
    // i64::MAX microseconds in the struct.
    assert_eq!(
        value_bytes(
            PgType::Interval(None),
            interval_structs(&[Some((0, 0, i64::MAX))])
        ),
        [
            0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0
        ]
    );
    // MonthDayNano decodes into the struct, nanoseconds / 1000; its ±infinity
    // sentinels become PostgreSQL's.
    let got = through(
        PgType::Interval(None),
        intervals(&[
            Some((1, 2, 3_000)),
            None,
            Some((-1, 0, -9_223_372_036_854_775_000)),
            Some((i32::MAX, i32::MAX, i64::MAX)),
            Some((i32::MIN, i32::MIN, i64::MIN)),
        ]),
    );
    assert_eq!(
        got.as_ref(),
        interval_structs(&[
            Some((1, 2, 3)),
            None,
            Some((-1, 0, -9_223_372_036_854_775)),
            Some((i32::MAX, i32::MAX, i64::MAX)),
            Some((i32::MIN, i32::MIN, i64::MIN)),
        ])
        .as_ref()
    );
}

#[test]
fn sub_microsecond_intervals_are_errors_naming_row_and_column() {
    let cols = [("id", PgType::Int4), ("iv", PgType::Interval(None))];
    // Arrow's MonthDayNano (the decoder's struct cannot hold nanoseconds).
    let batch = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as ArrayRef,
        ),
        (
            "iv",
            intervals(&[
                Some((0, 0, 1_000)),
                None,
                Some((1, 2, 1_500)),
                Some((0, 0, -2_000)),
            ]),
        ),
    ])
    .unwrap();
    let targets: Vec<EncodeColumn> = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    let mut encoder = CopyEncoder::new(targets.clone(), &batch.schema()).unwrap();
    let mut out = vec![0xaa];
    let err = encoder.encode(&batch, &mut out).unwrap_err();
    assert_eq!(err.row, Some(2));
    assert_eq!(err.column, "iv");
    assert!(err.message.contains("1500 ns"), "{err}");
    assert!(
        err.to_string()
            .starts_with("binary COPY encoding, row 2, column `iv`: "),
        "{err}"
    );
    // `out` holds the two rows before the failing one, nothing of it.
    let mut want = vec![0xaa];
    let mut ok = CopyEncoder::new(targets, &batch.schema()).unwrap();
    ok.encode_rows(&batch, 0..2, &mut want).unwrap();
    assert_eq!(out, want);
    assert_eq!(encoder.rows_encoded(), 2);
    // Encoding can resume after the failing row.
    encoder.encode_rows(&batch, 3..4, &mut out).unwrap();
    assert_eq!(encoder.rows_encoded(), 3);
    CopyEncoder::trailer(&mut out);
    let mut stream = Vec::new();
    CopyEncoder::header(&mut stream);
    stream.extend_from_slice(&out[1..]);
    let decoded = decode(
        cols.iter().map(|(n, t)| col(n, t.clone())).collect(),
        &stream,
    )
    .unwrap();
    assert_eq!(
        decoded.column(0).as_primitive::<Int32Type>().values(),
        &[1, 2, 4]
    );
    // Inside an array, the element is named too.
    let lists = list(
        intervals(&[Some((0, 0, 1_000)), Some((0, 0, 1))]),
        &[Some(2)],
    );
    let err = value_error(array_of(PgType::Interval(None)), lists);
    assert!(err.message.starts_with("array element 2: "), "{err}");
}

#[test]
fn arrays_round_trip() {
    let lens = [Some(3), Some(0), None, Some(1), Some(2)];
    let cols = [
        ("i8", array_of(PgType::Int8)),
        ("t", array_of(PgType::Text)),
        ("n", array_of(dec(12, 2))),
        ("nt", array_of(NUMERIC)),
        ("u", array_of(PgType::Uuid)),
        ("e", array_of(PgType::Enum("mood".into()))),
        ("b", array_of(PgType::Bool)),
        ("d", array_of(PgType::Date)),
        ("tz", array_of(PgType::Timestamptz(None))),
        ("ip", array_of(PgType::Inet)),
        ("jb", array_of(PgType::Jsonb)),
        ("f4", array_of(PgType::Float4)),
        ("iv", array_of(PgType::Interval(None))),
        ("by", array_of(PgType::Bytea)),
        ("vc", array_of(PgType::Varchar(Some(5)))),
    ];
    let six_strings = |v: [Option<&str>; 6]| strings(&v);
    let arrays = vec![
        list(
            Arc::new(Int64Array::from(vec![
                Some(1),
                None,
                Some(i64::MIN),
                Some(i64::MAX),
                None,
                Some(0),
            ])),
            &lens,
        ),
        list(
            six_strings([
                Some("a"),
                Some(""),
                None,
                Some("é中"),
                Some("NULL"),
                Some("{}"),
            ]),
            &lens,
        ),
        list(
            decimals(
                &[Some(123_450), None, Some(-1), Some(0), Some(999), Some(1)],
                12,
                2,
            ),
            &lens,
        ),
        list(
            six_strings([
                Some("1.50"),
                Some("NaN"),
                None,
                Some("-Infinity"),
                Some("123456789012345678901234567890123456789.5"),
                Some("0"),
            ]),
            &lens,
        ),
        list(
            uuids(&[
                Some([1; 16]),
                None,
                Some([2; 16]),
                Some([3; 16]),
                Some([0; 16]),
                None,
            ]),
            &lens,
        ),
        list(
            six_strings([
                Some("happy"),
                Some("sad"),
                Some("ok"),
                None,
                Some("ok"),
                Some("sad"),
            ]),
            &lens,
        ),
        list(
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(false),
                Some(true),
            ])),
            &lens,
        ),
        list(
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(i32::MAX),
                Some(i32::MIN),
                None,
                Some(-1),
                Some(20_000),
            ])),
            &lens,
        ),
        list(
            tstz(
                vec![
                    Some(0),
                    Some(-1),
                    None,
                    Some(i64::MAX),
                    Some(i64::MIN),
                    Some(1),
                ],
                "UTC",
            ),
            &lens,
        ),
        list(
            six_strings([
                Some("10.0.0.1"),
                Some("::1"),
                Some("10.0.0.0/8"),
                None,
                Some("::ffff:1.2.3.4"),
                Some("2001:db8::/32"),
            ]),
            &lens,
        ),
        list(
            six_strings([
                Some("{}"),
                Some("[1]"),
                None,
                Some("\"é\""),
                Some("null"),
                Some("1"),
            ]),
            &lens,
        ),
        list(
            Arc::new(Float32Array::from(vec![
                Some(f32::NAN),
                Some(-0.0),
                Some(f32::INFINITY),
                None,
                Some(1.5),
                Some(f32::NEG_INFINITY),
            ])),
            &lens,
        ),
        list(
            interval_structs(&[
                Some((1, 2, 3)),
                None,
                Some((0, 0, 0)),
                Some((-1, 0, -1)),
                Some((0, 1, 0)),
                Some((i32::MAX, i32::MAX, i64::MAX)),
            ]),
            &lens,
        ),
        list(
            Arc::new(BinaryArray::from(vec![
                Some(&b""[..]),
                Some(&b"\x00"[..]),
                None,
                Some(&b"\xff\xfe"[..]),
                None,
                Some(&b"x"[..]),
            ])),
            &lens,
        ),
        list(
            six_strings([
                Some("abc"),
                None,
                Some(""),
                Some("ü"),
                Some("ab "),
                Some("z"),
            ]),
            &lens,
        ),
    ];
    let arrays = arrays
        .into_iter()
        .zip(&cols)
        .map(|(l, (_, t))| match t {
            PgType::Array(e) => shaped(e, l),
            _ => unreachable!(),
        })
        .collect();
    round_trip(&cols, arrays);
}

#[test]
fn list_with_all_null_and_only_empty_elements() {
    round_trip_one(
        array_of(PgType::Int4),
        arrays(
            &PgType::Int4,
            Arc::new(Int32Array::from(vec![None, None, None])),
            &[Some(3), Some(0), Some(0), None],
        ),
    );
    round_trip_one(
        array_of(PgType::Text),
        arrays(&PgType::Text, strings(&[]), &[Some(0), None, Some(0)]),
    );
}

#[test]
fn large_lists_write_like_lists() {
    let child: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
    let small = list(child.clone(), &[Some(2), Some(0), None, Some(1)]);
    let small = small.as_list::<i32>();
    let large: ArrayRef = Arc::new(LargeListArray::new(
        Arc::new(Field::new_list_field(DataType::Int32, true)),
        OffsetBuffer::new(vec![0i64, 2, 2, 2, 3].into()),
        child,
        small.nulls().cloned(),
    ));
    assert_eq!(
        tuples(array_of(PgType::Int4), large).unwrap(),
        tuples(array_of(PgType::Int4), Arc::new(small.clone())).unwrap()
    );
}

// ---------------------------------------------------------------------------
// Batches: slicing, chunking, many types.

fn all_types_cols() -> Vec<(&'static str, PgType)> {
    vec![
        ("i2", PgType::Int2),
        ("i4", PgType::Int4),
        ("i8", PgType::Int8),
        ("f4", PgType::Float4),
        ("f8", PgType::Float8),
        ("dec", dec(12, 2)),
        ("num", NUMERIC),
        ("t", PgType::Text),
        ("vc", PgType::Varchar(Some(10))),
        ("bp", PgType::Bpchar(Some(4))),
        ("b", PgType::Bool),
        ("by", PgType::Bytea),
        ("d", PgType::Date),
        ("tm", PgType::Time(None)),
        ("ts", PgType::Timestamp(None)),
        ("tz", PgType::Timestamptz(None)),
        ("iv", PgType::Interval(None)),
        ("u", PgType::Uuid),
        ("j", PgType::Json),
        ("jb", PgType::Jsonb),
        ("ip", PgType::Inet),
        ("net", PgType::Cidr),
        ("e", PgType::Enum("mood".into())),
        ("arr", array_of(PgType::Int8)),
        ("tarr", array_of(PgType::Text)),
    ]
}

/// Every type, `n` rows, NULLs in every column at different rows.
fn all_types_batch(n: usize) -> RecordBatch {
    let cols = all_types_cols();
    fn null(c: usize, k: usize) -> bool {
        (k + c) % 7 == 3
    }
    fn opt<T>(c: usize, k: usize, v: T) -> Option<T> {
        if null(c, k) { None } else { Some(v) }
    }
    let ks = 0..n;
    let text = |c: usize, f: &dyn Fn(usize) -> String| -> ArrayRef {
        let mut b = StringBuilder::new();
        for k in 0..n {
            if null(c, k) {
                b.append_null();
            } else {
                b.append_value(f(k));
            }
        }
        Arc::new(b.finish())
    };
    let mut by = BinaryBuilder::new();
    for k in 0..n {
        if null(11, k) {
            by.append_null();
        } else {
            by.append_value(vec![k as u8; k % 5]);
        }
    }
    let mut arr_lens = Vec::new();
    let mut arr_values = Vec::new();
    for k in 0..n {
        if null(23, k) {
            arr_lens.push(None);
        } else if k % 5 == 0 {
            arr_lens.push(Some(0));
        } else {
            arr_lens.push(Some(3));
            arr_values.extend([Some(k as i64), None, Some(-(k as i64))]);
        }
    }
    let mut tarr_lens = Vec::new();
    let mut tarr_values = Vec::new();
    for k in 0..n {
        if null(24, k) {
            tarr_lens.push(None);
        } else {
            tarr_lens.push(Some(2));
            tarr_values.push(Some("x".to_string()));
            tarr_values.push(Some(k.to_string()));
        }
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int16Array::from_iter(
            ks.clone().map(|k| opt(0, k, k as i16 - 20)),
        )),
        Arc::new(Int32Array::from_iter(
            ks.clone().map(|k| opt(1, k, k as i32 * 1000)),
        )),
        Arc::new(Int64Array::from_iter(
            ks.clone().map(|k| opt(2, k, k as i64 * 1_000_000_007)),
        )),
        Arc::new(Float32Array::from_iter(
            ks.clone().map(|k| opt(3, k, k as f32 / 3.0)),
        )),
        Arc::new(Float64Array::from_iter(
            ks.clone().map(|k| opt(4, k, -(k as f64) / 7.0)),
        )),
        Arc::new(
            Decimal128Array::from_iter(
                ks.clone()
                    .map(|k| opt(5, k, k as i128 * 3_100 + (k % 100) as i128)),
            )
            .with_precision_and_scale(12, 2)
            .unwrap(),
        ),
        text(6, &|k| {
            format!("-{}.{}", (k as u64 + 1) * 1_234_567_891, "0".repeat(k % 5))
                .trim_end_matches('.')
                .to_string()
        }),
        text(7, &|k| "é".repeat(k % 9)),
        text(8, &|k| format!("v{k}")),
        text(9, &|_| "ab  ".into()),
        Arc::new(BooleanArray::from_iter(
            ks.clone().map(|k| opt(10, k, k % 2 == 0)),
        )),
        Arc::new(by.finish()),
        Arc::new(Date32Array::from_iter(
            ks.clone().map(|k| opt(12, k, k as i32 * 400 - 8000)),
        )),
        Arc::new(Time64MicrosecondArray::from_iter(
            ks.clone().map(|k| opt(13, k, k as i64 * 1_000_000)),
        )),
        Arc::new(TimestampMicrosecondArray::from_iter(
            ks.clone()
                .map(|k| opt(14, k, k as i64 * 86_400_000_000 - 1)),
        )),
        tstz(
            ks.clone()
                .map(|k| opt(15, k, -(k as i64) * 3_600_000_000))
                .collect(),
            "UTC",
        ),
        interval_structs(
            &ks.clone()
                .map(|k| opt(16, k, (-(k as i32), k as i32, k as i64)))
                .collect::<Vec<_>>(),
        ),
        uuids(
            &ks.clone()
                .map(|k| opt(17, k, [k as u8; 16]))
                .collect::<Vec<_>>(),
        ),
        text(18, &|k| format!("{{\"k\": {k}}}")),
        text(19, &|k| format!("[{k}]")),
        text(20, &|k| format!("10.0.{}.1/{}", k % 256, 24 + k % 8)),
        text(21, &|k| format!("2001:db8:{:x}::/64", k + 1)),
        text(22, &|k| ["happy", "sad", "ok"][k % 3].into()),
        arrays(
            &PgType::Int8,
            Arc::new(Int64Array::from(arr_values)),
            &arr_lens,
        ),
        arrays(
            &PgType::Text,
            Arc::new(StringArray::from(tarr_values)),
            &tarr_lens,
        ),
    ];
    batch_of(&cols, arrays)
}

#[test]
fn all_types_round_trip() {
    let batch = all_types_batch(100);
    let cols = all_types_cols();
    let targets: Vec<EncodeColumn> = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    let bytes = encode_stream(targets, &batch);
    let columns: Vec<Column> = cols.iter().map(|(n, t)| col(n, t.clone())).collect();
    assert_batches_eq(&decode(columns, &bytes).unwrap(), &batch);
}

#[test]
fn sliced_batches_encode_their_own_rows() {
    let batch = all_types_batch(60);
    let cols = all_types_cols();
    let targets: Vec<EncodeColumn> = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    let mut whole = CopyEncoder::new(targets.clone(), &batch.schema()).unwrap();
    let mut want = Vec::new();
    whole.encode_rows(&batch, 13..41, &mut want).unwrap();

    let sliced = batch.slice(13, 28);
    let mut encoder = CopyEncoder::new(targets.clone(), &sliced.schema()).unwrap();
    let mut got = Vec::new();
    encoder.encode(&sliced, &mut got).unwrap();
    assert_eq!(got, want);

    // And the sliced batch round-trips.
    let mut stream = Vec::new();
    CopyEncoder::header(&mut stream);
    stream.extend_from_slice(&got);
    CopyEncoder::trailer(&mut stream);
    let columns: Vec<Column> = cols.iter().map(|(n, t)| col(n, t.clone())).collect();
    assert_batches_eq(&decode(columns, &stream).unwrap(), &sliced);
}

#[test]
fn encode_rows_in_chunks_equals_encode() {
    let batch = all_types_batch(50);
    let targets: Vec<EncodeColumn> = all_types_cols()
        .iter()
        .map(|(n, t)| target(n, t.clone()))
        .collect();
    let mut encoder = CopyEncoder::new(targets, &batch.schema()).unwrap();
    let mut whole = Vec::new();
    encoder.encode(&batch, &mut whole).unwrap();

    let mut chunked = Vec::new();
    let mut flushed = Vec::new();
    let mut start = 0;
    for size in [0, 1, 7, 0, 13, 29] {
        let end = start + size;
        encoder
            .encode_rows(&batch, start..end, &mut chunked)
            .unwrap();
        // A caller flushing each chunk and reusing the buffer.
        flushed.extend_from_slice(&chunked);
        chunked.clear();
        start = end;
    }
    assert_eq!(start, 50);
    assert_eq!(flushed, whole);
    assert_eq!(encoder.rows_encoded(), 100);

    let err = encoder
        .encode_rows(&batch, 40..51, &mut chunked)
        .unwrap_err();
    assert_eq!(err.row, None);
    assert!(err.message.contains("out of bounds"), "{err}");
    let reversed = std::ops::Range { start: 5, end: 4 };
    assert!(encoder.encode_rows(&batch, reversed, &mut chunked).is_err());
    assert!(chunked.is_empty());
}

#[test]
fn empty_batch_writes_nothing() {
    let batch = all_types_batch(0);
    let targets = all_types_cols()
        .iter()
        .map(|(n, t)| target(n, t.clone()))
        .collect();
    let mut encoder = CopyEncoder::new(targets, &batch.schema()).unwrap();
    let mut out = Vec::new();
    encoder.encode(&batch, &mut out).unwrap();
    assert!(out.is_empty());
}

/// A canonical stream as PostgreSQL writes it, decoded then encoded again,
/// comes back byte for byte.
#[test]
fn decoded_streams_encode_back_to_the_same_bytes() {
    let batch = all_types_batch(70);
    let cols = all_types_cols();
    let targets: Vec<EncodeColumn> = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    let first = encode_stream(targets.clone(), &batch);
    let columns: Vec<Column> = cols.iter().map(|(n, t)| col(n, t.clone())).collect();
    let decoded = decode(columns, &first).unwrap();
    assert_eq!(encode_stream(targets, &decoded), first);

    // Hand-written `numeric_send` bytes through a text-carried numeric.
    let mut stream = Vec::new();
    CopyEncoder::header(&mut stream);
    let texts = [
        "0",
        "0.000",
        "-0.001",
        "123456789012345678901234567890123456789012.000100",
        "NaN",
        "-Infinity",
        "100000000.00000001",
    ];
    for text in texts {
        let value = numeric_bytes(text);
        stream.extend_from_slice(&[0, 1]);
        stream.extend_from_slice(&(value.len() as i32).to_be_bytes());
        stream.extend_from_slice(&value);
    }
    CopyEncoder::trailer(&mut stream);
    let decoded = decode(vec![col("c", NUMERIC)], &stream).unwrap();
    assert_eq!(encode_stream(vec![target("c", NUMERIC)], &decoded), stream);
}

// ---------------------------------------------------------------------------
// Refusals at `new` and at `encode`.

#[test]
fn type_mismatches_are_refused_at_new() {
    use DataType as D;
    let list_of = |dt: D| D::List(Arc::new(Field::new_list_field(dt, true)));
    let cases: Vec<(PgType, D)> = vec![
        (PgType::Int2, D::Int32),
        (PgType::Int4, D::Int64),
        (PgType::Int4, D::UInt32),
        (PgType::Int8, D::UInt64),
        (PgType::Float4, D::Float64),
        (PgType::Float4, D::Int32),
        (PgType::Float8, D::Decimal128(10, 2)),
        (dec(12, 2), D::Float64),
        (dec(12, 2), D::Int64),
        (NUMERIC, D::Binary),
        (PgType::Text, D::Int32),
        (PgType::Text, D::Binary),
        (PgType::Varchar(Some(3)), D::Boolean),
        (PgType::Jsonb, D::Binary),
        (PgType::Inet, D::FixedSizeBinary(4)),
        (PgType::Uuid, D::FixedSizeBinary(8)),
        (PgType::Uuid, D::Binary),
        (PgType::Bool, D::Int8),
        (PgType::Bytea, D::Utf8),
        (PgType::Date, D::Date64),
        (PgType::Date, D::Int32),
        (PgType::Time(None), D::Time64(TimeUnit::Nanosecond)),
        (PgType::Time(None), D::Time32(TimeUnit::Millisecond)),
        (
            PgType::Timestamp(None),
            D::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        (
            PgType::Timestamp(None),
            D::Timestamp(TimeUnit::Nanosecond, None),
        ),
        (
            PgType::Timestamptz(None),
            D::Timestamp(TimeUnit::Microsecond, None),
        ),
        (
            PgType::Timestamptz(None),
            D::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ),
        (PgType::Interval(None), D::Interval(IntervalUnit::DayTime)),
        (PgType::Interval(None), D::Duration(TimeUnit::Microsecond)),
        (PgType::Enum("mood".into()), D::Int32),
        (PgType::Int4, list_of(D::Int32)),
        (array_of(PgType::Int4), D::Int32),
        (array_of(array_of(PgType::Int4)), list_of(list_of(D::Int32))),
        (
            PgType::Interval(None),
            D::Struct(interval_fields().iter().rev().cloned().collect()),
        ),
        (point_type(), D::Utf8),
        (amount_type(), D::Float64),
        (amount_type(), D::Binary),
        (composite_type(), D::Int32),
        (PgType::Int4, composite_type().arrow_type()),
        (array_of(PgType::Int4), D::Struct(interval_fields())),
    ];
    // An array whose element does not fit: the error names the element's types.
    let element_cases: Vec<(PgType, D, PgType, D)> = vec![
        (
            array_of(PgType::Int4),
            list_of(D::Int64),
            PgType::Int4,
            D::Int64,
        ),
        (
            array_of(PgType::Int4),
            list_of(D::Utf8),
            PgType::Int4,
            D::Utf8,
        ),
        (
            array_of(PgType::Text),
            list_of(list_of(D::Utf8)),
            PgType::Text,
            list_of(D::Utf8),
        ),
        (
            array_of(PgType::Int4),
            array_of(PgType::Int8).arrow_type(),
            PgType::Int4,
            D::Int64,
        ),
        (
            array_of(point_type()),
            list_of(D::Utf8),
            point_type(),
            D::Utf8,
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(ty, dt)| (ty.clone(), dt.clone(), ty, dt))
        .chain(element_cases);
    for (ty, dt, named_ty, named_dt) in cases {
        let schema = Schema::new(vec![
            Field::new("x", D::Int16, true),
            Field::new("c", dt.clone(), true),
        ]);
        let err = CopyEncoder::new(
            vec![target("ok", PgType::Int2), target("the_col", ty.clone())],
            &schema,
        )
        .unwrap_err();
        assert_eq!(err.row, None);
        assert_eq!(err.column, "the_col", "{ty} / {dt}");
        assert!(
            err.message.contains(&named_dt.to_string())
                && err.message.contains(&named_ty.sql_name()),
            "{ty} / {dt}: {err}"
        );
        assert!(err.to_string().contains("column `the_col`"), "{err}");
    }
}

#[test]
fn accepted_pairs_resolve() {
    use DataType as D;
    let list_of = |dt: D| D::List(Arc::new(Field::new("element", dt, false)));
    let large_list_of = |dt: D| D::LargeList(Arc::new(Field::new_list_field(dt, true)));
    let cases: Vec<(PgType, D)> = vec![
        (PgType::Int4, D::Int16),
        (PgType::Int8, D::Int16),
        (PgType::Int8, D::Int32),
        (PgType::Float8, D::Float32),
        (NUMERIC, D::Decimal128(38, -5)),
        (dec(10, 2), D::Decimal128(38, 10)),
        (dec(10, 2), D::Utf8),
        (NUMERIC, D::LargeUtf8),
        (PgType::Text, D::Utf8View),
        (PgType::Bpchar(None), D::LargeUtf8),
        (PgType::Cidr, D::Utf8View),
        (PgType::Uuid, D::Utf8),
        (PgType::Bytea, D::LargeBinary),
        (PgType::Bytea, D::BinaryView),
        (
            PgType::Timestamptz(None),
            D::Timestamp(TimeUnit::Microsecond, Some("+01:00".into())),
        ),
        (array_of(PgType::Int8), list_of(D::Int32)),
        (array_of(PgType::Text), large_list_of(D::Utf8)),
        (array_of(PgType::Uuid), list_of(D::Utf8)),
    ];
    for (ty, dt) in cases {
        let schema = Schema::new(vec![Field::new("c", dt.clone(), true)]);
        CopyEncoder::new(vec![target("c", ty.clone())], &schema)
            .unwrap_or_else(|e| panic!("{ty} / {dt}: {e}"));
    }
}

#[test]
fn field_count_and_element_oids_are_checked_at_new() {
    let two = Schema::new(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Int32, true),
    ]);
    let err = CopyEncoder::new(vec![target("a", PgType::Int4)], &two).unwrap_err();
    assert_eq!(err.column, "b");
    assert!(
        err.message.contains("2 fields but 1 target columns"),
        "{err}"
    );
    let err = CopyEncoder::new(
        vec![
            target("a", PgType::Int4),
            target("b", PgType::Int4),
            target("c", PgType::Int4),
        ],
        &two,
    )
    .unwrap_err();
    assert_eq!(err.column, "c");

    let schema = Schema::new(vec![Field::new(
        "e",
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        true,
    )]);
    let mut column = target("e", array_of(PgType::Enum("mood".into())));
    column.element_oid = None;
    let err = CopyEncoder::new(vec![column], &schema).unwrap_err();
    assert_eq!(err.column, "e");
    assert!(err.message.contains("element type OID"), "{err}");

    // Built-in elements: the OID may be left out, but must not be wrong.
    let mut column = target("e", array_of(PgType::Text));
    column.element_oid = None;
    CopyEncoder::new(vec![column.clone()], &schema).unwrap();
    column.element_oid = Some(oid::VARCHAR);
    let err = CopyEncoder::new(vec![column], &schema).unwrap_err();
    assert!(
        err.message.contains("1043") && err.message.contains("25"),
        "{err}"
    );
}

#[test]
fn batches_must_match_the_schema() {
    let schema = Schema::new(vec![Field::new("a", DataType::Int32, true)]);
    let mut encoder = CopyEncoder::new(vec![target("a", PgType::Int4)], &schema).unwrap();
    let mut out = Vec::new();
    let wrong = plain_batch(Arc::new(Int64Array::from(vec![1])));
    let err = encoder.encode(&wrong, &mut out).unwrap_err();
    assert_eq!((err.row, err.column.as_str()), (None, "a"));
    assert!(
        err.message.contains("Int64") && err.message.contains("Int32"),
        "{err}"
    );

    let two = RecordBatch::try_from_iter(vec![
        ("a", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
        ("b", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
    ])
    .unwrap();
    let err = encoder.encode(&two, &mut out).unwrap_err();
    assert!(err.message.contains("2 columns, expected 1"), "{err}");
    assert!(out.is_empty());
    assert_eq!(encoder.rows_encoded(), 0);
}

#[test]
fn error_display() {
    let e = EncodeError {
        row: Some(4),
        column: "c".into(),
        message: "boom".into(),
    };
    assert_eq!(
        e.to_string(),
        "binary COPY encoding, row 4, column `c`: boom"
    );
    let e = EncodeError {
        row: None,
        column: String::new(),
        message: "boom".into(),
    };
    assert_eq!(e.to_string(), "binary COPY encoding: boom");
}

#[test]
fn columns_from_catalog() {
    let int4 = CatalogType {
        oid: 23,
        name: "int4".into(),
        category: 'b',
        typmod: -1,
        formatted: "integer".into(),
        ..Default::default()
    };
    let arr = CatalogType {
        oid: 1007,
        name: "_int4".into(),
        category: 'b',
        typmod: -1,
        formatted: "integer[]".into(),
        element: Some(Box::new(int4.clone())),
        ..Default::default()
    };
    assert_eq!(
        EncodeColumn::from_catalog("a", &int4).unwrap(),
        EncodeColumn {
            name: "a".into(),
            ty: PgType::Int4,
            oid: 23,
            element_oid: None
        }
    );
    assert_eq!(
        EncodeColumn::from_catalog("b", &arr).unwrap(),
        EncodeColumn {
            name: "b".into(),
            ty: array_of(PgType::Int4),
            oid: 1007,
            element_oid: Some(23)
        }
    );
    // point has binary I/O: a fallback column of its send bytes.
    let point = CatalogType {
        oid: 600,
        name: "point".into(),
        formatted: "point".into(),
        category: 'b',
        typmod: -1,
        ..Default::default()
    };
    let column = EncodeColumn::from_catalog("p", &point).unwrap();
    assert_eq!(column.ty, point_type());
    assert_eq!(column.oid, 600);
    // A domain takes its base type.
    let amount = CatalogType {
        oid: 16_500,
        name: "amount".into(),
        category: 'd',
        typmod: -1,
        formatted: "amount".into(),
        base: Some(Box::new(CatalogType {
            oid: 1700,
            name: "numeric".into(),
            category: 'b',
            typmod: ((10 << 16) | 2) + 4,
            formatted: "numeric(10,2)".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let column = EncodeColumn::from_catalog("a", &amount).unwrap();
    assert_eq!(column.ty, amount_type());
    assert_eq!(column.oid, 16_500);
    // Pseudo-types and types without binary I/O are refused.
    let record = CatalogType {
        oid: 2249,
        name: "record".into(),
        category: 'p',
        typmod: -1,
        ..Default::default()
    };
    assert_eq!(
        EncodeColumn::from_catalog("r", &record)
            .unwrap_err()
            .type_name,
        "record"
    );
    let aclitem = CatalogType {
        oid: 1033,
        name: "aclitem".into(),
        category: 'b',
        typmod: -1,
        formatted: "aclitem".into(),
        lacks_binary_io: true,
        ..Default::default()
    };
    assert_eq!(
        EncodeColumn::from_catalog("x", &aclitem)
            .unwrap_err()
            .type_name,
        "aclitem"
    );
}

#[test]
fn the_decoders_schema_is_accepted_as_is() {
    // Whatever the decoder produces for a type, the encoder takes for it.
    let cols = all_types_cols();
    let columns: Vec<Column> = cols.iter().map(|(n, t)| col(n, t.clone())).collect();
    let schema = schema(&columns);
    assert!(
        schema
            .fields()
            .iter()
            .all(|f| f.metadata().contains_key(PG_TYPE_KEY))
    );
    let targets = cols.iter().map(|(n, t)| target(n, t.clone())).collect();
    CopyEncoder::new(targets, &schema).unwrap();
    let _: SchemaRef = schema;
}

// ---------------------------------------------------------------------------
// Decimal128 sentinels, arrays of any shape, composites, domains, fallbacks.

#[test]
fn decimal128_sentinels_write_numeric_specials() {
    let nan = [0, 0, 0, 0, 0xc0, 0, 0, 0];
    let inf = [0, 0, 0, 0, 0xd0, 0, 0, 0];
    let ninf = [0, 0, 0, 0, 0xf0, 0, 0, 0];
    for (p, s) in [(12u8, 2i8), (38, 0), (38, 38), (1, 0)] {
        let col = dec(p as u32, s as i32);
        assert_eq!(
            value_bytes(col.clone(), decimals(&[Some(DECIMAL_NAN)], p, s)),
            nan
        );
        assert_eq!(
            value_bytes(col.clone(), decimals(&[Some(DECIMAL_INFINITY)], p, s)),
            inf
        );
        assert_eq!(
            value_bytes(col.clone(), decimals(&[Some(DECIMAL_NEG_INFINITY)], p, s)),
            ninf
        );
        round_trip_one(
            col,
            decimals(
                &[
                    Some(DECIMAL_NAN),
                    Some(DECIMAL_INFINITY),
                    None,
                    Some(DECIMAL_NEG_INFINITY),
                    Some(1),
                ],
                p,
                s,
            ),
        );
    }
    // Into a column of smaller scale, and into text-carried numeric.
    assert_eq!(
        value_bytes(dec(12, 2), decimals(&[Some(DECIMAL_NAN)], 12, 4)),
        nan
    );
    assert_eq!(
        through_text_from(
            NUMERIC,
            decimals(
                &[
                    Some(DECIMAL_NAN),
                    Some(DECIMAL_INFINITY),
                    Some(DECIMAL_NEG_INFINITY)
                ],
                38,
                10
            )
        ),
        ["NaN", "Infinity", "-Infinity"]
    );
    // Text specials into a Decimal128 column decode as the sentinels.
    let got = through(
        dec(10, 2),
        strings(&[Some("NaN"), Some("-inf"), Some("Infinity")]),
    );
    assert_eq!(
        got.as_primitive::<Decimal128Type>().values().to_vec(),
        [DECIMAL_NAN, DECIMAL_NEG_INFINITY, DECIMAL_INFINITY]
    );
}

#[test]
fn shaped_arrays_write_their_dimensions() {
    let child: ArrayRef = Arc::new(Int32Array::from(vec![
        Some(1),
        Some(2),
        Some(3),
        None,
        Some(7),
        Some(8),
        Some(9),
    ]));
    let lists = list(child, &[Some(4), Some(3), None, Some(0)]);
    let array = shaped_with(
        &PgType::Int4,
        lists,
        &[Some(vec![2, 1, 2, 0]), Some(vec![3, -5]), None, None],
    );
    let out = tuples(array_of(PgType::Int4), array.clone()).unwrap();
    let mut want = vec![0, 1];
    // '[1:2][0:1]={{1,2},{3,NULL}}': 12 header + 2 * 8 dims + 3 * 8 + 4.
    want.extend_from_slice(&56i32.to_be_bytes());
    for word in [2i32, 1, 23, 2, 1, 2, 0] {
        want.extend_from_slice(&word.to_be_bytes());
    }
    for v in [1, 2, 3] {
        want.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, v]);
    }
    want.extend_from_slice(&[0xff; 4]);
    // '[-5:-3]={7,8,9}'
    want.extend_from_slice(&[0, 1]);
    want.extend_from_slice(&44i32.to_be_bytes());
    for word in [1i32, 0, 23, 3, -5] {
        want.extend_from_slice(&word.to_be_bytes());
    }
    for v in [7, 8, 9] {
        want.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, v]);
    }
    // NULL, then '{}'.
    want.extend_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0xff]);
    want.extend_from_slice(&[0, 1, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23]);
    assert_eq!(out, want);
    // A slice writes its own rows, shapes included.
    assert_eq!(
        tuples(array_of(PgType::Int4), array.slice(1, 3)).unwrap(),
        &want[2 + 4 + 56..]
    );
    round_trip_one(array_of(PgType::Int4), array);

    // A plain list is the same as a shaped array with NULL shapes.
    let child: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]));
    let lists = list(child, &[Some(2), Some(0), None, Some(1)]);
    assert_eq!(
        tuples(array_of(PgType::Int4), shaped(&PgType::Int4, lists.clone())).unwrap(),
        tuples(array_of(PgType::Int4), lists).unwrap()
    );
}

#[test]
fn shapes_that_do_not_fit_their_elements_are_errors() {
    let child = || -> ArrayRef { Arc::new(Int32Array::from(vec![1, 2, 3, 4])) };
    for (shape, needle) in [
        (vec![2, 1, 3, 1], "holds 6 elements, but 4 were given"),
        (vec![5, 1], "holds 5 elements"),
        (vec![2, 1, 2], "invalid array shape of 3 numbers"),
        (
            vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1],
            "invalid array shape of 14 numbers",
        ),
        (vec![-4, 1], "invalid array dimension length -4"),
        (vec![], "holds 0 elements"),
    ] {
        let array = shaped_with(
            &PgType::Int4,
            list(child(), &[Some(4)]),
            &[Some(shape.clone())],
        );
        let err = value_error(array_of(PgType::Int4), array);
        assert!(err.message.contains(needle), "{shape:?}: {err}");
    }
}

fn point_type() -> PgType {
    PgType::Opaque {
        ty: UserType {
            name: "point".into(),
            oid: 600,
            labels: vec![],
        },
        extension: None,
    }
}

fn amount_type() -> PgType {
    PgType::Domain {
        ty: UserType {
            name: "amount".into(),
            oid: 16_500,
            labels: vec![],
        },
        base: Box::new(dec(10, 2)),
        def: DomainDef::default(),
    }
}

/// `(x int4, tags text[], p point)`.
fn composite_type() -> PgType {
    PgType::Composite {
        ty: UserType {
            name: "comp_t".into(),
            oid: 16_700,
            labels: vec![],
        },
        attributes: vec![
            Attribute {
                name: "x".into(),
                ty: PgType::Int4,
                oid: oid::INT4,
            },
            Attribute {
                name: "tags".into(),
                ty: array_of(PgType::Text),
                oid: 1009,
            },
            Attribute {
                name: "p".into(),
                ty: point_type(),
                oid: 600,
            },
        ],
    }
}

fn point_bytes(x: f64, y: f64) -> Vec<u8> {
    let mut out = x.to_be_bytes().to_vec();
    out.extend_from_slice(&y.to_be_bytes());
    out
}

#[test]
fn fallback_types_write_their_bytes_verbatim() {
    let p = point_bytes(1.5, -2.0);
    let values = vec![Some(&p[..]), None, Some(&b""[..])];
    let bytes = tuples(point_type(), Arc::new(BinaryArray::from(values.clone()))).unwrap();
    let mut want = vec![0, 1, 0, 0, 0, 16];
    want.extend_from_slice(&p);
    want.extend_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0xff]);
    want.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
    assert_eq!(bytes, want);
    assert_eq!(
        tuples(
            point_type(),
            Arc::new(LargeBinaryArray::from(values.clone()))
        )
        .unwrap(),
        want
    );
    assert_eq!(
        tuples(
            point_type(),
            Arc::new(BinaryViewArray::from(values.clone()))
        )
        .unwrap(),
        want
    );
    round_trip_one(point_type(), Arc::new(BinaryArray::from(values)));
    // The decoder's field says how the bytes are encoded.
    let schema = schema(&[col("p", point_type())]);
    assert_eq!(schema.field(0).metadata()[PG_ENCODING_KEY], "binary");
    // Text is not the binary form.
    let err = tuples(point_type(), strings(&[Some("(1,2)")])).unwrap_err();
    assert!(
        err.message
            .contains("cannot be written to PostgreSQL type point"),
        "{err}"
    );
}

#[test]
fn domains_write_as_their_base_type() {
    round_trip_one(
        amount_type(),
        decimals(&[Some(123_450), None, Some(-1), Some(DECIMAL_NAN)], 10, 2),
    );
    assert_eq!(
        value_bytes(amount_type(), decimals(&[Some(123_450)], 10, 2)),
        [0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xd2, 0x13, 0x88]
    );
    // Anything the base type accepts.
    assert_eq!(
        value_bytes(amount_type(), strings(&[Some("1234.50")])),
        [0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xd2, 0x13, 0x88]
    );
    let err = value_error(amount_type(), strings(&[Some("1.234")]));
    assert!(err.message.contains("scale 2"), "{err}");
    // An array of the domain announces the domain's OID.
    let lists = list(decimals(&[Some(1)], 10, 2), &[Some(1)]);
    let value = value_bytes(array_of(amount_type()), lists);
    assert_eq!(&value[8..12], &16_500u32.to_be_bytes());
}

#[test]
fn composites_round_trip() {
    let ty = composite_type();
    let DataType::Struct(fields) = ty.arrow_type() else {
        panic!("composites are structs")
    };
    let p = point_bytes(0.5, 0.25);
    let tags = shaped_with(
        &PgType::Text,
        list(
            strings(&[Some("a"), None, Some("b"), Some("c"), Some("d")]),
            &[Some(2), None, Some(3), Some(0), None],
        ),
        &[None, None, Some(vec![3, 0]), None, None],
    );
    let comp: ArrayRef = Arc::new(StructArray::new(
        fields,
        vec![
            Arc::new(Int32Array::from(vec![
                Some(1),
                None,
                Some(3),
                Some(0),
                None,
            ])),
            tags,
            Arc::new(BinaryArray::from(vec![
                Some(&p[..]),
                Some(&p[..]),
                None,
                None,
                None,
            ])),
        ],
        Some(NullBuffer::from(vec![true, true, true, true, false])),
    ));
    let bytes = round_trip(&[("c", ty.clone())], vec![comp.clone()]);
    // Row 1: (NULL, NULL, point): the field count, then OID and value per attribute.
    let row = single_value(&tuples(ty.clone(), comp.slice(1, 1)).unwrap())
        .unwrap()
        .to_vec();
    let mut want = Vec::new();
    want.extend_from_slice(&3i32.to_be_bytes());
    want.extend_from_slice(&23u32.to_be_bytes());
    want.extend_from_slice(&[0xff; 4]);
    want.extend_from_slice(&1009u32.to_be_bytes());
    want.extend_from_slice(&[0xff; 4]);
    want.extend_from_slice(&600u32.to_be_bytes());
    want.extend_from_slice(&16i32.to_be_bytes());
    want.extend_from_slice(&p);
    assert_eq!(row, want);
    assert!(bytes.windows(want.len()).any(|w| w == want));
    // The whole NULL composite is a NULL field.
    assert_eq!(single_value(&tuples(ty, comp.slice(4, 1)).unwrap()), None);
}

#[test]
fn composites_are_checked_at_new() {
    let ty = composite_type();
    let DataType::Struct(fields) = ty.arrow_type() else {
        panic!()
    };
    // A struct with the wrong number of fields.
    let short = DataType::Struct(fields.iter().take(2).cloned().collect());
    let schema = Schema::new(vec![Field::new("c", short, true)]);
    let err = CopyEncoder::new(vec![target("c", ty.clone())], &schema).unwrap_err();
    assert!(
        err.message
            .contains("3 attributes but the Arrow struct has 2 fields"),
        "{err}"
    );
    // A field of the wrong type names the attribute.
    let mut wrong: Vec<Field> = fields.iter().map(|f| f.as_ref().clone()).collect();
    wrong[0] = Field::new("x", DataType::Utf8, true);
    let schema = Schema::new(vec![Field::new("c", DataType::Struct(wrong.into()), true)]);
    let err = CopyEncoder::new(vec![target("c", ty.clone())], &schema).unwrap_err();
    assert!(err.message.contains("attribute `x`"), "{err}");
    // Attribute OIDs are required: record_recv checks them.
    let PgType::Composite {
        ty: user,
        mut attributes,
    } = ty
    else {
        unreachable!()
    };
    attributes[2].oid = 0;
    let no_oid = PgType::Composite {
        ty: user,
        attributes,
    };
    let schema = Schema::new(vec![Field::new("c", no_oid.arrow_type(), true)]);
    let err = CopyEncoder::new(vec![target("c", no_oid)], &schema).unwrap_err();
    assert!(err.message.contains("attribute `p`"), "{err}");
}

#[test]
fn new_kinds_are_accepted() {
    use DataType as D;
    let list_of = |dt: D| D::List(Arc::new(Field::new_list_field(dt, true)));
    let cases: Vec<(PgType, D)> = vec![
        (
            PgType::Interval(None),
            D::Interval(IntervalUnit::MonthDayNano),
        ),
        (PgType::Interval(None), D::Struct(interval_fields())),
        (point_type(), D::Binary),
        (point_type(), D::LargeBinary),
        (point_type(), D::BinaryView),
        (amount_type(), D::Decimal128(10, 2)),
        (amount_type(), D::Decimal128(38, 0)),
        (amount_type(), D::Utf8),
        (array_of(PgType::Int4), array_of(PgType::Int4).arrow_type()),
        (array_of(PgType::Int8), array_of(PgType::Int4).arrow_type()),
        (array_of(point_type()), list_of(D::Binary)),
        (array_of(amount_type()), list_of(D::Decimal128(10, 2))),
        (
            array_of(PgType::Interval(None)),
            list_of(D::Interval(IntervalUnit::MonthDayNano)),
        ),
        (composite_type(), composite_type().arrow_type()),
        (
            array_of(composite_type()),
            array_of(composite_type()).arrow_type(),
        ),
        (PgType::Time(Some(2)), D::Time64(TimeUnit::Microsecond)),
        (
            PgType::Timestamptz(Some(0)),
            D::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
    ];
    for (ty, dt) in cases {
        let schema = Schema::new(vec![Field::new("c", dt.clone(), true)]);
        CopyEncoder::new(vec![target("c", ty.clone())], &schema)
            .unwrap_or_else(|e| panic!("{ty} / {dt}: {e}"));
    }
}
