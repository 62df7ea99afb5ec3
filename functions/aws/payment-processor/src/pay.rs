//! One payment request through its idempotency record (the rule is `attempt::next`): read the
//! record, then take it, wait, publish what it holds, look up one last time, or refuse.
use crate::attempt::{self, Asked, Next, PaymentRecord, PaymentState, RECORD_ID};
use crate::{Done, PaymentProcessor, SOURCE};
use chrono::{DateTime, Utc};
use domain::cloudevent::{CloudEvent, DomainEvent};
use domain::events::{PaymentFailed, PaymentRequested, PaymentSucceeded};
use domain::ports::{Charge, ChargeError, ChargeOutcome, Etag, OutboundMessage, PortError, document, read_document};
use platform_aws::kafka_batch::Failure;

/// Lost version races on one payment id beyond this many fail the record for a retry.
const MAX_CONFLICTS: usize = 8;

impl PaymentProcessor {
    pub(crate) async fn pay(&self, request: &CloudEvent<PaymentRequested>) -> Result<Done, Failure> {
        let r = &request.data;
        let token = r.payment_token.clone().ok_or_else(|| {
            Failure::Permanent(
                "missing_payment_token",
                format!("payment {} has no payment_token to charge", r.payment_id),
            )
        })?;
        let asked = Asked::of(request, &token);
        for _ in 0..MAX_CONFLICTS {
            let (record, etag) = match self.payments.read(&r.payment_id, RECORD_ID).await? {
                Some(d) => {
                    let record: PaymentRecord = read_document(&d.body, &format!("payment {}", r.payment_id))?;
                    (Some(record), Some(d.etag))
                }
                None => (None, None),
            };
            let (now, rules) = ((self.clock)(), self.rules);
            match attempt::next(record.as_ref(), &r.payment_id, &asked, now, rules.lease, rules.max_attempts) {
                Next::Mismatch(reason) => return Err(Failure::Permanent("payment_mismatch", reason)),
                Next::Publish(stored, outcome) => {
                    self.announce(&stored, &outcome).await?;
                    return Ok(Done::Published { outcome, charged: false });
                }
                Next::Busy { until } => {
                    let reason = format!("payment {} is held by another attempt until {until}", r.payment_id);
                    return Err(Failure::Transient(PortError::Unavailable(reason)));
                }
                Next::GaveUp(reason) => return Err(Failure::Permanent("retries_exhausted", reason)),
                Next::LastLookup(spent) => match self.last_lookup(spent, etag.as_ref()).await? {
                    Some(done) => return Ok(done),
                    None => continue, // another attempt wrote first
                },
                Next::Take { record, lookup_first } => {
                    if etag.is_none() {
                        self.check_order(r).await?;
                    }
                    let Some(held) = self.write(&r.payment_id, &record, etag.as_ref()).await? else {
                        continue; // another attempt took it first
                    };
                    return self.charge_once(&token, (record, held), lookup_first).await;
                }
            }
        }
        Err(Failure::Transient(PortError::Unavailable(format!(
            "payment {}: {MAX_CONFLICTS} write conflicts",
            r.payment_id
        ))))
    }

    /// A first request is the one its order made, or it is refused before anything is stored.
    async fn check_order(&self, r: &PaymentRequested) -> Result<(), Failure> {
        let (order, _) = orders::store::read_record(self.orders.as_ref(), r.order_id.as_str()).await?;
        orders::machine::check_request(order.as_ref(), r).map_err(|(code, reason)| Failure::Permanent(code, reason))
    }

    /// Holding the record: learn the outcome (from `lookup` when an earlier attempt may have
    /// charged, else by charging), keep it, publish it. Only a failure that sent nothing to the
    /// gateway releases the record; otherwise the lease runs out first, giving the gateway that
    /// long to show a charge whose answer was lost.
    async fn charge_once(
        &self,
        token: &str,
        (held, etag): (PaymentRecord, Etag),
        lookup_first: bool,
    ) -> Result<Done, Failure> {
        let charge = Charge { payment_id: held.pk.clone(), token: token.to_string(), amount: held.asked.amount };
        let found = if lookup_first { self.gateway.lookup(&held.pk).await } else { Ok(None) };
        let (outcome, charged) = match found {
            Ok(Some(outcome)) => (outcome, false),
            Err(e) => return Err(self.release(&held, &etag, e).await),
            Ok(None) => match self.gateway.charge(&charge).await {
                Ok(outcome) => (outcome, true),
                // The gateway refused the request itself (no charge was made): the payment fails.
                Err(ChargeError::Rejected(why)) => {
                    tracing::warn!(payment_id = %held.pk, %why, "gateway refused the charge");
                    (ChargeOutcome::Declined { reason: "gateway_rejected".into() }, true)
                }
                Err(ChargeError::NotSent(why)) => {
                    return Err(self.release(&held, &etag, PortError::Unavailable(why)).await);
                }
                Err(ChargeError::Unknown(why)) => {
                    tracing::warn!(payment_id = %held.pk, %why, held = ?held.state, "the charge may have been made: the payment stays held until its lease runs out");
                    return Err(Failure::Transient(PortError::Unavailable(why)));
                }
            },
        };
        let finished = held.with(PaymentState::Finished { outcome: outcome.clone() });
        // If the outcome cannot be kept the gateway has it: the next attempt asks after the lease.
        self.rewrite(&finished, &etag).await?;
        let (outcome_kind, outcome_detail) = outcome.fields();
        tracing::info!(payment_id = %held.pk, outcome = outcome_kind, outcome_detail, charged, "payment outcome kept");
        self.announce(&finished, &outcome).await?;
        Ok(Done::Published { outcome, charged })
    }

    /// This attempt sent no charge: let the next one in at once rather than after the lease.
    async fn release(&self, held: &PaymentRecord, etag: &Etag, error: PortError) -> Failure {
        let released = held.with(PaymentState::Charging { lease_until: (self.clock)() });
        if let Err(release) = self.rewrite(&released, etag).await {
            tracing::warn!(error = %release, "could not release the payment; the next attempt waits for the lease");
        }
        Failure::Transient(error)
    }

    /// Attempts are spent without an outcome: one last `lookup`. What it finds is kept and
    /// published; nothing (or no answer) gives the payment up for a person to resolve. None when
    /// another attempt wrote the record first.
    async fn last_lookup(&self, spent: PaymentRecord, etag: Option<&Etag>) -> Result<Option<Done>, Failure> {
        let why = match self.gateway.lookup(&spent.pk).await {
            Ok(Some(outcome)) => {
                let finished = spent.with(PaymentState::Finished { outcome: outcome.clone() });
                if self.write(&spent.pk, &finished, etag).await?.is_none() {
                    return Ok(None);
                }
                let (outcome_kind, outcome_detail) = outcome.fields();
                tracing::info!(payment_id = %spent.pk, outcome = outcome_kind, outcome_detail, "a last lookup found the outcome");
                self.announce(&finished, &outcome).await?;
                return Ok(Some(Done::Published { outcome, charged: false }));
            }
            Ok(None) => "a last lookup found no charge".to_string(),
            Err(e) => format!("a last lookup failed ({e})"),
        };
        let reason = spent.gave_up_reason(&why);
        let gave_up = spent.with(PaymentState::GaveUp { reason: reason.clone() });
        if self.write(&spent.pk, &gave_up, etag).await?.is_none() {
            return Ok(None);
        }
        Err(Failure::Permanent("retries_exhausted", reason))
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

    /// Publishes the outcome as its event, from the stored record alone (never the request), so
    /// its id carries the same bytes on every redelivery and whatever a later request asks.
    async fn announce(&self, record: &PaymentRecord, outcome: &ChargeOutcome) -> Result<(), PortError> {
        let (asked, payment_id) = (&record.asked, record.pk.clone());
        let (order_id, amount, time) = (asked.order_id.clone(), asked.amount, asked.requested_at);
        let message = match outcome {
            ChargeOutcome::Succeeded { reference } => {
                let data = PaymentSucceeded { order_id, payment_id, amount, gateway_reference: reference.clone() };
                message(format!("payment-succeeded-{}", record.pk), time, data)
            }
            ChargeOutcome::Declined { reason } => {
                let data = PaymentFailed { order_id, payment_id, amount, reason: reason.clone() };
                message(format!("payment-failed-{}", record.pk), time, data)
            }
        };
        self.bus.publish(message).await.map(|_| ())
    }
}

fn message<T: DomainEvent>(id: String, time: DateTime<Utc>, data: T) -> OutboundMessage {
    CloudEvent::new(id, SOURCE, time, data).to_message()
}
