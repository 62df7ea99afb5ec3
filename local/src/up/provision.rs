//! What the AWS functions need before they start, made on the emulators as Terraform makes it in
//! AWS: the Kafka topics (and each mapping's on-failure topic), the tables (the orders table with
//! its stream), the buckets, the uploads bucket's notifications to an SQS queue, the on-failure
//! queue of the asynchronous invocations, the sender's SES identity, and the Pub/Sub topics the
//! bridge mirrors to. Everything exists already → nothing changes; a run's `--prefix` names its
//! own tables, buckets and queues.
use super::emulators::Endpoints;
use super::lambdas::{LAMBDAS, Value};
use domain::events::topics;
use orders::layout::OPEN_ORDERS;
use platform_aws::dynamodb::{create_carts_table, create_documents_table, create_orders_table};
use platform_aws::s3_store::S3Objects;

/// Partitions of every topic the runner creates.
pub const PARTITIONS: i32 = 3;

/// The names of a run's resources: its prefix before each.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub prefix: String,
}

impl Names {
    pub fn table(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
    pub fn bucket(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
    /// The uploads bucket, whose notifications trigger image-resizer.
    pub fn uploads(&self) -> String {
        self.bucket("uploads")
    }
    /// The queue the uploads bucket notifies.
    pub fn uploads_queue(&self) -> String {
        format!("{}uploads-notifications", self.prefix)
    }
    /// The on-failure destination of the asynchronous invocations (S3, schedules) and of the
    /// stream mappings.
    pub fn on_failure_queue(&self) -> String {
        format!("{}lambda-on-failure", self.prefix)
    }
}

/// Every Kafka topic the functions read or write, and the runner's on-failure topics.
pub fn kafka_topics() -> Vec<String> {
    let mut all: Vec<String> = [
        topics::ORDER_CONFIRMED,
        topics::ORDER_PAID,
        topics::FRAUD_SCORED,
        topics::PAYMENT_REQUESTED,
        topics::PAYMENT_SUCCEEDED,
        topics::PAYMENT_FAILED,
        topics::PRODUCT_DELETED,
        topics::PRODUCT_IMAGE_PROCESSED,
        topics::PRICE_CHANGED,
        topics::INVENTORY_CHANGED,
        topics::ACCOUNTING_ENTRIES,
        topics::WAREHOUSE_DISPATCH,
        topics::PARKED,
    ]
    .iter()
    .chain(topics::DEAD_LETTERS.iter())
    .map(|t| t.to_string())
    .collect();
    all.extend(super::lambdas::aws_functions().map(|f| super::msk::on_failure_topic(f.name)));
    let apps = crate::registry::FUNCTIONS.iter().filter(|f| f.cloud == crate::registry::Cloud::Azure);
    all.extend(apps.map(|f| super::functions_host::on_failure_topic(f.name)));
    all.sort();
    all.dedup();
    all
}

/// Makes what is missing; returns the queues the runner reads and writes.
pub async fn provision(endpoints: &Endpoints, names: &Names) -> Result<Queues, String> {
    let topics = kafka_topics();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    kafka::ensure_topics(&endpoints.kafka, &refs, PARTITIONS).await.map_err(|e| format!("kafka topics: {e}"))?;

    let config = endpoints.aws_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let tables = LAMBDAS.iter().flat_map(|l| l.env.iter()).filter_map(|(_, v)| match v {
        Value::Table(t) => Some(*t),
        _ => None,
    });
    let mut made = Vec::new();
    for table in tables {
        if made.contains(&table) {
            continue;
        }
        made.push(table);
        let name = names.table(table);
        let created = match table {
            "orders" => create_orders_table(&dynamodb, &name, &OPEN_ORDERS).await,
            "carts" => create_carts_table(&dynamodb, &name).await,
            _ => create_documents_table(&dynamodb, &name).await,
        };
        created.map_err(|e| format!("table {name}: {e}"))?;
    }

    let s3 = super::emulators::s3_client(&config);
    let objects = S3Objects::new(s3.clone());
    objects.ensure_versioned_bucket(&names.uploads(), &endpoints.region).await.map_err(|e| format!("uploads: {e}"))?;
    for bucket in LAMBDAS.iter().flat_map(|l| l.env.iter()).filter_map(|(_, v)| match v {
        Value::Bucket(b) => Some(*b),
        _ => None,
    }) {
        let name = names.bucket(bucket);
        objects.ensure_bucket(&name, &endpoints.region).await.map_err(|e| format!("bucket {name}: {e}"))?;
    }

    let sqs = aws_sdk_sqs::Client::new(&config);
    let uploads = queue(&sqs, &names.uploads_queue()).await?;
    let failures = queue(&sqs, &names.on_failure_queue()).await?;
    notify(&s3, &names.uploads(), &uploads.arn).await?;

    let ses = aws_sdk_sesv2::Client::new(&config);
    for (_, v) in LAMBDAS.iter().flat_map(|l| l.env.iter()).filter(|(k, _)| *k == "NOTIFY_FROM") {
        let Value::Fixed(sender) = v else { continue };
        match ses.create_email_identity().email_identity(*sender).send().await {
            Ok(_) => {}
            Err(e) if aws_sdk_sesv2::error::ProvideErrorMetadata::code(&e) == Some("AlreadyExistsException") => {}
            Err(e) => return Err(format!("SES identity {sender}: {e:?}")),
        }
    }

    let pubsub = platform_gcp::pubsub::PubSubPublisher::new(platform_gcp::pubsub::PubSubConfig {
        project: "local".into(),
        emulator: Some(format!("http://{}", endpoints.pubsub)),
        timeout: std::time::Duration::from_secs(30),
    });
    for t in topics::MIRRORED {
        pubsub.ensure_topic(&topics::mirror_topic(t)).await.map_err(|e| format!("pubsub topic: {e}"))?;
    }
    Ok(Queues { uploads: uploads.url, on_failure: failures.url })
}

/// The queues the runner reads and writes.
#[derive(Debug, Clone)]
pub struct Queues {
    pub uploads: String,
    pub on_failure: String,
}

struct Queue {
    url: String,
    arn: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<Queue, String> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| format!("queue {name}: {e:?}"))?
        .queue_url
        .ok_or_else(|| format!("queue {name}: no URL"))?;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("queue {name}: {e:?}"))?;
    let arn = attributes
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| format!("queue {name}: no ARN"))?;
    Ok(Queue { url, arn })
}

/// The bucket's created and removed notifications to the queue.
async fn notify(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) -> Result<(), String> {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let to_queue = QueueConfiguration::builder()
        .id("image-resizer")
        .queue_arn(queue_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .events(Event::from("s3:ObjectRemoved:*"))
        .build()
        .map_err(|e| format!("notification: {e}"))?;
    let config = NotificationConfiguration::builder().queue_configurations(to_queue).build();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config)
        .send()
        .await
        .map_err(|e| format!("notifications of {bucket}: {e:?}"))?;
    Ok(())
}
