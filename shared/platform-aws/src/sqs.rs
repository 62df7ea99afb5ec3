//! SQS batches with partial failure: `{"batchItemFailures":[{"itemIdentifier":"<messageId>"}]}`.
use crate::{EnvelopeError, parse_envelope};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsRecord {
    pub message_id: String,
    pub body: String,
    /// `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
}

pub fn records(bytes: &[u8]) -> Result<Vec<SqsRecord>, EnvelopeError> {
    let event: SqsEvent = parse_envelope(bytes, "SQS")?;
    Ok(event
        .records
        .into_iter()
        .map(|m| SqsRecord {
            receive_count: m.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
        })
        .collect())
}

/// The response that makes SQS redeliver exactly the failed messages.
pub fn batch_response<'a>(failed_message_ids: impl IntoIterator<Item = &'a str>) -> SqsBatchResponse {
    let mut resp = SqsBatchResponse::default();
    for id in failed_message_ids {
        let mut f = BatchItemFailure::default();
        f.item_identifier = id.to_string();
        resp.batch_item_failures.push(f);
    }
    resp
}
