//! Records the runner gives up on — an MSK mapping's after its retries, a Functions host batch
//! whose last attempt failed whole — kept on `<function>.on-failure` of the same cluster, each
//! with its own headers, where it came from and why.
use domain::ports::{BusRecord, OutboundMessage, Publisher};
use std::time::Duration;

/// The on-failure topic of a Lambda or a function app.
pub fn topic(function: &str) -> String {
    format!("{function}.on-failure")
}

/// The record as kept: its key, payload and headers, then `why`, then its source.
pub fn message(function: &str, r: &BusRecord, why: &[(&str, String)]) -> OutboundMessage {
    let mut msg = OutboundMessage::new(topic(function), r.key.clone(), r.payload.clone());
    msg.headers = r.headers.clone();
    msg.headers.extend(why.iter().map(|(k, v)| (k.to_string(), v.clone())));
    msg.with_header("source-topic", &r.topic)
        .with_header("source-partition", r.partition.to_string())
        .with_header("source-offset", r.offset.to_string())
}

/// Keeps these records, each published until the cluster takes it (nothing given up on is lost).
pub async fn keep(to: &impl Publisher, function: &str, records: &[BusRecord], why: &[(&str, String)], pause: Duration) {
    for r in records {
        let msg = message(function, r, why);
        while let Err(e) = to.publish(msg.clone()).await {
            tracing::error!(function, error = %e, "the on-failure topic refused a record: trying again");
            tokio::time::sleep(pause).await;
        }
    }
}
