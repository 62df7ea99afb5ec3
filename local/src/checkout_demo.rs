//! `local demo --flows checkout`: the checkout flow end to end on the embedded default. A
//! storefront fills carts and confirms orders (some fraudulent, some paid with cards that decline
//! or time out, some without payment details); products are deleted part-way and never put in a
//! cart again; every order is confirmed twice and the batches are shuffled; in every other round
//! the fraud decisions reach order-updater before their orders; outages of the stores, the
//! gateway and the bus are injected; at the end every topic is delivered again from the start to
//! every function, order-updater's four topics interleaved at random. The event source mappings
//! have a retry limit, so in two rounds a longer outage makes them commit past a record (an
//! order's pending payment request; a payment request not yet charged); order-sweeper's
//! schedule then runs until nothing is left for it to settle. Then the invariants are checked
//! against what was published.
use crate::demo::Verdict;
use crate::estate::{Estate, RunError};
use crate::lambda_host::msk_event;
use crate::storefront::Storefront;
use crate::sweeps::{MAX_SWEEPS, Sweeps, check_swept, check_waited};
use chrono::Duration;
use domain::cloudevent::{CloudEvent, DomainEvent, decode};
use domain::events::{FraudDecision, FraudScored, LedgerEntry, PaymentFailed, PaymentSucceeded, topics};
use domain::ports::{OutboundMessage, Publisher};
use domain::values::{Money, Sku};
use orders::machine::OrderState;
use std::collections::{BTreeMap, BTreeSet};

pub struct CheckoutOptions {
    pub orders: usize,
    pub seed: u64,
}

async fn publish<T: DomainEvent>(estate: &Estate, e: &CloudEvent<T>) -> Result<(), RunError> {
    let msg = OutboundMessage::new(T::TOPIC, e.key(), e.to_json()).with_header("ce_id", &e.id);
    estate.bus.publish(msg).await.map(|_| ()).map_err(|e| RunError(format!("publish: {e}")))
}

/// Runs the flow; the estate is returned for the summary.
pub async fn run(opts: &CheckoutOptions, progress: &mut dyn FnMut(String)) -> Result<(Estate, Verdict), RunError> {
    let mut estate = Estate::new();
    estate.commit_past_exhausted = true;
    let mut shop = Storefront::new(opts.seed, opts.orders);
    shop.sign_up(&estate.customers).await?;
    let chunk = 100;
    let mut i = 0;
    let mut waited = 0;
    while i < opts.orders {
        let mut batch = Vec::new();
        for n in i..(i + chunk).min(opts.orders) {
            batch.push(shop.order(n, &estate.carts).await?);
            if n == opts.orders / 3 || n == 2 * opts.orders / 3 {
                let deleted = shop.delete_one(shop.start + Duration::seconds(7 * n as i64));
                publish(&estate, &deleted).await?;
            }
        }
        // Every order confirmed twice (a producer retry), in shuffled order.
        for e in shop.rng.twice_shuffled(&batch) {
            publish(&estate, e).await?;
        }
        // A bad minute somewhere in each round.
        let round = (i / chunk) % 4;
        match round {
            0 => estate.fraud_docs.outage.fail_next(2),
            1 => estate.orders.outage.fail_next(3),
            2 => estate.gateway.outage.fail_next(2),
            _ => {}
        }
        estate.run_fraud_scorer(500).await?;
        // Every other round (the first among them), order-updater's decisions mapping runs before
        // its orders mapping: each decision waits on its order (pending) until the order comes.
        if round % 2 == 0 {
            estate.run_order_updater_in(&[topics::FRAUD_SCORED], 100).await?;
            waited += pending(&estate);
        }
        // Longer outages than a mapping's retries, in the first two rounds: order-updater's
        // mapping commits past an event whose payment request was never published, and
        // payment-processor's past a request it never read. Only the sweeper settles them.
        if i / chunk == 0 {
            estate.bus.outage.fail_next(EXHAUSTING);
        }
        estate.run_order_updater(100).await?;
        if round == 3 {
            estate.bus.outage.fail_next(1); // the first payment outcome is not published: retried
        }
        if i / chunk == 1 {
            estate.payments.outage.fail_next(EXHAUSTING);
        }
        estate.run_payment_processor(100).await?;
        estate.run_order_updater(100).await?;
        estate.run_cart_cleaner(100).await?;
        estate.run_mirror(500).await?;
        i += chunk;
        progress(format!(
            "  {:>5}/{} orders confirmed, scored, charged and fulfilled",
            i.min(opts.orders),
            opts.orders
        ));
    }
    // Before any redelivery could heal them: what the mappings committed past is the sweeper's.
    let sweeps = sweep(&mut estate).await?;
    progress(format!("  order-sweeper ran {} times", sweeps.runs));
    redeliver_everything(&mut estate, &mut shop).await?;
    progress("  every checkout topic delivered again from the start, to every function".into());
    // Every other delivery of the registry, so a function that reads these topics runs too;
    // then the orders stream again, from its start in batches of another size.
    // SES throttles while the e-mails go out, and the lake bucket fails for a moment while the
    // stream comes again: the mappings retry from the failed records.
    estate.mailer.outage.fail_next(2);
    estate.run_every_delivery(500).await?;
    estate.lake.outage.fail_next(2);
    crate::notified::stream_again(&mut estate, 7).await?;
    let mut verdict = check(&estate, &shop.deleted).await?;
    crate::notified::check(&estate, &mut verdict).await?;
    crate::archived::check(&estate, &mut verdict)?;
    check_waited(waited, &mut verdict);
    let skipped: u64 = estate.stats.values().map(|s| s.skipped).sum();
    check_swept(&estate, &sweeps, skipped, &mut verdict);
    Ok((estate, verdict))
}

/// Failures that outlast a mapping's retries (the first attempt and every retry) while a batch
/// fails on each of the bus's three partitions at once.
const EXHAUSTING: u32 = (crate::estate::LAMBDA_MAX_RETRIES + 1) * 3;
/// order-sweeper on its schedule, each run `SWEEP_AFTER_SECONDS` after the last (the first that
/// long after the last change of any order), until a run finds nothing it can still settle.
async fn sweep(estate: &mut Estate) -> Result<Sweeps, RunError> {
    let after = estate.order_sweeper.rules.after;
    let mut at = estate.latest_order_change().unwrap_or_default();
    let mut sweeps = Sweeps::default();
    while sweeps.runs < MAX_SWEEPS {
        at += after + Duration::seconds(1);
        let report = estate.run_order_sweeper(at).await?;
        let report = serde_json::to_value(&report).map_err(|e| RunError(format!("the sweep's report: {e}")))?;
        if !sweeps.add(&report) {
            break;
        }
    }
    Ok(sweeps)
}

/// Orders that have events but no order.confirmed yet.
fn pending(estate: &Estate) -> usize {
    estate.orders.all().iter().filter(|d| d["state"] == "pending").count()
}

/// Every record of every checkout topic delivered again to every function, as after a reset of
/// each consumer group (and a seek of each push subscription) to the start: order-updater's
/// batches of its four topics come interleaved at random; fraud-scorer re-emits its stored
/// verdicts, the bridge mirrors again and fulfillment books again, under the same ids.
async fn redeliver_everything(estate: &mut Estate, shop: &mut Storefront) -> Result<(), RunError> {
    let pushes = [crate::estate::push_subscription(fulfillment::NAME, &topics::mirror_topic(topics::ORDER_PAID))];
    let groups = [
        fraud_scorer::NAME,
        order_updater::NAME,
        payment_processor::NAME,
        cart_cleaner::NAME,
        kafka_pubsub_bridge::NAME,
    ];
    for group in groups.iter().copied().chain(pushes.iter().map(String::as_str)) {
        estate.bus.reset(group);
    }
    // Each topic's batches in their order (as its mapping delivers them), the topics interleaved
    // at random (the mappings are independent). Everything was seen already: all redeliveries.
    let mut queues: Vec<std::collections::VecDeque<Vec<_>>> = order_updater::TOPICS
        .iter()
        .map(|topic| estate.bus.records(topic).chunks(100).map(<[_]>::to_vec).collect())
        .collect();
    while !queues.is_empty() {
        let pick = shop.rng.below(queues.len() as u64) as usize;
        let Some(records) = queues[pick].pop_front() else {
            queues.swap_remove(pick);
            continue;
        };
        let (response, report) = estate
            .order_updater
            .handle(msk_event(&records), &estate.lambda_invocation())
            .await
            .map_err(|e| RunError(e.to_string()))?;
        let settled = response.batch_item_failures.is_empty() && report.changed == 0;
        if !settled {
            return Err(RunError(format!("order-updater changed or failed on a redelivery: {report:?}")));
        }
    }
    estate.run_fraud_scorer(500).await?;
    estate.run_payment_processor(100).await?;
    estate.run_cart_cleaner(100).await?;
    estate.run_order_updater(100).await?;
    estate.run_mirror(500).await
}

/// Events of a topic by id (each id once).
fn events<T: DomainEvent>(estate: &Estate) -> BTreeMap<String, CloudEvent<T>> {
    estate
        .bus
        .records(T::TOPIC)
        .iter()
        .filter_map(|r| decode::<T>(&r.payload).ok())
        .map(|e| (e.id.clone(), e))
        .collect()
}

pub(crate) async fn check(estate: &Estate, deleted: &[Sku]) -> Result<Verdict, RunError> {
    let mut v = Verdict { checks: Vec::new() };
    let orders: BTreeMap<String, (OrderState, Option<Money>)> = estate
        .orders
        .all()
        .into_iter()
        .filter_map(|d| {
            let state = serde_json::from_value(d["state"].clone()).ok()?;
            let total = serde_json::from_value(d["record"]["order"]["total"].clone()).ok();
            Some((d["pk"].as_str()?.to_string(), (state, total)))
        })
        .collect();
    let decisions: BTreeMap<String, FraudDecision> =
        events::<FraudScored>(estate).into_values().map(|e| (e.data.order_id.to_string(), e.data.decision)).collect();
    let succeeded: BTreeSet<String> =
        events::<PaymentSucceeded>(estate).into_values().map(|e| e.data.order_id.to_string()).collect();
    let failed: BTreeSet<String> =
        events::<PaymentFailed>(estate).into_values().map(|e| e.data.order_id.to_string()).collect();
    let expected = |id: &str| match decisions.get(id) {
        None => OrderState::Confirmed,
        Some(FraudDecision::Reject) => OrderState::Rejected,
        Some(FraudDecision::Review) => OrderState::Held,
        Some(FraudDecision::Approve) if succeeded.contains(id) => OrderState::Paid,
        Some(FraudDecision::Approve) if failed.contains(id) => OrderState::PaymentFailed,
        Some(FraudDecision::Approve) => OrderState::PaymentRequested,
    };
    let wrong: Vec<&String> =
        orders.iter().filter(|(id, (state, _))| *state != expected(id)).map(|(id, _)| id).collect();
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for (state, _) in orders.values() {
        *by_state.entry(format!("{state:?}")).or_default() += 1;
    }
    v.check(
        format!(
            "every order's state matches its events ({} orders: {by_state:?}; mismatched: {wrong:?})",
            orders.len()
        ),
        wrong.is_empty() && !orders.is_empty(),
    );

    let ledger = estate.gateway.ledger();
    let twice: Vec<&String> = ledger.iter().filter(|(_, (n, _))| *n != 1).map(|(id, _)| id).collect();
    v.check(
        format!("no payment charged twice ({} payments charged; twice or more: {twice:?})", ledger.len()),
        twice.is_empty() && !ledger.is_empty(),
    );

    let in_carts: Vec<String> = estate
        .carts
        .all()
        .into_iter()
        .filter(|(_, sku, _)| deleted.contains(sku))
        .map(|(c, s, _)| format!("{c}:{s}"))
        .collect();
    v.check(
        format!("no deleted product in any cart ({} deleted; left in carts: {in_carts:?})", deleted.len()),
        in_carts.is_empty() && !deleted.is_empty(),
    );

    let mut booked: BTreeMap<String, i64> = BTreeMap::new();
    for e in events::<LedgerEntry>(estate).into_values() {
        *booked.entry(e.data.amount.currency.to_string()).or_default() += e.data.amount.amount_minor;
    }
    let mut paid: BTreeMap<String, i64> = BTreeMap::new();
    for (state, total) in orders.values() {
        if let (OrderState::Paid, Some(t)) = (state, total) {
            *paid.entry(t.currency.to_string()).or_default() += t.amount_minor;
        }
    }
    v.check(
        format!("the ledger total per currency equals the paid orders' (booked {booked:?}, paid {paid:?})"),
        booked == paid && !paid.is_empty(),
    );
    Ok(v)
}

/// The summary printed at the end of the checkout demo.
pub fn summary(estate: &Estate, verdict: &Verdict) -> String {
    let st = |f: &str| estate.stats.get(f).cloned().unwrap_or_default();
    let count = |t: &str| estate.bus.records(t).len();
    let mut out = String::from("\ncheckout flow:\n");
    let rows = [
        (
            fraud_scorer::NAME,
            format!(
                "{} invocations ({} host retries)",
                st(fraud_scorer::NAME).invocations,
                st(fraud_scorer::NAME).retries
            ),
            format!("{} fraud.scored", count(topics::FRAUD_SCORED)),
        ),
        (
            order_updater::NAME,
            format!(
                "{} invocations ({} with failed records)",
                st(order_updater::NAME).invocations,
                st(order_updater::NAME).retries
            ),
            format!("{} payment.requested, {} order.paid", count(topics::PAYMENT_REQUESTED), count(topics::ORDER_PAID)),
        ),
        (
            payment_processor::NAME,
            format!(
                "{} invocations ({} with failed records)",
                st(payment_processor::NAME).invocations,
                st(payment_processor::NAME).retries
            ),
            format!("{} succeeded, {} failed", count(topics::PAYMENT_SUCCEEDED), count(topics::PAYMENT_FAILED)),
        ),
        (
            order_sweeper::NAME,
            format!("{} scheduled runs", st(order_sweeper::NAME).invocations),
            "payment requests republished, effects re-run (below)".to_string(),
        ),
        (
            cart_cleaner::NAME,
            format!("{} invocations", st(cart_cleaner::NAME).invocations),
            format!("{} cart lines left", estate.carts.all().len()),
        ),
        (
            kafka_pubsub_bridge::NAME,
            format!("{} invocations", st(kafka_pubsub_bridge::NAME).invocations),
            format!("{} mirrored order.paid", count(&topics::mirror_topic(topics::ORDER_PAID))),
        ),
        (
            fulfillment::NAME,
            format!("{} pushes", st(fulfillment::NAME).pushes),
            format!(
                "{} ledger entries, {} dispatches",
                count(topics::ACCOUNTING_ENTRIES),
                count(topics::WAREHOUSE_DISPATCH)
            ),
        ),
    ];
    for (f, i, o) in &rows {
        out += &format!("{f:<20}{i:<48}{o}\n");
    }
    out += &crate::demo::others(estate, &rows.map(|(f, _, _)| f));
    out += &format!("checkout.dlq: {} dead letters\n", count(topics::CHECKOUT_DLQ));
    out += "\ninvariants:\n";
    for (what, ok) in &verdict.checks {
        out += &format!("  [{}] {what}\n", if *ok { "ok" } else { "FAILED" });
    }
    out
}
