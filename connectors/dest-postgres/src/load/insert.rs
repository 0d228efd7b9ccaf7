//! The INSERT fallback (`load_method: insert`): multi-row prepared INSERTs
//! binding the very bytes the COPY encoder produces.

use std::time::Instant;

use rapidbyte_pgconnect::{chunk, ident};
use rapidbyte_sdk::arrow::array::RecordBatch;
use rapidbyte_sdk::{host, metric_names as m, ConnectorError};

use super::{before_commit, Session};

/// A binary value passed through as a bind parameter: the INSERT fallback
/// binds exactly the bytes the COPY encoder produced, so both load methods
/// write identical values.
#[derive(Debug)]
struct Raw<'a>(Option<&'a [u8]>);

impl tokio_postgres::types::ToSql for Raw<'_> {
    fn to_sql(
        &self,
        _ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Some(b) => {
                out.extend_from_slice(b);
                Ok(tokio_postgres::types::IsNull::No)
            }
            None => Ok(tokio_postgres::types::IsNull::Yes),
        }
    }

    fn accepts(_ty: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Splits binary COPY tuples (no header or trailer) into per-field values.
fn tuple_fields(mut buf: &[u8], out: &mut Vec<Option<std::ops::Range<usize>>>) {
    let base = buf.as_ptr() as usize;
    while buf.len() >= 2 {
        let n = i16::from_be_bytes([buf[0], buf[1]]) as usize;
        buf = &buf[2..];
        for _ in 0..n {
            let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            buf = &buf[4..];
            if len < 0 {
                out.push(None);
            } else {
                let start = buf.as_ptr() as usize - base;
                out.push(Some(start..start + len as usize));
                buf = &buf[len as usize..];
            }
        }
    }
}

impl Session<'_> {
    /// INSERT fallback: multi-row prepared INSERTs binding the encoder's bytes.
    pub(super) async fn insert(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let batch = self.target.as_ref().expect("prepared").project(batch)?;
        self.insert_projected(&batch).await
    }

    pub(super) async fn insert_projected(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        let stream = self.stream().to_string();
        let t = self.target.as_mut().expect("prepared");
        let ncols = t.columns.len().max(1);
        // PostgreSQL allows 65535 bind parameters per statement.
        let per_statement = (65_535 / ncols).clamp(1, 1000);
        let started = Instant::now();
        let mut start = 0;
        let mut ranges = Vec::new();
        while start < batch.num_rows() {
            let rows = per_statement.min(batch.num_rows() - start);
            self.scratch.clear();
            let t = self.target.as_mut().expect("prepared");
            t.encoder.encode_rows(batch, start..start + rows, &mut self.scratch).map_err(|e| {
                before_commit(ConnectorError::data("BAD_VALUE", format!("stream `{stream}`: {e}")))
            })?;
            if !self.inserts.contains_key(&rows) {
                let cols = t.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
                let values: Vec<String> = (0..rows)
                    .map(|r| format!("({})", (1..=ncols).map(|c| format!("${}", r * ncols + c)).collect::<Vec<_>>().join(", ")))
                    .collect();
                let sql = format!("INSERT INTO {} ({cols}) VALUES {}", t.load_into, values.join(", "));
                let stmt = self.client.prepare(&sql).await.map_err(|e| chunk::error(&e, &stream))?;
                self.inserts.insert(rows, stmt);
            }
            ranges.clear();
            tuple_fields(&self.scratch, &mut ranges);
            let params: Vec<Raw<'_>> = ranges.iter().map(|r| Raw(r.clone().map(|r| &self.scratch[r]))).collect();
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            self.client.execute(&self.inserts[&rows], &refs).await.map_err(|e| chunk::error(&e, &stream))?;
            start += rows;
        }
        host::timing_ms(m::FLUSH_MS, started.elapsed().as_secs_f64() * 1e3);
        Ok(())
    }
}
