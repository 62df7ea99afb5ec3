//! What the Terraform declares agrees with the code: the topics kafka-pubsub-bridge mirrors are
//! one list, `domain::events::topics::MIRRORED`, and `infra/gcp` makes a Pub/Sub topic for each.
use estate_tests::repo_root;

#[test]
fn infra_mirrors_exactly_the_topics_the_bridge_mirrors() {
    let tf = std::fs::read_to_string(repo_root().join("infra/gcp/main.tf")).expect("infra/gcp/main.tf");
    let line = tf.lines().find(|l| l.trim_start().starts_with("mirrored_topics")).expect("a mirrored_topics local");
    let list = line.split_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(inner, _)| inner).expect("a list");
    let declared: Vec<&str> = list.split(',').map(|t| t.trim().trim_matches('"')).filter(|t| !t.is_empty()).collect();
    assert_eq!(declared, domain::events::topics::MIRRORED);
    assert!(
        tf.contains(r#"name     = "mirror-${replace(each.value, ".", "-")}""#),
        "the mirror topic names follow mirror_topic()"
    );
    assert_eq!(domain::events::topics::mirror_topic("order.paid"), "mirror-order-paid");
}
