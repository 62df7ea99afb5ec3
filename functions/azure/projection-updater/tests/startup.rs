//! The custom handler as the Functions host starts it: a Cosmos endpoint that is not this
//! machine's emulator without `COSMOS_KEY` stops start-up, naming it, before any connection.
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_remote_cosmos_endpoint_without_a_key_stops_start_up() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_projection-updater"))
        .env_clear()
        .env("COSMOS_ENDPOINT", "https://merch-prod.documents.azure.com:443/")
        .env("COSMOS_DISABLE_IMDS", "1")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("COSMOS_KEY not set for https://merch-prod.documents.azure.com:443/"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "refused before trying to connect");
}

#[test]
fn in_azure_the_endpoint_is_required() {
    let out = Command::new(env!("CARGO_BIN_EXE_projection-updater"))
        .env_clear()
        .env("WEBSITE_SITE_NAME", "estate-merch")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COSMOS_ENDPOINT not set"));
}
