//! The binary as Cloud Run starts it: without its push-token settings it must refuse to start,
//! naming what is missing, before it connects to anything.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

fn start(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut env = env.to_vec();
    env.push(("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"));
    exits::exit_of(env!("CARGO_BIN_EXE_merch-normalizer"), &env)
}

#[test]
fn on_cloud_run_it_refuses_to_start_without_audience_or_service_account() {
    let (code, stderr) = start(&[("K_SERVICE", "merch-normalizer")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT not set"), "{stderr}");
    let (code, stderr) = start(&[("K_SERVICE", "merch-normalizer"), ("PUSH_AUDIENCE", "https://svc.a.run.app/")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("PUSH_SERVICE_ACCOUNT not set"), "{stderr}");
}

#[test]
fn a_bad_slot_owner_table_stops_start_up() {
    let (code, stderr) = start(&[("SLOT_OWNERS", "{\"prices\":{}}")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("SLOT_OWNERS"), "{stderr}");
}

#[test]
fn on_cloud_run_it_refuses_to_start_without_the_kafka_brokers() {
    let push =
        [("PUSH_AUDIENCE", "https://svc.a.run.app/"), ("PUSH_SERVICE_ACCOUNT", "push@p.iam.gserviceaccount.com")];
    let env: Vec<(&str, &str)> = [("K_SERVICE", "merch-normalizer")].into_iter().chain(push).collect();
    let (code, stderr) = exits::exit_of(env!("CARGO_BIN_EXE_merch-normalizer"), &env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS not set (required when deployed)"), "{stderr}");
}
