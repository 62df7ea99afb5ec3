//! `local up`, black box: the AWS functions' deployed binaries as processes behind the runner's
//! Lambda Runtime API, on the emulators, fed by the runner's event source mappings, S3
//! notifications and streams, exactly as `local up` wires them. Each test runs its own estate
//! (its own tables, buckets, queues and consumer groups: a fresh prefix) on the Kafka topics
//! everyone shares, starting at the topics' ends. They run one at a time (.config/nextest.toml).
//! An emulator that cannot start fails the test; nothing is skipped.
#[path = "up/support.rs"]
mod support;

use domain::events::{FraudDecision, PaymentRequested, topics};
use orders::machine::OrderState;
use orders::testing::{confirmed, scored};
use std::time::Duration;
use support::{Estate, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_checkout_lambdas_take_an_order_to_paid_on_the_emulators_and_a_redelivery_changes_nothing() {
    let estate = Estate::up(&["checkout"], &[], &[]).await;
    let order = estate.id("UP-E2E");
    estate.sign_up("C-1", "ana@example.org").await;
    let paid_mirror = estate.subscribe(&topics::mirror_topic(topics::ORDER_PAID)).await;

    let confirmed = estate.event(format!("{order}-confirmed"), confirmed(&order));
    let approved = estate.event(format!("{order}-scored"), scored(&order, FraudDecision::Approve));
    estate.publish(&confirmed).await;
    estate.publish(&approved).await;

    let record = estate.paid(&order).await;
    let payment_id = record.payment_id.clone().expect("a payment id");
    assert_eq!(estate.running.gateway.gateway.charges_for(&payment_id), 1);
    let mirrored = eventually("order.paid mirrored to Pub/Sub", || estate.pull(&paid_mirror), |m| !m.is_empty()).await;
    assert!(mirrored.iter().any(|m| m.contains(&order)), "{mirrored:?}");
    let mails = eventually("the customer's e-mail", || estate.emails_about(&order), |m| !m.is_empty()).await;
    assert_eq!(mails.len(), 1, "one e-mail for the paid order");
    let lake = eventually("the order's changes in the lake", || estate.lake_files(), |f| !f.is_empty()).await;
    assert!(lake.iter().all(|k| k.starts_with("raw/orders/dt=") && k.ends_with(".parquet")), "{lake:?}");

    // The same events again (a producer's retry): the functions run again and change nothing.
    let before = estate.invocations("order-updater");
    estate.publish(&confirmed).await;
    estate.publish(&approved).await;
    eventually("order-updater ran again", || async { estate.invocations("order-updater") }, |n| *n > before).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = estate.order(&order).await.expect("the order");
    assert_eq!(again.state, OrderState::Paid);
    assert_eq!(again.payment_id, record.payment_id);
    assert_eq!(estate.running.gateway.gateway.charges_for(&payment_id), 1, "charged once");
    assert_eq!(estate.emails_about(&order).await.len(), 1, "no second e-mail");
    let stats = estate.running.stats.snapshot();
    assert_eq!(stats.values().map(|s| s.on_failure).sum::<u64>(), 0, "{stats:?}");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_payment_processor_processes_never_charge_a_payment_twice() {
    let estate = Estate::up(&[], &["order-updater", "payment-processor"], &[("payment-processor", 2)]).await;
    let orders: Vec<String> = (0..8).map(|i| estate.id(&format!("UP-TWO-{i}"))).collect();
    for order in &orders {
        estate.publish(&estate.event(format!("{order}-confirmed"), confirmed(order))).await;
        estate.publish(&estate.event(format!("{order}-scored"), scored(order, FraudDecision::Approve))).await;
    }
    // Each payment request again under other keys, so that its copies land on other partitions
    // and are charged by the other process at the same time (a duplicate from anywhere).
    let requests: Vec<PaymentRequested> = eventually(
        "the payment requests",
        || estate.read_events::<PaymentRequested>(topics::PAYMENT_REQUESTED, &orders),
        |r| r.len() == orders.len(),
    )
    .await;
    for r in &requests {
        for copy in ["a", "b"] {
            estate.publish_keyed(&estate.event(format!("{}-{copy}", r.payment_id), r.clone()), copy).await;
        }
    }
    for order in &orders {
        estate.paid(order).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for r in &requests {
        assert_eq!(estate.running.gateway.gateway.charges_for(&r.payment_id), 1, "{}", r.payment_id);
    }
    let pool = estate.running.pool("payment-processor").expect("its pool");
    let each: Vec<u64> = pool.processes().iter().map(|p| p.api().invocations()).collect();
    assert!(each.iter().all(|n| *n > 0), "both processes were invoked: {each:?}");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partial_batch_response_is_retried_from_the_first_failed_offset_of_its_partition() {
    let estate = Estate::up(&[], &["order-updater", "payment-processor"], &[]).await;
    // Five orders whose payment requests share a partition; the gateway takes two charges, then
    // is down for three.
    let orders = estate.ids_on_one_partition("UP-PART", 5);
    estate.running.gateway.gateway.outage.fail_after(2, 3);
    for order in &orders {
        estate.publish(&estate.event(format!("{order}-confirmed"), confirmed(order))).await;
        estate.publish(&estate.event(format!("{order}-scored"), scored(order, FraudDecision::Approve))).await;
    }
    for order in &orders {
        estate.paid(order).await;
    }
    let keys = estate.running.gateway.keys();
    let failed: Vec<(&String, u32)> =
        keys.iter().filter(|(_, k)| k.requests > 1).map(|(id, k)| (id, k.requests)).collect();
    assert_eq!(failed.len(), 1, "one payment met the outage: {keys:?}");
    assert!(failed[0].1 >= 2, "charged again after the outage");
    assert!(keys.values().all(|k| k.outcome.is_some()) && keys.len() == orders.len(), "{keys:?}");
    for id in keys.keys() {
        assert_eq!(estate.running.gateway.gateway.charges_for(id), 1, "{id}");
    }
    // Where the mapping resumed: the failed record's offset, each time.
    let offsets = estate.offsets_of(topics::PAYMENT_REQUESTED, &orders).await;
    let failed_at = offsets[failed[0].0];
    let resumed: Vec<(i32, i64)> = estate
        .running
        .stats
        .resumptions()
        .into_iter()
        .filter(|(f, t, _, _)| *f == "payment-processor" && t == topics::PAYMENT_REQUESTED)
        .map(|(_, _, p, o)| (p, o))
        .collect();
    assert_eq!(resumed, vec![failed_at; 3], "resumed at the failed record, once per failure");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_invocation_is_started_again_and_its_batch_retried() {
    // The killed attempt's lease on the payment (30 s) holds the retries off until it ends: five
    // retries 8 s apart outlast it.
    let pause = Duration::from_secs(8);
    let estate = Estate::up_pausing(&[], &["order-updater", "payment-processor"], &[], pause).await;
    let order = estate.id("UP-KILL");
    estate.running.gateway.set_delay(Duration::from_secs(30));
    estate.publish(&estate.event(format!("{order}-confirmed"), confirmed(&order))).await;
    estate.publish(&estate.event(format!("{order}-scored"), scored(&order, FraudDecision::Approve))).await;
    let pool = estate.running.pool("payment-processor").expect("its pool");
    let process = &pool.processes()[0];
    eventually("a charge in flight", || async { estate.running.gateway.keys().len() }, |n| *n == 1).await;
    assert_eq!(process.api().in_flight(), 1, "the invocation waits on the gateway");
    let killed = std::process::Command::new("kill").args(["-9", &process.pid().to_string()]).status();
    assert!(killed.expect("kill").success());
    estate.running.gateway.set_delay(Duration::ZERO);

    let record = estate.paid(&order).await;
    assert_eq!(process.starts(), 2, "started again");
    let payment_id = record.payment_id.expect("a payment id");
    assert_eq!(estate.running.gateway.gateway.charges_for(&payment_id), 1);
    assert_eq!(estate.running.gateway.keys()[&payment_id].requests, 2, "the batch came again, once the lease ended");
    let stats = &estate.running.stats.snapshot()["payment-processor"];
    assert!(stats.failures >= 1 && stats.retries >= 1, "{stats:?}");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_reach_image_resizer_through_s3_notifications_on_sqs_and_a_broken_one_is_dead_lettered() {
    let estate = Estate::up(&[], &["image-resizer"], &[]).await;
    estate.upload("uploads/SKU-UP-1/front (1).jpg", &support::upload_fixture("front (1).jpg")).await;
    estate.upload("uploads/SKU-UP-2/back.jpg", &support::upload_fixture("back.jpg")).await;
    let variants = eventually("the variants", || estate.processed_files(), |f| !f.is_empty()).await;
    assert!(variants.iter().all(|v| v.starts_with("processed/SKU-UP-1/front (1)@")), "{variants:?}");
    let stats = eventually(
        "both invocations",
        || async { estate.running.stats.snapshot().get("image-resizer").cloned().unwrap_or_default() },
        |s| s.invocations == 2,
    )
    .await;
    // The cut-short photo is the function's to dead-letter (images.dlq): the invocation succeeds,
    // so it is neither retried nor sent to the on-failure queue.
    assert_eq!((stats.failures, stats.retries, stats.on_failure), (0, 0, 0), "no test event invoked either");
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweepers_schedule_runs_on_demand_and_reports() {
    let estate = Estate::up(&[], &["order-sweeper"], &[]).await;
    let outcome = estate.running.run_schedule("order-sweeper").await.expect("a scheduled function");
    let local::runtime::api::Outcome::Response(body) = outcome else { panic!("{outcome:?}") };
    let report: serde_json::Value = serde_json::from_slice(&body).expect("its report");
    assert_eq!(report["due"], 0, "{report}");
    assert!(estate.running.run_schedule("payment-processor").await.is_err_and(|e| e.contains("not a scheduled")));
    estate.stop().await;
}
