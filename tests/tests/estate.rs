//! Every black-box test of the estate, one module per file, in one test binary: one link of
//! the SDKs and functions instead of one per file (each is a few hundred megabytes; on 2 cores
//! and a shared disk that was most of the test build). nextest still runs each test in a process
//! of its own; `.config/nextest.toml` names the `local up` modules (`up`, `up_clouds`,
//! `up_faults`), which run one at a time. Select a file's tests with `-E 'test(/^<file>::/)'`.
mod bad_input;
mod body_limits;
mod carts;
mod checkout;
mod checkout_bad_input;
mod compatibility;
mod dead_letters;
mod deadlines;
mod emulators;
mod fixtures;
mod fraud;
mod fulfillment;
mod infra;
mod log_lines;
mod mirror_keys;
mod oidc;
mod order_stream;
mod payment_leases;
mod payment_mismatch;
mod payments;
mod ports;
mod projection;
mod push_auth;
mod redelivery;
mod repository;
mod sweeper;
mod up;
mod up_clouds;
mod up_faults;
/// One `local up` estate for a test, shared by `up`, `up_clouds` and `up_faults`.
#[path = "up/support.rs"]
mod up_support;
