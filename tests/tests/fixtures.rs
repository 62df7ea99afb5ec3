//! Every recorded fixture, run through the code that consumes it, compared with a golden output
//! checked by hand once. A fixture without a consumer here fails `every_fixture_is_used`.
use estate_tests::{all_fixtures, assert_golden, fixture, function_for};
use platform_aws::{msk, s3, sqs};
use serde_json::{Value, json};

fn aws_decoded(path: &str) -> Option<Value> {
    let bytes = fixture(path);
    Some(match path.split('/').nth(1)? {
        "s3" => json!(
            s3::created_objects(&bytes)
                .ok()?
                .into_iter()
                .map(|r| match r {
                    Ok(o) => json!({"bucket": o.bucket, "key": o.key, "size": o.size, "etag": o.etag,
                            "sequencer": o.sequencer, "event_time": o.event_time}),
                    Err(e) => json!({"error": e.code()}),
                })
                .collect::<Vec<_>>()
        ),
        "msk" => {
            let mut failures = msk::KafkaBatchResponse::default();
            let records: Vec<Value> = msk::records(&bytes).ok()?.into_iter().map(|r| match r {
                Ok(r) => json!({"position": r.position(), "timestamp": r.timestamp,
                    "key": r.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                    "value_ce_id": serde_json::from_slice::<Value>(&r.value).ok().map(|v| v["id"].clone()),
                    "headers": r.headers.iter().map(|(k, v)| json!([k, String::from_utf8_lossy(v)])).collect::<Vec<_>>()}),
                Err(u) => {
                    failures.fail(&u.topic, u.partition, u.offset);
                    json!({"error": u.error.code(), "at": format!("{}-{}@{}", u.topic, u.partition, u.offset)})
                }
            }).collect();
            json!({"records": records, "response": failures})
        }
        "sqs" => {
            let records = sqs::records(&bytes).ok()?;
            let bad: Vec<&str> = records
                .iter()
                .filter(|r| serde_json::from_str::<Value>(&r.body).is_err())
                .map(|r| r.message_id.as_str())
                .collect();
            json!({"records": records.iter().map(|r| json!({"id": r.message_id, "receive_count": r.receive_count})).collect::<Vec<_>>(),
                   "response": sqs::batch_response(bad)})
        }
        "dynamodb-stream" => {
            use aws_lambda_events::event::dynamodb::Event;
            let e: Event = serde_json::from_slice(&bytes).ok()?;
            json!(
                e.records
                    .iter()
                    .map(|r| json!({"event_id": r.event_id, "event_name": r.event_name,
                "source_arn": r.event_source_arn, "sequence_number": r.change.sequence_number,
                "keys": r.change.keys, "new_image": r.change.new_image, "old_image": r.change.old_image,
                "view": r.change.stream_view_type}))
                    .collect::<Vec<_>>()
            )
        }
        "eventbridge" => {
            use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
            let e: CloudWatchEvent = serde_json::from_slice(&bytes).ok()?;
            json!({"id": e.id, "source": e.source, "detail_type": e.detail_type, "time": e.time, "resources": e.resources})
        }
        _ => return None,
    })
}

#[test]
fn every_fixture_is_used() {
    let unused: Vec<String> =
        all_fixtures().into_iter().filter(|p| function_for(p).is_none() && !p.starts_with("aws/")).collect();
    assert!(unused.is_empty(), "fixtures no test consumes: {unused:?}");
    assert!(all_fixtures().len() >= 16);
}

#[tokio::test]
async fn function_fixtures_match_golden_invocations() {
    for path in all_fixtures() {
        let Some(function) = function_for(&path) else { continue };
        let root = estate_tests::repo_root();
        let options = local::invoke::InvokeOptions {
            beside: Some(root.join("events/aws/s3/objects")),
            state: local::registry::state_beside(&root.join("events").join(&path)),
            ..Default::default()
        };
        let (out, _) = local::invoke::invoke_with(function, &fixture(&path), &options)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_golden(&format!("invoke/{path}"), &out);
        let summary = &out["summary"];
        let count = |k: &str| summary[k].as_u64().unwrap_or_else(|| panic!("{path}: summary.{k} in {summary}"));
        let dead: u64 =
            summary["dead_lettered"].as_object().expect("by reason code").values().filter_map(|n| n.as_u64()).sum();
        assert_eq!(count("records"), count("done") + dead + count("retried"), "{path}: {summary}");
        assert!(count("failed") <= count("retried"), "{path}: {summary}");
        // No Rust Debug text anywhere: every value is JSON of its own.
        let text = out.to_string();
        assert!(!text.contains(" { ") && !text.contains("Some("), "{path}: Debug text in {text}");
    }
}

#[test]
fn aws_fixtures_match_golden_decodings() {
    for path in all_fixtures().into_iter().filter(|p| p.starts_with("aws/")) {
        let decoded = aws_decoded(&path).unwrap_or_else(|| panic!("{path} did not decode as its trigger"));
        assert_golden(&format!("decode/{path}"), &decoded);
    }
}

#[test]
fn aws_envelopes_round_trip_through_the_sdk_types() {
    use aws_lambda_events::event::{kafka::KafkaEvent, s3::S3Event, sqs::SqsEvent};
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
        let parsed: T = serde_json::from_slice(bytes).expect("parses");
        let again: T = serde_json::from_slice(&serde_json::to_vec(&parsed).expect("serialises")).expect("re-parses");
        assert_eq!(parsed, again);
    }
    round_trip::<S3Event>(&fixture("aws/s3/object-created-put.json"));
    round_trip::<KafkaEvent>(&fixture("aws/msk/order-confirmed-batch.json"));
    round_trip::<SqsEvent>(&fixture("aws/sqs/batch.json"));
    round_trip::<aws_lambda_events::event::cloudwatch_events::CloudWatchEvent>(&fixture(
        "aws/eventbridge/order-sweeper-scheduled.json",
    ));
}

#[tokio::test]
async fn invoke_refuses_an_envelope_of_another_trigger() {
    let s3 = fixture("aws/s3/object-created-put.json");
    for function in ["merch-normalizer", "audit-sink", "projection-updater"] {
        let err = local::invoke::invoke(function, &s3).await.expect_err("an S3 event is no envelope of these");
        assert!(err.to_string().contains("not a valid"), "{function}: {err}");
    }
    assert!(local::invoke::invoke("nope", b"{}").await.is_err());
    assert!(local::invoke::invoke("merch-normalizer", b"not json").await.is_err());
}
