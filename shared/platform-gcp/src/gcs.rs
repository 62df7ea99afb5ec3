//! The `ObjectStore` port over the GCS JSON API. Writes are create-only (`ifGenerationMatch=0`:
//! 412 when the name exists), which is what makes the audit log immutable and redelivery-safe.
//! Credentials: none against the emulator (`GCS_ENDPOINT` set); otherwise an access token from the
//! Cloud Run metadata server, cached until shortly before it expires.
use async_trait::async_trait;
use domain::ports::{ObjectInfo, ObjectStore, PortError, PutOutcome};
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const PUBLIC_ENDPOINT: &str = "https://storage.googleapis.com";
const METADATA_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

pub struct GcsObjects {
    http: Client,
    endpoint: String,
    use_metadata_token: bool,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectList {
    #[serde(default)]
    items: Vec<ObjectResource>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectResource {
    name: String,
    bucket: String,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
}

fn transport(e: reqwest::Error) -> PortError {
    PortError::Unavailable(e.to_string())
}

async fn status_error(resp: Response) -> PortError {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let msg = format!("GCS {status}: {}", body.chars().take(300).collect::<String>());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT {
        PortError::Unavailable(msg)
    } else {
        PortError::Rejected(msg)
    }
}

impl GcsObjects {
    /// `GCS_ENDPOINT` (an emulator, no credentials) or the public endpoint with metadata tokens.
    pub fn from_env(env: &serve::Env) -> Self {
        match env.get("GCS_ENDPOINT") {
            Some(e) => Self::emulator(&e),
            None => Self::production(),
        }
    }

    /// The public endpoint, authenticated with the Cloud Run service account's metadata tokens.
    pub fn production() -> Self {
        Self::new(PUBLIC_ENDPOINT, true)
    }

    /// An emulator at `endpoint`, without credentials.
    pub fn emulator(endpoint: &str) -> Self {
        Self::new(endpoint, false)
    }

    fn new(endpoint: &str, use_metadata_token: bool) -> Self {
        let http = Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        GcsObjects {
            http,
            endpoint: endpoint.trim_end_matches('/').into(),
            use_metadata_token,
            token: Mutex::new(None),
        }
    }

    fn url(&self, path: &[&str]) -> Result<Url, PortError> {
        let mut url = Url::parse(&self.endpoint).map_err(|e| PortError::Rejected(format!("GCS endpoint: {e}")))?;
        url.path_segments_mut().map_err(|_| PortError::Rejected("GCS endpoint cannot be a base".into()))?.extend(path);
        Ok(url)
    }

    async fn authed(&self, req: RequestBuilder) -> Result<RequestBuilder, PortError> {
        if !self.use_metadata_token {
            return Ok(req);
        }
        let mut slot = self.token.lock().await;
        if let Some((t, until)) = slot.as_ref()
            && Instant::now() < *until
        {
            return Ok(req.bearer_auth(t));
        }
        let resp =
            self.http.get(METADATA_TOKEN_URL).header("Metadata-Flavor", "Google").send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(status_error(resp).await);
        }
        let t: TokenResponse = resp.json().await.map_err(transport)?;
        let until = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(60));
        *slot = Some((t.access_token.clone(), until));
        Ok(req.bearer_auth(t.access_token))
    }

    /// Creates a bucket if it does not exist (local runs and tests; Terraform does it in the cloud).
    pub async fn ensure_bucket(&self, project: &str, bucket: &str) -> Result<(), PortError> {
        let req = self.http.post(self.url(&["storage", "v1", "b"])?).query(&[("project", project)]);
        let resp =
            self.authed(req).await?.json(&serde_json::json!({"name": bucket})).send().await.map_err(transport)?;
        match resp.status() {
            s if s.is_success() || s == StatusCode::CONFLICT => Ok(()),
            _ => Err(status_error(resp).await),
        }
    }
}

/// A `multipart/related` body: JSON metadata, then the content. The boundary is picked so that it
/// does not occur in the content.
fn multipart(name: &str, content_type: &str, content: &[u8]) -> (String, Vec<u8>) {
    let mut n: u64 = 0x5eed;
    let boundary = loop {
        let b = format!("estate-boundary-{n:016x}");
        if !content.windows(b.len()).any(|w| w == b.as_bytes()) {
            break b;
        }
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    };
    let meta = serde_json::json!({"name": name, "contentType": content_type});
    let mut body = Vec::with_capacity(content.len() + 256);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n").as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

#[async_trait]
impl ObjectStore for GcsObjects {
    async fn put_if_absent(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, PortError> {
        // A multipart upload: metadata (name, content type) and content in one request. The
        // emulator honours ifGenerationMatch on this upload type only; GCS on all of them.
        let url = self.url(&["upload", "storage", "v1", "b", bucket, "o"])?;
        let (boundary, body) = multipart(key, content_type, &bytes);
        let req = self
            .http
            .post(url)
            .query(&[("uploadType", "multipart"), ("ifGenerationMatch", "0")])
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/related; boundary={boundary}"))
            .body(body);
        let resp = self.authed(req).await?.send().await.map_err(transport)?;
        match resp.status() {
            s if s.is_success() => Ok(PutOutcome::Created),
            StatusCode::PRECONDITION_FAILED => Ok(PutOutcome::AlreadyExisted),
            _ => Err(status_error(resp).await),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let req = self.http.get(self.url(&["storage", "v1", "b", bucket, "o", key])?).query(&[("alt", "media")]);
        let resp = self.authed(req).await?.send().await.map_err(transport)?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp.bytes().await.map_err(transport)?.to_vec())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(resp).await),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, PortError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut req = self.http.get(self.url(&["storage", "v1", "b", bucket, "o"])?).query(&[("prefix", prefix)]);
            if let Some(p) = &page {
                req = req.query(&[("pageToken", p)]);
            }
            let resp = self.authed(req).await?.send().await.map_err(transport)?;
            if !resp.status().is_success() {
                return Err(status_error(resp).await);
            }
            let list: ObjectList = resp.json().await.map_err(transport)?;
            out.extend(list.items.into_iter().map(|o| ObjectInfo {
                size: o.size.and_then(|s| s.parse().ok()).unwrap_or(0),
                content_type: o.content_type.unwrap_or_default(),
                bucket: o.bucket,
                key: o.name,
            }));
            match list.next_page_token {
                Some(t) if !t.is_empty() => page = Some(t),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}
