//! projection-updater under contention and outages: a lost etag race is re-read and re-applied;
//! an unavailable store fails the invocation for the host to retry; on the last retry the
//! records are dead-lettered instead, so nothing is lost.
use async_trait::async_trait;
use domain::ports::{Documents, Etag, JsonText, PortError, StoredDocument};
use inmemory::{InMemoryDocuments, Record};
use local::functions_host::kafka_trigger_request;
use projection_updater::Updater;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn price(seq: u64, minor: i64) -> Record {
    price_from("sap-eu", seq, minor)
}

/// SKU-1's EU price as `erp` sends it (the checked-in table gives EU prices to sap-eu).
fn price_from(erp: &str, seq: u64, minor: i64) -> Record {
    let ce = json!({"specversion": "1.0", "id": format!("erp-{erp}-{seq}"), "source": "/gcp/merch-normalizer",
        "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:00:00Z", "datacontenttype": "application/json",
        "data": {"sku": "SKU-1", "region": "EU", "price": {"amount_minor": minor, "currency": "EUR"}, "version": seq,
                 "erp_system": erp, "effective_at": "2026-11-20T09:00:00Z"}});
    Record {
        topic: "merch.price-changed".into(),
        partition: 2,
        offset: seq as i64,
        key: "SKU-1".into(),
        payload: ce.to_string().into_bytes(),
        headers: vec![],
        timestamp_ms: 1_795_165_200_000,
    }
}

/// A container where another writer gets in between our read and our first replace.
struct Contended {
    inner: InMemoryDocuments,
    raced: AtomicBool,
}

#[async_trait]
impl Documents for Contended {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        self.inner.read(pk, id).await
    }
    async fn create(&self, pk: &str, id: &str, body: JsonText) -> Result<Etag, PortError> {
        self.inner.create(pk, id, body).await
    }
    async fn replace(&self, pk: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError> {
        if !self.raced.swap(true, Ordering::SeqCst) {
            self.inner.touch(pk, id);
        }
        self.inner.replace(pk, id, body, if_match).await
    }
}

#[tokio::test]
async fn a_lost_etag_race_is_retried_from_the_new_version() {
    let docs = Arc::new(Contended { inner: InMemoryDocuments::default(), raced: AtomicBool::new(false) });
    let updater = Updater::new(docs.clone());
    let (status, _, first) =
        updater.handle(&kafka_trigger_request("price-changed", "events", &[price(1, 100)], None, 1)).await;
    assert_eq!((status.as_u16(), first.applied, first.conflicts), (200, 1, 0));
    let (status, _, second) =
        updater.handle(&kafka_trigger_request("price-changed", "events", &[price(2, 200)], None, 2)).await;
    assert_eq!((status.as_u16(), second.applied, second.conflicts), (200, 1, 1), "{second:?}");
    let doc = docs.inner.all().pop().expect("document");
    assert_eq!(
        (doc["prices"]["EU"]["version"].as_u64(), doc["prices"]["EU"]["amount_minor"].as_i64()),
        (Some(2), Some(200))
    );
}

#[tokio::test]
async fn an_unavailable_store_fails_the_invocation_until_the_last_retry_then_dead_letters() {
    let docs = InMemoryDocuments::default();
    let updater = Updater::new(Arc::new(docs.clone()));
    let batch = [price(1, 100), price(2, 200)];

    docs.outage.fail_next(1);
    let (status, resp, report) =
        updater.handle(&kafka_trigger_request("price-changed", "events", &batch, None, 1)).await;
    assert_eq!(status.as_u16(), 500, "the host must retry");
    assert!(resp.outputs.is_empty(), "nothing dead-lettered while retries remain");
    assert_eq!(report.retry, ["SKU-1"]);

    docs.outage.fail_next(1);
    let (status, resp, _) =
        updater.handle(&kafka_trigger_request("price-changed", "events", &batch, Some((5, 5)), 2)).await;
    assert_eq!(status.as_u16(), 200, "the last attempt succeeds by dead-lettering");
    let dls = resp.outputs["deadLetters"].as_array().expect("dead letters");
    assert_eq!(dls.len(), 2);
    let first: Value = serde_json::from_str(dls[0]["Value"].as_str().unwrap_or_default()).expect("CloudEvent");
    assert_eq!(first["data"]["reason_code"], "retries_exhausted");
    assert_eq!(first["data"]["origin"], "kafka:merch.price-changed/2@1");
    assert!(docs.all().is_empty());

    let newest_first = [price(2, 200), price(1, 100)];
    let (status, _, report) =
        updater.handle(&kafka_trigger_request("price-changed", "events", &newest_first, Some((1, 5)), 3)).await;
    assert_eq!(
        (status.as_u16(), report.applied, report.stale),
        (200, 1, 1),
        "a healthy store applies the batch, newest wins"
    );
    assert_eq!(docs.all()[0]["prices"]["EU"]["amount_minor"], 200);
}

/// Ownership is checked where changes are applied too, not only where they are normalised: a
/// change on the bus for a slot its system does not own (a producer that skipped the check) is
/// dead-lettered `foreign_slot`, however new its version, and the owner's price stays.
#[tokio::test]
async fn a_change_for_a_slot_its_system_does_not_own_is_dead_lettered_not_applied() {
    let docs = InMemoryDocuments::default();
    let updater = Updater::new(Arc::new(docs.clone()));
    let batch = [price(1, 100), price_from("as400-us", 999_999, 1), price(2, 200)];
    let (status, resp, report) =
        updater.handle(&kafka_trigger_request("price-changed", "events", &batch, None, 1)).await;
    assert_eq!((status.as_u16(), report.applied, report.dead_lettered), (200, 2, 1));
    let dls = resp.outputs["deadLetters"].as_array().expect("dead letters");
    let dead: Value = serde_json::from_str(dls[0]["Value"].as_str().unwrap_or_default()).expect("CloudEvent");
    assert_eq!(dead["data"]["reason_code"], "foreign_slot");
    assert_eq!(dead["data"]["origin"], "kafka:merch.price-changed/2@999999");
    let stored = &docs.all()[0]["prices"]["EU"];
    assert_eq!((stored["amount_minor"].as_i64(), stored["event_id"].as_str()), (Some(200), Some("erp-sap-eu-2")));
}
