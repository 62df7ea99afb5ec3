//! Amazon SES v2 behind the `Mailer` port: `SendEmail` with raw MIME content (the text and HTML
//! parts are the caller's), the envelope's sender and recipient, and SES's errors split into
//! "not sent, may go later" (throttling, a paused account, the sender's identity), "may have
//! gone" (a timeout or lost answer) and "refused for good" (the recipient).
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use domain::ports::{MailError, Mailer, RawEmail};

pub struct SesMailer {
    client: Client,
}

impl SesMailer {
    pub fn new(client: Client) -> Self {
        SesMailer { client }
    }

    /// A client from the environment (region and credentials as every AWS SDK reads them;
    /// `AWS_ENDPOINT_URL` for moto).
    pub async fn from_env() -> Self {
        Self::new(Client::new(&aws_config::load_from_env().await))
    }
}

/// SES's refusals of a request it will never take.
const REFUSED: [&str; 3] = ["MessageRejected", "BadRequestException", "InvalidParameterValue"];
/// SES took nothing: throttled, paused, or the sender's identity is not usable.
const NOT_SENT: [&str; 6] = [
    "TooManyRequestsException",
    "LimitExceededException",
    "SendingPausedException",
    "AccountSuspendedException",
    "MailFromDomainNotVerifiedException",
    "NotFoundException",
];

/// What an error says of the e-mail: refused for good (its recipient), not sent (may go later),
/// or unknown (the call may have reached SES: a timeout, a lost response, a 5xx). A refusal that
/// names the sender, or any "not verified" (an unverified sender, or a recipient an account in
/// SES's sandbox may not write to), is the deployment's to fix, not the recipient's: not sent.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>, from: &str) -> MailError {
    let code = e.code().unwrap_or("").to_string();
    let detail = e.message().map(str::to_string).unwrap_or_else(|| format!("{e:?}"));
    let detail = detail.lines().next().unwrap_or_default().to_string();
    match &e {
        SdkError::ConstructionFailure(_) => MailError::Unavailable(format!("send_email not sent: {detail}")),
        SdkError::ServiceError(_)
            if REFUSED.contains(&code.as_str()) && (detail.contains(from) || detail.contains("not verified")) =>
        {
            MailError::Unavailable(format!("{code}: the sender cannot send: {detail}"))
        }
        SdkError::ServiceError(_) if REFUSED.contains(&code.as_str()) => {
            MailError::Refused(format!("{code}: {detail}"))
        }
        SdkError::ServiceError(_) if NOT_SENT.contains(&code.as_str()) => {
            MailError::Unavailable(format!("{code}: {detail}"))
        }
        _ => MailError::Unknown(format!("send_email: {code}: {detail}")),
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_raw(&self, email: RawEmail<'_>) -> Result<String, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(email.mime))
            .build()
            .map_err(|e| MailError::Refused(format!("raw message: {e}")))?;
        let sent = self
            .client
            .send_email()
            .from_email_address(email.from)
            .destination(Destination::builder().to_addresses(email.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| classify(e, email.from))?;
        sent.message_id.ok_or_else(|| MailError::Unknown("send_email answered without a message id".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::config::http::HttpResponse;
    use aws_sdk_sesv2::error::ErrorMetadata;
    use aws_sdk_sesv2::operation::send_email::SendEmailError;

    fn answered(code: &str, message: &str) -> SdkError<SendEmailError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let status = 400u16.try_into().expect("a status");
        SdkError::service_error(
            SendEmailError::generic(meta),
            HttpResponse::new(status, aws_smithy_types::body::SdkBody::empty()),
        )
    }

    #[test]
    fn only_the_recipients_refusals_are_for_good() {
        let from = "orders@shop.example.com";
        let sandbox = "Email address is not verified. The following identities failed the check in region \
                       EU-WEST-1: ana@example.org";
        assert!(matches!(classify(answered("MessageRejected", sandbox), from), MailError::Unavailable(_)));
        let sender = format!("Email address is not verified: {from}");
        assert!(matches!(classify(answered("MessageRejected", &sender), from), MailError::Unavailable(_)));
        let bad = "Missing final '@domain'";
        assert!(matches!(classify(answered("BadRequestException", bad), from), MailError::Refused(_)));
        let throttled = "Maximum sending rate exceeded.";
        assert!(matches!(classify(answered("TooManyRequestsException", throttled), from), MailError::Unavailable(_)));
        assert!(matches!(classify(answered("InternalFailure", "oops"), from), MailError::Unknown(_)));
    }
}
