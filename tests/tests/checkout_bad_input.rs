//! Bad input to each checkout function: every broken record gets its typed reason code in a dead
//! letter on `checkout.dlq`, and the good record after them in the same batch is still processed.
use domain::cloudevent::decode;
use domain::events::{DeadLetter, topics};
use local::estate::Estate;
use local::functions_host::kafka_trigger_request;
use local::lambda_host::msk_event;
use serde_json::{Value, json};

fn order(id: &str) -> Value {
    json!({"specversion": "1.0", "id": format!("order-{id}-confirmed"), "source": "/storefront/checkout",
           "type": "com.shop.order.confirmed.v1", "time": "2026-11-21T10:00:00Z", "datacontenttype": "application/json",
           "data": {"order_id": id, "customer_id": "C-1", "ship_to_country": "DE", "confirmed_at": "2026-11-21T10:00:00Z",
                    "total": {"amount_minor": 2500, "currency": "EUR"},
                    "lines": [{"sku": "TSH-001", "quantity": 1, "unit_price": {"amount_minor": 2500, "currency": "EUR"}}],
                    "payment": {"token": "tok_visa", "card_fingerprint": "fp", "card_bin_country": "DE", "billing_country": "DE"}}})
}

/// Broken orders, each with the reason code it must be dead-lettered with.
fn broken_orders() -> Vec<(&'static str, Vec<u8>)> {
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut o = order("B-1");
        f(&mut o);
        serde_json::to_vec(&o).expect("json")
    };
    let many_lines: Vec<Value> = (0..101)
        .map(
            |i| json!({"sku": format!("SKU-{i}"), "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "EUR"}}),
        )
        .collect();
    let good = serde_json::to_vec(&order("B-1")).expect("json");
    vec![
        ("wrong_schema", edit(&|o| o["data"]["total"]["currency"] = "EUX".into())),
        ("invalid_order", edit(&|o| o["data"]["total"]["amount_minor"] = (-2500).into())),
        ("wrong_schema", edit(&|o| o["data"]["total"]["amount_minor"] = 25.5.into())),
        ("wrong_schema", edit(&|o| drop(o["data"].as_object_mut().expect("data").remove("order_id")))),
        ("malformed_json", good[..good.len() / 2].to_vec()),
        ("oversize", edit(&|o| o["data"]["lines"] = Value::Array(many_lines.clone()))),
        ("oversize", edit(&|o| o["data"]["lines"][0]["category"] = "x".repeat(70 * 1024).into())),
    ]
}

fn dead_letter_codes(estate: &Estate) -> Vec<String> {
    estate
        .bus
        .records(topics::CHECKOUT_DLQ)
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).expect("dead letter").data.reason_code)
        .collect()
}

async fn put(estate: &Estate, topic: &str, key: &str, payload: Vec<u8>) {
    use domain::ports::{OutboundMessage, Publisher};
    // The bus refuses what Kafka would; these fit.
    estate.bus.publish(OutboundMessage::new(topic, key, payload)).await.expect("published");
}

#[tokio::test]
async fn fraud_scorer_dead_letters_each_broken_order_and_scores_the_good_one() {
    let estate = Estate::new();
    let cases = broken_orders();
    for (_, payload) in &cases {
        put(&estate, topics::ORDER_CONFIRMED, "B-1", payload.clone()).await;
    }
    put(&estate, topics::ORDER_CONFIRMED, "G-1", serde_json::to_vec(&order("G-1")).expect("json")).await;
    let records: Vec<_> = estate.bus.records(topics::ORDER_CONFIRMED);
    let scorer =
        fraud_scorer::Scorer::new(std::sync::Arc::new(estate.fraud_docs.clone()), fraud_scorer::Config::default());
    let (status, resp, report) =
        scorer.handle(&kafka_trigger_request("order-confirmed", "orders", &records, None, 1)).await;
    assert_eq!((status.as_u16(), report.scored, report.dead_lettered), (200, 1, cases.len()));
    let codes: Vec<String> = resp.outputs["deadLetters"]
        .as_array()
        .expect("dead letters")
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d["Value"].as_str().expect("text")).expect("json")["data"]["reason_code"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let mut expected: Vec<&str> = cases.iter().map(|(code, _)| *code).collect();
    let mut got: Vec<&str> = codes.iter().map(String::as_str).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn order_updater_dead_letters_each_broken_record_and_applies_the_good_one() {
    let estate = Estate::new();
    let cases = broken_orders();
    for (_, payload) in &cases {
        put(&estate, topics::ORDER_CONFIRMED, "B-1", payload.clone()).await;
    }
    put(&estate, topics::ORDER_CONFIRMED, "G-1", serde_json::to_vec(&order("G-1")).expect("json")).await;
    let mut event = msk_event(&estate.bus.records(topics::ORDER_CONFIRMED));
    // One more record whose value is not base64, as a broken producer could leave it.
    let first = event.records.values_mut().next().expect("a partition");
    let mut corrupt = first[0].clone();
    corrupt.offset = 1_000;
    corrupt.value = Some("%%% not base64".into());
    first.push(corrupt);
    let (response, report) = estate.order_updater.handle(event).await.expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!((report.changed, report.dead_lettered), (1, cases.len() + 1));
    let mut got = dead_letter_codes(&estate);
    let mut expected: Vec<String> =
        cases.iter().map(|(c, _)| c.to_string()).chain(["bad_base64".to_string()]).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn payment_processor_dead_letters_what_it_cannot_charge_and_charges_the_rest() {
    let estate = Estate::new();
    let request = |id: &str, f: &dyn Fn(&mut Value)| {
        let mut r = json!({"specversion": "1.0", "id": format!("payment-requested-{id}"), "source": "/aws/order-updater",
            "type": "com.shop.payment.requested.v1", "time": "2026-11-21T10:00:00Z",
            "data": {"order_id": id, "payment_id": format!("pay-{id}"), "amount": {"amount_minor": 2500, "currency": "EUR"},
                     "payment_token": "tok_visa"}});
        f(&mut r);
        serde_json::to_vec(&r).expect("json")
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "missing_payment_token",
            request("P-1", &|r| drop(r["data"].as_object_mut().expect("data").remove("payment_token"))),
        ),
        ("wrong_schema", request("P-2", &|r| r["data"]["amount"]["currency"] = "EUX".into())),
        ("wrong_schema", request("P-3", &|r| drop(r["data"].as_object_mut().expect("data").remove("order_id")))),
        ("malformed_json", request("P-4", &|_| {})[..40].to_vec()),
    ];
    for (_, payload) in &cases {
        put(&estate, topics::PAYMENT_REQUESTED, "P", payload.clone()).await;
    }
    put(&estate, topics::PAYMENT_REQUESTED, "P", request("P-9", &|_| {})).await;
    let (response, out) = estate
        .payment_processor
        .handle(msk_event(&estate.bus.records(topics::PAYMENT_REQUESTED)))
        .await
        .expect("batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((out.done.len(), out.dead_lettered), (1, cases.len()));
    assert_eq!(estate.gateway.charges_for("pay-P-9"), 1);
    let got = dead_letter_codes(&estate);
    assert_eq!(got, cases.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>());
}
