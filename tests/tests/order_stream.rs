//! The orders table's stream on the embedded estate (view `NEW_AND_OLD_IMAGES`): every write of
//! the checkout flow is one record, in order per order, with its images laid out as the
//! DynamoDB adapter writes the item; and a stream mapping delivers it as Lambda does, a failed
//! record and the ones after it coming again.
use aws_lambda_events::event::dynamodb;
use inmemory::stream::{ChangeRecord, SHARDS};
use local::estate::{Estate, stream_event};
use local::registry::{Answer, HostError, StreamAnswer};
use platform_aws::invocation::Invocation;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;

async fn checkout() -> Estate {
    let opts = local::checkout_demo::CheckoutOptions { orders: 30, seed: 11 };
    let (estate, verdict) = local::checkout_demo::run(&opts, &mut |_| {}).await.expect("the checkout flow runs");
    assert!(verdict.all_hold());
    estate
}

fn image_attr<'a>(image: &'a Option<Value>, name: &str) -> Option<&'a Value> {
    image.as_ref().and_then(|i| i.get(name))
}

#[tokio::test]
async fn each_write_of_an_order_is_one_record_in_its_order_with_both_images() {
    let estate = checkout().await;
    let mut by_order: BTreeMap<String, Vec<ChangeRecord>> = BTreeMap::new();
    for r in estate.orders_stream.all() {
        let pk = r.keys["pk"]["S"].as_str().expect("a string key").to_string();
        by_order.entry(pk).or_default().push(r);
    }
    let documents = estate.orders.all();
    assert_eq!(by_order.len(), documents.len(), "one key per order item");
    for doc in documents {
        let pk = doc["pk"].as_str().expect("pk");
        let records = &by_order[pk];
        assert!(records.windows(2).all(|w| w[0].sequence_number < w[1].sequence_number), "{pk}: in order");
        assert!(records.iter().all(|r| r.shard == records[0].shard), "{pk}: one shard");
        for (n, r) in records.iter().enumerate() {
            let version = json!({"N": (n + 1).to_string()});
            assert_eq!(image_attr(&r.new_image, "v"), Some(&version), "{pk}: v of write {n}");
            let (name, old) = if n == 0 { ("INSERT", None) } else { ("MODIFY", Some(json!({"N": n.to_string()}))) };
            assert_eq!((r.event_name, image_attr(&r.old_image, "v").cloned()), (name, old), "{pk}");
            if n > 0 {
                assert_eq!(r.old_image, records[n - 1].new_image, "{pk}: the old image is the last new one");
            }
        }
        // The item's top-level state (the layout's) is the document's.
        let last = records.last().expect("a record");
        assert_eq!(image_attr(&last.new_image, "state"), Some(&json!({"S": doc["state"]})), "{pk}");
        assert!(image_attr(&last.new_image, "body").is_some_and(|b| b["M"]["record"]["M"]["order_id"]["S"] == pk));
    }
    // What Lambda hands a function reads as aws_lambda_events' type.
    let shard: Vec<ChangeRecord> = estate.orders_stream.after(0, None, 100);
    let event = stream_event(&shard).expect("a DynamoDB Streams event");
    assert_eq!(event.records.len(), shard.len());
    assert_eq!(event.records[0].change.sequence_number.as_deref(), Some(shard[0].sequence_number.as_str()));
}

/// What the test mapping's function was handed, batch by batch, and the record it fails once.
static SEEN: Mutex<Vec<Vec<String>>> = Mutex::new(Vec::new());
static FAIL_ONCE: Mutex<Option<String>> = Mutex::new(None);

fn failing_once(_: &Estate, event: dynamodb::Event, _: Invocation) -> Answer<'_, Result<StreamAnswer, HostError>> {
    Box::pin(async move {
        let seqs: Vec<String> = event.records.iter().filter_map(|r| r.change.sequence_number.clone()).collect();
        SEEN.lock().expect("seen").push(seqs.clone());
        let fail = FAIL_ONCE.lock().expect("fail").take_if(|seq| seqs.contains(seq));
        let response =
            json!({"batchItemFailures": fail.iter().map(|seq| json!({"itemIdentifier": seq})).collect::<Vec<_>>()});
        Ok(StreamAnswer { response: serde_json::from_value(response).expect("a response"), dead_lettered: 0 })
    })
}

#[tokio::test]
async fn a_mapping_reads_every_shard_in_order_and_a_failed_record_comes_again_with_the_ones_after_it() {
    let mut estate = checkout().await;
    let shard0 = estate.orders_stream.after(0, None, 1000);
    assert!(shard0.len() > 6, "enough records to batch");
    let failed = shard0[5].sequence_number.clone();
    *FAIL_ONCE.lock().expect("fail") = Some(failed.clone());
    estate.run_stream("stream-test", "orders", failing_once, 4).await.expect("the stream is read");

    let seen = SEEN.lock().expect("seen").clone();
    let delivered: Vec<&String> = seen.iter().flatten().collect();
    let every: Vec<String> =
        (0..SHARDS).flat_map(|s| estate.orders_stream.after(s, None, 10_000)).map(|r| r.sequence_number).collect();
    for seq in &every {
        let times = delivered.iter().filter(|d| **d == seq).count();
        assert!(times >= 1, "{seq} never delivered");
    }
    // Batches of 4: [0..4), [4..8) failing at 5, then [5..9): 4 read once, 5–7 twice.
    assert_eq!(seen[1], shard0[4..8].iter().map(|r| r.sequence_number.clone()).collect::<Vec<_>>());
    assert_eq!(seen[2][0], failed, "the failed record comes first in the next batch");
    let twice = |i: usize| delivered.iter().filter(|d| ***d == shard0[i].sequence_number).count();
    assert_eq!((twice(4), twice(5), twice(7), twice(8)), (1, 2, 2, 1));
    assert_eq!(estate.stats["stream-test"].retries, 1);
    assert!(estate.run_stream("stream-test", "carts", failing_once, 4).await.is_err_and(|e| e.0.contains("no stream")));
}
