//! Published events stay readable: every v1 event committed in a fixture or a golden output —
//! as a JSON object, as JSON text inside a string, or base64 inside a string — decodes with
//! today's types. Together with the frozen required lists (domain::schemas), this is what lets a
//! v1 gain optional fields only.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use estate_tests::repo_root;
use serde_json::Value;
use std::path::Path;

/// Every CloudEvent inside `v`, as JSON bytes. A dead letter's `payload` is the rejected input,
/// kept as it came (bad on purpose), so it is not searched.
fn events_in(v: &Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Object(m) if m.contains_key("specversion") && m.contains_key("type") => {
            out.push(v.to_string().into_bytes());
            if m.get("type").and_then(Value::as_str) != Some("com.shop.dead-letter.v1") {
                m.values().for_each(|x| events_in(x, out));
            }
        }
        Value::Object(m) => m.values().for_each(|x| events_in(x, out)),
        Value::Array(a) => a.iter().for_each(|x| events_in(x, out)),
        Value::String(s) => {
            let inner = serde_json::from_str::<Value>(s).ok().or_else(|| {
                let bytes = STANDARD.decode(s.trim()).ok()?;
                serde_json::from_slice::<Value>(&bytes).ok()
            });
            if let Some(inner @ (Value::Object(_) | Value::Array(_))) = inner {
                events_in(&inner, out);
            }
        }
        _ => {}
    }
}

fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "schemas") {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_committed_v1_event_decodes_with_todays_types() {
    let mut files = Vec::new();
    json_files(&repo_root().join("events"), &mut files);
    json_files(&repo_root().join("tests/golden"), &mut files);
    let (mut decoded, mut failures) = (std::collections::BTreeMap::<&str, usize>::new(), Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let Ok(doc) = serde_json::from_str::<Value>(&text) else { continue };
        let mut events = Vec::new();
        events_in(&doc, &mut events);
        for e in events {
            match domain::schemas::decode_any(&e) {
                Ok(ty) => *decoded.entry(ty).or_default() += 1,
                Err(err) => failures.push(format!("{}: {err}", file.display())),
            }
        }
    }
    assert!(failures.is_empty(), "committed events that no longer decode: {failures:#?}");
    // The walk must have found what is committed: order, price, inventory events and dead letters.
    for ty in [
        "com.shop.order.confirmed.v1",
        "com.shop.merch.price-changed.v1",
        "com.shop.merch.inventory-changed.v1",
        "com.shop.dead-letter.v1",
    ] {
        assert!(decoded.get(ty).is_some_and(|n| *n > 0), "no {ty} found in the committed files: {decoded:?}");
    }
}
