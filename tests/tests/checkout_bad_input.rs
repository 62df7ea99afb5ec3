//! Bad input to each checkout function: every broken record gets its typed reason code in a dead
//! letter on `checkout.dlq`, and the good record after them in the same batch is still processed.
use domain::cloudevent::decode;
use domain::events::{DeadLetter, PaymentRequested, topics};
use estate_tests::checkout::{approved, order_confirmed as order};
use local::estate::Estate;
use local::functions_host::kafka_trigger_request;
use local::lambda_host::msk_event;
use platform_aws::invocation::Invocation;
use serde_json::{Value, json};

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

/// The same reason codes, in whatever order the dead letters landed on their partitions.
fn assert_same_codes<'a>(mut got: Vec<String>, expected: impl IntoIterator<Item = &'a str>) {
    let mut expected: Vec<&str> = expected.into_iter().collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// The batch with one more record (offset 1000) whose value is not base64, as a broken producer
/// or a corrupted mapping could leave it.
fn with_a_value_not_base64(
    mut event: aws_lambda_events::event::kafka::KafkaEvent,
) -> aws_lambda_events::event::kafka::KafkaEvent {
    let partition = event.records.values_mut().next().expect("a partition");
    let mut corrupt = partition[0].clone();
    corrupt.offset = 1_000;
    corrupt.value = Some("%%% not base64".into());
    partition.push(corrupt);
    event
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
    assert_same_codes(codes, cases.iter().map(|(code, _)| *code));
}

#[tokio::test]
async fn order_updater_dead_letters_each_broken_record_and_applies_the_good_one() {
    let estate = Estate::new();
    let cases = broken_orders();
    for (_, payload) in &cases {
        put(&estate, topics::ORDER_CONFIRMED, "B-1", payload.clone()).await;
    }
    put(&estate, topics::ORDER_CONFIRMED, "G-1", serde_json::to_vec(&order("G-1")).expect("json")).await;
    let event = with_a_value_not_base64(msk_event(&estate.bus.records(topics::ORDER_CONFIRMED)));
    let (response, report) =
        estate.order_updater.handle(event, &Invocation::one_minute()).await.expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!((report.changed, report.dead_lettered), (1, cases.len() + 1));
    assert_same_codes(dead_letter_codes(&estate), cases.iter().map(|(c, _)| *c).chain(["bad_base64"]));
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
        ("invalid_payment", request("P-5", &|r| r["data"]["amount"]["amount_minor"] = (-2500).into())),
        ("invalid_payment", request("P-6", &|r| r["data"]["amount"]["amount_minor"] = 0.into())),
        ("wrong_schema", request("P-7", &|r| r["data"]["amount"]["amount_minor"] = 25.5.into())),
        ("oversize", request("P-8", &|r| r["data"]["payment_token"] = "t".repeat(70 * 1024).into())),
    ];
    for (_, payload) in &cases {
        put(&estate, topics::PAYMENT_REQUESTED, "P", payload.clone()).await;
    }
    // Requests that decode but that no order asked: none, or another total.
    let no_order = request("P-10", &|_| {});
    let not_the_orders = request("P-11", &|r| r["data"]["amount"]["amount_minor"] = 2600.into());
    let cases: Vec<(&str, Vec<u8>)> =
        cases.into_iter().chain([("unknown_order", no_order), ("order_mismatch", not_the_orders)]).collect();
    for (_, payload) in &cases[cases.len() - 2..] {
        put(&estate, topics::PAYMENT_REQUESTED, "P", payload.clone()).await;
    }
    for id in ["P-9", "P-11"] {
        let asked: Value = serde_json::from_slice(&request(id, &|_| {})).expect("request");
        let asked: PaymentRequested = serde_json::from_value(asked["data"].clone()).expect("a payment request");
        estate_tests::checkout::order_asking(&estate.orders, &asked).await;
    }
    put(&estate, topics::PAYMENT_REQUESTED, "P", request("P-9", &|_| {})).await;
    let event = with_a_value_not_base64(msk_event(&estate.bus.records(topics::PAYMENT_REQUESTED)));
    let (response, out) = estate.payment_processor.handle(event, &estate.lambda_invocation()).await.expect("batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((out.done.len(), out.dead_lettered), (1, cases.len() + 1));
    assert_eq!(estate.gateway.charges_for("pay-P-9"), 1);
    for refused in ["pay-P-5", "pay-P-6", "pay-P-7", "pay-P-8", "pay-P-10", "pay-P-11"] {
        assert_eq!(estate.gateway.charges_for(refused), 0, "{refused} reached the gateway");
    }
    let got = dead_letter_codes(&estate);
    // A value that is not base64 is dead-lettered as the batch is read, before any record is run.
    let expected: Vec<String> =
        ["bad_base64".into()].into_iter().chain(cases.iter().map(|(c, _)| c.to_string())).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn cart_cleaner_dead_letters_each_broken_deletion_and_applies_the_good_one() {
    use domain::ports::Carts;
    use domain::values::{CustomerId, Sku};
    let estate = Estate::new();
    let customer = CustomerId::parse("C-1").expect("id");
    for sku in ["MUG-220", "TSH-001"] {
        estate.carts.put(&customer, &Sku::parse(sku).expect("sku"), 1).await.expect("cart");
    }
    let deleted = |sku: &str, f: &dyn Fn(&mut Value)| {
        let mut e = json!({"specversion": "1.0", "id": format!("product-deleted-{sku}"), "source": "/catalogue",
            "type": "com.shop.product.deleted.v1", "time": "2026-11-21T11:00:00Z",
            "data": {"sku": sku, "deleted_at": "2026-11-21T11:00:00Z"}});
        f(&mut e);
        serde_json::to_vec(&e).expect("json")
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("wrong_schema", deleted("TSH-001", &|e| drop(e["data"].as_object_mut().expect("data").remove("sku")))),
        ("wrong_schema", deleted("TSH-001", &|e| e["data"]["deleted_at"] = "yesterday".into())),
        ("unexpected_type", serde_json::to_vec(&order("B-1")).expect("json")),
        ("malformed_json", deleted("TSH-001", &|_| {})[..30].to_vec()),
        ("oversize", deleted("TSH-001", &|e| e["comment"] = "x".repeat(70 * 1024).into())),
    ];
    for (_, payload) in &cases {
        put(&estate, topics::PRODUCT_DELETED, "TSH-001", payload.clone()).await;
    }
    put(&estate, topics::PRODUCT_DELETED, "MUG-220", deleted("MUG-220", &|_| {})).await;
    let event = with_a_value_not_base64(msk_event(&estate.bus.records(topics::PRODUCT_DELETED)));
    let out = estate.cart_cleaner.handle(event, &Invocation::one_minute()).await.expect("batch");
    assert!(out.response.batch_item_failures.is_empty(), "{:?}", out.response);
    assert_eq!((out.done.len(), out.dead_lettered), (1, cases.len() + 1));
    // Only the good deletion was applied: the broken ones all named TSH-001, which stays.
    let left: Vec<String> =
        estate.carts.cart(&customer).await.expect("cart").iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(left, ["TSH-001"]);
    assert_same_codes(dead_letter_codes(&estate), cases.iter().map(|(c, _)| *c).chain(["bad_base64"]));
}

/// The bridge mirrors bytes, whatever they hold; what it cannot mirror is a record of a topic it
/// does not mirror, a value that is not base64, or one larger than Kafka's largest record.
#[tokio::test]
async fn the_bridge_dead_letters_what_it_cannot_mirror_and_mirrors_the_rest() {
    let estate = Estate::new();
    // Not JSON at all: the bridge does not read what it mirrors, so this is mirrored as it is.
    put(&estate, topics::ORDER_PAID, "O-1", b"not json, mirrored as it is".to_vec()).await;
    let mut event = msk_event(&estate.bus.records(topics::ORDER_PAID));
    let partition = event.records.values_mut().next().expect("a partition");
    let template = partition[0].clone();
    let with = |offset: i64, topic: &str, value: Option<String>| {
        let mut r = template.clone();
        (r.offset, r.topic, r.value) = (offset, Some(topic.to_string()), value);
        r
    };
    use base64::Engine;
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; kafka_pubsub_bridge::MAX_RECORD_BYTES + 1]);
    partition.push(with(1_000, "payments.internal", template.value.clone()));
    partition.push(with(1_001, topics::ORDER_PAID, Some("%%% not base64".into())));
    partition.push(with(1_002, topics::ORDER_PAID, Some(huge)));
    let out = estate.bridge.handle(event, &Invocation::one_minute()).await.expect("batch");
    assert!(out.response.batch_item_failures.is_empty(), "{:?}", out.response);
    assert_eq!((out.done.len(), out.dead_lettered), (1, 3));
    let mirrored = estate.bus.records(&domain::events::topics::mirror_topic(topics::ORDER_PAID));
    assert_eq!(mirrored.len(), 1);
    assert_eq!(mirrored[0].payload, b"not json, mirrored as it is");
    assert_same_codes(dead_letter_codes(&estate), ["unexpected_topic", "bad_base64", "oversize"]);
}

/// A success for an order's payment with another amount than the order's total (a producer's
/// bug, or worse) is dead-lettered `amount_mismatch`; the order is not paid, nothing is booked.
#[tokio::test]
async fn order_updater_dead_letters_a_success_for_another_amount_than_the_orders() {
    let mut estate = Estate::new();
    let approved = approved("B-1");
    let succeeded = json!({"specversion": "1.0", "id": "payment-succeeded-pay-B-1", "source": "/aws/payment-processor",
        "type": "com.shop.payment.succeeded.v1", "time": "2026-11-21T10:00:05Z",
        "data": {"order_id": "B-1", "payment_id": "pay-B-1", "amount": {"amount_minor": 250, "currency": "EUR"},
                 "gateway_reference": "ch_1"}});
    let sends = [
        (topics::ORDER_CONFIRMED, order("B-1")),
        (topics::FRAUD_SCORED, approved),
        (topics::PAYMENT_SUCCEEDED, succeeded),
    ];
    for (topic, event) in sends {
        put(&estate, topic, "B-1", serde_json::to_vec(&event).expect("json")).await;
    }
    estate.run_order_updater(10).await.expect("order-updater");
    assert_same_codes(dead_letter_codes(&estate), ["amount_mismatch"]);
    let stored = estate.orders.all();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["state"], "payment_requested");
    assert!(estate.bus.records(topics::ORDER_PAID).is_empty());
}
