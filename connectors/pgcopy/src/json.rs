//! Arrow values as JSON, for the dead-letter table (SPEC § Errors, `dlq`):
//! the destination writes a row it rejects this way, and the source a row it
//! cannot read (each value that decodes on its own as the destination would
//! write it, the one that does not as its binary COPY bytes in hex), so
//! both kinds of dead letter read alike.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use crate::types::push_json_string;

/// The row as a JSON object of its columns (only `only`'s, when given).
pub fn row_json(batch: &RecordBatch, row: usize, only: Option<&[String]>) -> String {
    let mut out = String::from("{");
    let mut first = true;
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if only.is_some_and(|keys| !keys.contains(field.name())) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        json_string(&mut out, field.name());
        out.push(':');
        value_json(&mut out, column, row);
    }
    out.push('}');
    out
}

/// `s` as a JSON string (NUL, which jsonb cannot hold, as U+FFFD).
pub fn json_string(out: &mut String, s: &str) {
    // jsonb cannot hold NUL (`\u0000`): it becomes U+FFFD.
    if s.contains('\0') {
        return push_json_string(out, &s.replace('\0', "\u{fffd}"));
    }
    push_json_string(out, s);
}

/// `bytes` as the JSON string `"\\x…"` (PostgreSQL's hex form of bytea).
pub fn hex(out: &mut String, bytes: &[u8]) {
    out.push_str("\"\\\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('"');
}

/// Days since 1970-01-01 as a proleptic Gregorian (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn date_text(out: &mut String, days: i64) {
    let (y, m, d) = civil(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

fn time_text(out: &mut String, micros: i64) {
    let s = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let _ = write!(out, "{:02}:{:02}:{:02}.{us:06}", s / 3600, s / 60 % 60, s % 60);
}

/// One value as JSON: numbers as numbers (NaN and infinities as strings),
/// text as strings, bytes as `"\\x…"`, dates and times in ISO form,
/// structs as objects, lists as arrays; anything else as its Arrow debug form.
pub fn value_json(out: &mut String, a: &ArrayRef, i: usize) {
    if a.is_null(i) {
        out.push_str("null");
        return;
    }
    macro_rules! num {
        ($t:ty) => {{
            let _ = write!(out, "{}", a.as_primitive::<$t>().value(i));
        }};
    }
    macro_rules! float {
        ($t:ty) => {{
            let v = a.as_primitive::<$t>().value(i);
            if v.is_finite() {
                let _ = write!(out, "{v:?}");
            } else {
                json_string(out, &format!("{v}"));
            }
        }};
    }
    match a.data_type() {
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => num!(UInt64Type),
        DataType::Float32 => float!(Float32Type),
        DataType::Float64 => float!(Float64Type),
        DataType::Boolean => out.push_str(if a.as_boolean().value(i) { "true" } else { "false" }),
        DataType::Decimal128(_, _) => {
            let d = a.as_primitive::<Decimal128Type>();
            let text = match d.value(i) {
                crate::types::DECIMAL_NAN => "NaN".to_string(),
                crate::types::DECIMAL_INFINITY => "Infinity".to_string(),
                crate::types::DECIMAL_NEG_INFINITY => "-Infinity".to_string(),
                _ => d.value_as_string(i),
            };
            json_string(out, &text);
        }
        DataType::Utf8 => json_string(out, a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => json_string(out, a.as_string::<i64>().value(i)),
        DataType::Utf8View => json_string(out, a.as_string_view().value(i)),
        DataType::Binary => hex(out, a.as_binary::<i32>().value(i)),
        DataType::LargeBinary => hex(out, a.as_binary::<i64>().value(i)),
        DataType::BinaryView => hex(out, a.as_binary_view().value(i)),
        DataType::FixedSizeBinary(_) => hex(out, a.as_fixed_size_binary().value(i)),
        DataType::Date32 => {
            let mut s = String::new();
            match a.as_primitive::<Date32Type>().value(i) {
                i32::MAX => s.push_str("infinity"),
                i32::MIN => s.push_str("-infinity"),
                d => date_text(&mut s, i64::from(d)),
            }
            json_string(out, &s);
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let mut s = String::new();
            time_text(&mut s, a.as_primitive::<Time64MicrosecondType>().value(i));
            json_string(out, &s);
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let v = a.as_primitive::<TimestampMicrosecondType>().value(i);
            let mut s = String::new();
            match crate::types::timestamp_to_pg(v) {
                _ if v == i64::MAX => s.push_str("infinity"),
                _ if v == i64::MIN => s.push_str("-infinity"),
                Some(pg) => {
                    let unix = i128::from(pg) + i128::from(crate::types::PG_EPOCH_OFFSET_MICROS);
                    let days = unix.div_euclid(86_400_000_000) as i64;
                    date_text(&mut s, days);
                    s.push(' ');
                    time_text(&mut s, unix.rem_euclid(86_400_000_000) as i64);
                    if tz.is_some() {
                        s.push_str("+00");
                    }
                }
                None => {
                    let _ = write!(s, "{v}");
                }
            }
            json_string(out, &s);
        }
        DataType::Struct(fields) => {
            let st = a.as_struct();
            out.push('{');
            for (k, (f, c)) in fields.iter().zip(st.columns()).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                json_string(out, f.name());
                out.push(':');
                value_json(out, c, i);
            }
            out.push('}');
        }
        DataType::List(_) => list_json(out, &a.as_list::<i32>().value(i)),
        DataType::LargeList(_) => list_json(out, &a.as_list::<i64>().value(i)),
        _ => json_string(out, &format!("{:?}", a.slice(i, 1))),
    }
}

fn list_json(out: &mut String, list: &ArrayRef) {
    out.push('[');
    for j in 0..list.len() {
        if j > 0 {
            out.push(',');
        }
        value_json(out, list, j);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn rows_render_as_json_objects() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![7, 8])), Arc::new(StringArray::from(vec![Some("a\"b\n"), None]))],
        )
        .unwrap();
        assert_eq!(row_json(&batch, 0, None), r#"{"id":7,"name":"a\"b\u000a"}"#);
        assert_eq!(row_json(&batch, 1, None), r#"{"id":8,"name":null}"#);
        assert_eq!(row_json(&batch, 1, Some(&["id".to_string()])), r#"{"id":8}"#);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(civil(-1), (1969, 12, 31));
    }
}
