//! A sink that verifies every row it receives against the generator's
//! deterministic rows (`rapidbyte-testdata`): ids must arrive contiguous
//! from 0 (or from the committed cursor), and every value must match.
//!
//! Config: `{"expect_rows": 1000000}` (optional): fail at the end unless
//! exactly that many rows arrived. `"big_values": {"ids": [1], "bytes": N}`
//! expects the generator's big values in those rows (give both the same).

use rapidbyte_sdk::{config, ConnectorError, Destination, Incoming, Input, StreamContext, WriteSummary};
use rapidbyte_testdata::BigValuesConfig;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    expect_rows: Option<u64>,
    /// Rows whose `name` is a big value (as the generator was told).
    #[serde(default)]
    big_values: Option<BigValuesConfig>,
}


struct Verify {
    config: Config,
}

impl Destination for Verify {
    fn open(json: &str) -> Result<Self, ConnectorError> {
        Ok(Self { config: config::parse(json)? })
    }

    fn write(&mut self, ctx: &StreamContext, input: &mut Input) -> Result<WriteSummary, ConnectorError> {
        let mut next_id: i64 = match ctx.cursor.as_ref().and_then(|c| c.last_value.as_deref()) {
            Some(v) => v.parse::<i64>().unwrap_or(-1) + 1,
            None => 0,
        };
        let first_id = next_id;
        let big = BigValuesConfig::of(&self.config.big_values);
        loop {
            match input.next()? {
                Incoming::Batch(batch, bytes) => {
                    let diff = rapidbyte_testdata::first_difference_with(next_id, &batch, big)
                        .map_err(|e| ConnectorError::internal("VERIFY", e.to_string()))?;
                    if let Some((row, column)) = diff {
                        return Err(ConnectorError::data(
                            "ROW_MISMATCH",
                            format!(
                                "stream `{}`: row {} (expected id {}) differs in column `{column}`",
                                ctx.stream_name,
                                next_id + row as i64,
                                next_id + row as i64
                            ),
                        ));
                    }
                    next_id += batch.num_rows() as i64;
                    input.batch_written(batch.num_rows() as u64, bytes as u64);
                }
                // Nothing to make durable: the checkpoint is confirmed at once.
                Incoming::Checkpoint(cp) => input.commit_checkpoint(&cp)?,
                // The generator never hands over dead letters: one here is a bug.
                Incoming::DeadLetter(row) => {
                    return Err(ConnectorError::internal(
                        "UNEXPECTED_DEAD_LETTER",
                        format!("stream `{}`: a dead letter arrived ({})", ctx.stream_name, row.error.code),
                    ))
                }
                Incoming::End => break,
            }
        }
        let received = (next_id - first_id) as u64;
        if let Some(expected) = self.config.expect_rows
            && received != expected
        {
            return Err(ConnectorError::data(
                "ROW_COUNT_MISMATCH",
                format!("stream `{}`: expected {expected} rows, received {received}", ctx.stream_name),
            ));
        }
        rapidbyte_sdk::host::info(&format!("verified {received} rows"));
        Ok(input.summary())
    }
}

rapidbyte_sdk::export_destination!(Verify, config_schema: include_str!("../config.schema.json"));
