//! The `Publisher` port over Pub/Sub (google-cloud-pubsub): the port's topic is the Pub/Sub topic
//! id in the configured project, its key the ordering key, its payload the data and its headers
//! the attributes. A publish returns once Pub/Sub has acknowledged it (its message id), or fails
//! within `timeout`: the client would otherwise retry an unreachable endpoint for 10 minutes.
//!
//! After a failed publish on an ordering key the client pauses that key; the next publish on it
//! must be able to go out (the caller retries the record), so every failure resumes its key.
use async_trait::async_trait;
use domain::ports::{Delivery, OutboundMessage, PortError, Publisher};
use google_cloud_pubsub::client::Publisher as PubSubClient;
use google_cloud_pubsub::error::PublishError;
use google_cloud_pubsub::model::Message;
use serve::{ConfigError, Env};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// Where and how to publish: `GOOGLE_CLOUD_PROJECT` (required when deployed: Cloud Run, or a
/// Lambda publishing across clouds), `PUBSUB_EMULATOR_HOST` for the local emulator (anonymous
/// credentials; otherwise Application Default Credentials), `PUBSUB_PUBLISH_TIMEOUT_SECONDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubSubConfig {
    pub project: String,
    /// `http://host:port` of the emulator, or None for Google's endpoint.
    pub emulator: Option<String>,
    pub timeout: Duration,
}

impl PubSubConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let deployed = env.on_cloud_run() || env.on_lambda();
        Ok(PubSubConfig {
            project: env.required_in_cloud("GOOGLE_CLOUD_PROJECT", deployed, "local")?,
            emulator: env.get("PUBSUB_EMULATOR_HOST").map(|h| format!("http://{h}")),
            timeout: Duration::from_secs(env.number("PUBSUB_PUBLISH_TIMEOUT_SECONDS", 30)? as u64),
        })
    }
}

/// Attributes kafka-pubsub-bridge sets on each mirrored record, for its consumers (audit-sink);
/// the key scheme that keeps them within Pub/Sub's limits is `domain::mirror`'s.
pub use domain::mirror::attrs;

pub struct PubSubPublisher {
    config: PubSubConfig,
    /// One client per topic, made on first use and kept (each batches in the background).
    clients: Mutex<HashMap<String, PubSubClient>>,
}

impl PubSubPublisher {
    pub fn new(config: PubSubConfig) -> Self {
        PubSubPublisher { config, clients: Mutex::new(HashMap::new()) }
    }

    pub fn topic_path(&self, topic: &str) -> String {
        format!("projects/{}/topics/{topic}", self.config.project)
    }

    async fn client(&self, topic: &str) -> Result<PubSubClient, PortError> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(topic) {
            return Ok(c.clone());
        }
        let mut builder = PubSubClient::builder(self.topic_path(topic));
        if let Some(endpoint) = &self.config.emulator {
            builder = builder
                .with_endpoint(endpoint.clone())
                .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build());
        }
        let client =
            builder.build().await.map_err(|e| PortError::Unavailable(format!("pubsub client for {topic}: {e}")))?;
        clients.insert(topic.to_string(), client.clone());
        Ok(client)
    }

    /// Creates the topic unless it exists (local runs and tests; Terraform owns them when deployed).
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), PortError> {
        let mut builder = google_cloud_pubsub::client::TopicAdmin::builder();
        if let Some(endpoint) = &self.config.emulator {
            builder = builder
                .with_endpoint(endpoint.clone())
                .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build());
        }
        let admin = builder.build().await.map_err(|e| PortError::Unavailable(format!("pubsub admin: {e}")))?;
        match admin.create_topic().set_name(self.topic_path(topic)).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::AlreadyExists) => Ok(()),
            Err(e) => Err(PortError::Unavailable(format!("create topic {topic}: {e}"))),
        }
    }
}

fn classify(topic: &str, e: PublishError) -> PortError {
    match &e {
        PublishError::Rpc(inner)
            if inner.status().is_some_and(|s| s.code == google_cloud_gax::error::rpc::Code::InvalidArgument) =>
        {
            PortError::Rejected(format!("pubsub {topic}: {e}"))
        }
        _ => PortError::Unavailable(format!("pubsub {topic}: {e}")),
    }
}

#[async_trait]
impl Publisher for PubSubPublisher {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        let client = self.client(&msg.topic).await?;
        let mut message = Message::new().set_data(msg.payload).set_attributes(msg.headers);
        if !msg.key.is_empty() {
            message = message.set_ordering_key(msg.key.clone());
        }
        let failed = |e: PortError| {
            if !msg.key.is_empty() {
                client.resume_publish(msg.key.clone());
            }
            Err(e)
        };
        match tokio::time::timeout(self.config.timeout, client.publish(message)).await {
            Ok(Ok(message_id)) => Ok(Delivery::PubSub { message_id }),
            Ok(Err(e)) => failed(classify(&msg.topic, e)),
            Err(_) => {
                failed(PortError::Unavailable(format!("pubsub {}: no answer in {:?}", msg.topic, self.config.timeout)))
            }
        }
    }
}
