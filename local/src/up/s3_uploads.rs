//! S3 → image-resizer as moto plays it: the uploads bucket notifies an SQS queue (moto invokes no
//! Lambda without Docker), and the runner reads the queue and invokes image-resizer
//! asynchronously with each notification. The `s3:TestEvent` S3 sends when notifications are
//! set up is not an upload and invokes nothing, as in AWS.
//!
//! moto 5.2's records carry less than S3's (`moto/s3/notifications.py`): no `userIdentity`,
//! `requestParameters`, `responseElements` or `bucket.ownerIdentity`, and no `object.versionId`
//! or `object.sequencer`. The first four S3 always sends and aws_lambda_events requires (the
//! function could not even be invoked without them); they say who asked, from where, and S3's
//! request ids, nothing the function reads, so [`completed`] adds them with local values. The
//! last two carry meaning (which version; the order of changes to a key) and are left out: the
//! function meets what moto gives: an upload named by key and etag, read as it is now.
use super::async_invoke::AsyncInvoker;
use serde_json::Value;

/// Reads the queue until the task is stopped. A notification is deleted from the queue once its
/// asynchronous invocation is through (answered, or recorded on the on-failure queue): one the
/// runner stopped before that comes again, after the queue's visibility timeout, to the next run.
pub async fn run(sqs: aws_sdk_sqs::Client, queue_url: String, invoker: AsyncInvoker) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(VISIBILITY_SECONDS)
            .send()
            .await;
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = ?e, "the uploads queue did not answer");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        for m in messages {
            let body = m.body.unwrap_or_default();
            let (sqs, queue_url) = (sqs.clone(), queue_url.clone());
            let delete = async move {
                let Some(handle) = m.receipt_handle else { return };
                if let Err(e) = sqs.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await {
                    tracing::warn!(error = ?e, "a notification could not be deleted: it comes again");
                }
            };
            let test_event = serde_json::from_str::<Value>(&body).is_ok_and(|v| v["Event"] == "s3:TestEvent");
            if test_event {
                delete.await;
            } else {
                invoker.invoke(completed(&body), delete);
            }
        }
    }
}

/// Longer than an invocation with its two retries takes.
const VISIBILITY_SECONDS: i32 = 900;

/// moto's notification with what S3 always sends and moto leaves out (see the module's note);
/// what is there already is kept, and a body that is not a notification is passed on as it is
/// (the function refuses it, as Lambda's runtime would).
pub fn completed(body: &str) -> Vec<u8> {
    let Ok(mut event) = serde_json::from_str::<Value>(body) else { return body.as_bytes().to_vec() };
    for record in event["Records"].as_array_mut().into_iter().flatten() {
        let Some(record) = record.as_object_mut() else { continue };
        let local = serde_json::json!({"principalId": "AWS:LOCAL-UP"});
        record.entry("userIdentity").or_insert_with(|| local.clone());
        record.entry("requestParameters").or_insert_with(|| serde_json::json!({"sourceIPAddress": "127.0.0.1"}));
        record
            .entry("responseElements")
            .or_insert_with(|| serde_json::json!({"x-amz-request-id": "LOCALUP", "x-amz-id-2": "local-up"}));
        if let Some(bucket) = record.get_mut("s3").and_then(|s3| s3.get_mut("bucket")).and_then(Value::as_object_mut) {
            bucket.entry("ownerIdentity").or_insert(local);
        }
    }
    event.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::s3::S3Event;

    /// A record as moto 5.2 sends it (`_get_s3_event`).
    const MOTO: &str = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-12-07T14:23:48.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "image-resizer",
               "bucket": {"name": "uploads", "arn": "arn:aws:s3:::uploads"},
               "object": {"key": "uploads/SKU-1/front+%281%29.jpg", "size": 1200, "eTag": "0123abcd"}}}]}"#;

    #[test]
    fn motos_records_become_s3_events_without_a_version_or_sequencer() {
        assert!(serde_json::from_str::<S3Event>(MOTO).is_err(), "as moto sends it, the SDK's type refuses it");
        let event: S3Event = serde_json::from_slice(&completed(MOTO)).expect("an S3 event");
        let record = &event.records[0];
        assert_eq!(record.s3.object.key.as_deref(), Some("uploads/SKU-1/front+%281%29.jpg"));
        assert_eq!(record.s3.object.e_tag.as_deref(), Some("0123abcd"));
        assert_eq!((record.s3.object.version_id.as_deref(), record.s3.object.sequencer.as_deref()), (None, None));
        assert_eq!(completed("not json"), b"not json");
    }
}
