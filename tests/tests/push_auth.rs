//! A Cloud Run function's deployed binary as its own process, as `local up` runs the Cloud Run
//! functions (PORT, K_SERVICE, its push-token settings), behind tokens the runner mints as
//! Google does, with the key set it serves: over real HTTP, only a valid token for the
//! subscription's audience and service account reaches the handler; a missing, expired, forged,
//! foreign-issuer or wrong-audience token is 401, another service account's 403. Without its
//! token settings the binary refuses to start, as on Cloud Run. No emulator is needed: the
//! handler's Pub/Sub is a closed port, and the test reads only whether the guard let it through.
use local::up::cloud_run::{CloudRunService, ServiceConfig};
use local::up::push::PushFrontEnd;
use local::up::push_auth::{Claims, PushSigner};

const AUDIENCE: &str = "https://fulfillment-local.a.run.app/";
const PUSHER: &str = "pubsub-push@local-estate.iam.gserviceaccount.com";

async fn post(url: &str, token: Option<String>) -> u16 {
    let body = estate_tests::fixture("gcp/pubsub-push/fulfillment-order-paid.json");
    let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    request.send().await.expect("the service answers").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_run_binary_lets_only_a_valid_push_token_through_over_http() {
    let binaries = tokio::task::spawn_blocking(local::runtime::build::functions).await.expect("join").expect("built");
    let signer = std::sync::Arc::new(PushSigner::generate("local-push-1").expect("a key"));
    let forger = PushSigner::generate("local-push-1").expect("another key, the same kid");
    // The key set as `local up` serves it: beside the push front end.
    let stats = std::sync::Arc::new(local::up::stats::Stats::default());
    let front = PushFrontEnd::serve(signer.clone(), stats).await.expect("the key set served");
    let jwks = format!("{}/oauth2/v3/certs", front.url);
    let env = |audience: Option<&str>| {
        let mut env = vec![
            ("GOOGLE_CLOUD_PROJECT".to_string(), "local".to_string()),
            ("PUBSUB_EMULATOR_HOST".into(), "127.0.0.1:9".into()),
            ("PUBSUB_PUBLISH_TIMEOUT_SECONDS".into(), "1".into()),
            ("PUSH_SERVICE_ACCOUNT".into(), PUSHER.into()),
            ("PUSH_JWKS_URL".into(), jwks.clone()),
        ];
        env.extend(audience.map(|a| ("PUSH_AUDIENCE".to_string(), a.to_string())));
        env
    };
    let config = |audience| ServiceConfig {
        name: "fulfillment".into(),
        binary: binaries["fulfillment"].clone(),
        env: env(audience),
        log: None,
    };

    let refused = CloudRunService::start(&config(None)).await.err().expect("refused to start");
    assert!(refused.contains("exited before it listened"), "{refused}");

    let service = CloudRunService::start(&config(Some(AUDIENCE))).await.expect("listening on PORT");
    let url = format!("{}/", service.url);
    let valid = Claims::push(AUDIENCE, PUSHER);
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut c = valid.clone();
        change(&mut c);
        c
    };
    assert_eq!(post(&url, None).await, 401, "no token");
    assert_eq!(post(&url, Some(signer.token(&with(&|c| c.expires_in = -120)))).await, 401, "expired");
    assert_eq!(post(&url, Some(forger.token(&valid))).await, 401, "signed with another key");
    assert_eq!(post(&url, Some(signer.token(&with(&|c| c.issuer = "https://evil.example".into())))).await, 401);
    assert_eq!(post(&url, Some(signer.token(&with(&|c| c.audience = "https://other.a.run.app/".into())))).await, 401);
    let stranger = with(&|c| c.service_account = "someone@else.iam.gserviceaccount.com".into());
    assert_eq!(post(&url, Some(signer.token(&stranger))).await, 403, "another service account");
    let through = post(&url, Some(signer.token(&valid))).await;
    assert!(![401, 403].contains(&through), "a valid token reaches the handler: {through}");
    service.stop().await;
}
