//! The custom handler as the Functions host starts it: a Cosmos endpoint that is not this
//! machine's emulator without `COSMOS_KEY`, or with a Key Vault reference the platform could not
//! resolve, stops start-up, naming it, before any connection is tried.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

const BINARY: &str = env!("CARGO_BIN_EXE_projection-updater");
const REMOTE: (&str, &str) = ("COSMOS_ENDPOINT", "https://merch-prod.documents.azure.com:443/");

#[test]
fn a_remote_cosmos_endpoint_without_a_usable_key_stops_start_up() {
    let (code, stderr) = exits::exit_of(BINARY, &[REMOTE]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("COSMOS_KEY not set for https://merch-prod.documents.azure.com:443/"), "{stderr}");
    let unresolved = ("COSMOS_KEY", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/cosmos-key/)");
    let (code, stderr) = exits::exit_of(BINARY, &[REMOTE, unresolved]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unresolved Key Vault reference"), "{stderr}");
}

#[test]
fn in_azure_the_endpoint_is_required() {
    let (code, stderr) = exits::exit_of(BINARY, &[("WEBSITE_SITE_NAME", "estate-merch")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("COSMOS_ENDPOINT not set"), "{stderr}");
}
