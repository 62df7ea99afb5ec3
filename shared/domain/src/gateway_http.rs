//! The estate's payment gateway protocol over HTTP: what payment-processor's HTTP adapter sends
//! and the local runner's test gateway serves (one ledger for every payment-processor process).
//!
//! - `POST /v1/charges` with `Idempotency-Key: <payment id>` and a [`ChargeRequest`]: 200 and a
//!   [`ChargeOutcome`] (`{"outcome": "succeeded", "reference": …}` or `{"outcome": "declined",
//!   "reason": …}`). The same key with the same request answers the first outcome again without
//!   charging; with another request, 409. 503: not sent (nothing charged, try again); 502 or 504:
//!   the charge may have been made (look it up before charging again); other 4xx: refused.
//! - `GET /v1/charges/{payment id}`: 200 and the outcome, or 404 when nothing was charged.
use crate::ports::ChargeOutcome;
use serde::{Deserialize, Serialize};

pub const CHARGES: &str = "/v1/charges";
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A charge as the request body carries it; the payment id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub token: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// A 200's body.
pub type ChargeAnswer = ChargeOutcome;
