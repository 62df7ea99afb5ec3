//! The `VersionedObjects` port over S3 (aws-sdk-s3). Writes are `If-None-Match: *` puts (412 →
//! `AlreadyExists`); reads pinned by entity tag send `If-Match` (412 → `PreconditionFailed`); a
//! missing key or version reads as None; throttling, 5xx, 409 (a concurrent
//! conditional write), refused credentials and network failures are `Unavailable`; other 4xx are
//! `Rejected`. Entity tags are returned without their quotes.
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use domain::ports::{NewObject, ObjectMeta, PortError, Revision, VersionedObjects};

/// A client from the environment, as every AWS SDK reads it, plus `AWS_S3_FORCE_PATH_STYLE`
/// (`true` for moto and other local S3s, which serve buckets by path).
pub async fn client_from_env(env: &serve::Env) -> Client {
    let shared = aws_config::load_from_env().await;
    let path_style = env.get("AWS_S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true");
    Client::from_conf(aws_sdk_s3::config::Builder::from(&shared).force_path_style(path_style).build())
}

pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    pub fn new(client: Client) -> Self {
        S3Objects { client }
    }

    /// Creates a bucket unless it exists, without versioning (local runs and tests; Terraform
    /// owns the buckets when deployed).
    pub async fn ensure_bucket(&self, bucket: &str, region: &str) -> Result<(), PortError> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let config =
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build();
        match self.client.create_bucket().bucket(bucket).create_bucket_configuration(config).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => Ok(()),
            Err(e) => Err(classify("create_bucket", e)),
        }
    }

    /// As `ensure_bucket`, with versioning on.
    pub async fn ensure_versioned_bucket(&self, bucket: &str, region: &str) -> Result<(), PortError> {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.ensure_bucket(bucket, region).await?;
        let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        self.client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(versioning)
            .send()
            .await
            .map_err(|e| classify("put_bucket_versioning", e))?;
        Ok(())
    }
}

fn status<E, R: HttpStatus>(e: &SdkError<E, R>) -> Option<u16> {
    e.raw_response().map(HttpStatus::status_code)
}

/// The HTTP status of a raw response, whatever the SDK's response type.
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> PortError {
    let code = e.code().unwrap_or("").to_string();
    let detail =
        e.message().map(str::to_string).unwrap_or_else(|| format!("{e:?}").lines().next().unwrap_or("").to_string());
    match status(&e) {
        Some(412) => PortError::AlreadyExists,
        Some(409 | 429) | Some(500..) | None => PortError::Unavailable(format!("{what}: {code} {detail}")),
        Some(401 | 403) => PortError::Unavailable(format!("{what}: access refused ({code}): {detail}")),
        Some(s) => PortError::Rejected(format!("{what}: {s} {code}: {detail}")),
    }
}

fn unquoted(etag: Option<&str>) -> String {
    etag.unwrap_or("").trim_matches('"').to_string()
}

/// An object's metadata from a GET or HEAD: `[version id, content type, cache control]`.
fn read_meta(
    key: &str,
    length: Option<i64>,
    etag: Option<&str>,
    [version, content_type, cache]: [Option<&str>; 3],
) -> ObjectMeta {
    let owned = |v: Option<&str>| v.map(str::to_string);
    ObjectMeta {
        key: key.to_string(),
        size: length.unwrap_or(0).max(0) as u64,
        etag: unquoted(etag),
        version_id: owned(version),
        content_type: owned(content_type),
        cache_control: owned(cache),
    }
}

/// A read's `versionId` and `If-Match` (the entity tag quoted, as HTTP has it).
fn conditions(revision: Revision<'_>) -> (Option<String>, Option<String>) {
    match revision {
        Revision::Current => (None, None),
        Revision::Version(id) => (Some(id.to_string()), None),
        Revision::Etag(tag) => (None, Some(format!("\"{}\"", tag.trim_matches('"')))),
    }
}

/// On a read, 412 is an `If-Match` that did not hold: the object was replaced.
fn read_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> PortError {
    if status(&e) == Some(412) { PortError::PreconditionFailed } else { classify(what, e) }
}

fn is_missing<E: ProvideErrorMetadata>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    // A malformed version id is S3's 400 InvalidArgument: no such version either.
    status(e) == Some(404) || matches!(e.code(), Some("NoSuchKey" | "NoSuchVersion" | "NotFound" | "InvalidArgument"))
}

#[async_trait]
impl VersionedObjects for S3Objects {
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        revision: Revision<'_>,
    ) -> Result<Option<(ObjectMeta, Vec<u8>)>, PortError> {
        let (version, if_match) = conditions(revision);
        let request = self.client.get_object().bucket(bucket).key(key).set_version_id(version).set_if_match(if_match);
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(read_error("get_object", e)),
        };
        let meta = read_meta(
            key,
            out.content_length(),
            out.e_tag(),
            [out.version_id(), out.content_type(), out.cache_control()],
        );
        let bytes = out.body.collect().await.map_err(|e| PortError::Unavailable(format!("get_object body: {e}")))?;
        Ok(Some((meta, bytes.into_bytes().to_vec())))
    }

    async fn head(&self, bucket: &str, key: &str, revision: Revision<'_>) -> Result<Option<ObjectMeta>, PortError> {
        let (version, if_match) = conditions(revision);
        let request = self.client.head_object().bucket(bucket).key(key).set_version_id(version).set_if_match(if_match);
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(read_error("head_object", e)),
        };
        Ok(Some(read_meta(
            key,
            out.content_length(),
            out.e_tag(),
            [out.version_id(), out.content_type(), out.cache_control()],
        )))
    }

    async fn put_new(&self, bucket: &str, object: NewObject<'_>) -> Result<ObjectMeta, PortError> {
        let size = object.bytes.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(object.key)
            .body(ByteStream::from(object.bytes))
            .content_type(object.content_type)
            .set_cache_control(object.cache_control.map(str::to_string))
            .if_none_match("*")
            .send()
            .await
            .map_err(|e| classify("put_object", e))?;
        Ok(ObjectMeta {
            key: object.key.to_string(),
            size,
            etag: unquoted(out.e_tag()),
            version_id: out.version_id().map(str::to_string),
            content_type: Some(object.content_type.to_string()),
            cache_control: object.cache_control.map(str::to_string),
        })
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), PortError> {
        self.client.delete_object().bucket(bucket).key(key).send().await.map_err(|e| classify("delete_object", e))?;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, PortError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| classify("list_objects_v2", e))?;
            for o in out.contents() {
                all.push(ObjectMeta {
                    key: o.key().unwrap_or("").to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: unquoted(o.e_tag()),
                    version_id: None,
                    content_type: None,
                    cache_control: None,
                });
            }
            match out.next_continuation_token() {
                Some(next) if out.is_truncated().unwrap_or(false) => token = Some(next.to_string()),
                _ => return Ok(all),
            }
        }
    }
}
