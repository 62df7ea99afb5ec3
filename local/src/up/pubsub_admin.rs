//! Topics and subscriptions on the Pub/Sub emulator, through its REST API (the same resources
//! Terraform makes in the cloud): push subscriptions with their OIDC token settings, retry policy
//! and dead-letter policy, and pull subscriptions to read what lands on a topic.
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone)]
pub struct PubSubAdmin {
    /// `http://host:port/v1/projects/<project>`.
    base: String,
    project: String,
    client: reqwest::Client,
}

/// A push subscription as Terraform writes one.
#[derive(Debug, Clone)]
pub struct PushSubscription {
    pub name: String,
    pub topic: String,
    pub endpoint: String,
    pub audience: String,
    pub service_account: String,
    pub ack_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub dead_letter_topic: String,
    pub max_delivery_attempts: u32,
}

/// A message read from a pull subscription.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// As Pub/Sub named and stamped it (what a push of it carries).
    pub message_id: String,
    pub publish_time: String,
    pub data: Vec<u8>,
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl PubSubAdmin {
    /// `emulator` is `host:port`, as `PUBSUB_EMULATOR_HOST` names it.
    pub fn new(emulator: &str, project: &str) -> PubSubAdmin {
        PubSubAdmin {
            base: format!("http://{emulator}/v1/projects/{project}"),
            project: project.into(),
            client: reqwest::Client::new(),
        }
    }

    fn path(&self, kind: &str, name: &str) -> String {
        format!("projects/{}/{kind}/{name}", self.project)
    }

    /// Makes the resource; Ok(false) when it was there already.
    async fn put(&self, url: String, body: Value) -> Result<bool, String> {
        let answer = self.client.put(&url).json(&body).send().await.map_err(|e| format!("{url}: {e}"))?;
        match answer.status().as_u16() {
            200 => Ok(true),
            409 => Ok(false),
            s => Err(format!("{url}: {s} {}", answer.text().await.unwrap_or_default())),
        }
    }

    async fn push_config(&self, subscription: &str, config: Value) -> Result<(), String> {
        let url = format!("{}/subscriptions/{subscription}:modifyPushConfig", self.base);
        let answer = self.client.post(&url).json(&json!({"pushConfig": config})).send().await;
        let answer = answer.map_err(|e| format!("{url}: {e}"))?;
        match answer.status().is_success() {
            true => Ok(()),
            false => Err(format!("{url}: {} {}", answer.status(), answer.text().await.unwrap_or_default())),
        }
    }

    /// Stops pushing: the subscription keeps what arrives (as a pull subscription) until a run
    /// points it at its front end again, instead of pushing to an endpoint no one serves.
    pub async fn pause_push(&self, subscription: &str) -> Result<(), String> {
        self.push_config(subscription, json!({})).await
    }

    pub async fn topic(&self, name: &str) -> Result<(), String> {
        self.put(format!("{}/topics/{name}", self.base), json!({})).await.map(|_| ())
    }

    /// A pull subscription on `topic` keeping what is published from now on.
    pub async fn pull_subscription(&self, name: &str, topic: &str) -> Result<(), String> {
        let body = json!({"topic": self.path("topics", topic), "ackDeadlineSeconds": 60});
        self.put(format!("{}/subscriptions/{name}", self.base), body).await.map(|_| ())
    }

    /// The topic, its dead-letter topic with a pull subscription to inspect it, and the push
    /// subscription; one made by an earlier run (with the same prefix) is pointed at this run's
    /// endpoint, and delivers what it kept meanwhile.
    pub async fn push_subscription(&self, s: &PushSubscription) -> Result<(), String> {
        self.topic(&s.topic).await?;
        self.topic(&s.dead_letter_topic).await?;
        self.pull_subscription(&format!("{}-inspect", s.dead_letter_topic), &s.dead_letter_topic).await?;
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let push = json!({
            "pushEndpoint": s.endpoint,
            "oidcToken": {"serviceAccountEmail": s.service_account, "audience": s.audience},
        });
        let body = json!({
            "topic": self.path("topics", &s.topic),
            "pushConfig": push,
            "ackDeadlineSeconds": s.ack_deadline.as_secs(),
            "retryPolicy": {"minimumBackoff": secs(s.min_backoff), "maximumBackoff": secs(s.max_backoff)},
            "deadLetterPolicy": {
                "deadLetterTopic": self.path("topics", &s.dead_letter_topic),
                "maxDeliveryAttempts": s.max_delivery_attempts,
            },
        });
        if !self.put(format!("{}/subscriptions/{}", self.base, s.name), body).await? {
            self.push_config(&s.name, push).await?;
        }
        Ok(())
    }

    pub async fn publish(&self, topic: &str, data: &[u8], attributes: &[(&str, &str)]) -> Result<String, String> {
        use base64::Engine;
        let attrs: serde_json::Map<String, Value> = attributes.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let body = json!({"messages": [{"data": base64::engine::general_purpose::STANDARD.encode(data), "attributes": attrs}]});
        let url = format!("{}/topics/{topic}:publish", self.base);
        let answer = self.client.post(&url).json(&body).send().await.map_err(|e| format!("{url}: {e}"))?;
        let v: Value = answer.json().await.map_err(|e| format!("{url}: {e}"))?;
        v["messageIds"][0].as_str().map(str::to_string).ok_or_else(|| format!("{url}: {v}"))
    }

    /// Pulls (and acknowledges) what is there now, up to `max`.
    pub async fn pull(&self, subscription: &str, max: usize) -> Result<Vec<Pulled>, String> {
        use base64::Engine;
        let url = format!("{}/subscriptions/{subscription}:pull", self.base);
        let body = json!({"maxMessages": max, "returnImmediately": true});
        let answer = self.client.post(&url).json(&body).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("{url}: {} {}", answer.status(), answer.text().await.unwrap_or_default()));
        }
        let v: Value = answer.json().await.map_err(|e| format!("{url}: {e}"))?;
        let received = v["receivedMessages"].as_array().cloned().unwrap_or_default();
        let ack_ids: Vec<Value> = received.iter().map(|m| m["ackId"].clone()).collect();
        if !ack_ids.is_empty() {
            let ack = format!("{}/subscriptions/{subscription}:acknowledge", self.base);
            let acked = self.client.post(&ack).json(&json!({"ackIds": ack_ids})).send().await;
            let acked = acked.map_err(|e| format!("{ack}: {e}"))?;
            if !acked.status().is_success() {
                return Err(format!("{ack}: {}", acked.status()));
            }
        }
        Ok(received
            .iter()
            .map(|m| Pulled {
                message_id: m["message"]["messageId"].as_str().unwrap_or_default().to_string(),
                publish_time: m["message"]["publishTime"].as_str().unwrap_or_default().to_string(),
                data: base64::engine::general_purpose::STANDARD
                    .decode(m["message"]["data"].as_str().unwrap_or_default())
                    .unwrap_or_default(),
                attributes: serde_json::from_value(m["message"]["attributes"].clone()).unwrap_or_default(),
            })
            .collect())
    }
}
