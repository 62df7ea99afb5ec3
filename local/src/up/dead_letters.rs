//! The functions' own dead letters, for the live view: what they publish on the dead-letter
//! topics (and `dead-letters.parked`) is read from where the topics ended when `up` started, and
//! each letter is counted for the function that rejected it (`rejected_by`).
use super::stats::Stats;
use domain::cloudevent::{CloudEvent, decode};
use domain::events::{DeadLetter, topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;

/// Takes the topics' ends now; the returned future counts from there until it is dropped.
pub async fn watch(
    bootstrap: String,
    functions: Vec<&'static str>,
    stats: Arc<Stats>,
) -> Result<impl std::future::Future<Output = ()>, String> {
    let consumer = tokio::task::spawn_blocking(move || -> Result<StreamConsumer, String> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "local-up-dead-letters")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| format!("kafka consumer: {e}"))?;
        let mut list = TopicPartitionList::new();
        for topic in topics::DEAD_LETTERS.iter().chain([&topics::PARKED]) {
            for p in 0..super::provision::PARTITIONS {
                let (_, end) = consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .map_err(|e| format!("the end of {topic}: {e}"))?;
                list.add_partition_offset(topic, p, Offset::Offset(end)).map_err(|e| e.to_string())?;
            }
        }
        consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
        Ok(consumer)
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok(async move {
        loop {
            let Ok(m) = consumer.recv().await else { continue };
            let letter: Option<CloudEvent<DeadLetter>> = m.payload().and_then(|p| decode(p).ok());
            let Some(letter) = letter else { continue };
            if let Some(f) = functions.iter().find(|f| **f == letter.data.rejected_by) {
                stats.dead_lettered(f);
            }
        }
    })
}
