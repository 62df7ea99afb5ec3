//! `local up`, black box, across the three clouds: the Azure function apps behind the runner's
//! Functions host on Kafka, the Cloud Run services behind the Pub/Sub emulator's push
//! subscriptions and the runner's token-minting front end, with the Lambdas between them. Each
//! test runs its own estate (a fresh prefix); they run one at a time with `up`'s tests
//! (.config/nextest.toml). An emulator that cannot start fails the test; nothing is skipped.
use crate::up_support as support;

use domain::events::{FraudScored, topics};
use orders::testing::confirmed;
use serde_json::{Value, json};
use support::{Estate, eventually};

fn erp_price(sku: &str, sequence: u64, price: &str) -> Vec<u8> {
    json!({"recordType": "PRICE", "erpSystem": "sap-eu", "sequence": sequence, "sku": sku, "region": "EU",
           "price": price, "currency": "EUR", "validFrom": "2026-11-20T09:00:00Z"})
    .to_string()
    .into_bytes()
}

/// projection-updater's projection of a SKU, read from the Cosmos emulator.
async fn projection(estate: &Estate, sku: &str) -> Option<Value> {
    support::cosmos_read(estate, "merch", "projections", "/sku", sku).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erp_change_pushed_with_a_token_reaches_the_function_app_and_the_audit_bucket() {
    let estate = Estate::up(&["merch"], &[], &[]).await;
    let erp = format!("{}erp-changes", estate.running.names.prefix);
    let sku = estate.id("SKU").to_uppercase();
    let pubsub = &estate.running.pubsub;
    pubsub.publish(&erp, &erp_price(&sku, 7, "19.99"), &[("format", "erp-json")]).await.expect("published");
    let broken = pubsub.publish(&erp, b"{\"recordType\":", &[("format", "erp-json")]).await.expect("published");

    // merch-normalizer (Cloud Run, the push verified) → Kafka → projection-updater (Functions host) → Cosmos.
    let stored = eventually("the projection in Cosmos", || projection(&estate, &sku), Option::is_some).await;
    assert_eq!(stored.expect("projection")["prices"]["EU"]["amount_minor"], 1999);
    // The bridge mirrors the change, audit-sink (Cloud Run) writes it to the GCS emulator.
    let audited = || estate.gcs_objects("audit", "audit/topic=merch.price-changed/");
    let objects = eventually("the change audited", audited, |o| o.iter().any(|k| k.contains("erp-sap-eu-7"))).await;
    assert!(objects.iter().all(|k| k.ends_with(".ndjson")), "{objects:?}");
    // The broken record is dead-lettered by the function (acknowledged), not redelivered.
    let source = format!("pubsub:{broken}\"");
    let dlq = || estate.records_mentioning(topics::MERCH_DLQ, &source);
    let letters = eventually("the dead letter", dlq, |r| !r.is_empty()).await;
    assert_eq!(letters.len(), 1, "dead-lettered once: {letters:?}");
    let stats = estate.running.stats.snapshot();
    assert!(stats["merch-normalizer"].invocations >= 2 && stats["merch-normalizer"].failures == 0, "{stats:?}");
    assert!(stats["projection-updater"].invocations >= 1, "{stats:?}");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_the_service_keeps_refusing_lands_on_its_subscriptions_dead_letter_topic_after_five_attempts() {
    // fulfillment pointed at a closed Pub/Sub port: it cannot publish the ledger entry, so it
    // answers 5xx, and Pub/Sub redelivers until its dead-letter policy gives up.
    let estate = Estate::with(|o| {
        o.functions = vec!["fulfillment".into()];
        o.env = [("PUBSUB_EMULATOR_HOST", "127.0.0.1:9"), ("PUBSUB_PUBLISH_TIMEOUT_SECONDS", "1")]
            .map(|(k, v)| ("fulfillment".to_string(), k.to_string(), v.to_string()))
            .to_vec();
    })
    .await;
    let prefix = estate.running.names.prefix.clone();
    let topic = topics::mirror_topic(topics::ORDER_PAID);
    let subscription = local::up::services::subscription_name(&prefix, &topic, "fulfillment");
    let inspect = format!("{}-inspect", local::up::services::undeliverable_topic(&subscription));
    // A mirrored order.paid, as the bridge publishes it (the recorded push's message).
    let pushed: Value = serde_json::from_slice(&estate_tests::fixture("gcp/pubsub-push/fulfillment-order-paid.json"))
        .expect("the fixture");
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.decode(pushed["message"]["data"].as_str().expect("data"));
    let data = data.expect("base64");
    let attributes: Vec<(String, String)> =
        serde_json::from_value::<std::collections::BTreeMap<String, String>>(pushed["message"]["attributes"].clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
    let attrs: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pubsub = &estate.running.pubsub;
    pubsub.publish(&topic, &data, &attrs).await.expect("published");
    let pulled = || async { pubsub.pull(&inspect, 10).await.expect("pull") };
    let dead = eventually("the undeliverable message", pulled, |m| !m.is_empty()).await;
    assert_eq!(dead[0].data, data, "the message as published");
    assert_eq!(dead[0].attributes.get("CloudPubSubDeadLetterSourceDeliveryCount").map(String::as_str), Some("5"));
    let stats = estate.running.stats.snapshot();
    let s = &stats["fulfillment"];
    assert_eq!(
        (s.invocations, s.failures, s.retries),
        (5, 5, 4),
        "each attempt reached the service with a valid token"
    );
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_handler_killed_mid_batch_is_started_again_and_every_order_is_scored() {
    let estate = Estate::up(&[], &["fraud-scorer"], &[]).await;
    let app = estate.running.app("fraud-scorer").expect("the app");
    let orders: Vec<String> = (0..30).map(|i| estate.id(&format!("UP-AZ-{i}"))).collect();
    for (i, order) in orders.iter().enumerate() {
        estate.publish(&estate.event(format!("{order}-confirmed"), confirmed(order))).await;
        if i == 10 {
            // The handler dies under the host: the invocation fails, is retried with
            // RetryContext once the host has started the handler again.
            let pid = app.handler.pid();
            assert!(pid > 0);
            nix_kill(pid);
        }
    }
    let scored = || async {
        let records = estate.records(topics::FRAUD_SCORED).await;
        let events = records.iter().filter_map(|r| domain::cloudevent::decode::<FraudScored>(&r.payload).ok());
        events
            .map(|e| e.data.order_id.as_str().to_string())
            .filter(|o| orders.contains(o))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let seen = eventually("every order scored", scored, |s| s.len() == orders.len()).await;
    assert_eq!(seen.len(), orders.len());
    assert!(app.handler.starts() >= 2, "the handler was started again");
    estate.stop().await;
}

fn nix_kill(pid: u32) {
    let status = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status().expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_crosses_three_clouds_from_confirmed_to_its_ledger_entry() {
    let estate = Estate::up(&["checkout"], &[], &[]).await;
    let order = estate.id("UP-X");
    estate.sign_up("C-1", "ana@example.org").await;
    let ledger = format!("{}{}-inspect", estate.running.names.prefix, topics::ACCOUNTING_ENTRIES);
    // Only the confirmation: fraud-scorer (Functions host) gives the verdict.
    estate.publish(&estate.event(format!("{order}-confirmed"), confirmed(&order))).await;
    let record = estate.paid(&order).await;
    assert!(record.payment_id.is_some());
    // order.paid mirrored by the bridge, pushed to fulfillment with a token: its ledger entry.
    let pubsub = &estate.running.pubsub;
    let about_order = |m: &local::up::pubsub_admin::Pulled| String::from_utf8_lossy(&m.data).contains(&order);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        // Pulled messages are acknowledged: each is looked at once.
        if pubsub.pull(&ledger, 100).await.expect("pull").iter().any(about_order) {
            break;
        }
        assert!(std::time::Instant::now() < until, "waited 90 s for the ledger entry of {order}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let audited = || estate.gcs_objects("audit", "audit/topic=order.paid/");
    eventually("order.paid audited", audited, |o| !o.is_empty()).await;
    let stats = estate.running.stats.snapshot();
    for f in ["fraud-scorer", "fulfillment", "audit-sink"] {
        assert!(stats.get(f).is_some_and(|s| s.invocations > 0 && s.on_failure == 0), "{f}: {stats:?}");
    }
    estate.stop().await;
}
