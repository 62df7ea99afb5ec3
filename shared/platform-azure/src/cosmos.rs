//! The `Documents` port over Cosmos DB (azure_data_cosmos, key auth). Etags and status codes map
//! onto the port's errors: 404 on a read → none, 409 → AlreadyExists, 412 → PreconditionFailed,
//! 400/413 (this document or request can never be written) → Rejected, and everything else →
//! Unavailable: throttling and 5xx, but also 401/403, since a rotated key or a missing role is
//! the account's state, not the record's, and a retry after it is fixed succeeds.
//!
//! Throttling honours `x-ms-retry-after-ms` inside the SDK: a 429 is retried after the wait the
//! service asks for (up to 18 times, 15 s a wait, 270 s in all) before it reaches this port.
use async_trait::async_trait;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition, Region};
use azure_data_cosmos::{AccountReference, CosmosClientBuilder, CosmosError, RoutingStrategy};
use domain::ports::{Documents, Etag, JsonText, PortError, StoredDocument};
use serde_json::Value;
use serve::{ConfigError, Env};

/// Connection settings, from the environment: `COSMOS_ENDPOINT`, `COSMOS_KEY`, `COSMOS_DATABASE`,
/// `COSMOS_CONTAINER` (the last two default to the function's own database and container).
#[derive(Clone)]
pub struct CosmosConfig {
    pub endpoint: String,
    pub key: String,
    pub database: String,
    pub container: String,
}

impl std::fmt::Debug for CosmosConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosConfig")
            .field("endpoint", &self.endpoint)
            .field("key", &"<redacted>")
            .field("database", &self.database)
            .field("container", &self.container)
            .finish()
    }
}

/// The Cosmos DB emulator's published well-known key: not a secret, and used for nothing but an
/// emulator on this machine.
const EMULATOR_KEY: &str = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const EMULATOR_ENDPOINT: &str = "https://127.0.0.1:8081";

impl CosmosConfig {
    /// Fails closed: the endpoint defaults to the local emulator only outside Azure, and the key
    /// falls back to the emulator's well-known key only when the endpoint is on loopback;
    /// anywhere else a missing `COSMOS_KEY` stops start-up before any connection is tried.
    pub fn from_env(env: &Env, database: &str, container: &str) -> Result<Self, ConfigError> {
        let endpoint = match env.get("COSMOS_ENDPOINT") {
            Some(e) => e,
            None if env.on_azure_functions() => {
                return Err(ConfigError("COSMOS_ENDPOINT not set (required in Azure Functions)".into()));
            }
            None => EMULATOR_ENDPOINT.into(),
        };
        let key = match env.get("COSMOS_KEY") {
            // The platform passes a Key Vault reference it could not resolve (the app's identity
            // cannot read the secret yet) through as text: every call would be refused as 401.
            Some(k) if k.starts_with("@Microsoft.KeyVault(") => {
                return Err(ConfigError(
                    "COSMOS_KEY is an unresolved Key Vault reference: the app's managed identity cannot read the secret (yet)"
                        .into(),
                ));
            }
            Some(k) => k,
            None if is_loopback(&endpoint) => EMULATOR_KEY.into(),
            None => {
                return Err(ConfigError(format!(
                    "COSMOS_KEY not set for {endpoint} (the emulator's well-known key is used only for a loopback endpoint)"
                )));
            }
        };
        Ok(CosmosConfig {
            endpoint,
            key,
            database: env.get_or("COSMOS_DATABASE", database),
            container: env.get_or("COSMOS_CONTAINER", container),
        })
    }
}

/// True when the endpoint's host is `localhost` or a loopback address (`127.0.0.0/8`, `::1`).
fn is_loopback(endpoint: &str) -> bool {
    let authority = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest).split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
        400 | 413 => PortError::Rejected(e.to_string()),
        code => {
            let retry_after = e.response().and_then(|r| r.headers().retry_after_ms);
            let wait = retry_after.map(|ms| format!(", retry after {ms} ms")).unwrap_or_default();
            PortError::Unavailable(format!("Cosmos DB {code}{wait}: {e}"))
        }
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

fn etag_of(headers: &azure_data_cosmos::models::ResponseHeaders) -> Result<Etag, PortError> {
    headers.etag().map(|e| Etag(e.to_string())).ok_or_else(|| PortError::Unavailable("response carried no etag".into()))
}

/// A body as this SDK takes it: a tree, which it writes as text JSON or in Cosmos's binary
/// encoding, whichever the client uses. The binary encoding is this SDK's default (the emulator
/// setup turns it off: the emulator speaks JSON only), and its serializer refuses a `RawValue`,
/// so the text cannot go through verbatim; responses are read as a tree for the same reason.
fn wire_body(body: &JsonText) -> Value {
    body.to_value()
}

#[async_trait]
impl Documents for CosmosDocuments {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        match self.container.read_item(pk.to_string(), id, None).await {
            Ok(resp) => {
                let etag = etag_of(resp.headers())?;
                let body: Value = resp.into_model().map_err(classify)?;
                Ok(Some(StoredDocument { body: body.into(), etag }))
            }
            Err(e) if status(&e) == 404 => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn create(&self, pk: &str, id: &str, body: JsonText) -> Result<Etag, PortError> {
        let resp = self.container.create_item(pk.to_string(), id, wire_body(&body), None).await.map_err(classify)?;
        etag_of(resp.headers())
    }

    async fn replace(&self, pk: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError> {
        let options = ItemWriteOptions::default().with_precondition(Precondition::if_match(if_match.0.clone()));
        let resp =
            self.container.replace_item(pk.to_string(), id, wire_body(&body), Some(options)).await.map_err(classify)?;
        etag_of(resp.headers())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the adapter hands the SDK survives both encodings the client may use; the text as a
    /// `RawValue` would not survive the binary one, the SDK's default.
    #[test]
    fn bodies_survive_the_binary_encoding_the_sdk_uses_by_default() {
        use azure_data_cosmos_driver::binary_json;
        let text =
            JsonText::from(serde_json::json!({"id": "A-1", "pk": "A-1", "n": 2, "note": "é \"q\"", "xs": [1.5, null]}));
        let body = wire_body(&text);
        let binary = binary_json::to_vec(&body).expect("the binary encoding takes a tree");
        assert_eq!(binary_json::from_slice::<Value>(&binary).expect("and gives it back"), text.to_value());
        assert_eq!(
            JsonText::from(serde_json::from_slice::<Value>(&serde_json::to_vec(&body).expect("text")).expect("json")),
            text
        );
        let raw = serde_json::value::RawValue::from_string(text.as_str().to_string()).expect("JSON");
        assert!(binary_json::to_vec(&raw).is_err(), "why the text is not handed over verbatim");
    }

    #[test]
    fn the_emulator_key_is_used_only_for_a_loopback_endpoint() {
        for local in ["https://127.0.0.1:8081", "http://localhost:8081/", "https://[::1]:8081", "https://127.8.0.2"] {
            let c =
                CosmosConfig::from_env(&Env::fixed([("COSMOS_ENDPOINT", local)]), "merch", "projections").expect(local);
            assert_eq!(c.key, EMULATOR_KEY, "{local}");
        }
        let remote = Env::fixed([("COSMOS_ENDPOINT", "https://merch-prod.documents.azure.com:443/")]);
        let err = CosmosConfig::from_env(&remote, "merch", "projections").unwrap_err().to_string();
        assert!(err.contains("COSMOS_KEY not set for https://merch-prod.documents.azure.com:443/"), "{err}");
        let tricky = Env::fixed([("COSMOS_ENDPOINT", "https://127.0.0.1.evil.example/")]);
        assert!(
            CosmosConfig::from_env(&tricky, "merch", "projections").is_err(),
            "a name that starts like a loopback address is not one"
        );
        let with_key =
            Env::fixed([("COSMOS_ENDPOINT", "https://merch-prod.documents.azure.com/"), ("COSMOS_KEY", "k")]);
        assert_eq!(CosmosConfig::from_env(&with_key, "merch", "projections").map(|c| c.key), Ok("k".to_string()));
    }

    #[test]
    fn in_azure_the_endpoint_is_required_and_the_key_is_never_defaulted() {
        let azure = Env::fixed([("WEBSITE_SITE_NAME", "estate-merch")]);
        assert!(
            CosmosConfig::from_env(&azure, "merch", "projections")
                .unwrap_err()
                .to_string()
                .contains("COSMOS_ENDPOINT not set")
        );
        let local = CosmosConfig::from_env(&Env::fixed([]), "merch", "projections").expect("local defaults");
        assert_eq!((local.endpoint.as_str(), local.database.as_str()), (EMULATOR_ENDPOINT, "merch"));
        assert!(!format!("{local:?}").contains(EMULATOR_KEY), "Debug never prints the key");
    }
}
