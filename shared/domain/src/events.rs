//! The events of the whole estate. Each is the `data` of a CloudEvent; see `cloudevent.rs`.
use crate::cloudevent::DomainEvent;
use crate::values::{CustomerId, LocationId, Money, OrderId, Quantity, Region, Sku};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Topic names, in one place. Deployments may override them through the environment.
pub mod topics {
    pub const PRICE_CHANGED: &str = "merch.price-changed";
    pub const INVENTORY_CHANGED: &str = "merch.inventory-changed";
    pub const MERCH_DLQ: &str = "merch.dlq";
    pub const IMAGES_DLQ: &str = "images.dlq";
    pub const CHECKOUT_DLQ: &str = "checkout.dlq";
    pub const ORDER_CONFIRMED: &str = "order.confirmed";
    pub const ORDER_PAID: &str = "order.paid";
    pub const FRAUD_SCORED: &str = "fraud.scored";
    pub const PAYMENT_REQUESTED: &str = "payment.requested";
    pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";
    pub const PAYMENT_FAILED: &str = "payment.failed";
    pub const PRODUCT_DELETED: &str = "product.deleted";
    pub const PRODUCT_IMAGE_PROCESSED: &str = "product-images.processed";
    pub const ACCOUNTING_ENTRIES: &str = "accounting.entries";
    pub const WAREHOUSE_DISPATCH: &str = "warehouse.dispatch";

    /// The flows' dead-letter topics: each function dead-letters what can never succeed on its
    /// flow's topic (`dead_letter::DeadLetterPolicy` takes it).
    pub const DEAD_LETTERS: [&str; 3] = [MERCH_DLQ, IMAGES_DLQ, CHECKOUT_DLQ];
    /// The terminal topic: the dead letter of a record read from a dead-letter topic goes here,
    /// never back to a topic a function reads, so a dead letter cannot loop. Nothing mirrors it,
    /// no function reads it; people do.
    pub const PARKED: &str = "dead-letters.parked";

    /// True for a topic that holds dead letters: a flow's DLQ, its Pub/Sub mirror, or [`PARKED`].
    pub fn holds_dead_letters(topic: &str) -> bool {
        topic == PARKED || DEAD_LETTERS.iter().any(|t| *t == topic || mirror_topic(t) == topic)
    }

    /// The Kafka topics kafka-pubsub-bridge mirrors to Pub/Sub, each to [`mirror_topic`]:
    /// audit-sink audits them all, fulfillment reads `order.paid`'s. `infra/gcp` declares the same
    /// list (a test compares them), and the local runner bridges these.
    pub const MIRRORED: [&str; 6] =
        [PRICE_CHANGED, INVENTORY_CHANGED, MERCH_DLQ, ORDER_PAID, CHECKOUT_DLQ, PRODUCT_IMAGE_PROCESSED];

    /// The Pub/Sub topic a Kafka topic is mirrored to: `mirror-` and its name with `.` as `-`.
    pub fn mirror_topic(kafka_topic: &str) -> String {
        format!("mirror-{}", kafka_topic.replace('.', "-"))
    }
}

macro_rules! domain_event {
    ($ty:ident, $ce_type:literal, $topic:expr, |$s:ident| $key:expr) => {
        impl DomainEvent for $ty {
            const TYPE: &'static str = $ce_type;
            const TOPIC: &'static str = $topic;
            fn key(&self) -> String {
                let $s = self;
                $key
            }
        }
    };
}

/// A price of one sku in one region, as of ERP sequence `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PriceChanged {
    pub sku: Sku,
    pub region: Region,
    pub price: Money,
    /// The ERP sequence number: a newer change has a larger version.
    pub version: u64,
    pub erp_system: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub effective_at: DateTime<Utc>,
}
domain_event!(PriceChanged, "com.shop.merch.price-changed.v1", topics::PRICE_CHANGED, |s| s.sku.to_string());

/// Units on hand of one sku at one location, as of ERP sequence `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryChanged {
    pub sku: Sku,
    pub location: LocationId,
    pub on_hand: Quantity,
    pub version: u64,
    pub erp_system: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub effective_at: DateTime<Utc>,
}
domain_event!(InventoryChanged, "com.shop.merch.inventory-changed.v1", topics::INVENTORY_CHANGED, |s| s
    .sku
    .to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// The product's category, for risk rules on high-risk categories (v1 addition, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// How the order is paid, as the storefront's payment provider reported it. Never a card
/// number: a gateway token, the card's fingerprint and the country of its BIN only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentDetails {
    /// The gateway's token for the payment method; what a charge is made with.
    pub token: String,
    /// A stable hash of the card, the same for every token of one card (velocity rules).
    pub card_fingerprint: String,
    /// ISO 3166-1 alpha-2 country of the card's issuer (from its BIN).
    pub card_bin_country: String,
    /// ISO 3166-1 alpha-2 country of the billing address.
    pub billing_country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    /// ISO 3166-1 alpha-2 country of the shipping address.
    pub ship_to_country: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub confirmed_at: DateTime<Utc>,
    /// v1 addition, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentDetails>,
    /// When the customer's account was opened (v1 addition, optional).
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "crate::rfc3339::serialize_option")]
    pub customer_since: Option<DateTime<Utc>>,
}
domain_event!(OrderConfirmed, "com.shop.order.confirmed.v1", topics::ORDER_CONFIRMED, |s| s.order_id.to_string());

/// The most lines a checkout accepts in one order; a larger one is `oversize`.
pub const MAX_ORDER_LINES: usize = 100;

impl OrderConfirmed {
    /// What the types cannot say: between 1 and [`MAX_ORDER_LINES`] lines, one currency, a
    /// positive total, and prices that are not negative. The reason code and why, if not.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_order(&self.order_id, &self.lines, self.total)
    }
}

/// The checks an order's lines and total pass wherever the order travels (confirmed, paid).
fn check_order(id: &OrderId, lines: &[OrderLine], total: Money) -> Result<(), (&'static str, String)> {
    if lines.len() > MAX_ORDER_LINES {
        return Err(("oversize", format!("order {id} has {} lines, over {MAX_ORDER_LINES}", lines.len())));
    }
    if lines.is_empty() {
        return Err(("invalid_order", format!("order {id} has no lines")));
    }
    if total.amount_minor <= 0 {
        return Err(("invalid_order", format!("order {id} has total {total}, not a positive amount")));
    }
    for line in lines {
        if line.unit_price.currency != total.currency {
            return Err((
                "invalid_order",
                format!("order {id}: {} priced in {}, total in {}", line.sku, line.unit_price.currency, total.currency),
            ));
        }
        if line.unit_price.amount_minor < 0 {
            return Err((
                "invalid_order",
                format!("order {id}: {} has a negative price {}", line.sku, line.unit_price),
            ));
        }
    }
    Ok(())
}

/// An order whose payment succeeded: what fulfilment books and dispatches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPaid {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    /// ISO 3166-1 alpha-2 country of the shipping address.
    pub ship_to_country: String,
    pub payment_id: String,
}
domain_event!(OrderPaid, "com.shop.order.paid.v1", topics::ORDER_PAID, |s| s.order_id.to_string());

impl OrderPaid {
    /// The order's checks again (see [`OrderConfirmed::check`]): what is booked to the ledger
    /// must be a positive amount in one currency, whoever published it.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_order(&self.order_id, &self.lines, self.total)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FraudDecision {
    Approve,
    Review,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FraudScored {
    pub order_id: OrderId,
    /// 0 (no risk) to 1000 (certain fraud).
    #[schemars(range(max = 1000))]
    pub score: u16,
    pub decision: FraudDecision,
    /// Why: one line per rule or model feature that contributed.
    pub reasons: Vec<String>,
    pub model_version: String,
}
domain_event!(FraudScored, "com.shop.fraud.scored.v1", topics::FRAUD_SCORED, |s| s.order_id.to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRequested {
    pub order_id: OrderId,
    /// Deterministic per order: the gateway's idempotency key.
    pub payment_id: String,
    pub amount: Money,
    /// The gateway token to charge, from the order's payment details (v1 addition, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_token: Option<String>,
}
domain_event!(PaymentRequested, "com.shop.payment.requested.v1", topics::PAYMENT_REQUESTED, |s| s.order_id.to_string());

impl PaymentRequested {
    /// A charge is for a positive amount: a zero or negative one is `invalid_payment`, never
    /// sent to the gateway (a negative charge would be a refund nobody asked for).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.amount.amount_minor <= 0 {
            let reason = format!("payment {} asks for {}, not a positive amount", self.payment_id, self.amount);
            return Err(("invalid_payment", reason));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentSucceeded {
    pub order_id: OrderId,
    pub payment_id: String,
    pub amount: Money,
    pub gateway_reference: String,
}
domain_event!(PaymentSucceeded, "com.shop.payment.succeeded.v1", topics::PAYMENT_SUCCEEDED, |s| s.order_id.to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentFailed {
    pub order_id: OrderId,
    pub payment_id: String,
    pub amount: Money,
    pub reason: String,
}
domain_event!(PaymentFailed, "com.shop.payment.failed.v1", topics::PAYMENT_FAILED, |s| s.order_id.to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductDeleted {
    pub sku: Sku,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub deleted_at: DateTime<Utc>,
}
domain_event!(ProductDeleted, "com.shop.product.deleted.v1", topics::PRODUCT_DELETED, |s| s.sku.to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductImageProcessed {
    pub sku: Sku,
    pub source_key: String,
    pub object_key: String,
    /// `thumb`, `medium` or `large`.
    pub size_label: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    /// Hex SHA-256 of the encoded variant.
    pub sha256: String,
    /// The source object's version id, else its etag (v1 addition, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// `jpeg` or `webp` (v1 addition, optional; absent means `jpeg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}
domain_event!(ProductImageProcessed, "com.shop.product-image.processed.v1", topics::PRODUCT_IMAGE_PROCESSED, |s| s
    .sku
    .to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerEntry {
    pub entry_id: String,
    pub order_id: OrderId,
    pub debit_account: String,
    pub credit_account: String,
    pub amount: Money,
}
domain_event!(LedgerEntry, "com.shop.accounting.ledger-entry.v1", topics::ACCOUNTING_ENTRIES, |s| s
    .order_id
    .to_string());

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DispatchLine {
    pub sku: Sku,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WarehouseDispatch {
    pub dispatch_id: String,
    pub order_id: OrderId,
    pub lines: Vec<DispatchLine>,
    pub ship_to_country: String,
}
domain_event!(WarehouseDispatch, "com.shop.warehouse.dispatch.v1", topics::WAREHOUSE_DISPATCH, |s| s
    .order_id
    .to_string());

/// A record that can never succeed, with the reason, kept so that nothing is lost. Built by
/// [`crate::dead_letter::DeadLetterPolicy`], which bounds the payload it keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// Machine-readable reason, e.g. `bad_base64`, `unknown_currency`.
    pub reason_code: String,
    /// Human-readable reason.
    pub reason: String,
    /// Which function rejected it.
    pub rejected_by: String,
    /// Where the record came from: `kafka:<topic>/<partition>@<offset>`, `pubsub:<message id>`,
    /// or, for input with no position of its own, `entry-<index>:`, `data:` or `request:` and a
    /// hash of its content.
    pub origin: String,
    /// The original payload (at most a bounded prefix of it, see `truncated`), as text when it
    /// was UTF-8, else base64.
    pub payload: String,
    pub payload_encoding: String,
    /// The partition key, when one could be read from the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Size in bytes of the original payload (v1 addition, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_bytes: Option<u64>,
    /// Hex SHA-256 of the whole original payload, to find it again at its origin (v1 addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_sha256: Option<String>,
    /// True when `payload` holds only a prefix of the original (v1 addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}
domain_event!(DeadLetter, "com.shop.dead-letter.v1", topics::MERCH_DLQ, |s| s
    .key
    .clone()
    .unwrap_or_else(|| s.origin.clone()));
