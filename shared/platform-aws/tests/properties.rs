//! Property tests of the Lambda trigger envelopes: MSK batches, S3 notifications and their
//! keys, SQS batches. Each input is decoded or refused with a typed `EnvelopeError`, a record
//! that cannot be read fails alone, and a decoded batch written out again as Lambda sends it
//! decodes to the same records. Inputs and case count: `property-inputs`.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use platform_aws::msk::{self, MskRecord};
use platform_aws::s3::{self, CreatedObject};
use platform_aws::sqs::{self, SqsRecord};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A batch as Lambda's Kafka event source mapping sends it: records under `<topic>-<partition>`,
/// key and value base64, each header a one-key object of signed bytes.
fn msk_event(records: &[MskRecord]) -> Vec<u8> {
    let mut groups = serde_json::Map::new();
    for r in records {
        let headers: Vec<Value> =
            r.headers.iter().map(|(k, v)| json!({ k: v.iter().map(|b| *b as i8).collect::<Vec<_>>() })).collect();
        let record = json!({"topic": r.topic, "partition": r.partition, "offset": r.offset,
            "timestamp": r.timestamp.timestamp_millis(), "timestampType": "CREATE_TIME",
            "key": r.key.as_ref().map(|k| STANDARD.encode(k)), "value": STANDARD.encode(&r.value), "headers": headers});
        let group = groups.entry(format!("{}-{}", r.topic, r.partition)).or_insert_with(|| json!([]));
        if let Value::Array(items) = group {
            items.push(record);
        }
    }
    serde_json::to_vec(&json!({"eventSource": "aws:kafka", "records": groups})).unwrap_or_default()
}

fn sorted<T: std::fmt::Debug>(items: &[T]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    out.sort();
    out
}

/// Any instant chrono holds to the millisecond, 1970 ± a few thousand years.
fn millis() -> impl Strategy<Value = DateTime<Utc>> {
    (-62_135_596_800_000i64..253_402_300_799_999).prop_filter_map("in range", DateTime::from_timestamp_millis)
}

fn msk_record() -> impl Strategy<Value = MskRecord> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..48);
    (
        "[a-zA-Z0-9._-]{1,24}",
        0i64..64,
        0i64..i64::MAX,
        millis(),
        prop::option::of(bytes()),
        bytes(),
        prop::collection::vec((".{0,8}", bytes()), 0..3),
    )
        .prop_map(|(topic, partition, offset, timestamp, key, value, headers)| MskRecord {
            topic,
            partition,
            offset,
            timestamp,
            key,
            value,
            headers,
        })
}

/// S3 notification keys are form-encoded: space as `+`, every byte but the unreserved as `%XX`.
fn form_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn s3_event(objects: &[(String, CreatedObject)]) -> Vec<u8> {
    let records: Vec<Value> = objects
        .iter()
        .map(|(name, o)| {
            json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
                "eventTime": o.event_time.to_rfc3339_opts(SecondsFormat::AutoSi, true), "eventName": name,
                "userIdentity": {"principalId": "AWS:uploader"}, "requestParameters": {"sourceIPAddress": "203.0.113.24"},
                "responseElements": {},
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": o.bucket, "arn": format!("arn:aws:s3:::{}", o.bucket)},
                       "object": {"key": form_encode(&o.key), "size": o.size, "eTag": o.etag, "sequencer": o.sequencer}}})
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap_or_default()
}

fn created_object() -> impl Strategy<Value = (String, CreatedObject)> {
    let name = prop::sample::select(
        &["ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectRemoved:Delete"][..],
    );
    (
        name,
        "[a-z0-9.-]{3,20}",
        any::<String>(),
        0i64..i64::MAX,
        any::<Option<String>>(),
        any::<Option<String>>(),
        millis(),
    )
        .prop_map(|(name, bucket, key, size, etag, sequencer, event_time)| {
            (name.to_string(), CreatedObject { bucket, key, size, etag, sequencer, event_time })
        })
}

fn sqs_event(records: &[SqsRecord]) -> Vec<u8> {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({"messageId": r.message_id, "receiptHandle": "AQEB", "body": r.body, "md5OfBody": "0",
                "attributes": {"ApproximateReceiveCount": r.receive_count.to_string()}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:1:q", "awsRegion": "eu-west-1"})
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap_or_default()
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn msk_batches_decode_or_are_refused(bytes in property_inputs::mutations(property_inputs::fixtures("aws/msk"))) {
        match msk::records(&bytes) {
            Ok(records) => {
                let at = |r: &Result<MskRecord, msk::Undecodable>| match r {
                    Ok(r) => (r.topic.clone(), r.partition, r.offset),
                    Err(u) => (u.topic.clone(), u.partition, u.offset),
                };
                prop_assert!(records.windows(2).all(|w| at(&w[0]) <= at(&w[1])), "not in (topic, partition, offset) order");
                for r in &records {
                    if let Err(u) = r {
                        prop_assert_eq!(u.error.code(), "bad_base64");
                    }
                }
                let read: Vec<MskRecord> = records.into_iter().filter_map(Result::ok).collect();
                let again: Vec<MskRecord> = msk::records(&msk_event(&read)).map_err(|e| TestCaseError::fail(e.to_string()))?
                    .into_iter().filter_map(Result::ok).collect();
                prop_assert_eq!(sorted(&again), sorted(&read), "re-encoded");
            }
            Err(e) => prop_assert_eq!(e.code(), "wrong_envelope"),
        }
    }

    #[test]
    fn an_msk_batch_decodes_to_its_records(mut records in prop::collection::vec(msk_record(), 0..6)) {
        records.sort_by(|a, b| (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset)));
        records.dedup_by(|a, b| (&a.topic, a.partition, a.offset) == (&b.topic, b.partition, b.offset));
        let got: Vec<MskRecord> = msk::records(&msk_event(&records)).map_err(|e| TestCaseError::fail(e.to_string()))?
            .into_iter().collect::<Result<_, _>>().map_err(|u| TestCaseError::fail(format!("{u:?}")))?;
        prop_assert_eq!(got, records);
    }

    #[test]
    fn s3_notifications_decode_or_are_refused(bytes in property_inputs::mutations(property_inputs::fixtures("aws/s3"))) {
        match s3::created_objects(&bytes) {
            Ok(objects) => {
                let mut read = Vec::new();
                for o in objects {
                    match o {
                        Ok(o) => read.push(("ObjectCreated:Put".to_string(), o)),
                        Err(e) => prop_assert_eq!(e.code(), "bad_key_encoding"),
                    }
                }
                let again = s3::created_objects(&s3_event(&read)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let want: Vec<Result<CreatedObject, platform_aws::EnvelopeError>> = read.into_iter().map(|(_, o)| Ok(o)).collect();
                prop_assert_eq!(sorted(&again), sorted(&want));
            }
            Err(e) => prop_assert_eq!(e.code(), "wrong_envelope"),
        }
    }

    #[test]
    fn an_s3_notification_decodes_to_its_created_objects(objects in prop::collection::vec(created_object(), 0..4)) {
        let want: Vec<_> = objects.iter().filter(|(name, _)| name.starts_with("ObjectCreated:")).map(|(_, o)| Ok(o.clone())).collect();
        prop_assert_eq!(s3::created_objects(&s3_event(&objects)), Ok(want));
    }

    #[test]
    fn s3_keys_decode_or_are_refused(raw in prop_oneof![any::<String>(), "[a-zA-Z%+0-9]{0,12}"], key in any::<String>()) {
        match s3::decode_key(&raw) {
            Ok(k) => prop_assert_eq!(s3::decode_key(&form_encode(&k)), Ok(k)),
            Err(e) => prop_assert_eq!(e, platform_aws::EnvelopeError::BadKeyEncoding(raw.clone())),
        }
        prop_assert_eq!(s3::decode_key(&form_encode(&key)), Ok(key));
    }

    #[test]
    fn sqs_batches_decode_or_are_refused(bytes in property_inputs::mutations(property_inputs::fixtures("aws/sqs"))) {
        match sqs::records(&bytes) {
            Ok(records) => prop_assert_eq!(sqs::records(&sqs_event(&records)), Ok(records)),
            Err(e) => prop_assert_eq!(e.code(), "wrong_envelope"),
        }
    }

    #[test]
    fn an_sqs_batch_decodes_to_its_messages(
        records in prop::collection::vec((".{0,12}", any::<String>(), 1u32..), 0..4)
            .prop_map(|v| v.into_iter().map(|(message_id, body, receive_count)| SqsRecord { message_id, body, receive_count }).collect::<Vec<_>>()),
    ) {
        prop_assert_eq!(sqs::records(&sqs_event(&records)), Ok(records));
    }
}
