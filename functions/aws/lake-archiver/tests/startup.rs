//! Deployed without `LAKE_BUCKET`, the function refuses to start, naming it: it would have
//! nowhere to write.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn deployed_without_lake_bucket_it_refuses_to_start() {
    let binary = env!("CARGO_BIN_EXE_lake-archiver");
    let (code, stderr) = exits::exit_of(binary, &[("AWS_LAMBDA_FUNCTION_NAME", "lake-archiver")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("LAKE_BUCKET not set (required when deployed)"), "{stderr}");
}
