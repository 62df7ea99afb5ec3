//! Ports: the small traits every function's effects go through. Adapters live in `inmemory`,
//! `kafka` and `platform-*`; the domain never sees a cloud SDK.
pub use crate::json_text::JsonText;
use crate::values::{CustomerId, Money, Sku};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// A conditional create found the item already there (Cosmos 409, GCS ifGenerationMatch=0 → 412).
    #[error("already exists")]
    AlreadyExists,
    /// An etag / version precondition did not hold (HTTP 412).
    #[error("precondition failed (etag mismatch)")]
    PreconditionFailed,
    /// The service could not be reached or answered 5xx / throttled: retrying may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The service refused the request for good (4xx other than the above).
    #[error("rejected: {0}")]
    Rejected(String),
}

impl PortError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PortError::Unavailable(_) | PortError::PreconditionFailed)
    }
}

/// One message for a topic on the bus (Kafka, or its in-memory twin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl OutboundMessage {
    pub fn new(topic: impl Into<String>, key: impl Into<String>, payload: Vec<u8>) -> Self {
        OutboundMessage { topic: topic.into(), key: key.into(), payload, headers: Vec::new() }
    }
    pub fn with_header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// One record as a consumer reads it from the bus (Kafka or its in-memory twin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Milliseconds since the epoch, as Kafka's CreateTime.
    pub timestamp_ms: i64,
}

/// Where the broker put a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Kafka { partition: i32, offset: i64 },
    PubSub { message_id: String },
}

/// A message bus: Kafka (topic, key, payload, headers) or Pub/Sub (topic, ordering key, data,
/// attributes), or their in-memory twin.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Returns once the broker has acknowledged the message (acks=all), never before.
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An object of that name was already there; nothing was written.
    AlreadyExisted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub content_type: String,
}

/// Object storage (GCS, S3). Writes are create-only: immutable objects, safe under redelivery.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put_if_absent(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, PortError>;
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError>;
    /// Every object whose name starts with `prefix`, in lexical order of name.
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, PortError>;
}

/// An opaque version tag of a stored document (Cosmos `_etag`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Etag(pub String);

#[derive(Debug, Clone, PartialEq)]
pub struct StoredDocument {
    pub body: JsonText,
    pub etag: Etag,
}

/// A document container partitioned by key (Cosmos DB). All writes are optimistic. Bodies are
/// JSON text carrying their own `id` (as Cosmos DB requires), which the caller also names.
#[async_trait]
pub trait Documents: Send + Sync {
    async fn read(&self, partition_key: &str, id: &str) -> Result<Option<StoredDocument>, PortError>;
    /// Fails with `AlreadyExists` if a document with that id is in the partition.
    async fn create(&self, partition_key: &str, id: &str, body: JsonText) -> Result<Etag, PortError>;
    /// Fails with `PreconditionFailed` unless the stored etag equals `if_match`.
    async fn replace(&self, partition_key: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError>;
}

/// A sparse secondary index of a documents table (a DynamoDB global secondary index, keys only):
/// only a document whose body carries both the `hash` and the `range` member, as strings, is in
/// it, under its hash value and in the order of its range value. Eventually consistent, as a GSI
/// is: read the document itself before acting on what an entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseIndex {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
}

/// One entry of a sparse index: the document's address and its range value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub partition_key: String,
    pub id: String,
    pub range: String,
}

/// Queries of a documents table's sparse index.
#[async_trait]
pub trait DocumentIndex: Send + Sync {
    /// The first `limit` entries whose hash value is `value` and range value at most `at_most`,
    /// in range order.
    async fn at_most(
        &self,
        index: &SparseIndex,
        value: &str,
        at_most: &str,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, PortError>;
}

/// A document body from a typed value; one JSON cannot hold is refused for good.
pub fn document<T: serde::Serialize + ?Sized>(value: &T) -> Result<JsonText, PortError> {
    JsonText::of(value).map_err(|e| PortError::Rejected(format!("document is not JSON: {e}")))
}

/// A stored body read into `T`; one that does not fit is refused for good, naming `what`.
pub fn read_document<'a, T: serde::Deserialize<'a>>(body: &'a JsonText, what: &str) -> Result<T, PortError> {
    body.decode().map_err(|e| PortError::Rejected(format!("stored {what} is unreadable: {e}")))
}

/// Where a page of a paginated listing starts: opaque to callers, given back as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(pub String);

/// One page of a listing, and where the next starts (None: this was the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageToken>,
}

/// The storefront's shopping carts (DynamoDB table `carts`: one item per customer and sku, an
/// index by sku). Removing is idempotent, so a rerun after a partial failure is safe.
#[async_trait]
pub trait Carts: Send + Sync {
    /// Puts `quantity` of the sku in the customer's cart (the storefront's write; tests and the
    /// demo fill carts with it).
    async fn put(&self, customer: &CustomerId, sku: &Sku, quantity: u32) -> Result<(), PortError>;
    /// Takes the sku out of the customer's cart; a sku that is not there is not an error.
    async fn remove(&self, customer: &CustomerId, sku: &Sku) -> Result<(), PortError>;
    /// The customers whose carts hold the sku, a page at a time, in customer id order. A full page
    /// carries a token even when nothing follows (as DynamoDB's `LastEvaluatedKey` does).
    async fn holding(&self, sku: &Sku, from: Option<&PageToken>, page_size: u32)
    -> Result<Page<CustomerId>, PortError>;
    /// The skus in one customer's cart, in sku order.
    async fn cart(&self, customer: &CustomerId) -> Result<Vec<(Sku, u32)>, PortError>;
}

/// One charge asked of the payment gateway. The payment id is the processor's idempotency key:
/// what `lookup` finds a charge by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub payment_id: String,
    /// The gateway's token for the payment method (never a card number).
    pub token: String,
    pub amount: Money,
}

/// What the gateway did with a charge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChargeOutcome {
    Succeeded {
        reference: String,
    },
    /// Refused for good: `card_declined`, `insufficient_funds`, `invalid_token`, …
    Declined {
        reason: String,
    },
}

impl ChargeOutcome {
    /// The outcome as two log fields: `succeeded` and its gateway reference, or `declined` and
    /// its reason.
    pub fn fields(&self) -> (&'static str, &str) {
        match self {
            ChargeOutcome::Succeeded { reference } => ("succeeded", reference),
            ChargeOutcome::Declined { reason } => ("declined", reason),
        }
    }
}

/// Why a charge has no outcome. What matters is whether the request may have reached the
/// gateway: only a failure known to come before sending says nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// The request never left (no connection, refused before sending, an outage known up
    /// front): nothing was charged, and charging again is safe.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have reached the gateway (a timeout, a connection lost after sending):
    /// it may have charged, and may show in `lookup` only later.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The gateway refused the request itself (a 4xx): nothing was charged.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// A card payment gateway.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Charges. An `Unknown` failure says nothing about whether it charged: ask `lookup`
    /// before charging that payment id again, and not at once (the gateway may show the charge
    /// only after a while).
    async fn charge(&self, charge: &Charge) -> Result<ChargeOutcome, ChargeError>;
    /// What the gateway did under this payment id, if anything.
    async fn lookup(&self, payment_id: &str) -> Result<Option<ChargeOutcome>, PortError>;
}

/// An object's identity and metadata as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// S3's entity tag without its quotes: the hex MD5 of the bytes for a single-part upload.
    pub etag: String,
    /// None for a bucket without versioning.
    pub version_id: Option<String>,
    /// Not reported by listings.
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
}

/// An object to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject<'a> {
    pub key: &'a str,
    pub bytes: Vec<u8>,
    pub content_type: &'a str,
    pub cache_control: Option<&'a str>,
}

/// Which state of a key a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision<'a> {
    /// Whatever is current.
    Current,
    /// That version (a versioned bucket), current or not.
    Version(&'a str),
    /// The current object only if its entity tag is this one (`If-Match`): one with another tag
    /// is `PreconditionFailed` (S3's 412) and none of its bytes are sent. How an unversioned
    /// bucket pins the object a HEAD saw.
    Etag(&'a str),
}

/// Object storage with versions and entity tags (S3). Writes are create-only, so an immutable
/// key is written once however often its producer runs.
#[async_trait]
pub trait VersionedObjects: Send + Sync {
    /// The object in that revision; None if there is no such object or version.
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        revision: Revision<'_>,
    ) -> Result<Option<(ObjectMeta, Vec<u8>)>, PortError>;
    /// As `get`, without the bytes.
    async fn head(&self, bucket: &str, key: &str, revision: Revision<'_>) -> Result<Option<ObjectMeta>, PortError>;
    /// Creates the object unless the key exists (`If-None-Match: *`): `AlreadyExists` if it does.
    async fn put_new(&self, bucket: &str, object: NewObject<'_>) -> Result<ObjectMeta, PortError>;
    /// Deletes the object (in a versioned bucket: adds a delete marker); deleting what is not there is fine.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), PortError>;
    /// Every object whose key starts with `prefix`, in key order (as a listing reports them: no
    /// version id, content type or cache control).
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, PortError>;
}

/// One processed image, to be counted in its minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCount<'a> {
    /// The event's CloudEvent id: what makes counting exactly once possible.
    pub event_id: &'a str,
    pub window_start: DateTime<Utc>,
    pub size_label: &'a str,
    pub format: &'a str,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Added,
    /// This event id was counted before: nothing changed.
    AlreadyCounted,
}

/// The totals of one (minute, size label, format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTotal {
    pub window_start: DateTime<Utc>,
    pub size_label: String,
    pub format: String,
    pub bytes: u64,
    pub images: u64,
}

/// Per-minute image totals (Cloud SQL for PostgreSQL). Counting records the event id in the same
/// transaction as the increment, so each event is counted exactly once.
#[async_trait]
pub trait ImageTotals: Send + Sync {
    async fn count(&self, image: ImageCount<'_>) -> Result<Counted, PortError>;
    /// Every window's totals, in (window, size label, format) order.
    async fn totals(&self) -> Result<Vec<WindowTotal>, PortError>;
}

/// One e-mail as the sender hands it over: a complete MIME message (headers and parts), and
/// the envelope's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEmail<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub mime: &'a [u8],
}

/// Why an e-mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Not sent: throttled, the service or the sender's identity is not usable right now (a
    /// deployment's state, not the e-mail's); the same e-mail may go later.
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
    /// The call may have reached the service and its answer was lost (a timeout, a dropped
    /// connection, a 5xx): the e-mail may have gone.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The service refused this e-mail's recipient for good (a malformed or suppressed
    /// address): sending it again changes nothing.
    #[error("refused: {0}")]
    Refused(String),
}

impl MailError {
    /// The same error with its text changed (e.g. an address taken out before it is logged).
    pub fn map_text(self, f: impl FnOnce(String) -> String) -> MailError {
        match self {
            MailError::Unavailable(t) => MailError::Unavailable(f(t)),
            MailError::Unknown(t) => MailError::Unknown(f(t)),
            MailError::Refused(t) => MailError::Refused(f(t)),
        }
    }
}

/// An e-mail sending service (Amazon SES v2). It has no idempotency key: each accepted call is
/// one e-mail, so the caller keeps its own record of what it sent.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends; the answer is the service's message id.
    async fn send_raw(&self, email: RawEmail<'_>) -> Result<String, MailError>;
}
