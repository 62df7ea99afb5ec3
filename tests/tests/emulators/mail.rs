//! Amazon SES v2 on moto behind the `Mailer` port: the contract the in-memory twin keeps, and
//! the raw MIME read back through moto's own API, byte for byte.
use estate_tests::{emulator, fresh};
use platform_aws::ses::SesMailer;
use serde_json::Value;

#[tokio::test]
async fn ses_on_moto_sends_the_raw_mime_and_refuses_what_the_twin_refuses() {
    let endpoint = emulator("AWS_ENDPOINT_URL");
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_sesv2::Client::new(&config);
    let sender = format!("{}@shop.example.com", fresh("orders"));
    client.create_email_identity().email_identity(&sender).send().await.expect("the sender's identity");
    let id = estate_tests::contracts::mailer(&SesMailer::new(client), &sender, "ana@example.org").await;

    let data: Value =
        reqwest::get(format!("{endpoint}/moto-api/data.json")).await.expect("moto's API").json().await.expect("JSON");
    let sent = data["ses"]["RawMessage"].as_array().expect("moto's sent raw messages");
    let message = sent.iter().find(|m| m["id"] == id.as_str()).expect("the e-mail, by its message id");
    let mime = String::from_utf8(estate_tests::contracts::mime_email(&sender, "ana@example.org")).expect("text");
    assert_eq!(message["raw_data"].as_str(), Some(mime.as_str()));
    assert_eq!(message["source"].as_str(), Some(sender.as_str()));
}
