//! payment-processor (AWS Lambda, MSK event source mapping on `payment.requested`): charges each
//! payment at most once through the gateway port and announces the outcome on
//! `payment.succeeded` / `payment.failed`.
//!
//! Per record (the batch rules are `platform_aws::kafka_batch`'s): the idempotency record in
//! DynamoDB is written before the charge and the outcome after (`attempt.rs`, `pay.rs`). It binds
//! the payment id to what its first request asked; a request that asks otherwise is
//! dead-lettered `payment_mismatch`. A request for a payment id it has no record of is first
//! checked against its order in the orders table (read only): an order that does not exist
//! (`unknown_order`) or asks another payment id, total or card (`order_mismatch`) is
//! dead-lettered, and nothing is charged. A gateway failure fails the record for Lambda to retry; the
//! retry asks the gateway what it did before charging again. A request without a token is
//! dead-lettered `missing_payment_token`; a token the gateway does not know is its decline
//! (`invalid_token`), published as `payment.failed`.
//!
//! An invocation may not outlive the lease it takes on a payment id (or a second attempt could
//! charge while it still runs): one with more time left than `PAYMENT_LEASE_SECONDS` fails as a
//! whole before touching a record.
pub mod attempt;
pub mod http_gateway;
mod pay;

use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{DateTime, Duration, Utc};
use domain::cloudevent::{DomainEvent, decode};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::{PaymentRequested, topics};
use domain::ports::{ChargeOutcome, Documents, PaymentGateway, Publisher};
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::{self, Failure, RecordHandler};
use platform_aws::msk::{KafkaBatchResponse, MskRecord};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "payment-processor";
pub const SOURCE: &str = "/aws/payment-processor";
/// `ORDERS_TABLE` (default `orders`, read only), `PAYMENT_GATEWAY` (the gateway adapter: only
/// `http` exists; required when deployed, so a deployment names its gateway knowingly) with
/// `PAYMENT_GATEWAY_URL`, `PAYMENTS_TABLE` (default
/// `payments`), `PAYMENT_MAX_ATTEMPTS` (default 5: attempts to learn a
/// payment's outcome before it is dead-lettered), `PAYMENT_LEASE_SECONDS` (default 120, at least
/// 30: how long an attempt holds a payment id; it must exceed the function's timeout), `KAFKA_BOOTSTRAP_SERVERS` (required
/// in Lambda), `DEAD_LETTER_MAX_PAYLOAD_BYTES`.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewayKind,
    pub payments_table: String,
    pub orders_table: String,
    pub kafka_bootstrap: String,
    pub rules: Rules,
    pub dead_letters: DeadLetterPolicy,
}

/// The gateway adapters this build has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayKind {
    /// `http_gateway::HttpGateway` at this URL: the estate's gateway protocol, which the local
    /// runner's test gateway serves (documented tokens, nothing real charged).
    Http { url: String },
}

/// How long one gateway call may take: well inside a record's budget.
pub const GATEWAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl GatewayKind {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.required_in_cloud("PAYMENT_GATEWAY", env.on_lambda(), "http")?.as_str() {
            "http" => match env.get("PAYMENT_GATEWAY_URL") {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => Ok(GatewayKind::Http { url }),
                Some(other) => Err(ConfigError(format!("PAYMENT_GATEWAY_URL {other:?} is not an http(s) URL"))),
                None => Err(ConfigError(
                    "PAYMENT_GATEWAY_URL not set (PAYMENT_GATEWAY=http needs the gateway's URL)".into(),
                )),
            },
            other => Err(ConfigError(format!(
                "PAYMENT_GATEWAY {other:?} is not a gateway of this build; known: http (the test gateway is served over HTTP by the local runner)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max_attempts: u32,
    pub lease: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { max_attempts: 5, lease: Duration::seconds(120) }
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        let rules = Rules {
            max_attempts: env.number("PAYMENT_MAX_ATTEMPTS", 5)?.max(1) as u32,
            // Longer than the function's timeout, or a second attempt could start while the first
            // is still charging: at least 30 s.
            lease: Duration::seconds(env.number("PAYMENT_LEASE_SECONDS", 120)?.max(30) as i64),
        };
        Ok(Config {
            gateway: GatewayKind::from_env(env)?,
            payments_table: env.get_or("PAYMENTS_TABLE", "payments"),
            orders_table: env.get_or("ORDERS_TABLE", "orders"),
            kafka_bootstrap: env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?,
            rules,
            dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ).with_max_payload_bytes(max),
        })
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The outcome was published; `charged` says whether this attempt called `charge`.
    Published { outcome: ChargeOutcome, charged: bool },
}

/// Where an attempt reads the time for its lease: `Utc::now` when deployed; the local runner
/// uses a clock that steps, so its outputs are the same on every run.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct PaymentProcessor {
    pub clock: Clock,
    pub payments: Arc<dyn Documents>,
    /// The orders table, read to check a first request against its order.
    pub orders: Arc<dyn Documents>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
    pub rules: Rules,
}

/// Why an invocation failed as a whole (Lambda retries the batch).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(
        "the invocation has {remaining_seconds} s left, more than the {lease_seconds} s lease on a payment: \
         PAYMENT_LEASE_SECONDS must exceed the function's timeout"
    )]
    OutlivesLease { remaining_seconds: i64, lease_seconds: i64 },
}

impl PaymentProcessor {
    pub async fn handle(
        &self,
        event: KafkaEvent,
        invocation: &Invocation,
    ) -> Result<(KafkaBatchResponse, kafka_batch::BatchOutcome<Done>), InvocationError> {
        let (remaining, lease) = (invocation.remaining(), self.rules.lease);
        if remaining > lease {
            let (remaining_seconds, lease_seconds) = (remaining.num_seconds(), lease.num_seconds());
            tracing::error!(remaining_seconds, lease_seconds, "the invocation could outlive its lease on a payment");
            return Err(InvocationError::OutlivesLease { remaining_seconds, lease_seconds });
        }
        let out = kafka_batch::handle(self, event, invocation).await?;
        tracing::info!(done = out.done.len(), dead_lettered = out.dead_lettered, failed = out.failed, "batch done");
        Ok((out.response.clone(), out))
    }
}

impl RecordHandler for PaymentProcessor {
    type Done = Done;

    async fn process(&self, record: &MskRecord) -> Result<Done, Failure> {
        if record.topic != PaymentRequested::TOPIC {
            let reason = format!("{NAME} does not consume {:?}", record.topic);
            return Err(Failure::Permanent("unexpected_topic", reason));
        }
        let request = decode::<PaymentRequested>(&record.value)?;
        request.data.check().map_err(|(code, reason)| Failure::Permanent(code, reason))?;
        let span = tracing::info_span!("record", event_id = %request.id, payment_id = %request.data.payment_id, position = %record.position());
        self.pay(&request).instrument(span).await
    }

    fn publisher(&self) -> &dyn Publisher {
        self.bus.as_ref()
    }

    fn dead_letters(&self) -> &DeadLetterPolicy {
        &self.dead_letters
    }
}
