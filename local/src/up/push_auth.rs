//! What Google does for a Pub/Sub push subscription with authentication, played by the runner
//! (the Pub/Sub emulator's push carries no token): a key pair made at start, its public half
//! served as a JWKS (`PUSH_JWKS_URL` of the Cloud Run functions), and an OIDC identity token
//! minted per push for the subscription's service account and audience, as Google mints them
//! (issuer `https://accounts.google.com`, `email`, `email_verified`, an hour's life). The
//! functions verify it exactly as deployed; only the key and where it is published differ.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, rand_core::OsRng};
use serde_json::{Value, json};

/// What a token says of itself; each can be set wrong on purpose (tests of the functions'
/// checks).
#[derive(Debug, Clone)]
pub struct Claims {
    pub audience: String,
    pub service_account: String,
    pub issuer: String,
    /// Seconds from now until it expires (negative: expired already).
    pub expires_in: i64,
}

impl Claims {
    /// A push token as Google mints it for this subscription.
    pub fn push(audience: &str, service_account: &str) -> Claims {
        Claims {
            audience: audience.into(),
            service_account: service_account.into(),
            issuer: "https://accounts.google.com".into(),
            expires_in: 3600,
        }
    }
}

pub struct PushSigner {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

impl PushSigner {
    /// A new RSA key (2048 bits, RS256) under `kid`.
    pub fn generate(kid: &str) -> Result<PushSigner, String> {
        let private = RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| format!("RSA key: {e}"))?;
        let der = private.to_pkcs1_der().map_err(|e| format!("RSA key: {e}"))?;
        let public = private.to_public_key();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        });
        Ok(PushSigner { kid: kid.into(), key: EncodingKey::from_rsa_der(der.as_bytes()), jwk })
    }

    /// The key set Google publishes, with this key in it.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// A signed identity token with these claims.
    pub fn token(&self, claims: &Claims) -> String {
        let now = chrono::Utc::now().timestamp();
        let body = json!({
            "aud": claims.audience, "iss": claims.issuer, "iat": now + claims.expires_in - 3600,
            "exp": now + claims.expires_in, "sub": "local-push", "azp": "local-push",
            "email": claims.service_account, "email_verified": true,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        encode(&header, &body, &self.key).unwrap_or_default()
    }
}
