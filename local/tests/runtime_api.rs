//! The runner's Lambda Runtime API with a deployed binary (lake-archiver, built as it deploys)
//! as its own process: an event in, the function's response out; an error reported as Lambda
//! reports it; an invocation past the timeout kills the process and the next one starts fresh;
//! a process that cannot start is `Runtime.ExitError`. No emulator: the batches need no S3, and
//! the one that does talks to a socket that never answers.
use local::runtime::api::{Outcome, RuntimeApi};
use local::runtime::build;
use local::runtime::process::{FunctionConfig, FunctionProcess};
use std::time::Duration;
use tower::ServiceExt;

fn config(binary: std::path::PathBuf, endpoint: &str, timeout: Duration) -> FunctionConfig {
    let env = [
        ("LAKE_BUCKET", "lake"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_S3_FORCE_PATH_STYLE", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    FunctionConfig {
        name: "lake-archiver".into(),
        binary,
        timeout,
        memory_mb: 256,
        region: "eu-west-1".into(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        log: None,
    }
}

const FIXTURE: &str = include_str!("../../events/aws/dynamodb-stream/lake-archiver-order-changes.json");

#[tokio::test]
async fn a_deployed_binary_answers_through_the_runtime_api_and_is_restarted_past_its_timeout() {
    let binaries = tokio::task::spawn_blocking(build::functions).await.expect("a build");
    let binary = binaries.expect("the binary")["lake-archiver"].clone();
    // An S3 that takes connections and never answers: the archiver's writes hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a socket");
    let endpoint = format!("http://{}", silent.local_addr().expect("an address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    // Seven seconds: more than a record's budget (5 s; with less left the function would not
    // start the write), less than the S3 client waits for an answer that never comes.
    let function =
        FunctionProcess::start(config(binary.clone(), &endpoint, Duration::from_secs(7))).await.expect("started");

    let empty = function.invoke(br#"{"Records": []}"#.to_vec()).await;
    assert_eq!(empty, Outcome::Response(br#"{"batchItemFailures":[]}"#.to_vec()));

    let wrong = FIXTURE.replace("\"aws:dynamodb\"", "\"aws:sqs\"");
    let Outcome::Error { body, .. } = function.invoke(wrong.into_bytes()).await else { panic!("an error") };
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("not a DynamoDB Streams event"), "{body}");
    assert_eq!(function.starts(), 1, "an error is an answer: the process lives on");

    // The writes hang past the timeout: killed, and the next invocation has a new process.
    assert_eq!(function.invoke(FIXTURE.as_bytes().to_vec()).await, Outcome::TimedOut);
    assert_eq!(function.starts(), 2);
    let again = function.invoke(br#"{"Records": []}"#.to_vec()).await;
    assert_eq!(again, Outcome::Response(br#"{"batchItemFailures":[]}"#.to_vec()));
    function.stop().await;

    // Without its bucket it refuses to start, as deployed: the invocation is a runtime exit.
    let mut broken = config(binary, &endpoint, Duration::from_secs(3));
    broken.env.retain(|(k, _)| k != "LAKE_BUCKET");
    let broken = FunctionProcess::start(broken).await.expect("started");
    let Outcome::Error { error_type, .. } = broken.invoke(br#"{"Records": []}"#.to_vec()).await else {
        panic!("an error")
    };
    assert_eq!(error_type.as_deref(), Some("Runtime.ExitError"));
    broken.stop().await;
}

#[tokio::test]
async fn an_answer_for_an_invocation_not_in_flight_is_refused() {
    let api = RuntimeApi::new("arn:aws:lambda:eu-west-1:000000000000:function:f");
    let post =
        |path: &str| axum::http::Request::post(path.to_string()).body(axum::body::Body::from("{}")).expect("a request");
    let refused = api.router().oneshot(post("/2018-06-01/runtime/invocation/nope/response")).await.expect("answer");
    assert_eq!(refused.status(), 400);
    // One that timed out is no longer in flight either: a late answer is refused.
    assert_eq!(api.invoke(b"{}".to_vec(), Duration::from_millis(50)).await, Outcome::TimedOut);
    assert_eq!(api.in_flight(), 0);
    // A process asking now does not get the invocation nobody waits for: it keeps polling.
    let next = axum::http::Request::get("/2018-06-01/runtime/invocation/next").body(axum::body::Body::empty());
    let polled = tokio::time::timeout(Duration::from_millis(200), api.router().oneshot(next.expect("a request"))).await;
    assert!(polled.is_err(), "no stale invocation handed out");
}
