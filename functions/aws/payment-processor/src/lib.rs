//! payment-processor (AWS Lambda, MSK event source mapping on `payment.requested`): charges each
//! payment at most once through the gateway port and announces the outcome on
//! `payment.succeeded` / `payment.failed`.
//!
//! Per record (the batch rules are `platform_aws::kafka_batch`'s): the idempotency record in
//! DynamoDB is written before the charge and the outcome after (`attempt.rs`). A gateway timeout
//! or outage fails the record for Lambda to retry; the retry asks the gateway what it did before
//! charging again. A request without a token is dead-lettered `missing_payment_token`; a token
//! the gateway does not know is its decline (`invalid_token`), published as `payment.failed`.
pub mod attempt;

use attempt::{Next, PaymentRecord, PaymentState, RECORD_ID};
use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{DateTime, Duration, Utc};
use domain::cloudevent::{CloudEvent, DomainEvent, decode};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::{PaymentFailed, PaymentRequested, PaymentSucceeded, topics};
use domain::ports::{
    Charge, ChargeOutcome, Documents, Etag, OutboundMessage, PaymentGateway, PortError, Publisher, document,
    read_document,
};
use platform_aws::EnvelopeError;
use platform_aws::kafka_batch::{self, Failure, RecordHandler};
use platform_aws::msk::{KafkaBatchResponse, MskRecord};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "payment-processor";
pub const SOURCE: &str = "/aws/payment-processor";
/// Lost version races on one payment id beyond this many fail the record for a retry.
const MAX_CONFLICTS: usize = 8;

/// `PAYMENT_GATEWAY` (the gateway adapter: only `test` exists; required when deployed, so a
/// deployment never charges through the test gateway by default), `PAYMENTS_TABLE` (default
/// `payments`), `PAYMENT_MAX_ATTEMPTS` (default 5: attempts to learn a
/// payment's outcome before it is dead-lettered), `PAYMENT_LEASE_SECONDS` (default 120, at least
/// 30: how long an attempt holds a payment id; it must exceed the function's timeout), `KAFKA_BOOTSTRAP_SERVERS` (required
/// in Lambda), `DEAD_LETTER_MAX_PAYLOAD_BYTES`.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: GatewayKind,
    pub payments_table: String,
    pub kafka_bootstrap: String,
    pub rules: Rules,
    pub dead_letters: DeadLetterPolicy,
}

/// The gateway adapters this build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// `inmemory::TestGateway`: deterministic, documented tokens, charges nothing real.
    Test,
}

impl GatewayKind {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.required_in_cloud("PAYMENT_GATEWAY", env.on_lambda(), "test")?.as_str() {
            "test" => Ok(GatewayKind::Test),
            other => Err(ConfigError(format!("PAYMENT_GATEWAY {other:?} is not a gateway of this build; known: test"))),
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
    pub gateway: Arc<dyn PaymentGateway>,
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
    pub rules: Rules,
}

impl PaymentProcessor {
    pub async fn handle(
        &self,
        event: KafkaEvent,
    ) -> Result<(KafkaBatchResponse, kafka_batch::BatchOutcome<Done>), EnvelopeError> {
        let out = kafka_batch::handle(self, event).await?;
        tracing::info!(done = out.done.len(), dead_lettered = out.dead_lettered, failed = out.failed, "batch done");
        Ok((out.response.clone(), out))
    }

    async fn pay(&self, request: &CloudEvent<PaymentRequested>) -> Result<Done, Failure> {
        let r = &request.data;
        let token = r.payment_token.clone().ok_or_else(|| {
            Failure::Permanent(
                "missing_payment_token",
                format!("payment {} has no payment_token to charge", r.payment_id),
            )
        })?;
        for _ in 0..MAX_CONFLICTS {
            let stored = self.payments.read(&r.payment_id, RECORD_ID).await?;
            let (record, etag) = match stored {
                Some(d) => {
                    let record: PaymentRecord = read_document(&d.body, &format!("payment {}", r.payment_id))?;
                    (Some(record), Some(d.etag))
                }
                None => (None, None),
            };
            let order_id = r.order_id.as_str();
            match attempt::next(
                record.as_ref(),
                &r.payment_id,
                order_id,
                (self.clock)(),
                self.rules.lease,
                self.rules.max_attempts,
            ) {
                Next::Publish(outcome) => {
                    self.announce(request, &outcome).await?;
                    return Ok(Done::Published { outcome, charged: false });
                }
                Next::Busy { until } => {
                    let reason = format!("payment {} is held by another attempt until {until}", r.payment_id);
                    return Err(Failure::Transient(PortError::Unavailable(reason)));
                }
                Next::GaveUp(reason) => return Err(Failure::Permanent("retries_exhausted", reason)),
                Next::GiveUp(record) => {
                    let PaymentState::GaveUp { reason } = &record.state else { unreachable!("GiveUp carries GaveUp") };
                    let reason = reason.clone();
                    if self.write(&r.payment_id, &record, etag.as_ref()).await?.is_none() {
                        continue;
                    }
                    return Err(Failure::Permanent("retries_exhausted", reason));
                }
                Next::Take { record, lookup_first } => {
                    let Some(held) = self.write(&r.payment_id, &record, etag.as_ref()).await? else {
                        continue; // another attempt took it first
                    };
                    return self.charge_once(request, &token, (record, held), lookup_first).await;
                }
            }
        }
        Err(Failure::Transient(PortError::Unavailable(format!(
            "payment {}: {MAX_CONFLICTS} write conflicts",
            r.payment_id
        ))))
    }

    /// Holding the record: learn the outcome (from `lookup` when an earlier attempt may have
    /// charged, else by charging), keep it, publish it. A gateway failure releases the record.
    async fn charge_once(
        &self,
        request: &CloudEvent<PaymentRequested>,
        token: &str,
        (held, etag): (PaymentRecord, Etag),
        lookup_first: bool,
    ) -> Result<Done, Failure> {
        let r = &request.data;
        let charge = Charge { payment_id: r.payment_id.clone(), token: token.to_string(), amount: r.amount };
        let found = if lookup_first { self.gateway.lookup(&r.payment_id).await } else { Ok(None) };
        let learned = match found {
            Ok(Some(outcome)) => Ok((outcome, false)),
            Ok(None) => match self.gateway.charge(&charge).await {
                // The gateway refused the request itself (no charge was made): the payment fails.
                Err(PortError::Rejected(why)) => {
                    tracing::warn!(payment_id = %r.payment_id, %why, "gateway refused the charge");
                    Ok((ChargeOutcome::Declined { reason: "gateway_rejected".into() }, true))
                }
                other => other.map(|o| (o, true)),
            },
            Err(e) => Err(e),
        };
        let (outcome, charged) = match learned {
            Ok(known) => known,
            Err(e) => {
                // Let the next attempt in at once rather than after the lease.
                let released = PaymentRecord { state: PaymentState::Charging { lease_until: (self.clock)() }, ..held };
                if let Err(release) = self.rewrite(&released, &etag).await {
                    tracing::warn!(error = %release, "could not release the payment; the next attempt waits for the lease");
                }
                return Err(Failure::Transient(e));
            }
        };
        let finished = PaymentRecord { state: PaymentState::Finished { outcome: outcome.clone() }, ..held.clone() };
        if let Err(e) = self.rewrite(&finished, &etag).await {
            // The outcome is the gateway's to tell again: let the next attempt ask at once.
            let released = PaymentRecord { state: PaymentState::Charging { lease_until: (self.clock)() }, ..held };
            if let Err(release) = self.rewrite(&released, &etag).await {
                tracing::warn!(error = %release, "could not release the payment; the next attempt waits for the lease");
            }
            return Err(e.into());
        }
        tracing::info!(payment_id = %r.payment_id, ?outcome, charged, "payment outcome kept");
        self.announce(request, &outcome).await?;
        Ok(Done::Published { outcome, charged })
    }

    /// Writes the record under the version read (create when none): its new version, or None if
    /// another attempt wrote first.
    async fn write(
        &self,
        payment_id: &str,
        record: &PaymentRecord,
        etag: Option<&Etag>,
    ) -> Result<Option<Etag>, PortError> {
        let body = document(record)?;
        let written = match etag {
            Some(etag) => self.payments.replace(payment_id, RECORD_ID, body, etag).await,
            None => self.payments.create(payment_id, RECORD_ID, body).await,
        };
        match written {
            Ok(etag) => Ok(Some(etag)),
            Err(PortError::PreconditionFailed | PortError::AlreadyExists) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Rewrites the record this attempt holds, under the version it wrote: if another attempt
    /// took the record over meanwhile (this one outlived its lease), that one's write stands.
    async fn rewrite(&self, record: &PaymentRecord, held: &Etag) -> Result<(), PortError> {
        match self.write(&record.pk, record, Some(held)).await? {
            Some(_) => Ok(()),
            None => Err(PortError::Unavailable(format!("payment {} was taken over by another attempt", record.pk))),
        }
    }

    /// Publishes the outcome as its event: the same id and bytes on every redelivery.
    async fn announce(&self, request: &CloudEvent<PaymentRequested>, outcome: &ChargeOutcome) -> Result<(), PortError> {
        let r = &request.data;
        let (order_id, payment_id, amount) = (r.order_id.clone(), r.payment_id.clone(), r.amount);
        let message = match outcome {
            ChargeOutcome::Succeeded { reference } => {
                let data = PaymentSucceeded { order_id, payment_id, amount, gateway_reference: reference.clone() };
                message(format!("payment-succeeded-{}", r.payment_id), request.time, data)
            }
            ChargeOutcome::Declined { reason } => {
                let data = PaymentFailed { order_id, payment_id, amount, reason: reason.clone() };
                message(format!("payment-failed-{}", r.payment_id), request.time, data)
            }
        };
        self.bus.publish(message).await.map(|_| ())
    }
}

fn message<T: DomainEvent>(id: String, time: DateTime<Utc>, data: T) -> OutboundMessage {
    CloudEvent::new(id, SOURCE, time, data).to_message()
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
