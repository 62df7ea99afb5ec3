//! Each kind of bad input — malformed JSON, wrong schema, bad base64, oversize record, unknown
//! currency, negative quantity, a slot the sending ERP system does not own — gets a typed reason,
//! a dead letter, and a log line with the event id, while the rest of the batch is processed.
use chrono::{TimeZone, Utc};
use domain::events::topics;
use estate_tests::Logs;
use inmemory::Record;
use local::estate::Estate;
use local::functions_host::kafka_trigger_request;
use local::oneshot::post;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn good_price(seq: u64) -> Vec<u8> {
    json!({"recordType": "PRICE", "erpSystem": "sap-eu", "sequence": seq, "sku": format!("sku-{seq}"), "region": "EU",
           "price": "10.00", "currency": "EUR", "validFrom": "2026-11-20T09:00:00Z"})
    .to_string()
    .into_bytes()
}

/// (reason code, data of a push whose data is that kind of bad; None = bad base64)
fn bad_pushes() -> Vec<(&'static str, Option<Vec<u8>>)> {
    vec![
        ("malformed_json", Some(b"{\"recordType\":\"PRICE\",".to_vec())),
        ("wrong_schema", Some(br#"{"recordType":"STOCK","erpSystem":"sap-eu","sequence":5}"#.to_vec())),
        ("bad_base64", None),
        ("oversize", Some(vec![b' '; domain::merch::MAX_RECORD_BYTES + 1])),
        ("unknown_currency", Some(b"PRC,as400-us,7,SKU-7,US,1.00,USQ,20261120090000".to_vec())),
        ("negative_quantity", Some(b"STK,as400-us,8,SKU-8,WH-NYC-2,-2,,20261120090000".to_vec())),
        // Valid, but as400-us does not own EU prices: its sequence is not comparable with sap-eu's.
        ("foreign_slot", Some(b"PRC,as400-us,9,SKU-9,EU,1.00,EUR,20261120090000".to_vec())),
    ]
}

fn dead_letters(estate: &Estate) -> Vec<Value> {
    estate
        .bus
        .records(topics::MERCH_DLQ)
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
        .collect()
}

#[tokio::test]
async fn normalizer_dead_letters_each_kind_and_publishes_the_rest() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut estate = Estate::new();
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
    let mut seq = 100;
    for (code, data) in bad_pushes() {
        let id = format!("bad-{code}");
        seq += 1;
        assert!(estate.push_erp(&good_price(seq), BTreeMap::new(), &format!("good-{seq}"), at).await.is_success());
        let status = match data {
            Some(d) => estate.push_erp(&d, BTreeMap::new(), &id, at).await,
            None => {
                let body = format!(
                    r#"{{"message":{{"data":"%%%","messageId":"{id}","publishTime":"2026-11-20T09:00:00Z"}},"subscription":"s"}}"#
                );
                estate.push_raw(merch_normalizer::NAME, body.into_bytes()).await
            }
        };
        assert!(status.is_success(), "{code}: a dead-lettered push is acknowledged");
    }
    let dlq = dead_letters(&estate);
    for (code, _) in bad_pushes() {
        let d = dlq
            .iter()
            .find(|d| d["data"]["origin"] == format!("pubsub:bad-{code}"))
            .unwrap_or_else(|| panic!("{code} not in DLQ"));
        assert_eq!(d["data"]["reason_code"], code);
        assert!(d["data"]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(dlq.len(), bad_pushes().len(), "only the bad ones are dead-lettered");
    assert_eq!(
        estate.bus.records(topics::PRICE_CHANGED).len(),
        bad_pushes().len(),
        "every good record around them was published"
    );
    let text = logs.text();
    for (code, _) in bad_pushes() {
        let line = text.lines().find(|l| l.contains(&format!("bad-{code}")) && l.contains("rejected"));
        assert!(line.is_some_and(|l| l.contains("\"event_id\"")), "no log line with the event id for {code}:\n{text}");
    }
}

fn record(offset: i64, value: Vec<u8>) -> Record {
    Record {
        topic: topics::PRICE_CHANGED.into(),
        partition: 0,
        offset,
        key: format!("K{offset}"),
        payload: value,
        headers: vec![],
        timestamp_ms: 1_795_165_200_000,
    }
}

fn canonical(seq: u64, currency: &str) -> Vec<u8> {
    json!({"specversion": "1.0", "id": format!("erp-sap-eu-{seq}"), "source": "/gcp/merch-normalizer",
           "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:00:00Z", "datacontenttype": "application/json",
           "data": {"sku": format!("SKU-{seq}"), "region": "EU", "price": {"amount_minor": 1000, "currency": currency},
                    "version": seq, "erp_system": "sap-eu", "effective_at": "2026-11-20T09:00:00Z"}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn projection_updater_dead_letters_bad_records_and_applies_the_rest_of_the_batch() {
    let mut inventory_negative: Value = serde_json::from_slice(&canonical(6, "EUR")).expect("json");
    inventory_negative["type"] = json!("com.shop.merch.inventory-changed.v1");
    inventory_negative["data"] = json!({"sku": "SKU-6", "location": "WH-1", "on_hand": -4, "version": 6, "erp_system": "sap-eu",
                                         "effective_at": "2026-11-20T09:00:00Z"});
    let batch = vec![
        record(0, canonical(1, "EUR")),
        record(1, b"{\"specversion\":\"1.0\",".to_vec()),
        record(2, br#"{"specversion":"1.0","id":"x","source":"s","type":"com.shop.merch.price-changed.v1","time":"2026-11-20T09:00:00Z","data":{}}"#.to_vec()),
        record(3, vec![b'x'; projection_updater::MAX_RECORD_BYTES + 1]),
        record(4, canonical(4, "EUQ")),
        record(5, inventory_negative.to_string().into_bytes()),
        record(6, canonical(7, "EUR")),
    ];
    let mut req = kafka_trigger_request("price-changed", "events", &batch, None, 1);
    // An entry of the host's array that is not a Kafka event at all.
    if let Some(Value::Array(items)) = req.data.get_mut(projection_updater::TRIGGER_BINDING) {
        items.push(Value::String("{\"Offset\":\"not a number\"}".into()));
    }
    let estate = Estate::new();
    let app = estate.app(projection_updater::NAME).cloned().expect("app");
    let (status, body) = post(
        &app,
        "/price-changed",
        &[("content-type".into(), "application/json".into())],
        serde_json::to_vec(&req).expect("json"),
    )
    .await;
    assert_eq!(status, 200, "bad records do not fail the invocation");
    let resp: Value = serde_json::from_slice(&body).expect("response");
    let dls: Vec<Value> = resp["Outputs"]["deadLetters"]
        .as_array()
        .expect("deadLetters output")
        .iter()
        .map(|o| serde_json::from_str(o["Value"].as_str().unwrap_or_default()).expect("dead letter is a CloudEvent"))
        .collect();
    let reasons: Vec<(&str, &str)> = dls
        .iter()
        .map(|d| (d["data"]["origin"].as_str().unwrap_or(""), d["data"]["reason_code"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        reasons,
        [
            ("kafka:merch.price-changed/0@1", "malformed_json"),
            ("kafka:merch.price-changed/0@2", "wrong_schema"),
            ("kafka:merch.price-changed/0@3", "oversize"),
            ("kafka:merch.price-changed/0@4", "wrong_schema"),
            ("kafka:merch.price-changed/0@5", "wrong_schema"),
            // Not a Kafka event and beyond the trigger metadata: placed by its index and content.
            ("entry-7:c34acedfad6ed0fd", "wrong_envelope"),
        ]
    );
    assert!(dls[3]["data"]["reason"].as_str().is_some_and(|r| r.contains("unknown currency")), "{}", dls[3]);
    assert!(dls[4]["data"]["reason"].as_str().is_some_and(|r| r.contains("negative quantity")), "{}", dls[4]);
    let skus: Vec<Value> = estate.docs.all().iter().map(|d| d["sku"].clone()).collect();
    assert_eq!(skus, [json!("SKU-1"), json!("SKU-7")], "the good records of the batch were applied");
}
