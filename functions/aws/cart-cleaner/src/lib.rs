//! cart-cleaner (AWS Lambda, MSK event source mapping on `product.deleted`): takes a deleted
//! product out of every cart. The carts holding it are listed through the carts table's index by
//! sku, a page at a time, and each line removed; removing is idempotent, so a record retried after
//! a failure part-way (the partial batch response asks Lambda for it again) simply finishes.
use aws_lambda_events::event::kafka::KafkaEvent;
use domain::cloudevent::{DomainEvent, decode};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::{ProductDeleted, topics};
use domain::ports::{Carts, Publisher};
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::{self, BatchOutcome, Failure, RecordHandler};
use platform_aws::msk::MskRecord;
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "cart-cleaner";

/// `CARTS_TABLE` (default `carts`), `CART_PAGE_SIZE` (default 100: carts listed per query),
/// `KAFKA_BOOTSTRAP_SERVERS` (for dead letters; required in Lambda), `DEAD_LETTER_MAX_PAYLOAD_BYTES`.
#[derive(Debug, Clone)]
pub struct Config {
    pub carts_table: String,
    pub page_size: u32,
    pub kafka_bootstrap: String,
    pub dead_letters: DeadLetterPolicy,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        Ok(Config {
            carts_table: env.get_or("CARTS_TABLE", "carts"),
            page_size: env.number("CART_PAGE_SIZE", 100)?.clamp(1, 1000) as u32,
            kafka_bootstrap: env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?,
            dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ).with_max_payload_bytes(max),
        })
    }
}

pub struct CartCleaner {
    pub carts: Arc<dyn Carts>,
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
    pub page_size: u32,
}

/// One deleted product: how many cart lines it was taken out of, over how many pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    pub removed: usize,
    pub pages: usize,
}

impl CartCleaner {
    pub async fn handle(
        &self,
        event: KafkaEvent,
        invocation: &Invocation,
    ) -> Result<BatchOutcome<Cleaned>, EnvelopeError> {
        let out = kafka_batch::handle(self, event, invocation).await?;
        let removed: usize = out.done.iter().map(|c| c.removed).sum();
        tracing::info!(
            done = out.done.len(),
            removed,
            dead_lettered = out.dead_lettered,
            failed = out.failed,
            "batch done"
        );
        Ok(out)
    }

    async fn clean(&self, deleted: &ProductDeleted) -> Result<Cleaned, Failure> {
        let mut cleaned = Cleaned { removed: 0, pages: 0 };
        let mut from = None;
        loop {
            let page = self.carts.holding(&deleted.sku, from.as_ref(), self.page_size).await?;
            cleaned.pages += 1;
            for customer in &page.items {
                self.carts.remove(customer, &deleted.sku).await?;
                cleaned.removed += 1;
            }
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        tracing::info!(sku = %deleted.sku, removed = cleaned.removed, pages = cleaned.pages, "product taken out of every cart");
        Ok(cleaned)
    }
}

impl RecordHandler for CartCleaner {
    type Done = Cleaned;

    async fn process(&self, record: &MskRecord) -> Result<Cleaned, Failure> {
        if record.topic != ProductDeleted::TOPIC {
            return Err(Failure::Permanent("unexpected_topic", format!("{NAME} does not consume {:?}", record.topic)));
        }
        let event = decode::<ProductDeleted>(&record.value)?;
        let span =
            tracing::info_span!("record", event_id = %event.id, sku = %event.data.sku, position = %record.position());
        self.clean(&event.data).instrument(span).await
    }

    fn publisher(&self) -> &dyn Publisher {
        self.bus.as_ref()
    }

    fn dead_letters(&self) -> &DeadLetterPolicy {
        &self.dead_letters
    }
}
