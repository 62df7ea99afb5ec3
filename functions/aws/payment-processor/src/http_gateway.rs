//! The HTTP gateway adapter (`PAYMENT_GATEWAY=http`, `PAYMENT_GATEWAY_URL`): the estate's gateway
//! protocol (`domain::gateway_http`), which the local runner's test gateway serves. The payment
//! id is the idempotency key. What a failure says of the charge decides what the processor may
//! do next: no connection → not sent (charge again); a timeout or an answer lost after sending,
//! 502 or 504 → unknown (look it up first); 503 → not sent; another 4xx (409: the key reused
//! with another request) → refused.
use async_trait::async_trait;
use domain::gateway_http::{CHARGES, ChargeRequest, IDEMPOTENCY_KEY};
use domain::ports::{Charge, ChargeError, ChargeOutcome, PaymentGateway, PortError};
use reqwest::StatusCode;
use std::time::Duration;

pub struct HttpGateway {
    client: reqwest::Client,
    base: String,
}

impl HttpGateway {
    /// A gateway at `base` (`http://host:port`), each call given `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(HttpGateway { client, base: base.trim_end_matches('/').to_string() })
    }
}

async fn outcome(response: reqwest::Response) -> Result<ChargeOutcome, String> {
    response.json::<ChargeOutcome>().await.map_err(|e| format!("an answer that is not an outcome: {e}"))
}

#[async_trait]
impl PaymentGateway for HttpGateway {
    async fn charge(&self, charge: &Charge) -> Result<ChargeOutcome, ChargeError> {
        let body = ChargeRequest {
            token: charge.token.clone(),
            amount_minor: charge.amount.amount_minor,
            currency: charge.amount.currency.to_string(),
        };
        let sent = self
            .client
            .post(format!("{}{CHARGES}", self.base))
            .header(IDEMPOTENCY_KEY, &charge.payment_id)
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() || e.is_builder() => return Err(ChargeError::NotSent(e.to_string())),
            Err(e) => return Err(ChargeError::Unknown(e.to_string())),
        };
        let status = response.status();
        match status {
            StatusCode::OK => outcome(response).await.map_err(ChargeError::Unknown),
            StatusCode::SERVICE_UNAVAILABLE => Err(ChargeError::NotSent(format!("gateway answered {status}"))),
            s if s.is_server_error() => Err(ChargeError::Unknown(format!("gateway answered {s}"))),
            s => Err(ChargeError::Rejected(format!(
                "gateway answered {s}: {}",
                response.text().await.unwrap_or_default()
            ))),
        }
    }

    async fn lookup(&self, payment_id: &str) -> Result<Option<ChargeOutcome>, PortError> {
        let url = format!("{}{CHARGES}/{payment_id}", self.base);
        let response = self.client.get(url).send().await.map_err(|e| PortError::Unavailable(e.to_string()))?;
        match response.status() {
            StatusCode::OK => outcome(response).await.map(Some).map_err(PortError::Unavailable),
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_server_error() => Err(PortError::Unavailable(format!("gateway answered {s}"))),
            s => Err(PortError::Rejected(format!("gateway answered {s}"))),
        }
    }
}
