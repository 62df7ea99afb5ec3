//! The raw zone's file format: one Parquet file of rows (`row::Row`), schema `orders_raw` v1,
//! Snappy-compressed, one row group. The schema's version is in the file's key-value metadata
//! (`orders_raw.schema_version`); a v1 file may only gain optional columns, at the end.
use crate::row::Row;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;

pub const SCHEMA_VERSION: &str = "1";
/// The columns, in order; the README's table documents each.
pub const SCHEMA: &str = "
message orders_raw {
  required binary event_id (STRING);
  required binary event_name (STRING);
  required binary seq (STRING);
  required int64 change_time (TIMESTAMP(MILLIS,true));
  required binary order_id (STRING);
  optional binary state (STRING);
  optional int64 total_minor;
  optional binary currency (STRING);
  optional binary customer_id (STRING);
  optional binary new_image (STRING);
}";

/// The rows as one Parquet file's bytes.
pub fn write(rows: &[Row]) -> Result<Vec<u8>, ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let version = KeyValue::new("orders_raw.schema_version".to_string(), SCHEMA_VERSION.to_string());
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![version]))
        .set_created_by(concat!("lake-archiver ", env!("CARGO_PKG_VERSION")).to_string())
        .build();
    let mut bytes = Vec::new();
    let mut file = SerializedFileWriter::new(&mut bytes, schema, Arc::new(properties))?;
    let mut group = file.next_row_group()?;
    let mut index = 0;
    while let Some(mut column) = group.next_column()? {
        match index {
            0 => required_text(&mut column, rows, |r| &r.event_id)?,
            1 => required_text(&mut column, rows, |r| &r.event_name)?,
            2 => required_text(&mut column, rows, |r| &r.seq)?,
            3 => {
                let millis: Vec<i64> = rows.iter().map(|r| r.change_time.timestamp_millis()).collect();
                column.typed::<Int64Type>().write_batch(&millis, None, None)?;
            }
            4 => required_text(&mut column, rows, |r| &r.order_id)?,
            5 => optional_text(&mut column, rows, |r| r.state.as_deref())?,
            6 => {
                let (values, levels) = optional(rows, |r| r.total_minor);
                column.typed::<Int64Type>().write_batch(&values, Some(&levels), None)?;
            }
            7 => optional_text(&mut column, rows, |r| r.currency.as_deref())?,
            8 => optional_text(&mut column, rows, |r| r.customer_id.as_deref())?,
            9 => optional_text(&mut column, rows, |r| r.new_image.as_deref())?,
            other => return Err(ParquetError::General(format!("column {other} is not in the schema's writer"))),
        }
        column.close()?;
        index += 1;
    }
    group.close()?;
    file.close()?;
    Ok(bytes)
}

/// The rows of a file `write` made (tests, and the local estate's checks of its lake).
pub fn read(bytes: Vec<u8>) -> Result<Vec<Row>, ParquetError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes))?;
    let version = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == "orders_raw.schema_version").and_then(|kv| kv.value.clone()));
    if version.as_deref() != Some(SCHEMA_VERSION) {
        return Err(ParquetError::General(format!("orders_raw.schema_version is {version:?}, not {SCHEMA_VERSION}")));
    }
    reader.get_row_iter(None)?.map(|row| row_of(&row?)).collect()
}

fn row_of(r: &parquet::record::Row) -> Result<Row, ParquetError> {
    use parquet::record::{Field, RowAccessor};
    let text = |i: usize| r.get_string(i).cloned();
    let null = |i: usize| matches!(r.get_column_iter().nth(i), Some((_, Field::Null)));
    let optional_text = |i: usize| if null(i) { Ok(None) } else { text(i).map(Some) };
    let millis = r.get_timestamp_millis(3)?;
    let change_time = chrono::DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| ParquetError::General(format!("change_time {millis} is out of range")))?;
    let seq = text(2)?;
    Ok(Row {
        event_id: text(0)?,
        event_name: text(1)?,
        sequence_number: seq.trim_start_matches('0').to_string(),
        seq,
        change_time,
        order_id: text(4)?,
        state: optional_text(5)?,
        total_minor: if null(6) { None } else { Some(r.get_long(6)?) },
        currency: optional_text(7)?,
        customer_id: optional_text(8)?,
        new_image: optional_text(9)?,
    })
}

type Column<'a> = parquet::file::writer::SerializedColumnWriter<'a>;

fn required_text(column: &mut Column<'_>, rows: &[Row], of: impl Fn(&Row) -> &str) -> Result<(), ParquetError> {
    let values: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(of(r))).collect();
    column.typed::<ByteArrayType>().write_batch(&values, None, None).map(drop)
}

fn optional_text(column: &mut Column<'_>, rows: &[Row], of: impl Fn(&Row) -> Option<&str>) -> Result<(), ParquetError> {
    let (values, levels) = optional(rows, |r| of(r).map(ByteArray::from));
    column.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None).map(drop)
}

/// The present values, and a definition level per row (1 present, 0 null).
fn optional<T>(rows: &[Row], of: impl Fn(&Row) -> Option<T>) -> (Vec<T>, Vec<i16>) {
    let mut values = Vec::with_capacity(rows.len());
    let levels = rows
        .iter()
        .map(|r| match of(r) {
            Some(v) => {
                values.push(v);
                1
            }
            None => 0,
        })
        .collect();
    (values, levels)
}
