//! `local demo`: the merchandising flow end to end on the embedded default. ERP messages are
//! pushed to merch-normalizer; the Functions host feeds projection-updater from Kafka; the bridge
//! feeds audit-sink; a replay reads the audit log back. Short outages of Kafka and Cosmos are
//! injected on the way, so redelivery and host retries are exercised, not just described.
use crate::estate::{AUDIT_BUCKET, Estate, RunError};
use crate::scenario::{Broken, Expected, Scenario, generate};
use audit_sink::AuditSink;
use chrono::Duration;
use domain::cloudevent::peek_attributes;
use domain::events::{DeadLetter, topics};
use domain::projection::Projection;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct DemoOptions {
    pub records: usize,
    pub seed: u64,
    pub batch: usize,
}

/// What the run found: one line per invariant, and whether each held.
#[derive(Default)]
pub struct Verdict {
    pub checks: Vec<(String, bool)>,
}

impl Verdict {
    pub fn all_hold(&self) -> bool {
        self.checks.iter().all(|(_, ok)| *ok)
    }
    pub fn check(&mut self, what: String, ok: bool) {
        self.checks.push((what, ok));
    }
}

pub async fn run(
    opts: &DemoOptions,
    progress: &mut dyn FnMut(String),
) -> Result<(Estate, Scenario, Verdict), RunError> {
    let scenario = generate(opts.records, opts.seed);
    let mut estate = Estate::new();
    let total = scenario.messages.len();
    progress(format!(
        "scenario: {} distinct ERP changes, {} ERP re-sends, {} Pub/Sub redeliveries, {} bad records, {} pushes in all",
        scenario.distinct_valid,
        scenario.resends,
        scenario.redeliveries,
        scenario.expected.rejected.len() + scenario.expected.unreadable,
        total
    ));
    for (i, m) in scenario.messages.iter().enumerate() {
        if i % 701 == 700 {
            estate.bus.outage.fail_next(1); // Kafka hiccup: merch-normalizer answers 503, Pub/Sub redelivers.
        }
        let status = match m.broken {
            None => {
                let attrs = BTreeMap::from([("format".to_string(), m.format.to_string())]);
                estate.push_erp(&m.data, attrs, &m.message_id, m.publish_time).await
            }
            Some(Broken::Base64) => {
                let body = format!(
                    r#"{{"message":{{"data":"@@{}","messageId":"{}","publishTime":"{}"}},"subscription":"projects/local/subscriptions/erp"}}"#,
                    m.message_id,
                    m.message_id,
                    m.publish_time.to_rfc3339()
                );
                estate.push_raw(merch_normalizer::NAME, body.into_bytes()).await
            }
            Some(Broken::Envelope) => estate.push_raw(merch_normalizer::NAME, m.data.clone()).await,
        };
        if !status.is_success() {
            return Err(RunError(format!("message {} was never acknowledged ({status})", m.message_id)));
        }
        if (i + 1) % opts.batch == 0 || i + 1 == total {
            if i / opts.batch == 2 {
                estate.docs.outage.fail_next(1); // Cosmos hiccup: the host retries the invocation.
            }
            estate.run_projection_updater(opts.batch).await?;
            estate.run_mirror(opts.batch).await?;
            progress(format!("  {:>5}/{total} pushed, projected and audited", i + 1));
        }
    }
    // Every other delivery of the registry, so a function that reads these topics runs too.
    estate.run_every_delivery(opts.batch).await?;
    let verdict = check(&estate, &scenario).await?;
    Ok((estate, scenario, verdict))
}

fn event_ids(estate: &Estate, topic: &str) -> (usize, BTreeSet<String>) {
    let records = estate.bus.records(topic);
    let ids = records.iter().filter_map(|r| peek_attributes(&r.payload).ok().map(|a| a.id)).collect();
    (records.len(), ids)
}

pub(crate) async fn check(estate: &Estate, s: &Scenario) -> Result<Verdict, RunError> {
    let e: &Expected = &s.expected;
    let mut v = Verdict { checks: Vec::new() };

    // 1. Each projection holds exactly the newest version of each of its slots.
    let docs: BTreeMap<String, Projection> = estate
        .docs
        .all()
        .into_iter()
        .filter_map(|d| Projection::from_document(d).ok())
        .map(|p| (p.sku.clone(), p))
        .collect();
    let price_ok = e.prices.iter().all(|((sku, region), (ver, minor, cur))| {
        docs.get(sku)
            .and_then(|p| p.prices.get(region))
            .is_some_and(|p| p.version == *ver && p.amount_minor == *minor && p.currency == *cur)
    });
    let stock_ok = e.stock.iter().all(|((sku, loc), (ver, qty))| {
        docs.get(sku).and_then(|p| p.inventory.get(loc)).is_some_and(|s| s.version == *ver && s.on_hand == *qty)
    });
    let slots: usize = docs.values().map(|p| p.prices.len() + p.inventory.len()).sum();
    v.check(
        format!(
            "{} projections hold the newest version of all {} slots, and nothing else",
            docs.len(),
            e.prices.len() + e.stock.len()
        ),
        price_ok && stock_ok && slots == e.prices.len() + e.stock.len(),
    );

    // 2. Every bad record is in the DLQ with its reason.
    let dead: Vec<DeadLetter> = estate
        .bus
        .records(topics::MERCH_DLQ)
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
        .filter_map(|v| serde_json::from_value(v["data"].clone()).ok())
        .collect();
    let by_origin: BTreeMap<&str, &str> = dead.iter().map(|d| (d.origin.as_str(), d.reason_code.as_str())).collect();
    let missing: Vec<&String> = e
        .rejected
        .iter()
        .filter(|(id, code)| by_origin.get(format!("pubsub:{id}").as_str()) != Some(code))
        .map(|(id, _)| id)
        .collect();
    let unreadable = dead.iter().any(|d| d.reason_code == "wrong_envelope");
    v.check(
        format!(
            "all {} rejected records are in {} with their reason ({} missing or wrong)",
            e.rejected.len(),
            topics::MERCH_DLQ,
            missing.len()
        ),
        missing.is_empty() && (e.unreadable == 0 || unreadable),
    );
    let foreign = e.rejected.values().filter(|c| **c == "foreign_slot").count();
    let foreign_dead: BTreeSet<&str> =
        dead.iter().filter(|d| d.reason_code == "foreign_slot").map(|d| d.origin.as_str()).collect();
    v.check(
        format!("{foreign} changes for slots their ERP system does not own are dead-lettered, none applied"),
        foreign > 0 && foreign_dead.len() == foreign,
    );
    v.check(
        "projection-updater dead-lettered nothing (every canonical event was applicable)".into(),
        dead.iter().all(|d| d.rejected_by != projection_updater::NAME),
    );

    // 3. No event lost: every distinct change is on its topic, and audited exactly once.
    let (price_msgs, price_ids) = event_ids(estate, topics::PRICE_CHANGED);
    let (inv_msgs, inv_ids) = event_ids(estate, topics::INVENTORY_CHANGED);
    v.check(
        format!(
            "no event lost: {} price and {} inventory events on Kafka ({} messages with redelivery duplicates)",
            price_ids.len(),
            inv_ids.len(),
            price_msgs + inv_msgs
        ),
        price_ids == e.price_ids && inv_ids == e.inventory_ids,
    );
    let audited = |topic: &str| {
        estate.objects.all().iter().filter(|o| o.key.starts_with(&format!("audit/topic={topic}/"))).count()
    };
    let dlq_ids: BTreeSet<String> = event_ids(estate, topics::MERCH_DLQ).1;
    v.check(
        format!(
            "audit log has one object per event: {} price, {} inventory, {} dead letters",
            audited(topics::PRICE_CHANGED),
            audited(topics::INVENTORY_CHANGED),
            audited(topics::MERCH_DLQ)
        ),
        audited(topics::PRICE_CHANGED) == e.price_ids.len()
            && audited(topics::INVENTORY_CHANGED) == e.inventory_ids.len()
            && audited(topics::MERCH_DLQ) == dlq_ids.len(),
    );

    // 4. Replay reads the audit log back onto the bus, in order, every event once.
    let sink = AuditSink::new(Arc::new(estate.objects.clone()), AUDIT_BUCKET);
    let start =
        chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").map_err(|e| RunError(e.to_string()))?.to_utc();
    let target = "replay.merch.price-changed";
    let report =
        audit_sink::replay::replay(&sink, &estate.bus, topics::PRICE_CHANGED, start, start + Duration::days(2), target)
            .await
            .map_err(|e| RunError(format!("replay: {e}")))?;
    let (_, replayed) = event_ids(estate, target);
    v.check(
        format!("replay of {} republished {} events to {target}", topics::PRICE_CHANGED, report.republished),
        report.republished == e.price_ids.len() && replayed == e.price_ids && report.unreadable.is_empty(),
    );
    Ok(v)
}

/// The summary printed at the end of the demo.
pub fn summary(estate: &Estate, scenario: &Scenario, verdict: &Verdict) -> String {
    let mut out = String::new();
    let st = |f: &str| estate.stats.get(f).cloned().unwrap_or_default();
    let count = |t: &str| estate.bus.records(t).len();
    let dead_by = |f: &str| {
        estate
            .bus
            .records(topics::MERCH_DLQ)
            .iter()
            .filter(|r| serde_json::from_slice::<Value>(&r.payload).is_ok_and(|v| v["data"]["rejected_by"] == f))
            .count()
    };
    let n = st(merch_normalizer::NAME);
    let p = st(projection_updater::NAME);
    let a = st(audit_sink::NAME);
    let rows = [
        ("function", "in".to_string(), "out".to_string(), "dead-lettered".to_string()),
        (
            merch_normalizer::NAME,
            format!("{} pushes ({} redelivered after a 503)", n.pushes, n.redeliveries),
            format!("{} price + {} inventory events", count(topics::PRICE_CHANGED), count(topics::INVENTORY_CHANGED)),
            dead_by(merch_normalizer::NAME).to_string(),
        ),
        (
            projection_updater::NAME,
            format!("{} records, {} invocations ({} host retries)", p.records_in, p.invocations, p.retries),
            format!("{} documents", estate.docs.all().len()),
            dead_by(projection_updater::NAME).to_string(),
        ),
        (
            audit_sink::NAME,
            format!("{} pushes", a.pushes),
            format!("{} audit objects", estate.objects.all().len()),
            "none: it records every payload".to_string(),
        ),
    ];
    out += "\n";
    for (f, i, o, d) in rows {
        out += &format!("{f:<20}{i:<48}{o:<36}{d}\n");
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for code in scenario.expected.rejected.values() {
        *reasons.entry(code).or_default() += 1;
    }
    out += &others(estate, &[merch_normalizer::NAME, projection_updater::NAME, audit_sink::NAME]);
    out += &format!("\nrejected by reason: {reasons:?} (+{} unreadable pushes)\n", scenario.expected.unreadable);
    out += "\nsample projections:\n";
    for d in estate.docs.all().iter().take(3) {
        if let Ok(p) = Projection::from_document(d.clone()) {
            let prices: Vec<String> = p
                .prices
                .iter()
                .map(|(r, e)| {
                    let money = domain::Currency::parse(&e.currency)
                        .map(|c| domain::Money::new(e.amount_minor, c).to_string())
                        .unwrap_or_else(|_| format!("{} minor units of {}", e.amount_minor, e.currency));
                    format!("{r} {money} (v{})", e.version)
                })
                .collect();
            let stock: Vec<String> =
                p.inventory.iter().map(|(l, s)| format!("{l} {} (v{})", s.on_hand, s.version)).collect();
            out += &format!("  {:<16} prices: {}  stock: {}\n", p.sku, prices.join(", "), stock.join(", "));
        }
    }
    out += "\ninvariants:\n";
    for (what, ok) in &verdict.checks {
        out += &format!("  [{}] {what}\n", if *ok { "ok" } else { "FAILED" });
    }
    out
}

/// The registry's functions that a flow's table does not show but that the run delivered to:
/// a function added to the estate joins every flow whose events it reads.
pub fn others(estate: &Estate, shown: &[&str]) -> String {
    let mut out = String::new();
    for f in crate::registry::FUNCTIONS.iter().filter(|f| !shown.contains(&f.name)) {
        let Some(st) = estate.stats.get(f.name).filter(|s| s.invocations + s.pushes > 0) else { continue };
        let took = if st.pushes > 0 {
            format!("{} pushes", st.pushes)
        } else {
            format!("{} records, {} invocations ({} retried)", st.records_in, st.invocations, st.retries)
        };
        out += &format!("{:<20}{took:<48}{} dead-lettered\n", f.name, st.dead_lettered);
    }
    out
}
