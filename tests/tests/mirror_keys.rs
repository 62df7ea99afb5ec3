//! Kafka keys of any length reach Pub/Sub, and a dead letter never loops. The estate's Pub/Sub is
//! the in-memory twin, which refuses what Pub/Sub refuses (an ordering key or attribute value
//! over 1,024 bytes); the emulator checks none of it, so these run here.
//! - A 2 KB key is mirrored (ordered by its hash, carried in base64 pieces), audited whole and
//!   replayed whole.
//! - A record of `merch.dlq` or `checkout.dlq` the bridge cannot mirror is parked on
//!   `dead-letters.parked`, never dead-lettered into `checkout.dlq`, which the bridge reads.
//! - A key too long even for the pieces is one `key_too_long` dead letter, itself mirrored.
use audit_sink::AuditSink;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use domain::audit::AuditRecord;
use domain::events::topics;
use domain::mirror;
use domain::ports::{ObjectStore, OutboundMessage, Publisher};
use estate_tests::Logs;
use local::estate::{AUDIT_BUCKET, Estate};
use local::lambda_host::msk_event;
use platform_aws::invocation::Invocation;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn price_changed(id: &str) -> Vec<u8> {
    json!({"specversion": "1.0", "id": id, "source": "/gcp/merch-normalizer",
           "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:00:00Z", "datacontenttype": "application/json",
           "data": {"sku": "TSH-001", "region": "EU", "price": {"amount_minor": 1999, "currency": "EUR"},
                    "version": 7, "erp_system": "sap-eu", "effective_at": "2026-11-20T09:00:00Z"}})
    .to_string()
    .into_bytes()
}

fn letters(estate: &Estate, topic: &str) -> Vec<Value> {
    estate.bus.records(topic).iter().map(|r| serde_json::from_slice(&r.payload).expect("a dead letter")).collect()
}

async fn audit_records(estate: &Estate, topic: &str) -> Vec<AuditRecord> {
    let prefix = format!("audit/topic={topic}/");
    let mut out = Vec::new();
    for o in estate.objects.list(AUDIT_BUCKET, &prefix).await.expect("listed") {
        let bytes = estate.objects.get(AUDIT_BUCKET, &o.key).await.expect("read").expect("the object");
        out.push(serde_json::from_slice(&bytes).expect("an audit record"));
    }
    out
}

#[tokio::test]
async fn a_2_kb_key_goes_through_the_bridge_and_audit_sink_and_replay_gives_it_back_whole() {
    let mut estate = Estate::new();
    let key = "sku-".repeat(512); // 2,048 bytes: twice what an ordering key or attribute may hold
    let event = price_changed("erp-sap-eu-long-key");
    estate.bus.publish(OutboundMessage::new(topics::PRICE_CHANGED, &key, event)).await.expect("on Kafka");
    estate.run_mirror(100).await.expect("mirrored and pushed");

    let mirrored = estate.bus.records(&topics::mirror_topic(topics::PRICE_CHANGED));
    assert_eq!(mirrored.len(), 1, "mirrored once");
    assert_eq!(mirrored[0].key, mirror::long_key_ordering(&key), "ordered by the key's hash");
    let attributes: BTreeMap<String, String> = mirrored[0].headers.iter().cloned().collect();
    assert_eq!(attributes.keys().filter(|k| k.starts_with("kafka_key_b64_")).count(), 3, "2,732 base64 characters");
    assert!(!attributes.contains_key("kafka_key"));
    assert!(estate.bus.records(topics::CHECKOUT_DLQ).is_empty(), "nothing dead-lettered");

    let audited = audit_records(&estate, topics::PRICE_CHANGED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].key.as_deref(), Some(key.as_str()), "audit-sink stores the whole key");

    let sink = AuditSink::new(Arc::new(estate.objects.clone()), AUDIT_BUCKET);
    let from: DateTime<Utc> = "2026-11-20T00:00:00Z".parse().expect("time");
    let target = "replay.merch.price-changed";
    let report =
        audit_sink::replay::replay(&sink, &estate.bus, topics::PRICE_CHANGED, from, from + Duration::days(1), target)
            .await
            .expect("replayed");
    assert_eq!(report.republished, 1);
    let replayed = estate.bus.records(target);
    assert_eq!(replayed[0].key, key, "replay republishes the key whole");
    assert!(replayed[0].headers.contains(&("ce_id".into(), "erp-sap-eu-long-key".into())));
}

/// A record of `topic` at offset 0 whose key no Pub/Sub message can carry.
fn unmirrorable(estate: &Estate, topic: &str) {
    let key = "k".repeat(mirror::MAX_KEY_BYTES + 1);
    estate.bus.append(OutboundMessage::new(topic, key, b"{\"not\":\"mine\"}".to_vec()), 1_795_000_000_000);
}

#[tokio::test]
async fn a_record_of_a_dead_letter_topic_that_cannot_be_mirrored_is_parked_and_the_loop_ends() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut estate = Estate::new();
    for topic in [topics::MERCH_DLQ, topics::CHECKOUT_DLQ] {
        unmirrorable(&estate, topic);
        let out = estate
            .bridge
            .handle(msk_event(&estate.bus.records(topic)), &Invocation::one_minute())
            .await
            .expect("a Kafka batch");
        assert!(out.response.batch_item_failures.is_empty(), "done, not retried");
        assert_eq!(out.dead_lettered, 1);
        assert_eq!(estate.bus.records(topic).len(), 1, "no dead letter back into {topic}, which the bridge reads");
    }
    let parked = letters(&estate, topics::PARKED);
    let mut found: Vec<(&str, &str)> = parked
        .iter()
        .map(|d| (d["data"]["origin"].as_str().unwrap_or(""), d["data"]["reason_code"].as_str().unwrap_or("")))
        .collect();
    let at = |t: &str| format!("kafka:{t}/{}@0", estate.bus.records(t)[0].partition);
    let (merch, checkout) = (at(topics::MERCH_DLQ), at(topics::CHECKOUT_DLQ));
    found.sort();
    assert_eq!(found, [(checkout.as_str(), "key_too_long"), (merch.as_str(), "key_too_long")]);
    let errors = logs.text().lines().filter(|l| l.contains("\"level\":\"ERROR\"") && l.contains("parked")).count();
    assert_eq!(errors, 2, "each parked record is an error log line");

    // The estate's own mappings read both topics again (nothing committed them): the same dead
    // letters, parked again under the same ids, and the mirroring comes to an end, since
    // nothing mirrors or reads the parked topic.
    estate.run_mirror(100).await.expect("the mappings settle");
    let mut ids: Vec<String> =
        letters(&estate, topics::PARKED).iter().map(|d| d["id"].as_str().unwrap_or("").to_string()).collect();
    let parked = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((parked, ids.len(), estate.bus.records(topics::CHECKOUT_DLQ).len()), (4, 2, 1));
    assert!(!topics::MIRRORED.contains(&topics::PARKED));
}

#[tokio::test]
async fn an_undecodable_record_of_merch_dlq_is_parked_with_its_origin_and_reason() {
    let estate = Estate::new();
    let event = json!({"eventSource": "aws:kafka", "records": {"merch.dlq-2": [{"topic": "merch.dlq", "partition": 2,
        "offset": 9, "timestamp": 1795000000000i64, "timestampType": "CREATE_TIME", "key": STANDARD.encode("SKU-1"),
        "value": "not base64!", "headers": []}]}});
    let out = estate
        .bridge
        .handle(serde_json::from_value(event).expect("MSK event"), &Invocation::one_minute())
        .await
        .expect("a Kafka batch");
    assert_eq!((out.dead_lettered, out.failed), (1, 0));
    let parked = letters(&estate, topics::PARKED);
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0]["data"]["origin"].as_str(), parked[0]["data"]["reason_code"].as_str()),
        (Some("kafka:merch.dlq/2@9"), Some("bad_base64"))
    );
    assert_eq!(parked[0]["data"]["payload"], "not base64!", "kept as it came");
    assert!(estate.bus.records(topics::CHECKOUT_DLQ).is_empty() && estate.bus.records(topics::MERCH_DLQ).is_empty());
}

#[tokio::test]
async fn a_key_too_long_for_any_message_is_one_key_too_long_dead_letter_which_is_mirrored_and_audited() {
    let mut estate = Estate::new();
    unmirrorable(&estate, topics::ORDER_PAID);
    estate.run_mirror(100).await.expect("settles");
    let dlq = letters(&estate, topics::CHECKOUT_DLQ);
    assert_eq!(dlq.len(), 1, "dead-lettered once");
    let d = &dlq[0]["data"];
    assert_eq!(d["reason_code"], "key_too_long");
    assert!(d["reason"].as_str().is_some_and(|r| r.contains("key of 74497 bytes")), "{d}");
    assert!(d.get("key").is_none(), "the key is named by size and hash, not kept");
    assert!(estate.bus.records(topics::PARKED).is_empty());
    let audited = audit_records(&estate, topics::CHECKOUT_DLQ).await;
    assert_eq!(audited.len(), 1, "its dead letter is mirrored and audited like any other");
    assert_eq!(audited[0].key, d["origin"].as_str().map(str::to_string), "keyed by its origin");
}

#[tokio::test]
async fn a_push_mirrored_from_a_dead_letter_topic_that_a_function_refuses_is_parked_too() {
    let mut estate = Estate::new();
    let attrs = BTreeMap::from([("kafka_topic".to_string(), topics::CHECKOUT_DLQ.to_string())]);
    let at: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().expect("time");
    let body =
        local::pubsub_push::push_body(b"{\"not\":\"an order\"}", attrs, "m-1", at, "projects/local/subscriptions/s");
    assert_eq!(estate.push_raw(fulfillment::NAME, body).await, 204, "handled: parked");
    let parked = letters(&estate, topics::PARKED);
    assert_eq!((parked.len(), parked[0]["data"]["origin"].as_str()), (1, Some("pubsub:m-1")));
    assert!(estate.bus.records(topics::CHECKOUT_DLQ).is_empty());
}
