//! What stands in front of every push handler: a body limit as large as Pub/Sub's own maximum
//! (axum's 2 MB default would answer 413 to a large message, which Pub/Sub redelivers forever),
//! and the push-token check, which fails closed on Cloud Run.
use crate::oidc::{GOOGLE_JWKS_URL, OidcVerifier, protect};
use crate::push::MAX_PUSH_BODY_BYTES;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use serve::{ConfigError, Env};
use std::sync::Arc;

#[derive(Clone)]
pub struct PushGuard {
    /// `None` only off Cloud Run, with nothing configured: the local emulator sends no token.
    pub verifier: Option<Arc<OidcVerifier>>,
    pub max_body_bytes: usize,
}

impl PushGuard {
    /// No token check and Pub/Sub's body limit: the local runner and tests.
    pub fn local() -> Self {
        PushGuard { verifier: None, max_body_bytes: MAX_PUSH_BODY_BYTES }
    }

    pub fn with_verifier(verifier: OidcVerifier) -> Self {
        PushGuard { verifier: Some(Arc::new(verifier)), ..Self::local() }
    }

    /// From `PUSH_AUDIENCE`, `PUSH_SERVICE_ACCOUNT`, `PUSH_JWKS_URL`, `PUSH_MAX_BODY_BYTES`.
    /// On Cloud Run (`K_SERVICE` set) the audience and the service account are both required;
    /// elsewhere both may be left unset (no token check, with a warning), but never just one:
    /// a check without its service account would accept a token from any account.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_body_bytes = env.number("PUSH_MAX_BODY_BYTES", MAX_PUSH_BODY_BYTES)?;
        let audience = env.get("PUSH_AUDIENCE");
        let account = env.get("PUSH_SERVICE_ACCOUNT");
        let verifier = match (audience, account) {
            (Some(aud), Some(sa)) => {
                let jwks = env.get_or("PUSH_JWKS_URL", GOOGLE_JWKS_URL);
                Some(Arc::new(OidcVerifier::with_jwks_url(&aud, &sa, &jwks)))
            }
            (None, None) if !env.on_cloud_run() => {
                tracing::warn!(
                    "PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT unset: push tokens are not verified (local use only)"
                );
                None
            }
            (aud, sa) => {
                let missing: Vec<&str> = [("PUSH_AUDIENCE", aud.is_none()), ("PUSH_SERVICE_ACCOUNT", sa.is_none())]
                    .into_iter()
                    .filter_map(|(name, absent)| absent.then_some(name))
                    .collect();
                let why = if env.on_cloud_run() {
                    "on Cloud Run (K_SERVICE is set) every push must carry a verified token"
                } else {
                    "the push-token check needs both the audience and the push service account"
                };
                return Err(ConfigError(format!("{} not set: {why}", missing.join(" and "))));
            }
        };
        Ok(PushGuard { verifier, max_body_bytes })
    }

    /// The router with the body limit and, when configured, the token check in front of it.
    pub fn apply(&self, router: Router) -> Router {
        protect(router.layer(DefaultBodyLimit::max(self.max_body_bytes)), self.verifier.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: (&str, &str) = ("PUSH_AUDIENCE", "https://svc.a.run.app/");
    const SA: (&str, &str) = ("PUSH_SERVICE_ACCOUNT", "pusher@p.iam.gserviceaccount.com");
    const CLOUD_RUN: (&str, &str) = ("K_SERVICE", "merch-normalizer");

    fn error(env: Env) -> String {
        PushGuard::from_env(&env).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn on_cloud_run_both_variables_are_required_and_named() {
        assert!(error(Env::fixed([CLOUD_RUN])).contains("PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT not set"));
        assert!(error(Env::fixed([CLOUD_RUN, AUD])).starts_with("configuration: PUSH_SERVICE_ACCOUNT not set"));
        assert!(error(Env::fixed([CLOUD_RUN, SA])).starts_with("configuration: PUSH_AUDIENCE not set"));
        assert!(PushGuard::from_env(&Env::fixed([CLOUD_RUN, AUD, SA])).is_ok_and(|g| g.verifier.is_some()));
    }

    #[test]
    fn off_cloud_run_the_check_is_all_or_nothing() {
        let local = PushGuard::from_env(&Env::fixed([])).expect("local");
        assert!(local.verifier.is_none());
        assert_eq!(local.max_body_bytes, MAX_PUSH_BODY_BYTES);
        assert!(error(Env::fixed([AUD])).contains("PUSH_SERVICE_ACCOUNT not set"));
        let sized = PushGuard::from_env(&Env::fixed([("PUSH_MAX_BODY_BYTES", "1024")])).expect("sized");
        assert_eq!(sized.max_body_bytes, 1024);
    }
}
