//! `local up`, black box: the AWS functions' deployed binaries as processes behind the runner's
//! Lambda Runtime API, on the emulators, fed by the runner's event source mappings, S3
//! notifications and streams, exactly as `local up` wires them. Each test runs its own estate
//! (its own tables, buckets, queues and consumer groups: a fresh prefix) on the Kafka topics
//! everyone shares, starting at the topics' ends. They run one at a time (.config/nextest.toml).
//! An emulator that cannot start fails the test; nothing is skipped.
use crate::up_support as support;

use domain::events::{FraudDecision, PaymentRequested, topics};
use orders::machine::OrderState;
use orders::testing::{confirmed, scored};
use std::time::Duration;
use support::{Estate, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_checkout_lambdas_take_an_order_to_paid_on_the_emulators_and_redeliveries_change_nothing() {
    // The checkout flow's Lambdas (its Azure and Cloud Run functions are up_clouds.rs's): the
    // test gives the fraud verdict itself.
    let lambdas =
        ["order-updater", "payment-processor", "kafka-pubsub-bridge", "order-sweeper", "notifier", "lake-archiver"];
    let estate = Estate::up(&[], &lambdas, &[]).await;
    let order = estate.id("UP-E2E");
    estate.sign_up("C-1", "ana@example.org").await;
    let paid_mirror = estate.subscribe(&topics::mirror_topic(topics::ORDER_PAID)).await;
    let mut mappings = Vec::new();
    for (function, topic) in [
        ("order-updater", topics::ORDER_CONFIRMED),
        ("order-updater", topics::FRAUD_SCORED),
        ("order-updater", topics::PAYMENT_SUCCEEDED),
        ("payment-processor", topics::PAYMENT_REQUESTED),
    ] {
        mappings.push((function, topic, estate.group_offsets(function, topic).await));
    }

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

    // The same events published again (a producer's retry): read and handled, nothing changes.
    let before = estate.invocations("order-updater");
    estate.publish(&confirmed).await;
    estate.publish(&approved).await;
    eventually("order-updater ran again", || async { estate.invocations("order-updater") }, |n| *n > before).await;

    // The same batches delivered again (the groups moved back, as after a lost commit): the
    // functions run them again, and a fresh gateway is asked for nothing.
    let estate = estate.restart_from(&mappings).await;
    for function in ["order-updater", "payment-processor"] {
        eventually(&format!("{function} redelivered"), || async { estate.invocations(function) }, |n| *n > 0).await;
    }
    let lag = |s: &std::collections::BTreeMap<&str, local::up::stats::FunctionStats>| {
        ["order-updater", "payment-processor"].iter().all(|f| s.get(f).is_some_and(|s| s.lag == 0 && s.invocations > 0))
    };
    eventually("the redeliveries read to the end", || async { estate.running.stats.snapshot() }, lag).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again = estate.order(&order).await.expect("the order");
    assert_eq!((again.state, again.payment_id), (OrderState::Paid, record.payment_id));
    assert!(
        estate.running.gateway.keys().is_empty(),
        "nothing charged or asked again: {:?}",
        estate.running.gateway.keys()
    );
    assert_eq!(estate.emails_about(&order).await.len(), 1, "no second e-mail");
    let stats = estate.running.stats.snapshot();
    assert_eq!(stats.values().map(|s| s.on_failure + s.failures).sum::<u64>(), 0, "{stats:?}");
    estate.stop().await;
}

/// What an operator does to the triggers (`up::operate`): a mapping turned off delivers nothing
/// until it is turned on, and then everything it held back; a second mapping on the orders stream
/// from its start delivers every change again, which notifier takes as a redelivery (no second
/// e-mail) and lake-archiver writes again (the lake's files overlap).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mapping_turned_off_holds_its_records_and_a_stream_reprocessed_from_its_start_changes_nothing() {
    let lambdas = ["order-updater", "payment-processor", "notifier", "lake-archiver"];
    let estate = Estate::up(&[], &lambdas, &[]).await;
    let order = estate.id("UP-OPERATE");
    estate.sign_up("C-1", "ana@example.org").await;
    let off = |on| estate.running.enable_mapping("order-updater", topics::ORDER_CONFIRMED, on);
    off(false).expect("order-updater's mapping on order.confirmed");
    estate.publish(&estate.event(format!("{order}-confirmed"), confirmed(&order))).await;
    estate.publish(&estate.event(format!("{order}-scored"), scored(&order, FraudDecision::Approve))).await;
    let pending = |r: &Option<orders::machine::OrderRecord>| r.as_ref().is_some_and(|r| r.state == OrderState::Pending);
    eventually("the decision waiting for its order", || estate.order(&order), pending).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(pending(&estate.order(&order).await), "the order stays pending while the mapping is off");
    off(true).expect("on again");
    estate.paid(&order).await;
    let mails = eventually("the customer's e-mail", || estate.emails_about(&order), |m| !m.is_empty()).await;
    let files = eventually("the order's changes in the lake", || estate.lake_files(), |f| !f.is_empty()).await;

    // In batches of other sizes than the first mapping's (which took the changes as they came):
    // lake-archiver names a file by its batch, so a batch it wrote before would not be again.
    for (function, batch) in [("notifier", 1), ("lake-archiver", 100)] {
        estate.running.reprocess_stream(function, batch).await.expect("the stream reprocessed");
    }
    assert_eq!(estate.emails_about(&order).await.len(), mails.len(), "no second e-mail");
    let again = estate.lake_files().await;
    assert!(again.len() > files.len(), "the changes archived again: {files:?} then {again:?}");
    let stats = estate.running.stats.snapshot();
    assert_eq!(stats.values().map(|s| s.on_failure + s.failures).sum::<u64>(), 0, "{stats:?}");
    // Fail closed: a mapping or stream the run does not have is an error.
    assert!(estate.running.enable_mapping("order-updater", "no.such.topic", false).is_err());
    assert!(estate.running.reprocess_stream("order-updater", 1).await.is_err());
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
    let estate = Estate::with(|o| {
        o.functions = vec!["order-updater".into(), "payment-processor".into()];
        o.retry_pause = Duration::from_secs(8);
    })
    .await;
    let order = estate.id("UP-KILL");
    // A slow card processor (10 s): the charge is in flight when the process dies, and the
    // gateway finishes it; the retry after the lease finds its outcome.
    estate.running.gateway.set_delay(Duration::from_secs(10));
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
    assert!(estate.running.gateway.keys()[&payment_id].requests >= 2, "the batch came again, once the lease ended");
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
    let letters = || async { estate.running.stats.snapshot()["image-resizer"].dead_letters };
    eventually("its dead letter counted", letters, |n| *n == 1).await;
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweepers_schedule_runs_on_its_rate_and_on_demand() {
    let estate = Estate::with(|o| {
        o.functions = vec!["order-sweeper".into()];
        o.sweep_every = Duration::from_secs(2);
    })
    .await;
    let runs = || async { estate.invocations("order-sweeper") };
    eventually("two runs of the rule", runs, |n| *n >= 2).await;
    let outcome = estate.running.run_schedule("order-sweeper").await.expect("a scheduled function");
    let local::runtime::api::Outcome::Response(body) = outcome else { panic!("{outcome:?}") };
    let report: serde_json::Value = serde_json::from_slice(&body).expect("its report");
    assert_eq!((report["due"].as_u64(), report["failed"].as_u64()), (Some(0), Some(0)), "{report}");
    assert!(estate.running.run_schedule("payment-processor").await.is_err_and(|e| e.contains("not a scheduled")));
    let stats = &estate.running.stats.snapshot()["order-sweeper"];
    assert_eq!((stats.failures, stats.on_failure), (0, 0), "{stats:?}");
    estate.stop().await;
}

/// `local up` as a user runs it (the CLI, on the emulators already running, which it keeps):
/// SIGTERM stops the function processes it started and leaves the emulators running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_every_process_up_started_and_nothing_else() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let (_, before) = tokio::task::spawn_blocking(local::up::emulators::start).await.expect("join").expect("emulators");
    let prefix = format!("it{}-", std::process::id());
    let mut up = Command::new(estate_tests::local_binary())
        .args(["up", "--functions", "lake-archiver,notifier", "--prefix", &prefix, "--starting-position", "latest"])
        .current_dir(estate_tests::repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("local up");
    let mut stderr = BufReader::new(up.stderr.take().expect("its stderr")).lines().map_while(Result::ok);
    let ready = stderr.by_ref().find(|l| l.contains("running on the emulators"));
    assert!(ready.is_some_and(|l| l.contains("lake-archiver, notifier")), "local up did not say it was running");
    // The rest of what it says, read to the end (a closed pipe would fail its last words).
    let said = std::thread::spawn(move || stderr.collect::<Vec<String>>());
    let children = |pid: u32| -> Vec<u32> {
        let out = Command::new("pgrep").args(["-P", &pid.to_string()]).output().expect("pgrep");
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
    };
    let functions = children(up.id());
    assert_eq!(functions.len(), 2, "one process per function: {functions:?}");

    assert!(Command::new("kill").args(["-TERM", &up.id().to_string()]).status().expect("kill").success());
    let status = up.wait().expect("it exits");
    let said = said.join().expect("its stderr");
    assert!(status.success(), "{status}: {said:?}");
    assert!(said.iter().any(|l| l.contains("local up: stopping")), "{said:?}");
    for pid in functions {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "function process {pid} still runs");
    }
    let (_, after) = tokio::task::spawn_blocking(local::up::emulators::start).await.expect("join").expect("emulators");
    assert!(after.is_empty(), "the emulators were left running (none had to start again): {after:?}");
    let _ = tokio::task::spawn_blocking(move || local::up::emulators::stop(&before)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_keeps_failing_goes_to_the_on_failure_topic_and_the_mapping_moves_on() {
    // payment-processor would dead-letter a payment it cannot charge in 5 attempts itself; with
    // more attempts allowed, the mapping's retry limit (5 retries) comes first.
    let estate = Estate::with(|o| {
        o.functions = vec!["order-updater".into(), "payment-processor".into()];
        o.env = vec![("payment-processor".into(), "PAYMENT_MAX_ATTEMPTS".into(), "50".into())];
    })
    .await;
    // Two orders whose payment requests share a partition: the second waits behind the first.
    let ids = estate.ids_on_one_partition("UP-STUCK", 2);
    let (stuck, next) = (ids[0].clone(), ids[1].clone());
    estate.running.gateway.gateway.outage.fail_next(u32::MAX);
    estate.publish(&estate.event(format!("{stuck}-confirmed"), confirmed(&stuck))).await;
    estate.publish(&estate.event(format!("{stuck}-scored"), scored(&stuck, FraudDecision::Approve))).await;
    let gave_up =
        || async { estate.running.stats.snapshot().get("payment-processor").map(|s| s.on_failure).unwrap_or(0) };
    eventually("the payment request given up on", gave_up, |n| *n == 1).await;
    let records = eventually(
        "its record on the on-failure topic",
        || estate.records_about("payment-processor.on-failure", &stuck),
        |r| !r.is_empty(),
    )
    .await;
    let header = |name: &str| records[0].headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(header("source-topic").as_deref(), Some(topics::PAYMENT_REQUESTED));
    assert_eq!(header("lambda-approximate-invoke-count").as_deref(), Some("6"), "the first try and five retries");
    assert!(header("lambda-condition").is_some_and(|c| c.starts_with("RetryAttemptsExhausted")));
    let request: domain::cloudevent::CloudEvent<PaymentRequested> =
        domain::cloudevent::decode(&records[0].payload).expect("the record as it was");
    assert_eq!(request.data.order_id.as_str(), stuck);

    // The mapping went past it: the next order on its partition is charged once the gateway is
    // back.
    estate.running.gateway.gateway.outage.fail_next(0);
    estate.publish(&estate.event(format!("{next}-confirmed"), confirmed(&next))).await;
    estate.publish(&estate.event(format!("{next}-scored"), scored(&next, FraudDecision::Approve))).await;
    estate.paid(&next).await;
    estate.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_image_resizer_keeps_failing_on_is_tried_three_times_then_recorded_on_the_on_failure_queue() {
    // image-resizer cannot reach S3 (its endpoint is a closed port): every try fails.
    let estate = Estate::with(|o| {
        o.functions = vec!["image-resizer".into()];
        o.env = vec![("image-resizer".into(), "AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into())];
    })
    .await;
    estate.upload("uploads/SKU-UP-3/front.jpg", &support::upload_fixture("front (1).jpg")).await;
    let stats = eventually(
        "the invocation given up on",
        || async { estate.running.stats.snapshot().get("image-resizer").cloned().unwrap_or_default() },
        |s| s.on_failure == 1,
    )
    .await;
    assert_eq!((stats.invocations, stats.failures, stats.retries), (3, 3, 2), "the first try and two retries");
    let records = estate.on_failure_queue().await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestPayload"]["Records"][0]["s3"]["object"]["key"], "uploads%2FSKU-UP-3%2Ffront.jpg");
    assert_eq!(record["responseContext"]["functionError"], "Unhandled", "{record}");
    estate.stop().await;
}
