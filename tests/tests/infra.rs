//! What the Terraform declares agrees with the code and with what the platforms need: the topics
//! kafka-pubsub-bridge mirrors are one list, `domain::events::topics::MIRRORED`, and `infra/gcp`
//! makes a Pub/Sub topic for each; dead-lettering push subscriptions have the grants Pub/Sub
//! needs; the Cosmos key reaches its app through Key Vault. (Text checks of the .tf files: no
//! Terraform provider runs here, `terraform fmt -check` is what CI runs on them.)
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

/// The parked topic is declared under its one name, kept by a pull subscription (a topic without
/// one loses what is published to it), and neither mirrored nor pushed to any function.
#[test]
fn the_parked_topic_is_declared_kept_and_read_by_no_function() {
    use domain::events::topics;
    let all = resources("infra/gcp/main.tf");
    let (_, name, topic) = all
        .iter()
        .find(|(k, _, b)| k == "google_pubsub_topic" && b.contains(&format!(r#"name = "{}""#, topics::PARKED)))
        .expect("a Pub/Sub topic named topics::PARKED");
    let subscriptions: Vec<&String> = all
        .iter()
        .filter(|(k, _, b)| {
            k == "google_pubsub_subscription" && b.contains(&format!("topic = google_pubsub_topic.{name}.id"))
        })
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(subscriptions.len(), 1, "{topic}");
    assert!(!subscriptions[0].contains("push_config"), "pulled by people, pushed to no function");
    assert!(subscriptions[0].contains(r#"message_retention_duration = "2678400s""#));
    assert!(!topics::MIRRORED.contains(&topics::PARKED) && topics::holds_dead_letters(topics::PARKED));
}

/// The Pub/Sub topics the Cloud Run functions dead-letter to exist, each kept by a pull
/// subscription and published to by the runtime's service account.
#[test]
fn the_cloud_run_functions_dead_letter_topics_are_declared_and_kept() {
    use domain::events::topics;
    let all = resources("infra/gcp/main.tf");
    let body = |kind: &str, name: &str| {
        all.iter().find(|(k, n, _)| k == kind && n == name).map(|(_, _, b)| b.clone()).unwrap_or_default()
    };
    let declared = body("google_pubsub_topic", "function_dead_letters");
    for topic in [topics::CHECKOUT_DLQ, topics::IMAGES_DLQ] {
        assert!(declared.contains(&format!("\"{topic}\"")), "{topic} in {declared}");
    }
    let kept = body("google_pubsub_subscription", "function_dead_letters");
    assert!(
        kept.contains("for_each = google_pubsub_topic.function_dead_letters") && !kept.contains("push_config"),
        "{kept}"
    );
    let grant = body("google_pubsub_topic_iam_member", "function_dead_letters_publisher");
    assert!(
        grant.contains("roles/pubsub.publisher") && grant.contains("google_service_account.runtime.email"),
        "{grant}"
    );
}

/// The Terraform resources of a file: (type, name, body), the body with its whitespace runs
/// collapsed to one space so that attributes can be looked for whatever their alignment.
fn resources(path: &str) -> Vec<(String, String, String)> {
    let tf = std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut rest = tf.as_str();
    while let Some(at) = rest.find("\nresource \"") {
        let header = &rest[at + 1..];
        let names: Vec<&str> = header.split('"').collect();
        let open = header.find('{').expect("a block");
        let mut depth = 0;
        let end = header[open..]
            .char_indices()
            .find_map(|(i, c)| {
                depth += match c {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                (depth == 0).then_some(open + i)
            })
            .expect("the block closes");
        let body = header[open + 1..end].split_whitespace().collect::<Vec<_>>().join(" ");
        out.push((names[1].to_string(), names[3].to_string(), body));
        rest = &header[end..];
    }
    out
}

/// Whether a resource's `attr` names `kind.name`: directly, or as `each.value.name` of a
/// `for_each` over it.
fn names(body: &str, attr: &str, kind: &str, name: &str) -> bool {
    body.contains(&format!("{attr} = {kind}.{name}.name"))
        || (body.contains(&format!("for_each = {kind}.{name} ")) && body.contains(&format!("{attr} = each.value.name")))
}

/// Pub/Sub forwards a push that keeps failing to the dead-letter topic as its service agent,
/// which needs to publish there and to subscribe to the source subscription; without both the
/// policy silently does nothing. Every push subscription has a policy, and each its two grants.
#[test]
fn every_push_subscription_dead_letters_and_the_pubsub_agent_may_do_it() {
    let all = resources("infra/gcp/main.tf");
    let of = |kind: &'static str| all.iter().filter(move |(k, _, _)| k == kind);
    let agent = "member = local.pubsub_service_agent";
    let tf = std::fs::read_to_string(repo_root().join("infra/gcp/main.tf")).expect("main.tf");
    assert!(tf.contains(
        r#"pubsub_service_agent = "serviceAccount:service-${data.google_project.current.number}@gcp-sa-pubsub.iam.gserviceaccount.com""#
    ));
    let pushed: Vec<_> = of("google_pubsub_subscription").filter(|(_, _, b)| b.contains("push_config {")).collect();
    assert!(pushed.len() >= 2, "the normalizer's and audit-sink's subscriptions");
    for (_, sub, body) in pushed {
        let policy =
            body.split("dead_letter_policy {").nth(1).unwrap_or_else(|| panic!("{sub} has no dead-letter policy"));
        let topic = policy
            .split("dead_letter_topic = google_pubsub_topic.")
            .nth(1)
            .and_then(|t| t.split(['.', '[']).next())
            .unwrap_or_else(|| panic!("{sub}: a dead_letter_topic of this file"));
        assert!(
            of("google_pubsub_topic_iam_member").any(|(_, _, b)| names(b, "topic", "google_pubsub_topic", topic)
                && b.contains(r#"role = "roles/pubsub.publisher""#)
                && b.contains(agent)),
            "the Pub/Sub agent may not publish to {topic}, {sub}'s dead-letter topic"
        );
        assert!(
            of("google_pubsub_subscription_iam_member").any(|(_, _, b)| names(
                b,
                "subscription",
                "google_pubsub_subscription",
                sub
            ) && b
                .contains(r#"role = "roles/pubsub.subscriber""#)
                && b.contains(agent)),
            "the Pub/Sub agent may not subscribe to {sub}, so it cannot forward its dead letters"
        );
    }
}

/// The Cosmos key reaches projection-updater as a Key Vault reference that the app's own
/// managed identity resolves, never as the key itself in the app's settings.
#[test]
fn the_cosmos_key_reaches_the_app_through_key_vault_and_its_managed_identity() {
    let all = resources("infra/azure/main.tf");
    let find = |kind: &str, name: &str| {
        all.iter().find(|(k, n, _)| k == kind && n == name).map(|(_, _, b)| b.as_str()).expect("declared")
    };
    let app = find("azurerm_linux_function_app", "projection_updater");
    assert!(app.contains(r#"identity { type = "SystemAssigned" }"#), "{app}");
    let setting = app.split("COSMOS_KEY = ").nth(1).and_then(|s| s.split(' ').next()).expect("a COSMOS_KEY setting");
    assert_eq!(setting, r#""@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.cosmos_key.versionless_id})""#);
    assert!(
        !app.contains("primary_key }") && !app.contains("cosmosdb_account.merch.primary_key"),
        "a plain key in app settings"
    );
    let secret = find("azurerm_key_vault_secret", "cosmos_key");
    assert!(secret.contains("value = azurerm_cosmosdb_account.merch.primary_key"), "{secret}");
    assert!(secret.contains("key_vault_id = azurerm_key_vault.merch.id"), "{secret}");
    assert!(
        all.iter().any(|(k, _, b)| k == "azurerm_role_assignment"
            && b.contains("scope = azurerm_key_vault.merch.id")
            && b.contains(r#"role_definition_name = "Key Vault Secrets User""#)
            && b.contains("principal_id = azurerm_linux_function_app.projection_updater.identity[0].principal_id")),
        "the app's identity may not read the vault's secrets"
    );
}

/// An Azure function's dead letters go to the one topic of its `deadLetters` output binding, so
/// it could not park the dead letter of a record read from a dead-letter topic: none is
/// triggered by one (the Lambdas and push functions park through `kafka_batch` and
/// `PushedMessage::dead_letter`).
#[test]
fn no_azure_function_is_triggered_by_a_topic_of_dead_letters() {
    use domain::events::topics;
    let all = projection_updater::FUNCTIONS.iter().chain(fraud_scorer::FUNCTIONS.iter());
    for (folder, json) in all {
        let f = local::functions_host::parse_function_json(json).expect("the host reads it");
        assert!(!f.trigger_topic.is_empty(), "{folder} has a trigger topic");
        assert!(!topics::holds_dead_letters(&f.trigger_topic), "{folder} reads {}", f.trigger_topic);
    }
}
