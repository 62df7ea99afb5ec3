//! What lake-archiver wrote, as `local invoke` shows it: each object of the lake bucket, a
//! Parquet file with its rows (the new image's JSON left out: it is the item, redacted), a
//! dead-letter object with its records' reasons.
use crate::estate::Estate;
use serde_json::{Value, json};

pub fn effects(estate: &Estate) -> Vec<Value> {
    let mut objects = Vec::new();
    for (bucket, meta, bytes) in estate.lake.all_with_bytes() {
        let mut object = json!({"bucket": bucket, "key": meta.key, "size": meta.size, "etag": meta.etag,
            "content_type": meta.content_type});
        if meta.key.ends_with(".parquet") {
            object["rows"] = match lake_archiver::parquet_file::read(bytes) {
                Ok(rows) => rows.iter().map(row).collect(),
                Err(e) => json!(format!("not a raw-zone Parquet file: {e}")),
            };
        } else if let Ok(letter) = serde_json::from_slice::<Value>(&bytes) {
            let reasons = letter["records"].as_array().into_iter().flatten().map(|r| {
                json!({"event_id": r["event_id"], "sequence_number": r["sequence_number"],
                       "reason_code": r["reason_code"], "reason": r["reason"]})
            });
            object["dead_letters"] = Value::Array(reasons.collect());
        }
        objects.push(object);
    }
    objects
}

/// The reason code of every record in the lake's dead-letter objects.
pub fn dead_letter_codes(estate: &Estate) -> Vec<String> {
    let letters = estate.lake.all_with_bytes().into_iter().filter(|(_, m, _)| m.key.ends_with(".dead-letters.json"));
    let records = letters.filter_map(|(_, _, bytes)| serde_json::from_slice::<Value>(&bytes).ok()).flat_map(|letter| {
        let records = letter["records"].as_array().cloned().unwrap_or_default();
        records.into_iter().map(|r| r["reason_code"].as_str().unwrap_or("unreadable_dead_letter").to_string())
    });
    records.collect()
}

fn row(r: &lake_archiver::row::Row) -> Value {
    json!({"seq": r.seq, "event_id": r.event_id, "event_name": r.event_name, "change_time": r.change_time,
           "order_id": r.order_id, "state": r.state, "total_minor": r.total_minor, "currency": r.currency,
           "customer_id": r.customer_id, "new_image_bytes": r.new_image.as_ref().map(String::len)})
}
