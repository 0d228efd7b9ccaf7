//! Arrow IPC framing (SPEC § Batches): every frame is a complete IPC stream
//! holding the schema and exactly one record batch.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Schema, SchemaRef};
use rapidbyte_protocol::ConnectorError;

/// Encodes `batch` as one IPC stream frame into `buf` (cleared first, so a
/// caller can reuse one buffer for every batch).
///
/// `buf` is grown once, to about the frame's size, before writing: growing
/// it while writing would double its capacity past a big value, and the
/// reallocation would hold both copies at once (a 64 MiB value would take
/// 192 MiB besides its array instead of 64 MiB).
pub fn encode_batch(batch: &RecordBatch, buf: &mut Vec<u8>) -> Result<(), ConnectorError> {
    buf.clear();
    buf.reserve_exact(encoded_size_hint(batch));
    let mut writer = StreamWriter::try_new(&mut *buf, batch.schema_ref())
        .map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot write IPC schema: {e}")))?;
    writer
        .write(batch)
        .map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot write IPC batch: {e}")))?;
    writer.finish().map_err(|e| ConnectorError::internal("IPC_ENCODE", format!("cannot finish IPC stream: {e}")))?;
    Ok(())
}

/// A little more than the IPC stream `batch` encodes to: the bytes its
/// (sliced) buffers hold, plus room for the schema, the headers and padding.
fn encoded_size_hint(batch: &RecordBatch) -> usize {
    let body: usize = batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(0)).sum();
    let metadata: usize = batch.schema_ref().metadata().iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + batch.schema_ref().fields().iter().map(|f| f.name().len() + f.metadata().iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()).sum::<usize>();
    body + 2 * metadata + 256 * batch.num_columns() + 4096
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

/// Decodes a frame made by [`encode_batch`] in place: the batch's arrays
/// use the frame's own memory instead of a copy (a destination receiving a
/// big value holds it once, not twice). A frame of more than one record
/// batch is an error rather than a partial read.
pub fn decode_frame(frame: Vec<u8>) -> Result<RecordBatch, ConnectorError> {
    let bad = |m: String| ConnectorError::internal("IPC_DECODE", m);
    let mut buffer = arrow_buffer::Buffer::from_vec(frame);
    let mut decoder = StreamDecoder::new();
    let mut batch = None;
    while !buffer.is_empty() {
        match decoder.decode(&mut buffer).map_err(|e| bad(format!("invalid IPC frame: {e}")))? {
            Some(_) if batch.is_some() => return Err(bad("IPC frame holds more than one record batch".into())),
            Some(b) => batch = Some(b),
            None => {}
        }
    }
    decoder.finish().map_err(|e| bad(format!("truncated IPC frame: {e}")))?;
    batch.ok_or_else(|| bad("IPC frame holds no record batch".into()))
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
        assert_eq!(decode_frame(buf.clone()).unwrap(), batch);
        assert!(decode_frame(buf[..buf.len() / 2].to_vec()).is_err());
        assert!(decode_frame(encode_schema(&schema).unwrap()).is_err(), "no batch");
        assert!(decode_schema(&[]).unwrap().is_none());
    }

    #[test]
    fn the_buffer_is_sized_once_for_a_big_value() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("body", DataType::Utf8, false)]));
        let big = "x".repeat(8 << 20);
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(StringArray::from(vec!["a", big.as_str(), "b"]))],
        )
        .unwrap();
        let mut buf = vec![0u8; 1 << 20];
        encode_batch(&batch, &mut buf).unwrap();
        assert!(buf.len() > 8 << 20 && encoded_size_hint(&batch) >= buf.len(), "the hint covers the frame");
        assert!(buf.capacity() < (8 << 20) + (1 << 20), "no doubling past the value: capacity {}", buf.capacity());
        // A slice's hint counts the slice only.
        assert!(encoded_size_hint(&batch.slice(2, 1)) < 64 << 10);
        assert_eq!(decode_batch(&buf).unwrap(), batch);
        // Decoding in place: the big value is not copied out of the frame.
        let start = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let decoded = decode_frame(buf).unwrap();
        let values = decoded.column(1).to_data().buffers()[1].as_ptr() as usize;
        assert!(start.contains(&values), "the values point into the frame");
        assert_eq!(decoded, batch);
    }
}
