//! Verifies the OIDC token Pub/Sub attaches to authenticated push requests: RS256 signature
//! against Google's JWKS (by `kid`), issuer, audience, expiry, and the push service account's
//! verified email. Used as axum middleware in front of a push handler.
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("token header: {0}")]
    BadHeader(String),
    #[error("no key with kid {0:?} in the JWKS")]
    UnknownKey(String),
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token email {0:?} is not the push service account, or not verified")]
    WrongEmail(String),
    #[error("could not fetch JWKS: {0}")]
    Jwks(String),
}

#[derive(Debug, Deserialize)]
struct PushClaims {
    #[serde(default)]
    email: String,
    #[serde(default)]
    email_verified: bool,
}

enum Keys {
    Static(JwkSet),
    Remote { url: String, http: reqwest::Client, cache: RwLock<Option<(JwkSet, Instant)>> },
}

pub struct OidcVerifier {
    audience: String,
    service_account: String,
    keys: Keys,
    /// An unknown `kid` refetches the JWKS at most this often, so forged kids cannot hammer it.
    min_refetch: Duration,
}

const JWKS_TTL: Duration = Duration::from_secs(3600);

impl OidcVerifier {
    /// A verifier with a fixed key set (tests; air-gapped deployments).
    pub fn with_keys(audience: &str, service_account: &str, keys: JwkSet) -> Self {
        OidcVerifier {
            audience: audience.into(),
            service_account: service_account.into(),
            keys: Keys::Static(keys),
            min_refetch: Duration::ZERO,
        }
    }

    /// A verifier that fetches and caches the JWKS, refetching on an unknown `kid` (key rotation).
    pub fn with_jwks_url(audience: &str, service_account: &str, url: &str) -> Self {
        OidcVerifier {
            audience: audience.into(),
            service_account: service_account.into(),
            keys: Keys::Remote { url: url.into(), http: reqwest::Client::new(), cache: RwLock::new(None) },
            min_refetch: Duration::from_secs(30),
        }
    }

    pub fn with_min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        let from = |set: &JwkSet| set.find(kid).map(DecodingKey::from_jwk);
        match &self.keys {
            Keys::Static(set) => from(set),
            Keys::Remote { url, http, cache } => {
                if let Some((set, at)) = cache.read().await.as_ref() {
                    match from(set) {
                        Some(k) if at.elapsed() < JWKS_TTL => return k.map_err(|e| TokenError::Invalid(e.to_string())),
                        None if at.elapsed() < self.min_refetch => return Err(TokenError::UnknownKey(kid.into())),
                        _ => {}
                    }
                }
                let fetched: JwkSet = http
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| TokenError::Jwks(e.to_string()))?
                    .json()
                    .await
                    .map_err(|e| TokenError::Jwks(e.to_string()))?;
                let key = from(&fetched);
                *cache.write().await = Some((fetched, Instant::now()));
                key
            }
        }
        .ok_or_else(|| TokenError::UnknownKey(kid.into()))?
        .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    pub async fn verify(&self, token: &str) -> Result<(), TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::BadHeader(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::BadHeader(format!("algorithm {:?}, expected RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| TokenError::BadHeader("no kid".into()))?;
        let key = self.key_for(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&GOOGLE_ISSUERS);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let data = decode::<PushClaims>(token, &key, &validation).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let c = data.claims;
        // Exactly the push service account: an empty one matches no token (fail closed).
        if !c.email_verified || self.service_account.is_empty() || c.email != self.service_account {
            return Err(TokenError::WrongEmail(c.email));
        }
        Ok(())
    }
}

/// axum middleware: 401 without a valid push token, 403 for a valid token of another service
/// account, otherwise on to the handler. Either makes Pub/Sub redeliver, so a misconfigured
/// audience or account loses nothing.
pub async fn require_push_token(State(verifier): State<Arc<OidcVerifier>>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let result = match token {
        Some(t) => verifier.verify(t).await,
        None => Err(TokenError::Missing),
    };
    match result {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::warn!(error = %e, "push token rejected");
            let status = match e {
                TokenError::WrongEmail(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            (status, e.to_string()).into_response()
        }
    }
}

/// Adds the verification layer when a verifier is configured.
pub fn protect(router: axum::Router, verifier: Option<Arc<OidcVerifier>>) -> axum::Router {
    match verifier {
        Some(v) => router.layer(axum::middleware::from_fn_with_state(v, require_push_token)),
        None => router,
    }
}
