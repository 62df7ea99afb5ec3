//! The `local` runner: the estate on one machine. `demo` drives the whole flow on the embedded
//! default, `invoke` runs one function on one fixture, `replay` republishes the audit log, and
//! `schemas` regenerates the event JSON Schemas; `registry` describes every function once.
pub mod archived;
pub mod checkout_demo;
pub mod demo;
pub mod estate;
pub mod functions_host;
pub mod gateway_service;
pub mod images_demo;
pub mod invoke;
pub mod lambda_host;
pub mod notified;
pub mod oneshot;
pub mod pubsub_push;
pub mod registry;
pub mod runtime;
pub mod scaffold;
pub mod scenario;
pub mod storefront;
pub mod sweeps;
pub mod up;
