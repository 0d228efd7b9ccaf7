//! Deterministic test rows: row `i` is a pure function of `i`, so the
//! generator source can produce any range and the verifying sink can
//! recompute exactly what it should have received. [`BigValues`] makes the
//! `name` of chosen rows a value of a chosen size (records larger than a
//! batch); both sides must be given the same.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
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

/// Rows whose `name` is a big value: `bytes` bytes of ASCII that depend on
/// the row id (see [`write_big_name`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BigValues<'a> {
    /// The rows' ids.
    pub ids: &'a [i64],
    /// The size of each such value in bytes.
    pub bytes: usize,
}

/// `big_values` in the generator's and the verifier's config
/// (`{"ids": [1], "bytes": 3145728}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigValuesConfig {
    /// The rows' ids.
    pub ids: Vec<i64>,
    /// The size of each such value in bytes.
    pub bytes: usize,
}

impl BigValuesConfig {
    /// The big values a config names, or none.
    pub fn of(config: &Option<BigValuesConfig>) -> BigValues<'_> {
        match config {
            Some(b) => BigValues { ids: &b.ids, bytes: b.bytes },
            None => BigValues::NONE,
        }
    }
}

impl BigValues<'_> {
    /// No big values: the plain rows.
    pub const NONE: BigValues<'static> = BigValues { ids: &[], bytes: 0 };

    fn has(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }
}

/// Writes row `id`'s big name of exactly `bytes` bytes: a prefix naming the
/// row, then a repeating pattern.
pub fn write_big_name(id: i64, bytes: usize, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    const PATTERN: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
    let prefix = format!("big value of row {id}: ");
    let head = &prefix[..prefix.len().min(bytes)];
    out.write_str(head)?;
    let mut left = bytes - head.len();
    let chunk = PATTERN.repeat(1820); // about 64 KiB per write
    while left > 0 {
        let n = left.min(chunk.len());
        out.write_str(&chunk[..n])?;
        left -= n;
    }
    Ok(())
}

/// Rows `start .. start + len` of the stream.
pub fn batch(start: i64, len: usize) -> Result<RecordBatch, ArrowError> {
    batch_with(start, len, BigValues::NONE)
}

/// The `name` column: NULL for every seventh row, else one of [`NAMES`];
/// a big value for the rows in `big`.
fn names(ids: std::ops::Range<i64>, big: BigValues) -> StringBuilder {
    let name = |i: i64| (i % 7 != 3).then(|| NAMES[(i % 5) as usize]);
    let bytes: usize = ids.clone().map(|i| if big.has(i) { big.bytes } else { name(i).map_or(0, str::len) }).sum();
    let mut builder = StringBuilder::with_capacity(ids.clone().count(), bytes);
    for i in ids {
        if big.has(i) {
            write_big_name(i, big.bytes, &mut builder).expect("writing to a builder cannot fail");
            builder.append_value("");
        } else {
            builder.append_option(name(i));
        }
    }
    builder
}

/// Rows `start .. start + len`, with big values where `big` says.
pub fn batch_with(start: i64, len: usize, big: BigValues) -> Result<RecordBatch, ArrowError> {
    let ids = start..start + len as i64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.clone())),
        Arc::new(Int32Array::from_iter(ids.clone().map(|i| (i % 11 != 0).then_some((i % 1000) as i32 - 500)))),
        Arc::new(Float64Array::from_iter_values(ids.clone().map(|i| i as f64 * 0.25 - 1.5))),
        Arc::new(
            Decimal128Array::from_iter_values(ids.clone().map(|i| i as i128 * 10_001 - 5_000_000))
                .with_precision_and_scale(18, 4)?,
        ),
        Arc::new(names(ids.clone(), big).finish()),
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
    first_difference_with(start, actual, BigValues::NONE)
}

/// [`first_difference`] against rows with big values where `big` says.
pub fn first_difference_with(start: i64, actual: &RecordBatch, big: BigValues) -> Result<Option<(usize, String)>, ArrowError> {
    let expected = batch_with(start, actual.num_rows(), big)?;
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

    #[test]
    fn big_values_replace_the_name_of_their_rows_only() {
        use arrow_array::cast::AsArray;
        let big = BigValues { ids: &[3, 5], bytes: 100_000 };
        let rows = batch_with(0, 8, big).unwrap();
        let (names, plain) = (rows.column(4).as_string::<i32>(), batch(0, 8).unwrap());
        assert_eq!(names.value(3).len(), 100_000, "row 3 is NULL in the plain rows, a value here");
        assert!(names.value(5).starts_with("big value of row 5: 0123"));
        for i in [0, 1, 2, 4, 6, 7] {
            assert_eq!(rows.column(4).slice(i, 1).to_data(), plain.column(4).slice(i, 1).to_data(), "row {i}");
        }
        assert_eq!(first_difference_with(0, &rows, big).unwrap(), None);
        assert_eq!(first_difference(0, &rows).unwrap().unwrap().1, "name");
        assert_eq!(first_difference_with(2, &rows.slice(2, 3), big).unwrap(), None, "a slice checks against its own ids");
        let mut tiny = String::new();
        write_big_name(12, 5, &mut tiny).unwrap();
        assert_eq!(tiny, "big v");
    }
}
