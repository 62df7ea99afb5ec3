//! AWS Lambda trigger envelopes (aws_lambda_events) → plain records, the batch-item-failure
//! responses Lambda's event source mappings read back and the rules every Kafka-triggered Lambda
//! keeps over its batch (`kafka_batch`), DynamoDB behind the ports (`dynamodb`), and what a
//! handler learns of its invocation besides the event (`invocation`: its deadline).
pub mod dynamodb;
pub mod invocation;
pub mod kafka_batch;
pub mod msk;
pub mod msk_event;
pub mod s3;
pub mod s3_store;
#[cfg(feature = "ses")]
pub mod ses;
pub mod sqs;
pub mod stream_image;
pub mod stream_runtime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a {trigger} event: {detail}")]
    NotThisTrigger { trigger: &'static str, detail: String },
    #[error("bad base64 in {field}: {detail}")]
    BadBase64 { field: &'static str, detail: String },
    #[error("bad percent-encoding in S3 key {0:?}")]
    BadKeyEncoding(String),
}

impl EnvelopeError {
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::NotThisTrigger { .. } => "wrong_envelope",
            EnvelopeError::BadBase64 { .. } => "bad_base64",
            EnvelopeError::BadKeyEncoding(_) => "bad_key_encoding",
        }
    }
}

pub(crate) fn parse_envelope<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    trigger: &'static str,
) -> Result<T, EnvelopeError> {
    serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotThisTrigger { trigger, detail: e.to_string() })
}
