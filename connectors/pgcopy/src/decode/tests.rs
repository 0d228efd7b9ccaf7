//! Binary COPY streams written by hand, byte for byte as PostgreSQL's
//! `*_send` functions write them, decoded and checked value by value.

use super::*;
use crate::encode::{CopyEncoder, EncodeColumn};
use crate::numeric::reference::{numeric_bytes, numeric_raw};
use crate::types::{
    ARRAY_ITEMS, ARRAY_SHAPE, Attribute, DECIMAL_INFINITY, DECIMAL_NAN, DECIMAL_NEG_INFINITY,
    DomainDef, ENUM_LABELS_KEY, PG_DOMAIN_KEY, PG_ENCODING_KEY, PG_EPOCH_OFFSET_MICROS,
    PG_TYPE_KEY, UserType, array_fields, oid,
};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_schema::{DataType, TimeUnit};

// ---------------------------------------------------------------------------
// Stream writers.

type Row = Vec<Option<Vec<u8>>>;

fn header() -> Vec<u8> {
    let mut out = COPY_SIGNATURE.to_vec();
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    out
}

fn tuple(out: &mut Vec<u8>, row: &Row) {
    out.extend_from_slice(&(row.len() as i16).to_be_bytes());
    for field in row {
        match field {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }
}

fn trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

fn stream(rows: &[Row]) -> Vec<u8> {
    let mut out = header();
    for row in rows {
        tuple(&mut out, row);
    }
    trailer(&mut out);
    out
}

// Value writers (the `*_send` formats).

fn i2(v: i16) -> Option<Vec<u8>> {
    Some(v.to_be_bytes().to_vec())
}
fn i4(v: i32) -> Option<Vec<u8>> {
    Some(v.to_be_bytes().to_vec())
}
fn i8(v: i64) -> Option<Vec<u8>> {
    Some(v.to_be_bytes().to_vec())
}
fn f4(v: f32) -> Option<Vec<u8>> {
    Some(v.to_be_bytes().to_vec())
}
fn f8(v: f64) -> Option<Vec<u8>> {
    Some(v.to_be_bytes().to_vec())
}
fn txt(v: &str) -> Option<Vec<u8>> {
    Some(v.as_bytes().to_vec())
}
fn bytes(v: &[u8]) -> Option<Vec<u8>> {
    Some(v.to_vec())
}
fn boolean(v: bool) -> Option<Vec<u8>> {
    Some(vec![v as u8])
}
fn jsonb(v: &str) -> Option<Vec<u8>> {
    let mut out = vec![1u8];
    out.extend_from_slice(v.as_bytes());
    Some(out)
}
fn interval(micros: i64, days: i32, months: i32) -> Option<Vec<u8>> {
    let mut out = micros.to_be_bytes().to_vec();
    out.extend_from_slice(&days.to_be_bytes());
    out.extend_from_slice(&months.to_be_bytes());
    Some(out)
}
fn inet(family: u8, bits: u8, is_cidr: bool, addr: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![family, bits, is_cidr as u8, addr.len() as u8];
    out.extend_from_slice(addr);
    Some(out)
}
fn v6(words: [u16; 8]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn numeric(text: &str) -> Option<Vec<u8>> {
    Some(numeric_bytes(text))
}

/// `array_send` output for a one-dimensional array (lower bound 1).
fn array(element_oid: u32, elements: &[Option<Vec<u8>>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&(elements.iter().any(Option::is_none) as i32).to_be_bytes());
    out.extend_from_slice(&element_oid.to_be_bytes());
    out.extend_from_slice(&(elements.len() as i32).to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    for e in elements {
        match e {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    Some(out)
}

/// `array_send` output for an array of any dimensions, given as
/// `(length, lower bound)` outermost first; `elements` in row-major order.
fn md_array(
    element_oid: u32,
    dims: &[(i32, i32)],
    elements: &[Option<Vec<u8>>],
) -> Option<Vec<u8>> {
    assert_eq!(
        dims.iter().map(|(len, _)| *len as usize).product::<usize>(),
        elements.len()
    );
    let mut out = Vec::new();
    out.extend_from_slice(&(dims.len() as i32).to_be_bytes());
    out.extend_from_slice(&(elements.iter().any(Option::is_none) as i32).to_be_bytes());
    out.extend_from_slice(&element_oid.to_be_bytes());
    for (len, lower) in dims {
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&lower.to_be_bytes());
    }
    for e in elements {
        match e {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    Some(out)
}

/// `record_send` output: field count, then per field its type OID, length and bytes.
fn record(fields: &[(u32, Option<Vec<u8>>)]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(&(fields.len() as i32).to_be_bytes());
    for (oid, value) in fields {
        out.extend_from_slice(&oid.to_be_bytes());
        match value {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    Some(out)
}

/// `point_send` output.
fn point(x: f64, y: f64) -> Option<Vec<u8>> {
    let mut out = x.to_be_bytes().to_vec();
    out.extend_from_slice(&y.to_be_bytes());
    Some(out)
}

/// `array_send` output for `'{}'`: zero dimensions.
fn empty_array(element_oid: u32) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&element_oid.to_be_bytes());
    Some(out)
}

// ---------------------------------------------------------------------------
// Decoding helpers.

fn col(name: &str, ty: PgType) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable: true,
    }
}

fn decode(columns: Vec<Column>, bytes: &[u8]) -> RecordBatch {
    let mut d = CopyDecoder::new(columns);
    d.feed(bytes).unwrap();
    d.finish().unwrap();
    assert!(d.finished());
    let batch = d.take_batch().unwrap().unwrap();
    assert_eq!(d.buffered_rows(), 0);
    assert!(d.take_batch().unwrap().is_none());
    batch
}

/// Decodes a single-column stream.
fn decode_one(ty: PgType, values: Vec<Option<Vec<u8>>>) -> RecordBatch {
    let rows: Vec<Row> = values.into_iter().map(|v| vec![v]).collect();
    decode(vec![col("c", ty)], &stream(&rows))
}

/// Decodes a single-column stream in which some rows are rejected with value
/// errors; returns those errors and the batch of the other rows.
fn decode_rejecting(ty: PgType, values: Vec<Option<Vec<u8>>>) -> (Vec<DecodeError>, RecordBatch) {
    let rows: Vec<Row> = values.into_iter().map(|v| vec![v]).collect();
    let mut d = CopyDecoder::new(vec![col("c", ty)]);
    let mut errors = Vec::new();
    let mut input: &[u8] = &stream(&rows);
    loop {
        match d.feed(input) {
            Ok(()) => break,
            Err(e) => {
                assert_eq!(e.kind, DecodeErrorKind::Value, "{e}");
                errors.push(e);
                input = &[];
            }
        }
    }
    d.finish().unwrap();
    (errors, d.take_batch().unwrap().unwrap())
}

fn strings(batch: &RecordBatch, i: usize) -> Vec<Option<String>> {
    batch
        .column(i)
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn numeric_text(text_in: &str) -> String {
    let batch = decode_one(
        PgType::Numeric {
            precision: None,
            scale: None,
        },
        vec![numeric(text_in)],
    );
    strings(&batch, 0)[0].clone().unwrap()
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

fn array_of(ty: PgType) -> PgType {
    PgType::Array(Box::new(ty))
}

/// The `items` list of array column `i`.
fn items(batch: &RecordBatch, i: usize) -> &ListArray {
    batch.column(i).as_struct().column(0).as_list::<i32>()
}

/// The `shape` of each row of array column `i` (`None` when NULL).
fn shapes(batch: &RecordBatch, i: usize) -> Vec<Option<Vec<i32>>> {
    let shape = batch.column(i).as_struct().column(1).as_list::<i32>();
    (0..shape.len())
        .map(|r| {
            shape
                .is_valid(r)
                .then(|| shape.value(r).as_primitive::<Int32Type>().values().to_vec())
        })
        .collect()
}

/// The elements of row `r` of int4 array column `i`.
fn int_items(batch: &RecordBatch, i: usize, r: usize) -> Vec<Option<i32>> {
    items(batch, i)
        .value(r)
        .as_primitive::<Int32Type>()
        .iter()
        .collect()
}

/// The target column the encoder writes `ty` to, with the OIDs the decoder's
/// type knows.
fn target(name: &str, ty: &PgType) -> EncodeColumn {
    EncodeColumn {
        name: name.into(),
        ty: ty.clone(),
        oid: ty.oid().unwrap_or(0),
        element_oid: match ty.storage() {
            PgType::Array(e) => e.oid(),
            _ => None,
        },
    }
}

/// Decodes PostgreSQL's bytes for `columns`, encodes the batch again and
/// checks the stream comes back byte for byte; returns the batch.
#[track_caller]
fn both_ways(columns: Vec<Column>, rows: &[Row]) -> RecordBatch {
    let bytes = stream(rows);
    let batch = decode(columns.clone(), &bytes);
    let targets = columns.iter().map(|c| target(&c.name, &c.ty)).collect();
    let mut encoder = CopyEncoder::new(targets, &batch.schema()).unwrap();
    let mut out = Vec::new();
    CopyEncoder::header(&mut out);
    encoder.encode(&batch, &mut out).unwrap();
    CopyEncoder::trailer(&mut out);
    if out != bytes {
        let at = out.iter().zip(&bytes).position(|(a, b)| a != b);
        panic!(
            "re-encoded stream differs (lengths {} / {}, first difference at {at:?})",
            out.len(),
            bytes.len()
        );
    }
    batch
}

/// `both_ways` for one column.
#[track_caller]
fn both_ways_one(ty: PgType, values: Vec<Option<Vec<u8>>>) -> RecordBatch {
    let rows: Vec<Row> = values.into_iter().map(|v| vec![v]).collect();
    both_ways(vec![col("c", ty)], &rows)
}

// ---------------------------------------------------------------------------
// Integers and floats.

#[test]
fn integers_keep_their_extremes() {
    let rows = vec![
        vec![i2(i16::MIN), i4(i32::MIN), i8(i64::MIN)],
        vec![i2(i16::MAX), i4(i32::MAX), i8(i64::MAX)],
        vec![i2(0), i4(-1), i8(1)],
        vec![None, None, None],
    ];
    let batch = decode(
        vec![
            col("a", PgType::Int2),
            col("b", PgType::Int4),
            col("c", PgType::Int8),
        ],
        &stream(&rows),
    );
    assert_eq!(batch.num_rows(), 4);
    let a = batch.column(0).as_primitive::<Int16Type>();
    let b = batch.column(1).as_primitive::<Int32Type>();
    let c = batch.column(2).as_primitive::<Int64Type>();
    assert_eq!(
        (a.value(0), a.value(1), a.value(2)),
        (i16::MIN, i16::MAX, 0)
    );
    assert_eq!(
        (b.value(0), b.value(1), b.value(2)),
        (i32::MIN, i32::MAX, -1)
    );
    assert_eq!(
        (c.value(0), c.value(1), c.value(2)),
        (i64::MIN, i64::MAX, 1)
    );
    for col in batch.columns() {
        assert_eq!(col.null_count(), 1);
        assert!(col.is_null(3));
        assert!(col.is_valid(0));
    }
}

#[test]
fn floats_keep_nan_infinities_and_signed_zero() {
    let rows = vec![
        vec![f4(f32::NAN), f8(f64::NAN)],
        vec![f4(f32::INFINITY), f8(f64::INFINITY)],
        vec![f4(f32::NEG_INFINITY), f8(f64::NEG_INFINITY)],
        vec![f4(-0.0), f8(-0.0)],
        vec![f4(f32::MIN_POSITIVE / 2.0), f8(f64::MIN_POSITIVE / 2.0)],
        vec![f4(1.5e38), f8(-1.7976931348623157e308)],
        vec![None, None],
    ];
    let batch = decode(
        vec![col("r", PgType::Float4), col("d", PgType::Float8)],
        &stream(&rows),
    );
    let r = batch.column(0).as_primitive::<Float32Type>();
    let d = batch.column(1).as_primitive::<Float64Type>();
    assert!(r.value(0).is_nan() && d.value(0).is_nan());
    assert_eq!((r.value(1), d.value(1)), (f32::INFINITY, f64::INFINITY));
    assert_eq!(
        (r.value(2), d.value(2)),
        (f32::NEG_INFINITY, f64::NEG_INFINITY)
    );
    assert_eq!(r.value(3).to_bits(), (-0.0f32).to_bits());
    assert_eq!(d.value(3).to_bits(), (-0.0f64).to_bits());
    assert_eq!(r.value(4), f32::MIN_POSITIVE / 2.0);
    assert_eq!(d.value(4), f64::MIN_POSITIVE / 2.0);
    assert_eq!((r.value(5), d.value(5)), (1.5e38, -1.7976931348623157e308));
    assert!(r.is_null(6) && d.is_null(6));
}

// ---------------------------------------------------------------------------
// numeric

#[test]
fn numeric_test_writer_matches_postgres_encoding() {
    // SELECT numeric_send(1234567.89): ndigits 3, weight 1, dscale 2, digits 123 4567 8900.
    assert_eq!(
        numeric_bytes("1234567.89"),
        [0, 3, 0, 1, 0, 0, 0, 2, 0, 123, 0x11, 0xd7, 0x22, 0xc4]
    );
    // numeric_send(0.0001): ndigits 1, weight -1, dscale 4, digit 1.
    assert_eq!(
        numeric_bytes("0.0001"),
        [0, 1, 0xff, 0xff, 0, 0, 0, 4, 0, 1]
    );
    // numeric_send(-10000): ndigits 1, weight 1, sign neg, dscale 0, digit 1.
    assert_eq!(numeric_bytes("-10000"), [0, 1, 0, 1, 0x40, 0, 0, 0, 0, 1]);
    // numeric_send(0.00): no digits, dscale 2.
    assert_eq!(numeric_bytes("0.00"), [0, 0, 0, 0, 0, 0, 0, 2]);
}

#[test]
fn numeric_decimal128_is_exact() {
    let batch = decode_one(
        dec(12, 2),
        vec![
            numeric("1234567890.12"),
            numeric("-1234567890.12"),
            numeric("-0.01"),
            numeric("0.00"),
            numeric("0"),
            numeric("5"),   // dscale 0 inside a scale-2 column
            numeric("0.5"), // dscale 1
            numeric("9999999999.99"),
            numeric("10000.00"),
            None,
        ],
    );
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Decimal128(12, 2)
    );
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!((a.precision(), a.scale()), (12, 2));
    let got: Vec<Option<i128>> = a.iter().collect();
    assert_eq!(
        got,
        vec![
            Some(123_456_789_012),
            Some(-123_456_789_012),
            Some(-1),
            Some(0),
            Some(0),
            Some(500),
            Some(50),
            Some(999_999_999_999),
            Some(1_000_000),
            None
        ]
    );
}

#[test]
fn numeric_decimal128_at_38_digits() {
    let max = "9".repeat(38);
    let batch = decode_one(dec(38, 0), vec![numeric(&max), numeric(&format!("-{max}"))]);
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    let expect: i128 = max.parse().unwrap();
    assert_eq!(a.value(0), expect);
    assert_eq!(a.value(1), -expect);

    let frac = "0.12345678901234567890123456789012345678";
    let batch = decode_one(
        dec(38, 38),
        vec![
            numeric(frac),
            numeric("-0.00000000000000000000000000000000000001"),
        ],
    );
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(a.value(0), 12345678901234567890123456789012345678i128);
    assert_eq!(a.value(1), -1);

    let batch = decode_one(dec(20, 10), vec![numeric("1234567890.0123456789")]);
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(a.value(0), 12345678900123456789i128);
}

#[test]
fn numeric_specials_in_decimal128_are_sentinels() {
    let batch = decode_one(
        dec(12, 2),
        vec![
            numeric("1.00"),
            numeric("NaN"),
            numeric("Infinity"),
            numeric("-Infinity"),
            None,
            numeric("-9999999999.99"),
        ],
    );
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(
        a.iter().collect::<Vec<_>>(),
        vec![
            Some(100),
            Some(DECIMAL_NAN),
            Some(DECIMAL_INFINITY),
            Some(DECIMAL_NEG_INFINITY),
            None,
            Some(-999_999_999_999),
        ]
    );
    assert_eq!(DECIMAL_NAN, i128::MIN);
    assert_eq!(DECIMAL_INFINITY, i128::MAX);
    assert_eq!(DECIMAL_NEG_INFINITY, i128::MIN + 1);
    // The same at the widest and narrowest precisions.
    for ty in [dec(38, 0), dec(38, 38), dec(1, 0), dec(1, 1)] {
        let batch = decode_one(
            ty.clone(),
            vec![numeric("NaN"), numeric("Infinity"), numeric("-Infinity")],
        );
        assert_eq!(
            batch
                .column(0)
                .as_primitive::<Decimal128Type>()
                .values()
                .to_vec(),
            vec![DECIMAL_NAN, DECIMAL_INFINITY, DECIMAL_NEG_INFINITY],
            "{ty}"
        );
    }
}

#[test]
fn numeric_overflow_in_decimal128_is_a_value_error() {
    let (errors, batch) = decode_rejecting(
        dec(12, 2),
        vec![
            numeric("1.00"),
            numeric("10000000000.00"), // 13 digits > precision 12
            numeric("0.001"),          // a third fractional digit would be lost
            numeric("NaN"),
            numeric("2.50"),
        ],
    );
    assert_eq!(errors.len(), 2);
    assert_eq!(errors.iter().map(|e| e.row).collect::<Vec<_>>(), vec![2, 3]);
    for e in &errors {
        assert_eq!(e.column.as_deref(), Some("c"));
        assert!(e.message.contains("Decimal128(12,2)"), "{e}");
    }
    assert_eq!(
        errors[0].to_string(),
        "binary COPY row 2, column `c`: numeric 10000000000.00 does not fit Decimal128(12,2)"
    );
    assert!(errors[1].message.contains("fractional"), "{}", errors[1]);
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(
        a.iter().collect::<Vec<_>>(),
        vec![Some(100), Some(DECIMAL_NAN), Some(250)]
    );
}

/// PostgreSQL's largest numeric: 131072 digits before the point and 16383
/// after, i.e. 36864 base-10000 digits, more than i16::MAX.
fn max_numeric_text(sign: &str) -> String {
    format!("{sign}{}.{}", "9".repeat(131_072), "9".repeat(16_383))
}

#[test]
fn numeric_digit_count_is_unsigned() {
    let text = max_numeric_text("-");
    let bytes = numeric_bytes(&text);
    let ndigits = u16::from_be_bytes([bytes[0], bytes[1]]);
    assert_eq!(ndigits, 36_864);
    assert!(ndigits as usize > i16::MAX as usize);
    assert_eq!(i16::from_be_bytes([bytes[2], bytes[3]]), i16::MAX); // weight
    assert_eq!(numeric_text(&text), text);

    // 40000 digits: more than the display scale shows (PostgreSQL itself
    // truncates such input in numeric_recv); the header still reads, and the
    // text follows dscale, as numeric_out does.
    let mut digits = vec![9999i16; 40_000];
    digits[0] = 1;
    let raw = numeric_raw(i16::MAX, 0, 16_383, &digits);
    assert_eq!(&raw[..2], &40_000u16.to_be_bytes());
    let batch = decode_one(NUMERIC, vec![Some(raw)]);
    let got = strings(&batch, 0)[0].clone().unwrap();
    assert_eq!(
        got,
        format!("1{}.{}", "9".repeat(4 * 32_767), "9".repeat(16_383))
    );
}

#[test]
fn numeric_text_is_exactly_numeric_out() {
    for t in [
        "123.4500",
        "0",
        "0.00",
        "-0.5",
        "1",
        "10000",
        "100000000",
        "-99999.9999",
        "0.000001",
        "0.0001",
        "0.00010000",
        "1234567.89",
        "42.000000000000000000000000000000000000000000000000",
        "1234567890123456789012345678901234567890.0123456789",
        "-98765432109876543210987654321098765432109876543210",
    ] {
        assert_eq!(numeric_text(t), t, "numeric_out of {t}");
    }
    let googol = format!("1{}", "0".repeat(100));
    assert_eq!(numeric_text(&googol), googol);
    assert_eq!(numeric_text("NaN"), "NaN");
    assert_eq!(numeric_text("Infinity"), "Infinity");
    assert_eq!(numeric_text("-Infinity"), "-Infinity");
}

#[test]
fn numeric_text_follows_display_scale_not_digits() {
    let unconstrained = PgType::Numeric {
        precision: None,
        scale: None,
    };
    let batch = decode_one(
        unconstrained,
        vec![
            // 12.34 stored with dscale 6 prints 12.340000.
            Some(numeric_raw(0, 0, 6, &[12, 3400])),
            // Digits beyond dscale are cut, as get_str_from_var does.
            Some(numeric_raw(0, 0, 1, &[12, 3400])),
            // weight -2: 0.00001234, dscale 8.
            Some(numeric_raw(-2, 0, 8, &[1234])),
            // A non-normalised leading zero digit still prints one "0".
            Some(numeric_raw(0, 0, 0, &[0])),
            // Weight 1, one stored digit: the missing lower digit prints as 0000.
            Some(numeric_raw(1, 0, 0, &[5])),
            None,
        ],
    );
    assert_eq!(
        strings(&batch, 0),
        vec![
            s("12.340000"),
            s("12.3"),
            s("0.00001234"),
            s("0"),
            s("50000"),
            None
        ]
    );
}

#[test]
fn numeric_wide_or_odd_typmods_are_text() {
    let batch = decode_one(
        dec(40, 2),
        vec![numeric("12345678901234567890123456789012345678.90")],
    );
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Utf8);
    assert_eq!(
        strings(&batch, 0),
        vec![s("12345678901234567890123456789012345678.90")]
    );
    // numeric(5,-2): PostgreSQL rounds to hundreds and prints dscale 0.
    let batch = decode_one(dec(5, -2), vec![numeric("12300")]);
    assert_eq!(strings(&batch, 0), vec![s("12300")]);
}

#[test]
fn malformed_numeric_is_a_value_error() {
    let (errors, batch) = decode_rejecting(
        PgType::Numeric {
            precision: None,
            scale: None,
        },
        vec![
            Some(numeric_raw(0, 0x1234, 0, &[1])),
            Some(numeric_raw(0, 0, 0, &[10000])),
            Some(vec![0, 2, 0, 0, 0, 0, 0, 0, 0, 1]), // says 2 digits, has 1
            Some(vec![0, 0, 0]),
            numeric("7"),
        ],
    );
    assert_eq!(errors.len(), 4);
    assert!(errors[0].message.contains("sign"));
    assert!(errors[1].message.contains("digit 10000"));
    assert!(errors[2].message.contains("2 digits"));
    assert_eq!(strings(&batch, 0), vec![s("7")]);
}

// ---------------------------------------------------------------------------
// Text-like types.

#[test]
fn text_types_keep_their_bytes() {
    let rows = vec![
        vec![txt(""), txt(""), txt("   "), txt("")],
        vec![
            txt("héllo wörld 日本語 🎉"),
            txt("ünïcödé"),
            txt("ab "),
            txt("happy"),
        ],
        vec![
            txt("line\nbreak\ttab\\back"),
            txt("x"),
            txt("日  "),
            txt("sad"),
        ],
        vec![None, None, None, None],
    ];
    let batch = decode(
        vec![
            col("t", PgType::Text),
            col("v", PgType::Varchar(Some(20))),
            col("b", PgType::Bpchar(Some(3))),
            col("e", PgType::Enum("mood".into())),
        ],
        &stream(&rows),
    );
    assert_eq!(
        strings(&batch, 0),
        vec![
            s(""),
            s("héllo wörld 日本語 🎉"),
            s("line\nbreak\ttab\\back"),
            None
        ]
    );
    assert_eq!(strings(&batch, 1), vec![s(""), s("ünïcödé"), s("x"), None]);
    assert_eq!(
        strings(&batch, 2),
        vec![s("   "), s("ab "), s("日  "), None]
    );
    assert_eq!(strings(&batch, 3), vec![s(""), s("happy"), s("sad"), None]);
    for i in 0..4 {
        assert_eq!(batch.schema().field(i).data_type(), &DataType::Utf8);
    }
}

#[test]
fn invalid_utf8_is_a_value_error() {
    let (errors, batch) = decode_rejecting(
        PgType::Text,
        vec![txt("ok"), bytes(&[0x66, 0xff, 0x66]), txt("fine")],
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].row, 2);
    assert!(errors[0].message.contains("UTF-8"), "{}", errors[0]);
    assert_eq!(strings(&batch, 0), vec![s("ok"), s("fine")]);
}

/// A rejected row is kept for the dead-letter table: the values that decode
/// as JSON values, the one that does not as its bytes in hex.
#[test]
fn a_rejected_row_is_kept_as_json_for_a_dead_letter() {
    let mut decoder = CopyDecoder::new(vec![
        col("id", PgType::Int8),
        col("name", PgType::Text),
        col("note", PgType::Text),
    ]);
    let rows = vec![
        vec![i8(1), txt("ok"), None],
        vec![i8(2), bytes(&[0x62, 0xff]), txt("fine \"q\"")],
    ];
    let e = decoder.feed(&stream(&rows)).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Value);
    let rejected = decoder.take_rejected().expect("the rejected row is kept");
    assert_eq!(rejected.json(|_| true), r#"{"id":2,"name":"\\x62ff","note":"fine \"q\""}"#);
    assert_eq!(rejected.json(|c| c == "id"), r#"{"id":2}"#);
    assert_eq!((rejected.text("note"), rejected.text("name")), (Some("fine \"q\""), None));
    assert!(decoder.take_rejected().is_none(), "taken once");
    decoder.finish().unwrap();
    assert_eq!(decoder.take_batch().unwrap().unwrap().num_rows(), 1, "the other row is decoded");
}

#[test]
fn json_and_jsonb() {
    let rows = vec![
        vec![
            txt(r#"{"b": 1,   "a": [1, 2]}"#),
            jsonb(r#"{"a": [1, 2], "b": 1}"#),
        ],
        vec![txt("\"ünï\""), jsonb("\"ünï\"")],
        vec![txt("null"), jsonb("null")],
        vec![None, None],
    ];
    let batch = decode(
        vec![col("j", PgType::Json), col("jb", PgType::Jsonb)],
        &stream(&rows),
    );
    assert_eq!(
        strings(&batch, 0),
        vec![
            s(r#"{"b": 1,   "a": [1, 2]}"#),
            s("\"ünï\""),
            s("null"),
            None
        ]
    );
    assert_eq!(
        strings(&batch, 1),
        vec![s(r#"{"a": [1, 2], "b": 1}"#), s("\"ünï\""), s("null"), None]
    );
}

#[test]
fn jsonb_needs_version_one() {
    let (errors, batch) = decode_rejecting(
        PgType::Jsonb,
        vec![Some(b"\x02{}".to_vec()), Some(Vec::new()), jsonb("{}")],
    );
    assert_eq!(errors.len(), 2);
    assert!(errors[0].message.contains("version 2"), "{}", errors[0]);
    assert!(errors[1].message.contains("version byte"), "{}", errors[1]);
    assert_eq!(strings(&batch, 0), vec![s("{}")]);
}

// ---------------------------------------------------------------------------
// bool, bytea, uuid

#[test]
fn bool_bytea_uuid() {
    let id = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    let rows = vec![
        vec![boolean(true), bytes(&[0, 1, 0xff, b'\\']), bytes(&id)],
        vec![boolean(false), bytes(&[]), bytes(&[0; 16])],
        vec![None, None, None],
        vec![bytes(&[2]), bytes(&[7; 3]), bytes(&[0xff; 16])],
    ];
    let batch = decode(
        vec![
            col("b", PgType::Bool),
            col("y", PgType::Bytea),
            col("u", PgType::Uuid),
        ],
        &stream(&rows),
    );
    let b = batch.column(0).as_boolean();
    assert_eq!(
        b.iter().collect::<Vec<_>>(),
        vec![Some(true), Some(false), None, Some(true)]
    );
    let y = batch.column(1).as_binary::<i32>();
    assert_eq!(
        y.iter().collect::<Vec<_>>(),
        vec![
            Some(&[0u8, 1, 0xff, b'\\'][..]),
            Some(&[][..]),
            None,
            Some(&[7u8, 7, 7][..])
        ]
    );
    let u = batch.column(2).as_fixed_size_binary();
    assert_eq!(u.value_length(), 16);
    assert_eq!(u.value(0), id);
    assert_eq!(u.value(1), [0; 16]);
    assert!(u.is_null(2));
    assert_eq!(u.value(3), [0xff; 16]);
    assert_eq!(
        batch.schema().field(2).data_type(),
        &DataType::FixedSizeBinary(16)
    );
}

#[test]
fn fixed_width_values_of_the_wrong_length_are_value_errors() {
    for (ty, bad) in [
        (PgType::Int2, vec![0u8; 4]),
        (PgType::Int4, vec![0u8; 2]),
        (PgType::Int8, vec![0u8; 4]),
        (PgType::Float4, vec![0u8; 8]),
        (PgType::Float8, vec![0u8; 4]),
        (PgType::Bool, vec![]),
        (PgType::Uuid, vec![0u8; 15]),
        (PgType::Date, vec![0u8; 8]),
        (PgType::Time(None), vec![0u8; 4]),
        (PgType::Timestamp(None), vec![0u8; 4]),
        (PgType::Timestamptz(None), vec![0u8; 7]),
        (PgType::Interval(None), vec![0u8; 12]),
    ] {
        let name = ty.sql_name();
        let (errors, batch) = decode_rejecting(ty, vec![None, Some(bad.clone()), None]);
        assert_eq!(errors.len(), 1, "{name}");
        assert_eq!(errors[0].row, 2, "{name}");
        assert_eq!(errors[0].column.as_deref(), Some("c"));
        assert!(
            errors[0]
                .message
                .contains(&format!("got {} bytes", bad.len())),
            "{name}: {}",
            errors[0]
        );
        assert_eq!(batch.num_rows(), 2, "{name}");
    }
}

// ---------------------------------------------------------------------------
// Dates and times.

#[test]
fn dates_shift_to_the_unix_epoch_and_keep_infinities() {
    let pg = |unix_days: i32| i4(unix_days - 10_957);
    let batch = decode_one(
        PgType::Date,
        vec![
            i4(0),          // 2000-01-01
            pg(0),          // 1970-01-01
            pg(-25_567),    // 1900-01-01
            pg(2_932_896),  // 9999-12-31
            pg(-719_162),   // 0001-01-01
            i4(-2_451_545), // 4713-11-24 BC, PostgreSQL's first day
            i4(i32::MAX),   // infinity
            i4(i32::MIN),   // -infinity
            None,
        ],
    );
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Date32);
    let d = batch.column(0).as_primitive::<Date32Type>();
    assert_eq!(
        d.iter().collect::<Vec<_>>(),
        vec![
            Some(10_957),
            Some(0),
            Some(-25_567),
            Some(2_932_896),
            Some(-719_162),
            Some(-2_451_545 + 10_957),
            Some(i32::MAX),
            Some(i32::MIN),
            None
        ]
    );
}

#[test]
fn times_are_microseconds_since_midnight() {
    let batch = decode_one(
        PgType::Time(None),
        vec![
            i8(0),
            i8(((12 * 60 + 34) * 60 + 56) * 1_000_000 + 789_012),
            i8(86_400_000_000), // 24:00:00
            None,
        ],
    );
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Time64(TimeUnit::Microsecond)
    );
    let t = batch.column(0).as_primitive::<Time64MicrosecondType>();
    assert_eq!(
        t.iter().collect::<Vec<_>>(),
        vec![Some(0), Some(45_296_789_012), Some(86_400_000_000), None]
    );
}

#[test]
fn timestamps_shift_to_the_unix_epoch() {
    const E: i64 = 946_684_800_000_000;
    let unix = |secs: i64, micros: i64| secs * 1_000_000 + micros;
    let pg = |v: i64| i8(v - E);
    let values = vec![
        i8(0),                            // 2000-01-01 00:00:00
        pg(unix(0, 0)),                   // 1970-01-01
        pg(unix(-14_182_940, 0)),         // 1969-07-20 20:17:40
        pg(unix(-2_208_988_800, 1)),      // 1900-01-01 00:00:00.000001
        pg(unix(2_147_483_648, 0)),       // 2038-01-19 03:14:08, past i32 seconds
        pg(unix(4_102_444_800, 999_999)), // 2100-01-01 00:00:00.999999
        i8(i64::MAX),                     // infinity
        i8(i64::MIN),                     // -infinity
        None,
    ];
    let expect = vec![
        Some(E),
        Some(0),
        Some(-14_182_940_000_000),
        Some(-2_208_988_799_999_999),
        Some(2_147_483_648_000_000),
        Some(4_102_444_800_999_999),
        Some(i64::MAX),
        Some(i64::MIN),
        None,
    ];
    let batch = decode_one(PgType::Timestamp(None), values.clone());
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    let t = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(t.iter().collect::<Vec<_>>(), expect);

    let batch = decode_one(PgType::Timestamptz(None), values);
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let t = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(t.timezone(), Some("UTC"));
    assert_eq!(t.iter().collect::<Vec<_>>(), expect);
}

#[test]
fn timestamptz_is_the_utc_instant() {
    // '2024-03-10 13:00:00+01' is sent as UTC 12:00:00.
    let utc_noon = 1_710_072_000i64 * 1_000_000;
    let batch = decode_one(
        PgType::Timestamptz(None),
        vec![i8(utc_noon - 946_684_800_000_000)],
    );
    let t = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(t.value(0), utc_noon);
}

/// 294276-12-31 23:59:59.999999, PostgreSQL's last timestamp, in µs since 2000-01-01.
const PG_LAST_TIMESTAMP: i64 = 9_223_371_331_199_999_999;

#[test]
fn the_end_of_the_timestamp_range_wraps_above_i64_min() {
    // PostgreSQL's last timestamp plus the epoch shift is past i64::MAX; it
    // wraps to just above i64::MIN instead of failing.
    for ty in [PgType::Timestamp(None), PgType::Timestamptz(Some(6))] {
        let batch = decode_one(
            ty.clone(),
            vec![
                i8(PG_LAST_TIMESTAMP),
                i8(i64::MAX - PG_EPOCH_OFFSET_MICROS), // the first wrapped value
                i8(i64::MAX - PG_EPOCH_OFFSET_MICROS - 1), // the last plain one
                i8(i64::MAX),
                i8(i64::MIN),
                i8(0),
            ],
        );
        let t = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(
            t.values().to_vec(),
            vec![
                -9_222_426_057_709_551_615,
                i64::MIN + 1,
                i64::MAX - 1,
                i64::MAX,
                i64::MIN,
                PG_EPOCH_OFFSET_MICROS,
            ],
            "{ty}"
        );
        assert!(t.value(0) < -9_000_000_000_000_000_000);
        assert_eq!(
            crate::types::timestamp_to_pg(t.value(0)),
            Some(PG_LAST_TIMESTAMP)
        );
    }
}

#[test]
fn intervals_are_postgres_fields() {
    let batch = decode_one(
        PgType::Interval(None),
        vec![
            // 1 year 2 mons 3 days 04:05:06.789
            interval(((4 * 60 + 5) * 60 + 6) * 1_000_000 + 789_000, 3, 14),
            // -1 mons +2 days -00:00:00.000001
            interval(-1, 2, -1),
            interval(0, 0, 0),
            interval(i64::MAX, i32::MAX, i32::MAX), // infinity (PostgreSQL 17)
            interval(i64::MIN, i32::MIN, i32::MIN), // -infinity
            None,
            // Past 292 years of microseconds, which MonthDayNano cannot hold.
            interval(i64::MAX / 10, 0, 0),
            interval(i64::MAX, 0, 0),
            interval(i64::MIN + 1, -5, 7),
        ],
    );
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Struct(crate::types::interval_fields())
    );
    let v = batch.column(0).as_struct();
    assert_eq!(v.column_names(), ["months", "days", "microseconds"]);
    let months = v.column(0).as_primitive::<Int32Type>();
    let days = v.column(1).as_primitive::<Int32Type>();
    let micros = v.column(2).as_primitive::<Int64Type>();
    let got: Vec<Option<(i32, i32, i64)>> = (0..v.len())
        .map(|i| {
            v.is_valid(i)
                .then(|| (months.value(i), days.value(i), micros.value(i)))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            Some((14, 3, 14_706_789_000)),
            Some((-1, 2, -1)),
            Some((0, 0, 0)),
            Some((i32::MAX, i32::MAX, i64::MAX)),
            Some((i32::MIN, i32::MIN, i64::MIN)),
            None,
            Some((0, 0, i64::MAX / 10)),
            Some((0, 0, i64::MAX)),
            Some((7, -5, i64::MIN + 1)),
        ]
    );
    // The children have no nulls of their own; the struct does.
    assert_eq!(v.null_count(), 1);
    assert!(v.columns().iter().all(|c| c.null_count() == 0));
}

// ---------------------------------------------------------------------------
// inet / cidr

#[test]
fn inet_prints_like_postgres() {
    let batch = decode_one(
        PgType::Inet,
        vec![
            inet(2, 32, false, &[192, 168, 0, 1]),
            inet(2, 8, false, &[10, 1, 2, 3]),
            inet(2, 0, false, &[0, 0, 0, 0]),
            inet(3, 128, false, &v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])),
            inet(3, 128, false, &v6([0, 0, 0, 0, 0, 0, 0, 1])),
            inet(3, 128, false, &v6([0; 8])),
            inet(3, 64, false, &v6([0xfe80, 0, 0, 0, 0, 0, 0, 1])),
            inet(3, 128, false, &v6([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])),
            // IPv4-compatible: PostgreSQL prints ::1.2.3.4 (Rust's Display would not).
            inet(3, 128, false, &v6([0, 0, 0, 0, 0, 0, 0x0102, 0x0304])),
            // Two equal runs: the first is compressed.
            inet(3, 128, false, &v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])),
            // A single zero group is not compressed.
            inet(3, 128, false, &v6([1, 0, 2, 3, 4, 5, 6, 7])),
            // The longer run wins even when later.
            inet(3, 128, false, &v6([1, 0, 0, 2, 0, 0, 0, 3])),
            // Trailing run.
            inet(3, 128, false, &v6([1, 0, 0, 0, 0, 0, 0, 0])),
            inet(
                3,
                128,
                false,
                &v6([
                    0xabcd, 0xef01, 0x2345, 0x6789, 0xabcd, 0xef01, 0x2345, 0x6789,
                ]),
            ),
            None,
        ],
    );
    assert_eq!(
        strings(&batch, 0),
        vec![
            s("192.168.0.1"),
            s("10.1.2.3/8"),
            s("0.0.0.0/0"),
            s("2001:db8::1"),
            s("::1"),
            s("::"),
            s("fe80::1/64"),
            s("::ffff:1.2.3.4"),
            s("::1.2.3.4"),
            s("2001:db8::1:0:0:1"),
            s("1:0:2:3:4:5:6:7"),
            s("1:0:0:2::3"),
            s("1::"),
            s("abcd:ef01:2345:6789:abcd:ef01:2345:6789"),
            None
        ]
    );
}

#[test]
fn cidr_always_prints_its_prefix() {
    let batch = decode_one(
        PgType::Cidr,
        vec![
            inet(2, 8, true, &[10, 0, 0, 0]),
            inet(2, 32, true, &[192, 168, 1, 1]),
            inet(2, 25, true, &[192, 168, 100, 128]),
            inet(3, 32, true, &v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0])),
            inet(3, 128, true, &v6([0, 0, 0, 0, 0, 0, 0, 1])),
        ],
    );
    assert_eq!(
        strings(&batch, 0),
        vec![
            s("10.0.0.0/8"),
            s("192.168.1.1/32"),
            s("192.168.100.128/25"),
            s("2001:db8::/32"),
            s("::1/128"),
        ]
    );
}

#[test]
fn malformed_inet_is_a_value_error() {
    let (errors, batch) = decode_rejecting(
        PgType::Inet,
        vec![
            inet(2, 33, false, &[1, 2, 3, 4]),
            inet(2, 32, false, &[1, 2, 3]),
            inet(9, 32, false, &[1, 2, 3, 4]),
            Some(vec![2, 32, 0, 4, 1, 2]),
            inet(2, 32, false, &[1, 2, 3, 4]),
        ],
    );
    assert_eq!(errors.len(), 4);
    assert!(errors[0].message.contains("prefix length 33"));
    assert_eq!(strings(&batch, 0), vec![s("1.2.3.4")]);
}

// ---------------------------------------------------------------------------
// Arrays

#[test]
fn int_arrays_with_nulls_and_empties() {
    let batch = decode_one(
        array_of(PgType::Int4),
        vec![
            array(oid::INT4, &[i4(1), None, i4(3)]),
            empty_array(oid::INT4),
            None,
            array(oid::INT4, &[i4(i32::MIN)]),
            array(oid::INT4, &[None]),
        ],
    );
    assert_eq!(
        batch.schema().field(0).data_type(),
        &DataType::Struct(array_fields(PgType::Int4.field("item", true)))
    );
    let arrays = batch.column(0).as_struct();
    assert_eq!(arrays.len(), 5);
    assert_eq!(arrays.column_names(), [ARRAY_ITEMS, ARRAY_SHAPE]);
    assert_eq!(int_items(&batch, 0, 0), vec![Some(1), None, Some(3)]);
    assert!(arrays.is_valid(1));
    assert_eq!(int_items(&batch, 0, 1), vec![]);
    assert!(arrays.is_null(2));
    assert_eq!(items(&batch, 0).value_length(2), 0);
    assert_eq!(int_items(&batch, 0, 3), vec![Some(i32::MIN)]);
    assert_eq!(int_items(&batch, 0, 4), vec![None]);
    // One dimension with lower bound 1, and the empty array: no shape.
    assert_eq!(shapes(&batch, 0), vec![None; 5]);
    // The items list itself has no NULLs; the struct does.
    assert_eq!(items(&batch, 0).null_count(), 0);
    assert_eq!(arrays.null_count(), 1);
}

#[test]
fn arrays_of_text_numeric_uuid_and_enum() {
    let id = [7u8; 16];
    let rows = vec![
        vec![
            array(oid::TEXT, &[txt("ä"), txt(""), None, txt("日本")]),
            array(
                oid::NUMERIC,
                &[numeric("1.50"), numeric("-2"), None, numeric("NaN")],
            ),
            array(oid::UUID, &[bytes(&id)]),
            array(16_385, &[txt("happy"), txt("sad")]),
            array(oid::TIMESTAMPTZ, &[i8(0)]),
        ],
        vec![
            empty_array(oid::TEXT),
            empty_array(oid::NUMERIC),
            None,
            empty_array(16_385),
            None,
        ],
    ];
    let mood = PgType::Enum(UserType {
        name: "mood".into(),
        oid: 16_385,
        labels: vec![],
    });
    let batch = decode(
        vec![
            col("t", array_of(PgType::Text)),
            col("n", array_of(dec(12, 2))),
            col("u", array_of(PgType::Uuid)),
            col("e", array_of(mood)),
            col("ts", array_of(PgType::Timestamptz(None))),
        ],
        &stream(&rows),
    );
    let t = items(&batch, 0);
    assert_eq!(
        t.value(0).as_string::<i32>().iter().collect::<Vec<_>>(),
        vec![Some("ä"), Some(""), None, Some("日本")]
    );
    assert_eq!(t.value(1).len(), 0);
    let n = items(&batch, 1);
    assert_eq!(
        n.value(0)
            .as_primitive::<Decimal128Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some(150), Some(-200), None, Some(DECIMAL_NAN)]
    );
    let u = items(&batch, 2);
    assert_eq!(u.value(0).as_fixed_size_binary().value(0), id);
    assert!(batch.column(2).is_null(1));
    let e = items(&batch, 3);
    assert_eq!(
        e.value(0).as_string::<i32>().iter().collect::<Vec<_>>(),
        vec![Some("happy"), Some("sad")]
    );
    let ts = items(&batch, 4);
    assert_eq!(
        ts.value(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        946_684_800_000_000
    );
    let tz_item = PgType::Timestamptz(None).field("item", true);
    assert_eq!(
        tz_item.data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        batch.schema().field(4).data_type(),
        &DataType::Struct(array_fields(tz_item))
    );
    for i in 0..5 {
        assert_eq!(shapes(&batch, i), vec![None, None]);
    }
}

#[test]
fn arrays_of_any_dimensions_and_lower_bounds() {
    let batch = decode_one(
        array_of(PgType::Int4),
        vec![
            // '{{1,2,3},{4,NULL,6}}'
            md_array(
                oid::INT4,
                &[(2, 1), (3, 1)],
                &[i4(1), i4(2), i4(3), i4(4), None, i4(6)],
            ),
            // '[0:2]={7,8,9}'
            md_array(oid::INT4, &[(3, 0)], &[i4(7), i4(8), i4(9)]),
            // '[-5:-4][3:4]={{1,2},{3,4}}'
            md_array(oid::INT4, &[(2, -5), (2, 3)], &[i4(1), i4(2), i4(3), i4(4)]),
            // '{{{1,2},{3,4}},{{5,6},{7,8}}}'
            md_array(
                oid::INT4,
                &[(2, 1), (2, 1), (2, 1)],
                &(1..=8).map(i4).collect::<Vec<_>>(),
            ),
            // A plain one-dimensional array between them.
            array(oid::INT4, &[i4(5)]),
            // Six dimensions, PostgreSQL's maximum.
            md_array(
                oid::INT4,
                &[(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 6)],
                &[i4(1), None],
            ),
            empty_array(oid::INT4),
            None,
        ],
    );
    assert_eq!(
        int_items(&batch, 0, 0),
        vec![Some(1), Some(2), Some(3), Some(4), None, Some(6)]
    );
    assert_eq!(int_items(&batch, 0, 1), vec![Some(7), Some(8), Some(9)]);
    assert_eq!(
        int_items(&batch, 0, 2),
        vec![Some(1), Some(2), Some(3), Some(4)]
    );
    assert_eq!(
        int_items(&batch, 0, 3),
        (1..=8).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(int_items(&batch, 0, 4), vec![Some(5)]);
    assert_eq!(int_items(&batch, 0, 5), vec![Some(1), None]);
    assert_eq!(int_items(&batch, 0, 6), vec![]);
    assert_eq!(
        shapes(&batch, 0),
        vec![
            Some(vec![2, 1, 3, 1]),
            Some(vec![3, 0]),
            Some(vec![2, -5, 2, 3]),
            Some(vec![2, 1, 2, 1, 2, 1]),
            None,
            Some(vec![1, 1, 1, 2, 1, 3, 1, 4, 1, 5, 2, 6]),
            None,
            None,
        ]
    );
}

#[test]
fn bad_arrays_are_value_errors_and_roll_back_their_elements() {
    let mut seven_dims = Vec::new();
    seven_dims.extend_from_slice(&7i32.to_be_bytes());
    seven_dims.extend_from_slice(&0i32.to_be_bytes());
    seven_dims.extend_from_slice(&oid::INT4.to_be_bytes());
    for _ in 0..7 {
        seven_dims.extend_from_slice(&1i32.to_be_bytes());
        seven_dims.extend_from_slice(&1i32.to_be_bytes());
    }
    seven_dims.extend_from_slice(&4i32.to_be_bytes());
    seven_dims.extend_from_slice(&5i32.to_be_bytes());

    let mut truncated = array(oid::INT4, &[i4(1), i4(2)]).unwrap();
    truncated.truncate(truncated.len() - 2);

    // Says 2 x 2 elements, carries 3.
    let mut short = Vec::new();
    for word in [2i32, 0, oid::INT4 as i32, 2, 1, 2, 1] {
        short.extend_from_slice(&word.to_be_bytes());
    }
    for v in 1..=3i32 {
        short.extend_from_slice(&4i32.to_be_bytes());
        short.extend_from_slice(&v.to_be_bytes());
    }

    let (errors, batch) = decode_rejecting(
        array_of(PgType::Int4),
        vec![
            array(oid::INT4, &[i4(1)]),
            Some(seven_dims),
            array(oid::INT8, &[i8(1)]),
            // Good elements first, then a 2-byte int4: the good ones must not stay.
            array(oid::INT4, &[i4(10), i4(11), i2(12)]),
            Some(truncated),
            Some(short),
            md_array(oid::INT4, &[(1, 0), (2, 7)], &[i4(2), i4(3)]),
        ],
    );
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors[0].message.contains("dimension count 7"),
        "{}",
        errors[0]
    );
    assert!(errors[1].message.contains("OID 20"), "{}", errors[1]);
    assert!(errors[2].message.contains("element 3"), "{}", errors[2]);
    assert!(errors[3].message.contains("truncated"), "{}", errors[3]);
    assert!(errors[4].message.contains("truncated"), "{}", errors[4]);
    let list = items(&batch, 0);
    assert_eq!(list.len(), 2);
    assert_eq!(
        list.values()
            .as_primitive::<Int32Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
    assert_eq!(list.value_offsets(), &[0, 1, 3]);
    // The rejected rows' shapes were rolled back too.
    assert_eq!(shapes(&batch, 0), vec![None, Some(vec![1, 0, 2, 7])]);
}

// ---------------------------------------------------------------------------
// Composite, domain and fallback types

fn inner_t() -> PgType {
    PgType::Composite {
        ty: UserType {
            name: "inner_t".into(),
            oid: 16_600,
            labels: vec![],
        },
        attributes: vec![
            Attribute {
                name: "x".into(),
                ty: PgType::Int4,
                oid: oid::INT4,
            },
            Attribute {
                name: "label".into(),
                ty: PgType::Text,
                oid: oid::TEXT,
            },
        ],
    }
}

/// `outer_t AS (name text, inner_v inner_t, tags text[], at timestamptz)`.
fn outer_t() -> PgType {
    PgType::Composite {
        ty: UserType {
            name: "outer_t".into(),
            oid: 16_610,
            labels: vec![],
        },
        attributes: vec![
            Attribute {
                name: "name".into(),
                ty: PgType::Text,
                oid: oid::TEXT,
            },
            Attribute {
                name: "inner_v".into(),
                ty: inner_t(),
                oid: 16_600,
            },
            Attribute {
                name: "tags".into(),
                ty: array_of(PgType::Text),
                oid: 1009,
            },
            Attribute {
                name: "at".into(),
                ty: PgType::Timestamptz(None),
                oid: oid::TIMESTAMPTZ,
            },
        ],
    }
}

fn outer_value(
    name: Option<&str>,
    inner: Option<(Option<i32>, Option<&str>)>,
    tags: Option<Vec<u8>>,
    at: Option<i64>,
) -> Option<Vec<u8>> {
    record(&[
        (oid::TEXT, name.and_then(txt)),
        (
            16_600,
            inner.and_then(|(x, label)| {
                record(&[
                    (oid::INT4, x.and_then(i4)),
                    (oid::TEXT, label.and_then(txt)),
                ])
            }),
        ),
        (1009, tags),
        (oid::TIMESTAMPTZ, at.and_then(i8)),
    ])
}

fn outer_rows() -> Vec<Option<Vec<u8>>> {
    vec![
        outer_value(
            Some("full"),
            Some((Some(1), Some("one"))),
            array(oid::TEXT, &[txt("a"), None, txt("b,c")]),
            Some(0),
        ),
        // NULL attributes at both levels.
        outer_value(None, Some((Some(-7), None)), None, None),
        None,
        // A NULL inner composite, a 2-D array with lower bounds.
        outer_value(
            Some(""),
            None,
            md_array(oid::TEXT, &[(1, 0), (2, 1)], &[txt("x"), txt("y")]),
            Some(PG_LAST_TIMESTAMP),
        ),
        // Empty array, all-NULL inner.
        outer_value(
            Some("e"),
            Some((None, None)),
            empty_array(oid::TEXT),
            Some(i64::MIN),
        ),
    ]
}

#[test]
fn composites_decode_into_structs() {
    let batch = decode_one(outer_t(), outer_rows());
    let field = batch.schema().field(0).clone();
    assert_eq!(field.data_type(), &outer_t().arrow_type());
    assert_eq!(field.metadata()[PG_TYPE_KEY], "outer_t");
    let outer = batch.column(0).as_struct();
    assert_eq!(outer.column_names(), ["name", "inner_v", "tags", "at"]);
    assert_eq!(
        (0..5).map(|i| outer.is_valid(i)).collect::<Vec<_>>(),
        [true, true, false, true, true]
    );
    let names: Vec<Option<&str>> = outer.column(0).as_string::<i32>().iter().collect();
    assert_eq!(names, [Some("full"), None, None, Some(""), Some("e")]);
    let inner = outer.column(1).as_struct();
    assert_eq!(
        (0..5).map(|i| inner.is_valid(i)).collect::<Vec<_>>(),
        [true, true, false, false, true]
    );
    let xs: Vec<Option<i32>> = inner.column(0).as_primitive::<Int32Type>().iter().collect();
    assert_eq!(xs, [Some(1), Some(-7), None, None, None]);
    let labels: Vec<Option<&str>> = inner.column(1).as_string::<i32>().iter().collect();
    assert_eq!(labels, [Some("one"), None, None, None, None]);
    let tags = outer.column(2).as_struct();
    assert_eq!(
        (0..5).map(|i| tags.is_valid(i)).collect::<Vec<_>>(),
        [true, false, false, true, true]
    );
    let tag_items = tags.column(0).as_list::<i32>();
    let tag = |r: usize| -> Vec<Option<String>> {
        tag_items
            .value(r)
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    assert_eq!(tag(0), [s("a"), None, s("b,c")]);
    assert_eq!(tag(3), [s("x"), s("y")]);
    assert_eq!(tag(4), Vec::<Option<String>>::new());
    let tag_shape = tags.column(1).as_list::<i32>();
    assert!(tag_shape.is_null(0) && tag_shape.is_null(4));
    assert_eq!(
        tag_shape
            .value(3)
            .as_primitive::<Int32Type>()
            .values()
            .to_vec(),
        [1, 0, 2, 1]
    );
    let at = outer.column(3).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), PG_EPOCH_OFFSET_MICROS);
    assert!(at.is_null(1));
    assert_eq!(at.value(3), -9_222_426_057_709_551_615);
    assert_eq!(at.value(4), i64::MIN);
}

#[test]
fn bad_records_are_value_errors_and_roll_back() {
    let good = record(&[(oid::INT4, i4(1)), (oid::TEXT, txt("a"))]);
    let mut trailing = good.clone().unwrap();
    trailing.push(0);
    let (errors, batch) = decode_rejecting(
        inner_t(),
        vec![
            good.clone(),
            record(&[(oid::INT4, i4(1))]),
            // The first attribute decodes, the second is not UTF-8.
            record(&[(oid::INT4, i4(99)), (oid::TEXT, bytes(&[0xff]))]),
            record(&[(oid::INT4, i2(1)), (oid::TEXT, txt("a"))]),
            Some(trailing),
            Some(vec![0, 0]),
            record(&[(oid::INT4, None), (oid::TEXT, txt("z"))]),
        ],
    );
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors[0].message.contains("1 fields, expected 2"),
        "{}",
        errors[0]
    );
    assert!(errors[1].message.contains("`label`"), "{}", errors[1]);
    assert!(errors[2].message.contains("`x`"), "{}", errors[2]);
    assert!(errors[3].message.contains("trailing"), "{}", errors[3]);
    assert_eq!(batch.num_rows(), 2);
    let st = batch.column(0).as_struct();
    let xs: Vec<Option<i32>> = st.column(0).as_primitive::<Int32Type>().iter().collect();
    assert_eq!(xs, [Some(1), None]);
    let labels: Vec<Option<&str>> = st.column(1).as_string::<i32>().iter().collect();
    assert_eq!(labels, [Some("a"), Some("z")]);
}

fn amount() -> PgType {
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

#[test]
fn domains_decode_as_their_base_type() {
    let batch = decode_one(
        amount(),
        vec![numeric("1234.50"), numeric("-0.01"), None, numeric("NaN")],
    );
    let field = batch.schema().field(0).clone();
    assert_eq!(field.data_type(), &DataType::Decimal128(10, 2));
    assert_eq!(field.metadata()[PG_TYPE_KEY], "amount");
    assert_eq!(
        field.metadata()[PG_DOMAIN_KEY],
        r#"{"base":"numeric(10,2)","not_null":false,"checks":[]}"#
    );
    let a = batch.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(
        a.iter().collect::<Vec<_>>(),
        [Some(123_450), Some(-1), None, Some(DECIMAL_NAN)]
    );
    // The base type's limits apply.
    let (errors, batch) =
        decode_rejecting(amount(), vec![numeric("100000000.00"), numeric("1.00")]);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("Decimal128(10,2)"),
        "{}",
        errors[0]
    );
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

#[test]
fn fallback_types_keep_their_send_bytes() {
    let p = point(1.5, -2.0).unwrap();
    let batch = decode_one(
        point_type(),
        vec![Some(p.clone()), None, point(f64::NAN, -0.0)],
    );
    let field = batch.schema().field(0).clone();
    assert_eq!(field.data_type(), &DataType::Binary);
    assert_eq!(field.metadata()[PG_TYPE_KEY], "point");
    assert_eq!(field.metadata()[PG_ENCODING_KEY], "binary");
    let b = batch.column(0).as_binary::<i32>();
    assert_eq!(b.value(0), &p[..]);
    assert!(b.is_null(1));
    assert_eq!(b.value(2), &point(f64::NAN, -0.0).unwrap()[..]);
    // Any bytes at all: the type's receive function is the judge.
    let batch = decode_one(point_type(), vec![bytes(&[]), bytes(&[1, 2, 3])]);
    let b = batch.column(0).as_binary::<i32>();
    assert_eq!(
        b.iter().collect::<Vec<_>>(),
        [Some(&[][..]), Some(&[1u8, 2, 3][..])]
    );
}

// ---------------------------------------------------------------------------
// Decoded, then encoded back: PostgreSQL's bytes, byte for byte.

#[test]
fn max_precision_numeric_both_ways() {
    // More than i16::MAX base-10000 digits, both ways.
    let batch = both_ways_one(
        NUMERIC,
        vec![
            numeric(&max_numeric_text("")),
            numeric(&max_numeric_text("-")),
            numeric(&format!("0.{}1", "0".repeat(16_382))),
            numeric(&format!("-{}", "9".repeat(131_072))),
            None,
        ],
    );
    assert_eq!(strings(&batch, 0)[0], Some(max_numeric_text("")));
}

#[test]
fn decimal128_sentinels_both_ways() {
    let batch = both_ways_one(
        dec(12, 2),
        vec![
            numeric("NaN"),
            numeric("Infinity"),
            numeric("-Infinity"),
            numeric("-9999999999.99"),
            None,
            numeric("0.00"),
        ],
    );
    assert_eq!(
        batch
            .column(0)
            .as_primitive::<Decimal128Type>()
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(DECIMAL_NAN),
            Some(DECIMAL_INFINITY),
            Some(DECIMAL_NEG_INFINITY),
            Some(-999_999_999_999),
            None,
            Some(0)
        ]
    );
    both_ways_one(
        dec(38, 38),
        vec![
            numeric("NaN"),
            numeric("-Infinity"),
            numeric("0.00000000000000000000000000000000000001"),
        ],
    );
}

#[test]
fn timestamps_both_ways_including_the_wrapped_end() {
    let values = [
        i8(PG_LAST_TIMESTAMP),
        i8(i64::MAX - PG_EPOCH_OFFSET_MICROS),
        i8(i64::MAX - PG_EPOCH_OFFSET_MICROS - 1),
        i8(-211_813_488_000_000_000), // 4714-11-24 BC
        i8(i64::MAX),
        i8(i64::MIN),
        i8(0),
        None,
    ];
    let rows: Vec<Row> = values.iter().map(|v| vec![v.clone(), v.clone()]).collect();
    let batch = both_ways(
        vec![
            col("ts", PgType::Timestamp(Some(3))),
            col("tz", PgType::Timestamptz(None)),
        ],
        &rows,
    );
    for i in 0..2 {
        let t = batch.column(i).as_primitive::<TimestampMicrosecondType>();
        assert!(t.value(0) < -9_000_000_000_000_000_000);
        assert_eq!(t.value(4), i64::MAX);
        assert_eq!(t.value(5), i64::MIN);
    }
}

#[test]
fn intervals_both_ways() {
    let batch = both_ways_one(
        PgType::Interval(Some(0x7FFF_FFFF)),
        vec![
            interval(i64::MAX, 0, 0),
            interval(i64::MIN + 1, i32::MIN + 1, i32::MAX - 1),
            interval(i64::MAX, i32::MAX, i32::MAX),
            interval(i64::MIN, i32::MIN, i32::MIN),
            interval(-1, 1, -1),
            None,
            interval(0, 0, 0),
        ],
    );
    let micros = batch
        .column(0)
        .as_struct()
        .column(2)
        .as_primitive::<Int64Type>();
    assert_eq!(micros.value(0), i64::MAX);
}

#[test]
fn multi_dimensional_arrays_both_ways() {
    let rows: Vec<Row> = vec![
        vec![
            md_array(
                oid::INT4,
                &[(2, 1), (3, 1)],
                &[i4(1), i4(2), i4(3), i4(4), None, i4(6)],
            ),
            md_array(
                oid::TEXT,
                &[(2, 1), (2, 1), (2, 1)],
                &["a", "b", "c", "d", "e", "f", "g", "h"].map(txt),
            ),
        ],
        vec![
            md_array(oid::INT4, &[(3, 0)], &[i4(7), i4(8), i4(9)]),
            md_array(
                oid::TEXT,
                &[(2, -5), (2, 3)],
                &[txt("p"), None, txt(""), txt("q")],
            ),
        ],
        vec![
            md_array(oid::INT4, &[(2, -5), (2, 3)], &[i4(1), i4(2), i4(3), i4(4)]),
            array(oid::TEXT, &[txt("plain")]),
        ],
        vec![empty_array(oid::INT4), None],
        vec![None, empty_array(oid::TEXT)],
        vec![
            array(oid::INT4, &[None, None]),
            md_array(
                oid::TEXT,
                &[(1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)],
                &[txt("6d")],
            ),
        ],
    ];
    let batch = both_ways(
        vec![
            col("i", array_of(PgType::Int4)),
            col("t", array_of(PgType::Text)),
        ],
        &rows,
    );
    assert_eq!(
        shapes(&batch, 0),
        [
            Some(vec![2, 1, 3, 1]),
            Some(vec![3, 0]),
            Some(vec![2, -5, 2, 3]),
            None,
            None,
            None
        ]
    );
    assert_eq!(
        shapes(&batch, 1),
        [
            Some(vec![2, 1, 2, 1, 2, 1]),
            Some(vec![2, -5, 2, 3]),
            None,
            None,
            None,
            Some(vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        ]
    );
    assert_eq!(
        int_items(&batch, 0, 2),
        [Some(1), Some(2), Some(3), Some(4)]
    );
    let t = items(&batch, 1).value(0);
    assert_eq!(
        t.as_string::<i32>().iter().collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e", "f", "g", "h"].map(Some)
    );
}

#[test]
fn arrays_of_every_element_kind_both_ways() {
    let mood = PgType::Enum(UserType {
        name: "mood".into(),
        oid: 16_385,
        labels: vec!["sad".into(), "happy".into()],
    });
    let rows: Vec<Row> = vec![
        vec![
            md_array(
                oid::NUMERIC,
                &[(2, 1), (2, 1)],
                &[numeric("1.50"), numeric("NaN"), None, numeric("-Infinity")],
            ),
            md_array(oid::INTERVAL, &[(1, 0)], &[interval(i64::MAX, 1, -1)]),
            md_array(16_385, &[(1, 1), (2, 1)], &[txt("sad"), txt("happy")]),
            md_array(600, &[(2, 2)], &[point(1.0, 2.0), None]),
            md_array(16_500, &[(1, 1), (1, 1)], &[numeric("-0.01")]),
            md_array(
                oid::TIMESTAMPTZ,
                &[(2, 1)],
                &[i8(PG_LAST_TIMESTAMP), i8(i64::MIN)],
            ),
        ],
        vec![
            array(oid::NUMERIC, &[numeric("0.00")]),
            array(oid::INTERVAL, &[None]),
            empty_array(16_385),
            array(600, &[point(0.0, 0.0)]),
            None,
            empty_array(oid::TIMESTAMPTZ),
        ],
    ];
    let batch = both_ways(
        vec![
            col("n", array_of(dec(10, 2))),
            col("iv", array_of(PgType::Interval(None))),
            col("e", array_of(mood)),
            col("p", array_of(point_type())),
            col("a", array_of(amount())),
            col("tz", array_of(PgType::Timestamptz(None))),
        ],
        &rows,
    );
    assert_eq!(
        items(&batch, 0)
            .value(0)
            .as_primitive::<Decimal128Type>()
            .iter()
            .collect::<Vec<_>>(),
        [
            Some(150),
            Some(DECIMAL_NAN),
            None,
            Some(DECIMAL_NEG_INFINITY)
        ]
    );
    assert_eq!(shapes(&batch, 3), [Some(vec![2, 2]), None]);
    // Metadata at every level: the column, and the element.
    let schema = batch.schema();
    let DataType::Struct(fields) = schema.field(2).data_type() else {
        panic!("arrays are structs")
    };
    let DataType::List(item) = fields[0].data_type() else {
        panic!("items are a list")
    };
    assert_eq!(item.metadata()[PG_TYPE_KEY], "mood");
    assert_eq!(item.metadata()[ENUM_LABELS_KEY], r#"["sad","happy"]"#);
    assert_eq!(schema.field(2).metadata()[PG_TYPE_KEY], "mood[]");
}

#[test]
fn composites_both_ways() {
    let batch = both_ways_one(outer_t(), outer_rows());
    assert_eq!(batch.num_rows(), 5);
    // Arrays of composites, with shapes.
    let rows = outer_rows();
    let batch = both_ways_one(
        array_of(outer_t()),
        vec![
            md_array(16_610, &[(2, 1), (2, 1)], &rows[..4]),
            array(16_610, &rows[4..]),
            md_array(16_610, &[(1, -1)], &[None]),
            None,
        ],
    );
    assert_eq!(
        shapes(&batch, 0),
        [Some(vec![2, 1, 2, 1]), None, Some(vec![1, -1]), None]
    );
}

#[test]
fn domains_and_fallback_types_both_ways() {
    let rows: Vec<Row> = vec![
        vec![numeric("1234.50"), point(1.5, -2.0), txt("happy")],
        vec![
            numeric("-99999999.99"),
            point(f64::NAN, f64::INFINITY),
            txt("sad"),
        ],
        vec![numeric("NaN"), None, None],
        vec![None, bytes(&[0xde, 0xad]), txt("with \"q\"")],
        vec![numeric("0.00"), point(-0.0, 0.0), txt("")],
    ];
    let batch = both_ways(
        vec![
            col("a", amount()),
            col("p", point_type()),
            col(
                "m",
                PgType::Enum(UserType {
                    name: "mood".into(),
                    oid: 16_385,
                    labels: vec![],
                }),
            ),
        ],
        &rows,
    );
    assert_eq!(
        batch.column(1).as_binary::<i32>().value(0),
        &point(1.5, -2.0).unwrap()[..]
    );
}

// ---------------------------------------------------------------------------
// Schema

#[test]
fn schema_fields_carry_the_sql_type() {
    let columns = vec![
        Column {
            name: "id".into(),
            ty: PgType::Int8,
            nullable: false,
        },
        col("price", dec(12, 2)),
        col("tags", PgType::Array(Box::new(PgType::Varchar(Some(20))))),
        col(
            "big",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
        ),
        col("m", PgType::Enum("mood".into())),
    ];
    let schema = schema(&columns);
    let meta = |i: usize| schema.field(i).metadata()[PG_TYPE_KEY].clone();
    assert_eq!(meta(0), "bigint");
    assert_eq!(meta(1), "numeric(12,2)");
    assert_eq!(meta(2), "varchar(20)[]");
    assert_eq!(meta(3), "numeric");
    assert_eq!(meta(4), "mood");
    // And the array's element.
    let DataType::Struct(fields) = schema.field(2).data_type() else {
        panic!("arrays are structs")
    };
    let DataType::List(item) = fields[0].data_type() else {
        panic!("items are a list")
    };
    assert_eq!(item.metadata()[PG_TYPE_KEY], "varchar(20)");
    assert!(!schema.field(0).is_nullable());
    assert!(schema.field(1).is_nullable());
    assert_eq!(schema.field(1).name(), "price");
    assert_eq!(CopyDecoder::new(columns).schema(), schema);
}

#[test]
fn null_in_a_non_nullable_column_is_a_value_error() {
    let columns = vec![
        col("a", PgType::Int4),
        Column {
            name: "b".into(),
            ty: PgType::Text,
            nullable: false,
        },
    ];
    let rows = vec![
        vec![i4(1), txt("x")],
        vec![i4(2), None],
        vec![i4(3), txt("z")],
    ];
    let mut d = CopyDecoder::new(columns);
    let err = d.feed(&stream(&rows)).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::Value);
    assert_eq!((err.row, err.column.as_deref()), (2, Some("b")));
    assert!(err.message.contains("NULL"));
    d.finish().unwrap();
    let batch = d.take_batch().unwrap().unwrap();
    // Column `a` of the rejected row was rolled back too.
    assert_eq!(
        batch
            .column(0)
            .as_primitive::<Int32Type>()
            .iter()
            .collect::<Vec<_>>(),
        vec![Some(1), Some(3)]
    );
    assert_eq!(strings(&batch, 1), vec![s("x"), s("z")]);
    assert_eq!(batch.column(1).null_count(), 0);
}

// ---------------------------------------------------------------------------
// Framing

#[test]
fn empty_result_has_no_batch() {
    let mut d = CopyDecoder::new(vec![col("a", PgType::Int4)]);
    d.feed(&stream(&[])).unwrap();
    d.finish().unwrap();
    assert!(d.finished());
    assert!(d.take_batch().unwrap().is_none());
}

#[test]
fn header_extension_is_skipped() {
    let mut bytes = COPY_SIGNATURE.to_vec();
    bytes.extend_from_slice(&0x0000_8001u32.to_be_bytes()); // non-critical low bits
    bytes.extend_from_slice(&5i32.to_be_bytes());
    bytes.extend_from_slice(b"hello");
    tuple(&mut bytes, &vec![i4(9)]);
    trailer(&mut bytes);
    for chunk in [1, 3, bytes.len()] {
        let mut d = CopyDecoder::new(vec![col("a", PgType::Int4)]);
        for c in bytes.chunks(chunk) {
            d.feed(c).unwrap();
        }
        d.finish().unwrap();
        let batch = d.take_batch().unwrap().unwrap();
        assert_eq!(batch.column(0).as_primitive::<Int32Type>().value(0), 9);
    }
}

#[test]
fn bad_headers_are_stream_errors() {
    let mut d = CopyDecoder::new(vec![col("a", PgType::Int4)]);
    let err = d.feed(b"COPY").unwrap_err();
    assert_eq!((err.kind, err.row), (DecodeErrorKind::Stream, 0));
    assert!(err.message.contains("signature"));
    assert_eq!(
        err.to_string(),
        "binary COPY header: not a binary COPY stream (bad signature)"
    );
    // The decoder stays failed.
    assert!(d.feed(&stream(&[])).is_err());

    let mut with_oids = COPY_SIGNATURE.to_vec();
    with_oids.extend_from_slice(&(1u32 << 16).to_be_bytes());
    with_oids.extend_from_slice(&0i32.to_be_bytes());
    let err = CopyDecoder::new(vec![]).feed(&with_oids).unwrap_err();
    assert!(err.message.contains("OIDs"), "{err}");

    let mut critical = COPY_SIGNATURE.to_vec();
    critical.extend_from_slice(&(1u32 << 20).to_be_bytes());
    critical.extend_from_slice(&0i32.to_be_bytes());
    let err = CopyDecoder::new(vec![]).feed(&critical).unwrap_err();
    assert!(err.message.contains("critical"), "{err}");

    // A stream that stops inside the header.
    let mut d = CopyDecoder::new(vec![]);
    d.feed(&COPY_SIGNATURE[..]).unwrap();
    let err = d.finish().unwrap_err();
    assert_eq!((err.kind, err.row), (DecodeErrorKind::Stream, 0));
    assert!(err.message.contains("header"));
}

#[test]
fn field_count_mismatch_is_a_stream_error() {
    let rows = vec![vec![i4(1), i4(2)], vec![i4(3)]];
    let mut d = CopyDecoder::new(vec![col("a", PgType::Int4), col("b", PgType::Int4)]);
    let err = d.feed(&stream(&rows)).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::Stream);
    assert_eq!(err.row, 2);
    assert!(err.message.contains("1 fields, expected 2"), "{err}");
    assert!(d.feed(&[]).is_err());
    assert!(d.finish().is_err());
    // The complete first row is still there.
    assert_eq!(d.take_batch().unwrap().unwrap().num_rows(), 1);
}

#[test]
fn truncated_streams_name_row_and_column() {
    let columns = || {
        vec![
            col("a", PgType::Int4),
            col("b", PgType::Text),
            col("c", PgType::Int8),
        ]
    };
    let rows = vec![
        vec![i4(1), txt("one"), i8(1)],
        vec![i4(2), txt("two"), i8(2)],
    ];
    let full = stream(&rows);
    let header_len = header().len();
    let row_len = 2 + (4 + 4) + (4 + 3) + (4 + 8);
    // (cut after this many bytes, expected row, expected column)
    let cases = [
        (header_len, 1, None),
        (header_len + 1, 1, None),
        (header_len + 2, 1, Some("a")),
        (header_len + 2 + 4 + 2, 1, Some("a")),
        (header_len + 2 + 8, 1, Some("b")),
        (header_len + 2 + 8 + 4 + 1, 1, Some("b")),
        (header_len + 2 + 8 + 7 + 3, 1, Some("c")),
        (header_len + row_len, 2, None),
        (header_len + row_len + 15, 2, Some("b")),
        (header_len + 2 * row_len, 3, None),
        (full.len() - 1, 3, None),
    ];
    for (cut, row, column) in cases {
        let mut d = CopyDecoder::new(columns());
        d.feed(&full[..cut]).unwrap();
        assert!(!d.finished());
        let err = d.finish().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::Stream, "cut {cut}");
        assert_eq!(err.row, row, "cut {cut}: {err}");
        assert_eq!(err.column.as_deref(), column, "cut {cut}: {err}");
        assert_eq!(d.buffered_rows(), (row - 1) as usize);
    }
}

#[test]
fn data_after_the_trailer_is_a_stream_error() {
    let mut bytes = stream(&[vec![i4(1)]]);
    bytes.extend_from_slice(&[0, 1]);
    let mut d = CopyDecoder::new(vec![col("a", PgType::Int4)]);
    let err = d.feed(&bytes).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::Stream);
    assert!(err.message.contains("after the COPY trailer"), "{err}");
}

#[test]
fn invalid_field_length_is_a_stream_error() {
    let mut bytes = header();
    bytes.extend_from_slice(&1i16.to_be_bytes());
    bytes.extend_from_slice(&(-2i32).to_be_bytes());
    let mut d = CopyDecoder::new(vec![col("a", PgType::Int4)]);
    let err = d.feed(&bytes).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::Stream);
    assert_eq!((err.row, err.column.as_deref()), (1, Some("a")));
}

// ---------------------------------------------------------------------------
// Chunking

/// Every type, several rows, including NULLs.
fn all_types() -> (Vec<Column>, Vec<u8>) {
    let (columns, rows) = all_types_rows();
    (columns, stream(&rows))
}

/// `all_types` as columns and rows.
fn all_types_rows() -> (Vec<Column>, Vec<Row>) {
    let columns = vec![
        col("i2", PgType::Int2),
        col("i4", PgType::Int4),
        col("i8", PgType::Int8),
        col("f4", PgType::Float4),
        col("f8", PgType::Float8),
        col("dec", dec(12, 2)),
        col(
            "num",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
        ),
        col("t", PgType::Text),
        col("vc", PgType::Varchar(Some(10))),
        col("bp", PgType::Bpchar(Some(4))),
        col("b", PgType::Bool),
        col("by", PgType::Bytea),
        col("d", PgType::Date),
        col("tm", PgType::Time(None)),
        col("ts", PgType::Timestamp(None)),
        col("tz", PgType::Timestamptz(None)),
        col("iv", PgType::Interval(None)),
        col("u", PgType::Uuid),
        col("j", PgType::Json),
        col("jb", PgType::Jsonb),
        col("ip", PgType::Inet),
        col("net", PgType::Cidr),
        col("e", PgType::Enum("mood".into())),
        col("arr", PgType::Array(Box::new(PgType::Int8))),
        col("tarr", PgType::Array(Box::new(PgType::Text))),
        col("md", array_of(PgType::Int4)),
        col("comp", outer_t()),
        col("amt", amount()),
        col("pt", point_type()),
        col("ivarr", array_of(PgType::Interval(None))),
    ];
    let mut rows = Vec::new();
    for k in 0..40i64 {
        let null = |v: Option<Vec<u8>>| if k % 7 == 3 { None } else { v };
        rows.push(vec![
            null(i2(k as i16 - 20)),
            null(i4(k as i32 * 1000)),
            null(i8(k * 1_000_000_007)),
            null(f4(k as f32 / 3.0)),
            null(f8(-(k as f64) / 7.0)),
            null(numeric(&format!("{}.{:02}", k * 31, k % 100))),
            null(numeric(&format!(
                "-{}.{}",
                k * 1_234_567_891,
                "0".repeat(k as usize % 5)
            ))),
            null(txt(&"é".repeat(k as usize % 9))),
            null(txt(&format!("v{k}"))),
            null(txt("ab  ")),
            null(boolean(k % 2 == 0)),
            null(bytes(&vec![k as u8; k as usize % 5])),
            null(i4(k as i32 * 400 - 8000)),
            null(i8(k * 1_000_000)),
            null(i8(k * 86_400_000_000 - 1)),
            null(i8(-k * 3_600_000_000)),
            null(interval(k, k as i32, -(k as i32))),
            null(bytes(&[k as u8; 16])),
            null(txt(&format!("{{\"k\": {k}}}"))),
            null(jsonb(&format!("[{k}]"))),
            null(inet(2, 24 + (k % 9) as u8, false, &[10, 0, k as u8, 1])),
            null(inet(
                3,
                64,
                true,
                &v6([0x2001, 0xdb8, k as u16, 0, 0, 0, 0, 0]),
            )),
            null(txt(["happy", "sad", "ok"][k as usize % 3])),
            null(if k % 5 == 0 {
                empty_array(oid::INT8)
            } else {
                array(oid::INT8, &[i8(k), None, i8(-k)])
            }),
            null(array(oid::TEXT, &[txt("x"), txt(&k.to_string())])),
            null(match k % 4 {
                0 => md_array(
                    oid::INT4,
                    &[(2, 1), (2, k as i32 - 20)],
                    &[i4(k as i32), None, i4(1), i4(2)],
                ),
                1 => md_array(oid::INT4, &[(1, -(k as i32))], &[i4(7)]),
                2 => empty_array(oid::INT4),
                _ => array(oid::INT4, &[i4(k as i32), i4(-1)]),
            }),
            null(outer_rows()[k as usize % 5].clone()),
            null(numeric(&format!("{}.{:02}", k * 1_000_003, k % 100))),
            null(point(k as f64 / 8.0, -(k as f64))),
            null(md_array(
                oid::INTERVAL,
                &[(1, k as i32 % 3), (2, 1)],
                &[interval(k * 1_000_000_007, k as i32, -(k as i32)), None],
            )),
        ]);
    }
    (columns, rows)
}

/// A small deterministic generator for chunk sizes.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, max: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        1 + (self.0 >> 33) as usize % max
    }
}

#[test]
fn all_types_decode_identically_whatever_the_chunking() {
    let (columns, bytes) = all_types();
    let whole = decode(columns.clone(), &bytes);
    assert_eq!(whole.num_rows(), 40);
    assert_eq!(whole.num_columns(), 30);
    // Spot checks that the fixture really decodes to values.
    assert_eq!(whole.column(1).as_primitive::<Int32Type>().value(5), 5000);
    assert!(whole.column(1).is_null(3));
    assert_eq!(strings(&whole, 6)[2], s("-2469135782.00"));
    assert_eq!(strings(&whole, 20)[1], s("10.0.1.1/25"));
    assert_eq!(strings(&whole, 21)[2], s("2001:db8:2::/64"));

    // One byte at a time.
    let mut d = CopyDecoder::new(columns.clone());
    for b in &bytes {
        d.feed(std::slice::from_ref(b)).unwrap();
    }
    d.finish().unwrap();
    assert_eq!(d.take_batch().unwrap().unwrap(), whole);

    // Random-ish chunk sizes, small and large, several seeds.
    for (seed, max) in [(1u64, 7usize), (2, 64), (3, 300), (4, 5000)] {
        let mut rng = Lcg(seed);
        let mut d = CopyDecoder::new(columns.clone());
        let mut rest: &[u8] = &bytes;
        while !rest.is_empty() {
            let n = rng.next(max).min(rest.len());
            d.feed(&rest[..n]).unwrap();
            rest = &rest[n..];
            // Empty feeds are harmless.
            d.feed(&[]).unwrap();
        }
        d.finish().unwrap();
        assert_eq!(d.take_batch().unwrap().unwrap(), whole, "seed {seed}");
    }
}

#[test]
fn all_types_encode_back_to_the_same_bytes() {
    let (columns, rows) = all_types_rows();
    let batch = both_ways(columns, &rows);
    assert_eq!(batch.num_rows(), 40);
    assert_eq!(shapes(&batch, 25)[0], Some(vec![2, 1, 2, -20]));
    assert_eq!(shapes(&batch, 25)[1], Some(vec![1, -1]));
}

#[test]
fn take_batch_mid_stream_then_continue() {
    let (columns, bytes) = all_types();
    let whole = decode(columns.clone(), &bytes);

    let mut d = CopyDecoder::new(columns);
    let mut batches = Vec::new();
    let mut rng = Lcg(42);
    let mut rest: &[u8] = &bytes;
    while !rest.is_empty() {
        let n = rng.next(400).min(rest.len());
        d.feed(&rest[..n]).unwrap();
        rest = &rest[n..];
        if d.buffered_rows() >= 7 {
            assert!(d.buffered_bytes() > 0);
            batches.push(d.take_batch().unwrap().unwrap());
            assert_eq!(d.buffered_rows(), 0);
            assert_eq!(d.buffered_bytes(), 0);
        }
    }
    d.finish().unwrap();
    if let Some(b) = d.take_batch().unwrap() {
        batches.push(b);
    }
    assert!(batches.len() >= 5, "{} batches", batches.len());
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 40);
    let mut start = 0;
    for b in &batches {
        assert_eq!(b, &whole.slice(start, b.num_rows()));
        start += b.num_rows();
    }
}

#[test]
fn value_errors_in_split_chunks_resume_cleanly() {
    let rows = vec![
        vec![numeric("1.00"), txt("a")],
        vec![numeric("1000.00"), txt("b")], // over precision 5
        vec![numeric("3.00"), txt("c")],
        vec![numeric("0.001"), txt("d")], // over scale 2
        vec![numeric("5.00"), txt("e")],
    ];
    let bytes = stream(&rows);
    for max in [1usize, 9, 40, 1000] {
        let mut d = CopyDecoder::new(vec![col("n", dec(5, 2)), col("s", PgType::Text)]);
        let mut rejected = Vec::new();
        let mut rng = Lcg(max as u64);
        let mut rest: &[u8] = &bytes;
        while !rest.is_empty() {
            let n = rng.next(max).min(rest.len());
            let mut input = &rest[..n];
            rest = &rest[n..];
            while let Err(e) = d.feed(input) {
                assert_eq!(e.kind, DecodeErrorKind::Value);
                assert_eq!(e.column.as_deref(), Some("n"));
                rejected.push(e.row);
                input = &[];
            }
        }
        while let Err(e) = d.finish() {
            rejected.push(e.row);
        }
        assert_eq!(rejected, vec![2, 4], "max chunk {max}");
        let batch = d.take_batch().unwrap().unwrap();
        assert_eq!(strings(&batch, 1), vec![s("a"), s("c"), s("e")]);
        assert_eq!(
            batch
                .column(0)
                .as_primitive::<Decimal128Type>()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some(100), Some(300), Some(500)]
        );
    }
}

#[test]
fn buffered_bytes_tracks_the_builders() {
    let mut d = CopyDecoder::new(vec![col("a", PgType::Int8), col("t", PgType::Text)]);
    assert_eq!(d.buffered_bytes(), 0);
    let mut bytes = header();
    for _ in 0..100 {
        tuple(&mut bytes, &vec![i8(1), txt(&"x".repeat(100))]);
    }
    d.feed(&bytes).unwrap();
    assert_eq!(d.buffered_rows(), 100);
    // 100 * 8 (int8) + 100 * 100 (text) + offsets + validity: a little over 11 KB.
    let n = d.buffered_bytes();
    assert!((10_800..12_000).contains(&n), "{n}");
    assert!(!d.finished());
}

#[test]
fn domain_over_an_array_both_ways() {
    let intarr = PgType::Domain {
        ty: UserType {
            name: "intarr".into(),
            oid: 16_800,
            labels: vec![],
        },
        base: Box::new(array_of(PgType::Int4)),
        def: DomainDef::default(),
    };
    assert_eq!(intarr.arrow_type(), array_of(PgType::Int4).arrow_type());
    let batch = both_ways_one(
        intarr,
        vec![
            md_array(oid::INT4, &[(2, 0), (1, 1)], &[i4(1), None]),
            array(oid::INT4, &[i4(3)]),
            None,
            empty_array(oid::INT4),
        ],
    );
    assert_eq!(
        shapes(&batch, 0),
        [Some(vec![2, 0, 1, 1]), None, None, None]
    );
    assert_eq!(batch.schema().field(0).metadata()[PG_TYPE_KEY], "intarr");
}
