//! The checkout demo's data lake: what lake-archiver wrote of the orders stream (delivered twice,
//! in batches of other sizes, so its files overlap), read as an analyst reads it: every row of
//! every file, deduplicated on `seq`, the latest row per order. Its states must be the orders
//! table's, and no payment token or card fingerprint may be in it. `local demo --out` writes the
//! lake to disk for other readers (the DuckDB check of the test command).
use crate::demo::Verdict;
use crate::estate::{Estate, RunError};
use lake_archiver::parquet_file;
use lake_archiver::row::Row;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Orders by state, as the orders table holds them at the end.
pub fn table_states(estate: &Estate) -> BTreeMap<String, usize> {
    let mut by_state = BTreeMap::new();
    for doc in estate.orders.all().into_iter().filter(|d| d["id"] == orders::layout::RECORD_ID) {
        let state = doc["state"].as_str().or(doc["record"]["state"].as_str()).unwrap_or("?").to_string();
        *by_state.entry(state).or_insert(0) += 1;
    }
    by_state
}

/// Every row of the lake's files, deduplicated on `seq`; and how many rows the files held in all.
fn rows(estate: &Estate) -> Result<(BTreeMap<String, Row>, usize, usize), RunError> {
    let (mut rows, mut read, mut dead) = (BTreeMap::new(), 0, 0);
    for (_, meta, bytes) in estate.lake.all_with_bytes() {
        if meta.key.ends_with(".dead-letters.json") {
            dead += 1;
            continue;
        }
        let file = parquet_file::read(bytes).map_err(|e| RunError(format!("{}: {e}", meta.key)))?;
        read += file.len();
        rows.extend(file.into_iter().map(|r| (r.seq.clone(), r)));
    }
    Ok((rows, read, dead))
}

/// The latest row per order, by state (a removed order's has none: `removed`).
fn lake_states(rows: &BTreeMap<String, Row>) -> BTreeMap<String, usize> {
    let mut latest: BTreeMap<&str, &Row> = BTreeMap::new();
    for row in rows.values() {
        latest.insert(&row.order_id, row); // in seq order: the last one stays
    }
    let mut by_state = BTreeMap::new();
    for row in latest.values() {
        *by_state.entry(row.state.clone().unwrap_or_else(|| "removed".into())).or_insert(0) += 1;
    }
    by_state
}

pub fn check(estate: &Estate, v: &mut Verdict) -> Result<(), RunError> {
    let (rows, read, dead) = rows(estate)?;
    let (lake, table) = (lake_states(&rows), table_states(estate));
    v.check(
        format!(
            "the raw zone's latest row per order, by state, is the orders table's ({} changes in {read} rows, \
             deduplicated on seq, of the stream's {}; {dead} dead-letter objects; lake {lake:?}; table {table:?})",
            rows.len(),
            estate.orders_stream.all().len()
        ),
        lake == table && read > rows.len() && rows.len() == estate.orders_stream.all().len() && dead == 0,
    );
    let leaked = rows.values().filter(|r| {
        let image = r.new_image.as_deref().unwrap_or_default();
        // The storefront's tokens are `tok_…` and its fingerprints `fp-…`; a fraud reason may name
        // the member (`payment.card_fingerprint absent`), so names count only as members.
        let members = ["\"token\":", "\"card_fingerprint\":", "payment_token"];
        image.contains("tok_") || image.contains("\"fp-") || members.iter().any(|m| image.contains(m))
    });
    v.check("no payment token or card fingerprint in the raw zone".into(), leaked.count() == 0);
    Ok(())
}

/// Writes the lake to `dir/<bucket>/<key>` and the orders table's states to
/// `dir/orders-by-state.json`; returns the files written.
pub fn write_out(estate: &Estate, dir: &Path) -> Result<Vec<PathBuf>, RunError> {
    let cannot = |path: &Path, e: std::io::Error| RunError(format!("{}: {e}", path.display()));
    let mut written = Vec::new();
    for (bucket, meta, bytes) in estate.lake.all_with_bytes() {
        let path = dir.join(&bucket).join(&meta.key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| cannot(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| cannot(&path, e))?;
        written.push(path);
    }
    let path = dir.join("orders-by-state.json");
    let states = serde_json::to_vec_pretty(&table_states(estate)).unwrap_or_default();
    std::fs::write(&path, states).map_err(|e| cannot(&path, e))?;
    written.push(path);
    Ok(written)
}
