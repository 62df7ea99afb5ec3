//! A Lambda that does nothing: every event is answered with an empty partial batch response.
//! The runner's overhead is measured with it (`benches/runtime_overhead.rs`): what is left of an
//! invocation is the Runtime API's round trip.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({"batchItemFailures": []}))
    }))
    .await
}
