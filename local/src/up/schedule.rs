//! An EventBridge schedule rule: every period, the `Scheduled Event` EventBridge sends its
//! target, invoked asynchronously; `event` makes one for a run on demand.
use super::async_invoke::AsyncInvoker;
use serde_json::json;
use std::time::Duration;

/// The event EventBridge sends for a rule's run at this time.
pub fn event(rule: &str, region: &str) -> Vec<u8> {
    let now = chrono::Utc::now();
    json!({
        "version": "0",
        "id": format!("{:08x}-0000-4000-8000-{:012x}", now.timestamp() as u32, now.timestamp_subsec_nanos()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:000000000000:rule/{rule}")],
        "detail": {},
    })
    .to_string()
    .into_bytes()
}

/// Runs the rule every `every` until the task is stopped; the first run is one period in.
pub async fn run(rule: String, region: String, every: Duration, invoker: AsyncInvoker) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        invoker.invoke(event(&rule, &region), async {});
    }
}
