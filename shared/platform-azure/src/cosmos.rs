//! The `Documents` port over Cosmos DB (azure_data_cosmos, key auth). Etags and status codes map
//! onto the port's errors: 404 → none, 409 → AlreadyExists, 412 → PreconditionFailed,
//! 429/5xx/transport → Unavailable.
use async_trait::async_trait;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition, Region};
use azure_data_cosmos::{AccountReference, CosmosClientBuilder, CosmosError, RoutingStrategy};
use domain::ports::{Documents, Etag, PortError, StoredDocument};
use serde_json::Value;

/// Connection settings, from the environment: `COSMOS_ENDPOINT`, `COSMOS_KEY`, `COSMOS_DATABASE`,
/// `COSMOS_CONTAINER`. The default key is the emulator's published well-known key, not a secret.
#[derive(Debug, Clone)]
pub struct CosmosConfig {
    pub endpoint: String,
    pub key: String,
    pub database: String,
    pub container: String,
}

const EMULATOR_KEY: &str = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

impl CosmosConfig {
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        CosmosConfig {
            endpoint: var("COSMOS_ENDPOINT", "http://127.0.0.1:8081"),
            key: var("COSMOS_KEY", EMULATOR_KEY),
            database: var("COSMOS_DATABASE", "merch"),
            container: var("COSMOS_CONTAINER", "projections"),
        }
    }
}

pub struct CosmosDocuments {
    container: ContainerClient,
}

fn status(e: &CosmosError) -> u16 {
    u16::from(e.status().status_code())
}

fn classify(e: CosmosError) -> PortError {
    match status(&e) {
        409 => PortError::AlreadyExists,
        412 => PortError::PreconditionFailed,
        429 | 408 | 500..=599 | 0 => PortError::Unavailable(e.to_string()),
        _ => PortError::Rejected(e.to_string()),
    }
}

impl CosmosDocuments {
    /// Connects; with `create` the database and container (partition key `/sku`) are made if
    /// missing, as the local runner and tests need. Deployed functions get them from Terraform.
    pub async fn connect(cfg: &CosmosConfig, partition_key_path: &str, create: bool) -> Result<Self, PortError> {
        let endpoint = cfg.endpoint.parse().map_err(|e| PortError::Rejected(format!("COSMOS_ENDPOINT: {e}")))?;
        let account = AccountReference::with_authentication_key(endpoint, cfg.key.clone());
        let client = CosmosClientBuilder::new()
            .build(account, RoutingStrategy::ProximityTo(Region::WEST_EUROPE))
            .await
            .map_err(classify)?;
        if create {
            match client.create_database(&cfg.database, None).await {
                Ok(_) => {}
                Err(e) if status(&e) == 409 => {}
                Err(e) => return Err(classify(e)),
            }
        }
        let db = client.database_client(cfg.database.as_str());
        if create {
            let props = ContainerProperties::new(cfg.container.clone(), partition_key_path.into());
            match db.create_container(props, None).await {
                Ok(_) => {}
                Err(e) if status(&e) == 409 => {}
                Err(e) => return Err(classify(e)),
            }
        }
        let container = db.container_client(cfg.container.as_str(), None).await.map_err(classify)?;
        Ok(CosmosDocuments { container })
    }
}

fn id_of(body: &Value) -> Result<String, PortError> {
    body.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| PortError::Rejected("document has no string id".into()))
}

fn etag_of(headers: &azure_data_cosmos::models::ResponseHeaders) -> Result<Etag, PortError> {
    headers.etag().map(|e| Etag(e.to_string())).ok_or_else(|| PortError::Unavailable("response carried no etag".into()))
}

#[async_trait]
impl Documents for CosmosDocuments {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        match self.container.read_item(pk.to_string(), id, None).await {
            Ok(resp) => {
                let etag = etag_of(resp.headers())?;
                let body: Value = resp.into_model().map_err(classify)?;
                Ok(Some(StoredDocument { body, etag }))
            }
            Err(e) if status(&e) == 404 => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn create(&self, pk: &str, body: Value) -> Result<Etag, PortError> {
        let id = id_of(&body)?;
        let resp = self.container.create_item(pk.to_string(), &id, body, None).await.map_err(classify)?;
        etag_of(resp.headers())
    }

    async fn replace(&self, pk: &str, id: &str, body: Value, if_match: &Etag) -> Result<Etag, PortError> {
        let options = ItemWriteOptions::default().with_precondition(Precondition::if_match(if_match.0.clone()));
        let resp = self.container.replace_item(pk.to_string(), id, body, Some(options)).await.map_err(classify)?;
        etag_of(resp.headers())
    }
}
