//! The fault suite: `local up` with a fault proxy before moto, Pub/Sub, GCS and PostgreSQL (cut
//! every connection, refuse new ones, for a while); the Kafka broker and the Cosmos DB emulator
//! paused instead (SIGSTOP/SIGCONT: both advertise their own address, which clients follow past
//! a proxy; and the emulators keep their state in memory, so none is stopped); PostgreSQL
//! restarted for real; function processes killed mid-flow. Each case ends with the invariants holding: every order
//! paid and charged once, every change projected once, poison records dead-lettered with their
//! reason. One estate at a time (.config/nextest.toml); an emulator that cannot start fails.
use crate::up_support as support;

use domain::events::topics;
use local::up::emulators::EmulatorSet;
use orders::testing::confirmed;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Estate, eventually};

/// The suite's own emulators.
fn faults_set() -> EmulatorSet {
    EmulatorSet::own("faults", 29092).expect("the repository's emulators script")
}

/// A flow's functions on the suite's emulators, behind fault proxies.
async fn flow_with_proxies(flow: &str) -> Estate {
    Estate::with(|o| {
        o.flows = vec![flow.into()];
        o.proxies = true;
        o.emulators = faults_set();
    })
    .await
}

async fn checkout_with_proxies() -> Estate {
    flow_with_proxies("checkout").await
}

/// An emulator paused (SIGSTOP) until `resume`, or until dropped: a test that fails meanwhile
/// leaves nothing stopped.
struct Paused {
    set: EmulatorSet,
    service: &'static str,
    resumed: bool,
}

impl Paused {
    fn new(estate: &Estate, service: &'static str) -> Paused {
        let set = estate.running.options().emulators.clone();
        set.pause(service, true).expect("paused");
        Paused { set, service, resumed: false }
    }

    fn resume(mut self) {
        self.resumed = true;
        self.set.pause(self.service, false).expect("resumed");
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if !self.resumed {
            let _ = self.set.pause(self.service, false);
        }
    }
}

/// Confirms `n` orders of this run, each its own customer's and card's, so fraud-scorer's
/// velocity rules approve them all.
async fn confirm(estate: &Estate, name: &str, n: usize) -> Vec<String> {
    let orders: Vec<String> = (0..n).map(|i| estate.id(&format!("{name}-{i}"))).collect();
    for order in &orders {
        let mut c = confirmed(order);
        c.customer_id = domain::values::CustomerId::parse(&format!("C-{order}")).expect("a customer id");
        if let Some(p) = c.payment.as_mut() {
            p.card_fingerprint = format!("fp-{order}");
        }
        estate.publish(&estate.event(format!("{order}-confirmed"), c)).await;
    }
    orders
}

/// Every order paid, each payment charged once, and one ledger entry id per order on Pub/Sub.
async fn each_paid_once_and_booked(estate: &Estate, orders: &[String]) {
    for order in orders {
        let record = estate.paid(order).await;
        let payment = record.payment_id.expect("a payment id");
        assert_eq!(estate.running.gateway.gateway.charges_for(&payment), 1, "{order} charged once");
    }
    let ledger = format!("{}{}-inspect", estate.running.names.prefix, topics::ACCOUNTING_ENTRIES);
    let mut booked: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while booked.len() < orders.len() {
        assert!(std::time::Instant::now() < until, "ledger entries for {booked:?} of {orders:?}");
        for m in estate.running.pubsub.pull(&ledger, 100).await.expect("pull") {
            let v: Value = serde_json::from_slice(&m.data).unwrap_or_default();
            let (id, order) =
                (v["id"].as_str().unwrap_or_default(), v["data"]["order_id"].as_str().unwrap_or_default());
            if orders.iter().any(|o| o == order) {
                booked.entry(order.to_string()).or_default().insert(id.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Late redeliveries have a few seconds to show: a redelivered push may publish its entry
    // again, under the same event id, never as a second entry.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for m in estate.running.pubsub.pull(&ledger, 100).await.expect("pull") {
        let v: Value = serde_json::from_slice(&m.data).unwrap_or_default();
        let (id, order) = (v["id"].as_str().unwrap_or_default(), v["data"]["order_id"].as_str().unwrap_or_default());
        if let Some(ids) = booked.get_mut(order) {
            ids.insert(id.to_string());
        }
    }
    assert!(booked.values().all(|ids| ids.len() == 1), "one ledger entry id per order: {booked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_paused_mid_flow_loses_nothing_and_charges_nothing_twice() {
    let estate = checkout_with_proxies().await;
    let orders = confirm(&estate, "F-KAFKA", 4).await;
    // The broker stops while those are on their way; more orders are published meanwhile (the
    // producer waits), and the broker comes back.
    let paused = Paused::new(&estate, "kafka");
    let resume_later = async {
        tokio::time::sleep(Duration::from_secs(6)).await;
        paused.resume();
    };
    let (more, ()) = tokio::join!(confirm(&estate, "F-KAFKA-DURING", 2), resume_later);
    each_paid_once_and_booked(&estate, &[orders, more].concat()).await;
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_unreachable_for_a_while_delays_the_mirror_and_the_pushes_but_loses_nothing() {
    let estate = checkout_with_proxies().await;
    let proxy = estate.running.proxy("pubsub").expect("a proxy before Pub/Sub");
    let orders = confirm(&estate, "F-PUBSUB", 4).await;
    proxy.outage(Duration::from_secs(8)).await;
    each_paid_once_and_booked(&estate, &orders).await;
    let stats = estate.running.stats.snapshot();
    assert_eq!(stats["kafka-pubsub-bridge"].on_failure, 0, "the bridge's retries carried it: {stats:?}");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_unreachable_makes_order_updater_fail_for_a_while_and_its_mapping_retries() {
    let estate = checkout_with_proxies().await;
    let proxy = estate.running.proxy("moto").expect("a proxy before moto");
    proxy.refuse(true);
    proxy.cut();
    let orders = confirm(&estate, "F-DYNAMO", 3).await;
    // Each record fails (reported in its partial batch response): the mapping retries.
    let retried = || async { estate.running.stats.snapshot().get("order-updater").map(|s| s.retries).unwrap_or(0) };
    eventually("order-updater's mapping retrying", retried, |n| *n > 0).await;
    proxy.refuse(false);
    each_paid_once_and_booked(&estate, &orders).await;
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloud_run_process_killed_mid_flow_is_started_again_and_its_pushes_redelivered() {
    let estate = checkout_with_proxies().await;
    let service = estate.running.service("fulfillment").expect("fulfillment");
    let first = confirm(&estate, "F-RUN", 2).await;
    let pid = service.process.pid();
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill").success());
    let second = confirm(&estate, "F-RUN-AFTER", 2).await;
    each_paid_once_and_booked(&estate, &[first, second].concat()).await;
    assert!(service.process.starts() >= 2, "started again");
    estate.stop().await;
}

fn erp_price(sku: &str, sequence: u64) -> Vec<u8> {
    json!({"recordType": "PRICE", "erpSystem": "sap-eu", "sequence": sequence, "sku": sku, "region": "EU",
           "price": "12.50", "currency": "EUR", "validFrom": "2026-11-20T09:00:00Z"})
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cosmos_paused_for_a_while_loses_no_change_and_a_poison_record_is_dead_lettered() {
    let estate = flow_with_proxies("merch").await;
    let erp = format!("{}erp-changes", estate.running.names.prefix);
    let skus: Vec<String> = (0..5).map(|i| estate.id(&format!("SKU-{i}")).to_uppercase()).collect();
    let paused = Paused::new(&estate, "cosmos");
    for (i, sku) in skus.iter().enumerate() {
        estate.running.pubsub.publish(&erp, &erp_price(sku, i as u64 + 1), &[]).await.expect("published");
    }
    let poison = estate.running.pubsub.publish(&erp, b"{\"recordType\":", &[]).await.expect("published");
    // The changes reach projection-updater while Cosmos stalls: none is applied until it resumes.
    let succeeded = || async {
        let stats = estate.running.stats.snapshot();
        stats.get("projection-updater").map(|s| s.invocations - s.failures).unwrap_or(0)
    };
    let stalled =
        tokio::time::timeout(Duration::from_secs(8), eventually("an invocation", succeeded, |n| *n > 0)).await;
    paused.resume();
    assert!(stalled.is_err(), "no invocation succeeded while Cosmos was paused");
    let project = |sku: String| {
        let estate = &estate;
        async move { support::cosmos_read(estate, "merch", "projections", "/sku", &sku).await }
    };
    for sku in &skus {
        let doc = eventually(&format!("{sku} projected"), || project(sku.clone()), Option::is_some).await;
        assert_eq!(doc.expect("doc")["prices"]["EU"]["amount_minor"], 1250);
    }
    let source = format!("pubsub:{poison}\"");
    let dlq = || estate.records_mentioning(topics::MERCH_DLQ, &source);
    let letters = eventually("the poison record dead-lettered", dlq, |l| !l.is_empty()).await;
    assert_eq!(letters.len(), 1, "the poison record dead-lettered once");
    let letter: Value = serde_json::from_slice(&letters[0].payload).expect("a dead letter");
    assert_eq!(letter["data"]["reason_code"], "malformed_json");
    let stats = estate.running.stats.snapshot();
    assert_eq!(stats["projection-updater"].on_failure, 0, "no batch given up: {stats:?}");
    estate.stop().await;
}

/// Images counted by image-analytics so far, over every window (PostgreSQL).
async fn images_counted(estate: &Estate) -> u64 {
    use domain::ports::ImageTotals;
    let totals = image_analytics::postgres::PostgresTotals::connect(&estate.running.endpoints.database_url)
        .await
        .expect("PostgreSQL");
    totals.totals().await.expect("totals").iter().map(|t| t.images).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restarted_mid_flow_drops_its_connections_and_every_image_is_counted_once() {
    let estate = flow_with_proxies("images").await;
    let before = images_counted(&estate).await;
    let (first, second) = (estate.id("SKU-PG-A").to_uppercase(), estate.id("SKU-PG-B").to_uppercase());
    let photo = support::upload_fixture("front (1).jpg");
    estate.upload(&format!("uploads/{first}/front (1).jpg"), &photo).await;
    // (images counted since the start, distinct processed-image events of these SKUs on Kafka:
    // a redelivered event is counted once, so the events are told apart by their id)
    let counted_and_made = |skus: Vec<String>| {
        let estate = &estate;
        async move {
            let mut ids = std::collections::BTreeSet::new();
            for sku in &skus {
                let records = estate.records_mentioning(topics::PRODUCT_IMAGE_PROCESSED, sku).await;
                ids.extend(
                    records.iter().filter_map(|r| domain::cloudevent::peek_attributes(&r.payload).ok().map(|a| a.id)),
                );
            }
            (images_counted(estate).await - before, ids.len() as u64)
        }
    };
    let all_counted = |(counted, made): &(u64, u64)| *made > 0 && counted == made;
    let (_, first_made) =
        eventually("the first photo counted", || counted_and_made(vec![first.clone()]), all_counted).await;
    // Every connection of image-analytics' pool is dropped; it reconnects on the next push.
    let set = estate.running.options().emulators.clone();
    tokio::task::spawn_blocking(move || set.restart_postgres()).await.expect("join").expect("restarted");
    estate.upload(&format!("uploads/{second}/front (1).jpg"), &photo).await;
    let both = || counted_and_made(vec![first.clone(), second.clone()]);
    let (_, made) = eventually("both photos counted", both, |(c, m)| c == m && *m > first_made).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(both().await, (made, made), "nothing counted twice");
    estate.stop().await;
}
