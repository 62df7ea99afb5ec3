//! Amazon SES v2 as a sender meets it: an e-mail from an identity the account has verified to a
//! well-formed address is accepted and gets a message id; a malformed address is refused for
//! good, an unverified sender is unavailable until the deployment is fixed; throttling and
//! outages come and go (`outage`), and so do answers lost after the e-mail went (`lost_answers`).
use crate::Outage;
use async_trait::async_trait;
use domain::ports::{MailError, Mailer, RawEmail};
use std::sync::{Arc, Mutex};

/// One accepted e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub mime: Vec<u8>,
}

#[derive(Clone, Default)]
pub struct InMemoryMailer {
    sent: Arc<Mutex<Vec<SentEmail>>>,
    /// The sender identities (addresses or whole domains) the account has verified.
    identities: Arc<Mutex<Vec<String>>>,
    /// Throttling or an outage: the next calls fail with `Unavailable`.
    pub outage: Arc<Outage>,
    /// Answers lost on the way back: the next calls send, and fail with `Unknown`.
    pub lost_answers: Arc<Outage>,
}

/// An address SES takes: one `@`, something before it, a dotted domain after it, no spaces or
/// angle brackets (it does not deliver to `a@b`, `a b@c.d` or `<x>`).
pub fn well_formed(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else { return false };
    let plain = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || "<>@,;\"".contains(c));
    plain(local) && plain(domain) && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

impl InMemoryMailer {
    /// Verifies a sender identity: an address, or a domain for every address in it.
    pub fn verify(&self, identity: &str) {
        self.identities.lock().unwrap_or_else(|p| p.into_inner()).push(identity.to_string());
    }

    /// An e-mail another SES accepted, kept as it was recorded there (its message id): a copy of
    /// an emulator's record, read back for a check.
    pub fn restore(&self, email: SentEmail) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(email);
    }

    /// Every accepted e-mail, in the order sent.
    pub fn sent(&self) -> Vec<SentEmail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn verified(&self, from: &str) -> bool {
        let domain = from.rsplit_once('@').map(|(_, d)| d);
        let identities = self.identities.lock().unwrap_or_else(|p| p.into_inner());
        identities.iter().any(|i| i == from || Some(i.as_str()) == domain)
    }
}

#[async_trait]
impl Mailer for InMemoryMailer {
    async fn send_raw(&self, email: RawEmail<'_>) -> Result<String, MailError> {
        self.outage.check("send email").map_err(|e| MailError::Unavailable(e.to_string()))?;
        if !self.verified(email.from) {
            // The deployment's sender, not this e-mail, is wrong: not a refusal for good.
            return Err(MailError::Unavailable(format!("email address is not verified: {}", email.from)));
        }
        if !well_formed(email.to) {
            return Err(MailError::Refused(format!("invalid recipient address {:?}", email.to)));
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let message_id = format!("0100019{:013x}-local-{:06}", sent.len() * 0x9e37 + 1, sent.len() + 1);
        let email = SentEmail { message_id, from: email.from.into(), to: email.to.into(), mime: email.mime.to_vec() };
        sent.push(email.clone());
        drop(sent);
        self.lost_answers.check("send email").map_err(|e| MailError::Unknown(e.to_string()))?;
        Ok(email.message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_ses_refuses_are_not_well_formed() {
        for good in ["ana@example.com", "o'brien+shop@mail.example.co.uk"] {
            assert!(well_formed(good), "{good}");
        }
        for bad in ["", "ana", "ana@", "@example.com", "ana@example", "a b@example.com", "<ana@example.com>", "a@b@c.d"]
        {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
