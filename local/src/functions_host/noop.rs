//! A custom handler that does nothing: every invocation is answered 200 with an empty response,
//! through the estate's own handler router (`platform_azure::handler_app`, as every function app
//! of the estate answers). The Functions host's overhead is measured with it
//! (`benches/host_overhead.rs`; `src/bin/noop-handler.rs` serves it as its own process).
use axum::Router;
use axum::http::StatusCode;
use domain::dead_letter::DeadLetterPolicy;
use platform_azure::handler_app::{Invocations, router};
use platform_azure::{InvocationRequest, InvocationResponse};
use std::sync::Arc;

/// Its one function's name (`POST /noop`).
pub const FUNCTION: &str = "noop";

struct Noop {
    dead_letters: DeadLetterPolicy,
}

impl Invocations for Noop {
    const NAME: &'static str = "noop-handler";

    fn dead_letters(&self) -> (&str, &DeadLetterPolicy) {
        ("deadLetters", &self.dead_letters)
    }

    async fn invoke(&self, _: &InvocationRequest) -> (StatusCode, InvocationResponse) {
        (StatusCode::OK, InvocationResponse::default())
    }
}

pub fn app() -> Router {
    let noop = Noop { dead_letters: DeadLetterPolicy::new("noop-handler", "noop.dlq") };
    router(Arc::new(noop), &[FUNCTION], 1 << 20)
}
