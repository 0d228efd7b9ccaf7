//! Arrow IPC framing (SPEC § Batches): every frame is a complete IPC stream
//! holding the schema and exactly one record batch.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Schema, SchemaRef};
use rapidbyte_protocol::ConnectorError;

/// Encodes `batch` as one IPC stream frame into `buf` (cleared first, so a
/// caller can reuse one buffer for every batch).
pub fn encode_batch(batch: &RecordBatch, buf: &mut Vec<u8>) -> Result<(), ConnectorError> {
    buf.clear();
    let mut writer = StreamWriter::try_new(&mut *buf, batch.schema_ref())
        .map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot write IPC schema: {e}")))?;
    writer
        .write(batch)
        .map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot write IPC batch: {e}")))?;
    writer.finish().map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot finish IPC stream: {e}")))?;
    Ok(())
}

/// Decodes a frame made by [`encode_batch`]: exactly one record batch.
pub fn decode_batch(frame: &[u8]) -> Result<RecordBatch, ConnectorError> {
    let bad = |m: String| ConnectorError::internal("IPC_DECODE", m);
    let mut reader = StreamReader::try_new(frame, None).map_err(|e| bad(format!("invalid IPC frame: {e}")))?;
    let batch = reader
        .next()
        .ok_or_else(|| bad("IPC frame holds no record batch".into()))?
        .map_err(|e| bad(format!("invalid IPC batch: {e}")))?;
    Ok(batch)
}

/// Encodes a schema as an IPC stream with no batches (the form of
/// `stream-context.schema` and `stream-schema.schema`).
pub fn encode_schema(schema: &Schema) -> Result<Vec<u8>, ConnectorError> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, schema)
        .map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot write IPC schema: {e}")))?;
    writer.finish().map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot finish IPC stream: {e}")))?;
    drop(writer);
    Ok(buf)
}

/// Decodes a schema made by [`encode_schema`]; `None` for empty bytes.
pub fn decode_schema(bytes: &[u8]) -> Result<Option<SchemaRef>, ConnectorError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let reader = StreamReader::try_new(bytes, None)
        .map_err(|e| ConnectorError::internal("IPC_DECODE", format!("invalid IPC schema: {e}")))?;
    Ok(Some(Arc::clone(&reader.schema())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    #[test]
    fn batch_and_schema_round_trip() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec![Some("a"), None]))],
        )
        .unwrap();
        let mut buf = Vec::new();
        encode_batch(&batch, &mut buf).unwrap();
        assert_eq!(decode_batch(&buf).unwrap(), batch);
        assert_eq!(decode_schema(&encode_schema(&schema).unwrap()).unwrap().unwrap(), schema);
        assert!(decode_batch(&buf[..buf.len() / 2]).is_err());
        assert!(decode_schema(&[]).unwrap().is_none());
    }
}
