//! The function as Lambda starts it: deployed, it names its gateway and its Kafka brokers or
//! refuses to start, naming what is missing; it never charges through the test gateway by default.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

const BINARY: &str = env!("CARGO_BIN_EXE_payment-processor");
const LAMBDA: (&str, &str) = ("AWS_LAMBDA_FUNCTION_NAME", "payment-processor");

#[test]
fn deployed_without_a_gateway_or_brokers_it_refuses_to_start() {
    let (code, stderr) = exits::exit_of(BINARY, &[LAMBDA, ("KAFKA_BOOTSTRAP_SERVERS", "b-1:9098")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PAYMENT_GATEWAY not set (required when deployed)"), "{stderr}");
    let (code, stderr) = exits::exit_of(BINARY, &[LAMBDA, ("PAYMENT_GATEWAY", "stripe")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PAYMENT_GATEWAY \"stripe\" is not a gateway of this build; known: http"), "{stderr}");
    let (code, stderr) = exits::exit_of(BINARY, &[LAMBDA, ("PAYMENT_GATEWAY", "http")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PAYMENT_GATEWAY_URL not set"), "{stderr}");
    let gateway = [LAMBDA, ("PAYMENT_GATEWAY", "http"), ("PAYMENT_GATEWAY_URL", "http://127.0.0.1:1")];
    let (code, stderr) = exits::exit_of(BINARY, &gateway);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS not set"), "{stderr}");
}
