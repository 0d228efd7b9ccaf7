//! Deterministic test rows: row `i` is a pure function of `i`, so the
//! generator source can produce any range and the verifying sink can
//! recompute exactly what it should have received.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

/// About how many IPC bytes one row takes (used to size batches).
pub const APPROX_ROW_BYTES: usize = 64;

/// The generated stream's schema: ints, floats, decimals, strings,
/// timestamps with zone, booleans, and nulls.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("qty", DataType::Int32, true),
        Field::new("price", DataType::Float64, false),
        Field::new("amount", DataType::Decimal128(18, 4), false),
        Field::new("name", DataType::Utf8, true),
        Field::new("created_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("active", DataType::Boolean, true),
    ]))
}

const NAMES: [&str; 5] = ["alpha", "beta", "gamma ✓", "", "delta-with-a-longer-name"];

/// Rows `start .. start + len` of the stream.
pub fn batch(start: i64, len: usize) -> Result<RecordBatch, ArrowError> {
    let ids = start..start + len as i64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.clone())),
        Arc::new(Int32Array::from_iter(ids.clone().map(|i| (i % 11 != 0).then_some((i % 1000) as i32 - 500)))),
        Arc::new(Float64Array::from_iter_values(ids.clone().map(|i| i as f64 * 0.25 - 1.5))),
        Arc::new(
            Decimal128Array::from_iter_values(ids.clone().map(|i| i as i128 * 10_001 - 5_000_000))
                .with_precision_and_scale(18, 4)?,
        ),
        Arc::new(StringArray::from_iter(ids.clone().map(|i| (i % 7 != 3).then(|| NAMES[(i % 5) as usize])))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(ids.clone().map(|i| 1_600_000_000_000_000 + i * 1_000_003))
                .with_timezone("UTC"),
        ),
        Arc::new(BooleanArray::from_iter(ids.map(|i| (i % 5 != 4).then_some(i % 2 == 0)))),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// Where `actual` (claimed to hold rows `start ..`) differs from the
/// expected rows: `(row offset, column name)` of the first difference.
pub fn first_difference(start: i64, actual: &RecordBatch) -> Result<Option<(usize, String)>, ArrowError> {
    let expected = batch(start, actual.num_rows())?;
    if actual.schema().fields() != expected.schema().fields() {
        return Ok(Some((0, "<schema>".into())));
    }
    for (c, field) in expected.schema().fields().iter().enumerate() {
        let (a, e) = (actual.column(c), expected.column(c));
        if a.to_data() == e.to_data() {
            continue;
        }
        let row = (0..actual.num_rows())
            .find(|&r| a.slice(r, 1).to_data() != e.slice(r, 1).to_data())
            .unwrap_or(0);
        return Ok(Some((row, field.name().clone())));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_deterministic_and_contiguous() {
        let whole = batch(100, 50).unwrap();
        let tail = batch(120, 30).unwrap();
        assert_eq!(whole.slice(20, 30), tail);
        assert_eq!(first_difference(120, &tail).unwrap(), None);
        assert_eq!(first_difference(121, &tail).unwrap().unwrap().1, "id");
        assert!(whole.column(4).null_count() > 0, "names include nulls");
        assert!(whole.column(6).null_count() > 0, "flags include nulls");
    }
}
