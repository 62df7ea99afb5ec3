//! The custom handler as the Functions host starts it: an unknown model version, or a remote
//! Cosmos endpoint without a key, stops start-up, naming it, before any connection is tried.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

const BINARY: &str = env!("CARGO_BIN_EXE_fraud-scorer");

#[test]
fn an_unknown_model_version_stops_start_up_naming_it() {
    let (code, stderr) = exits::exit_of(BINARY, &[("FRAUD_MODEL_VERSION", "v2-draft")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("FRAUD_MODEL_VERSION \"v2-draft\" is not a model in this build; known: v1"), "{stderr}");
}

#[test]
fn a_remote_cosmos_endpoint_without_a_key_stops_start_up() {
    let remote = ("COSMOS_ENDPOINT", "https://checkout-prod.documents.azure.com:443/");
    let (code, stderr) = exits::exit_of(BINARY, &[remote]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("COSMOS_KEY not set for https://checkout-prod.documents.azure.com:443/"), "{stderr}");
}
