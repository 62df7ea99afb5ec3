//! image-analytics on the in-memory tables: each event counted once in the window of its own
//! time, late events in theirs, the format defaulting to jpeg, and anything else dead-lettered.
use domain::ports::{Counted, ImageTotals};
use image_analytics::{Handled, ImageAnalytics, window_of};
use inmemory::{Bus, InMemoryImageTotals, InMemoryPubSub};
use platform_gcp::push::{PushedMessage, from_http};
use std::sync::Arc;

fn event(id: &str, time: &str, label: &str, format: Option<&str>, bytes: u64) -> String {
    let mut data = serde_json::json!({"sku": "TSH-001", "source_key": "uploads/TSH-001/front.jpg",
        "object_key": format!("processed/TSH-001/front@0123456789ab/{label}.jpg"), "size_label": label,
        "bytes": bytes, "width": 160, "height": 120, "sha256": "00"});
    if let Some(f) = format {
        data["format"] = f.into();
    }
    serde_json::json!({"specversion": "1.0", "id": id, "source": "/aws/image-resizer", "type": "com.shop.product-image.processed.v1",
        "time": time, "datacontenttype": "application/json", "data": data})
    .to_string()
}

fn push(data: &str, message_id: &str) -> PushedMessage {
    use base64::Engine;
    let body = serde_json::json!({"message": {"data": base64::engine::general_purpose::STANDARD.encode(data),
        "messageId": message_id, "publishTime": "2026-11-23T10:05:00Z"}, "subscription": "projects/p/subscriptions/s"});
    from_http(&Default::default(), body.to_string().as_bytes()).expect("a push")
}

fn analytics() -> (ImageAnalytics, InMemoryImageTotals, Bus) {
    let (totals, bus) = (InMemoryImageTotals::default(), Bus::new(1));
    let a = ImageAnalytics {
        totals: Arc::new(totals.clone()),
        pubsub: Arc::new(InMemoryPubSub::new(bus.clone())),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(image_analytics::NAME, "images.dlq"),
    };
    (a, totals, bus)
}

#[tokio::test]
async fn each_event_is_counted_once_in_the_window_of_its_own_time() {
    let (a, totals, _) = analytics();
    let pushes = [
        push(&event("e1", "2026-11-23T10:00:05Z", "thumb", None, 1_000), "m1"),
        push(&event("e2", "2026-11-23T10:00:59.999Z", "thumb", Some("jpeg"), 2_000), "m2"),
        push(&event("e3", "2026-11-23T10:01:00Z", "thumb", Some("webp"), 700), "m3"),
        push(&event("e1", "2026-11-23T10:00:05Z", "thumb", None, 1_000), "m4"), // redelivered
        // Late: arrives after the 10:01 window, counted in 10:00's.
        push(&event("e4", "2026-11-23T10:00:30Z", "large", None, 90_000), "m5"),
    ];
    let mut outcomes = Vec::new();
    for p in &pushes {
        outcomes.push(a.handle(p).await.expect("handled"));
    }
    assert_eq!(outcomes[3], Handled::Counted(Counted::AlreadyCounted));
    let got: Vec<(String, String, String, u64, u64)> = totals
        .totals()
        .await
        .expect("totals")
        .into_iter()
        .map(|t| (t.window_start.to_rfc3339(), t.size_label, t.format, t.bytes, t.images))
        .collect();
    let want = [
        ("2026-11-23T10:00:00+00:00", "large", "jpeg", 90_000, 1),
        ("2026-11-23T10:00:00+00:00", "thumb", "jpeg", 3_000, 2),
        ("2026-11-23T10:01:00+00:00", "thumb", "webp", 700, 1),
    ];
    let want: Vec<(String, String, String, u64, u64)> =
        want.iter().map(|(w, l, f, b, n)| (w.to_string(), l.to_string(), f.to_string(), *b, *n)).collect();
    assert_eq!(got, want);
    assert_eq!(window_of("2026-11-23T10:59:59.5Z".parse().expect("time")).to_rfc3339(), "2026-11-23T10:59:00+00:00");
}

#[tokio::test]
async fn what_is_not_a_processed_image_is_dead_lettered_and_an_outage_is_not_acknowledged() {
    let (a, totals, bus) = analytics();
    let price = r#"{"specversion":"1.0","id":"x","source":"/s","type":"com.shop.merch.price-changed.v1","time":"2026-11-23T10:00:00Z","data":{}}"#;
    assert_eq!(a.handle(&push(price, "m1")).await, Ok(Handled::DeadLettered { code: "unexpected_type" }));
    assert_eq!(a.handle(&push("{not json", "m2")).await, Ok(Handled::DeadLettered { code: "malformed_json" }));
    assert_eq!(bus.records("images.dlq").len(), 2);
    totals.outage.fail_next(1);
    assert!(a.handle(&push(&event("e9", "2026-11-23T10:00:00Z", "thumb", None, 1), "m3")).await.is_err());
    assert!(totals.totals().await.expect("totals").is_empty(), "nothing counted by the failed attempt");
}

#[tokio::test]
async fn what_postgresql_can_never_store_is_dead_lettered_not_retried() {
    let (a, totals, bus) = analytics();
    let big = i64::MAX as u64 - 1;
    assert_eq!(
        a.handle(&push(&event("e1", "2026-11-23T10:00:05Z", "large", None, big), "m1")).await,
        Ok(Handled::Counted(Counted::Added))
    );
    let poison = [
        push(&event("e2", "2026-11-23T10:00:06Z", "large", None, 2), "m2"), // the window's total past bigint
        push(&event("e3", "2026-11-23T10:00:07Z", "thumb", None, i64::MAX as u64 + 1), "m3"),
        push(&event("e4", "2026-11-23T10:00:08Z", "th\0umb", None, 1), "m4"),
    ];
    for p in &poison {
        assert_eq!(a.handle(p).await, Ok(Handled::DeadLettered { code: "store_rejected" }), "{}", p.message_id);
    }
    let letters = bus.records("images.dlq");
    assert_eq!(letters.len(), 3);
    for letter in &letters {
        let letter: serde_json::Value = serde_json::from_slice(&letter.payload).expect("dead letter");
        assert_eq!(letter["data"]["reason_code"], "store_rejected");
        assert!(letter["data"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{letter}");
    }
    let totals = totals.totals().await.expect("totals");
    assert_eq!(totals.iter().map(|t| (t.bytes, t.images)).collect::<Vec<_>>(), [(big, 1)], "nothing else counted");
}
