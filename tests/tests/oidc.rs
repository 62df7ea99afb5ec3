//! Push-token verification in front of merch-normalizer, with a key pair generated here: a valid
//! token passes; a wrong signature, audience, issuer, expiry or kid gets 401, a valid token of
//! another service account 403, and neither publishes anything (Pub/Sub redelivers, so nothing
//! is lost).
use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ports::Publisher;
use inmemory::Bus;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use local::oneshot::post;
use merch_normalizer::{Config, Normalizer, app};
use platform_gcp::PushGuard;
use platform_gcp::oidc::OidcVerifier;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, rand_core::OsRng};
use serde_json::{Value, json};
use std::sync::Arc;

const AUDIENCE: &str = "https://merch-normalizer-abc123-ew.a.run.app/";
const PUSHER: &str = "pubsub-pusher@acme-merch-prod.iam.gserviceaccount.com";

struct Key {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key");
    let der = private.to_pkcs1_der().expect("DER");
    let public = private.to_public_key();
    Key {
        kid: kid.into(),
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be())}),
    }
}

fn jwks(keys: &[&Key]) -> JwkSet {
    serde_json::from_value(json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})).expect("JWKS")
}

fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"aud": AUDIENCE, "iss": "https://accounts.google.com", "iat": now, "exp": now + 3600, "sub": "110169484474386276334",
           "email": PUSHER, "email_verified": true, "azp": "110169484474386276334"})
}

fn token(signer: &Key, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, claims, &signer.encoding).expect("token")
}

fn service(verifier: OidcVerifier) -> (Router, Bus) {
    let bus = Bus::default();
    let normalizer = Arc::new(Normalizer::new(Arc::new(bus.clone()) as Arc<dyn Publisher>, Config::default()));
    (app(normalizer, &PushGuard::with_verifier(verifier)), bus)
}

async fn push_with(app: &Router, bearer: Option<String>) -> u16 {
    let body = estate_tests::fixture("gcp/pubsub-push/erp-price-json.json");
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(t) = bearer {
        headers.push(("authorization".into(), format!("Bearer {t}")));
    }
    post(app, "/", &headers, body).await.0.as_u16()
}

#[tokio::test]
async fn only_a_valid_push_token_reaches_the_handler() {
    let good = key("k-2026-11");
    let other = key("k-2026-11"); // same kid, different key: a forged signature
    let (app, bus) = service(OidcVerifier::with_keys(AUDIENCE, PUSHER, jwks(&[&good])));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        c
    };
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("missing", None, 401),
        ("forged signature", Some(token(&other, &good.kid, &claims())), 401),
        ("unknown kid", Some(token(&good, "k-unknown", &claims())), 401),
        (
            "wrong audience",
            Some(token(&good, &good.kid, &with(&|c| c["aud"] = json!("https://elsewhere.example/")))),
            401,
        ),
        ("wrong issuer", Some(token(&good, &good.kid, &with(&|c| c["iss"] = json!("https://evil.example")))), 401),
        (
            "expired",
            Some(token(&good, &good.kid, &with(&|c| c["exp"] = json!(chrono::Utc::now().timestamp() - 600)))),
            401,
        ),
        (
            "other service account",
            Some(token(&good, &good.kid, &with(&|c| c["email"] = json!("intruder@acme.iam.gserviceaccount.com")))),
            403,
        ),
        ("unverified email", Some(token(&good, &good.kid, &with(&|c| c["email_verified"] = json!(false)))), 403),
        ("not a JWT", Some("abc.def".into()), 401),
    ];
    for (what, bearer, status) in cases {
        assert_eq!(push_with(&app, bearer).await, status, "{what} must be refused");
    }
    assert!(bus.topics().is_empty(), "a refused push publishes nothing");
    assert_eq!(push_with(&app, Some(token(&good, &good.kid, &claims()))).await, 204);
    assert_eq!(bus.records("merch.price-changed").len(), 1);
}

#[tokio::test]
async fn a_verifier_without_a_service_account_accepts_no_token() {
    let good = key("k-1");
    let (app, bus) = service(OidcVerifier::with_keys(AUDIENCE, "", jwks(&[&good])));
    assert_eq!(push_with(&app, Some(token(&good, &good.kid, &claims()))).await, 403);
    assert!(bus.topics().is_empty());
}

#[tokio::test]
async fn keys_are_fetched_from_the_jwks_endpoint_and_refetched_on_rotation() {
    let old = key("k-old");
    let new = key("k-new");
    let served = Arc::new(std::sync::Mutex::new(json!({"keys": [old.jwk.clone()]})));
    let state = served.clone();
    let jwks_app = Router::new().route(
        "/oauth2/v3/certs",
        axum::routing::get(move || {
            let body = state.lock().map(|v| v.clone()).unwrap_or_default();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, jwks_app).await });

    let verifier = OidcVerifier::with_jwks_url(AUDIENCE, PUSHER, &url);
    let (throttled, _) = service(OidcVerifier::with_jwks_url(AUDIENCE, PUSHER, &url));
    let (app, bus) = service(verifier.with_min_refetch(std::time::Duration::ZERO));
    assert_eq!(push_with(&app, Some(token(&old, "k-old", &claims()))).await, 204);
    assert_eq!(push_with(&app, Some(token(&new, "k-new", &claims()))).await, 401, "k-new is not published yet");
    *served.lock().expect("lock") = json!({"keys": [old.jwk.clone(), new.jwk.clone()]});
    assert_eq!(push_with(&app, Some(token(&new, "k-new", &claims()))).await, 204, "an unknown kid refetches the JWKS");
    // With the default interval, a kid unknown at the last fetch is refused without a new fetch.
    *served.lock().expect("lock") = json!({"keys": [old.jwk.clone()]});
    assert_eq!(push_with(&throttled, Some(token(&old, "k-old", &claims()))).await, 204);
    *served.lock().expect("lock") = json!({"keys": [old.jwk.clone(), new.jwk.clone()]});
    assert_eq!(push_with(&throttled, Some(token(&new, "k-new", &claims()))).await, 401, "refetch is rate-limited");
    assert_eq!(bus.records("merch.price-changed").len(), 2);
}
