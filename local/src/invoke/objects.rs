//! The files around `local invoke`: `--object KEY=FILE` puts a user's own file where an S3
//! notification's record names it (so their photo is what image-resizer processes), and
//! `--out DIR` copies every object the invocation wrote to `DIR/<bucket>/<key>`.
use super::InvokeError;
use crate::estate::Estate;
use aws_lambda_events::event::s3::S3Event;
use domain::ports::{NewObject, ObjectStore, Revision, VersionedObjects};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// `--object KEY=FILE`: a file for the object key (as stored, decoded) an `ObjectCreated` record
/// names. Split at the last `=`, so a key may hold one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFile {
    pub key: String,
    pub file: PathBuf,
}

impl std::str::FromStr for ObjectFile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.rsplit_once('=') {
            Some((key, file)) if !key.is_empty() && !file.is_empty() => {
                Ok(ObjectFile { key: key.to_string(), file: file.into() })
            }
            _ => Err(format!("{s:?} is not KEY=FILE")),
        }
    }
}

/// Puts each file in the bucket of every `ObjectCreated` record naming its key, and makes those
/// records describe it: its etag (MD5) and size; no version id, since the local bucket is
/// unversioned and a version of the user's bucket would name nothing in it.
pub async fn put_files(estate: &Estate, event: &mut S3Event, files: &[ObjectFile]) -> Result<(), InvokeError> {
    for ObjectFile { key, file } in files {
        let bytes = std::fs::read(file)
            .map_err(|e| InvokeError::CannotRead { file: file.display().to_string(), detail: e.to_string() })?;
        let mut named = false;
        for record in event.records.iter_mut().filter(|r| is_created(r)) {
            let object = &mut record.s3.object;
            if decoded_key(object.key.as_deref()).as_deref() != Some(key.as_str()) {
                continue;
            }
            named = true;
            (object.e_tag, object.size, object.version_id) =
                (Some(inmemory::etag_of(&bytes)), Some(bytes.len() as i64), None);
            let bucket = record.s3.bucket.name.clone().unwrap_or_default();
            let put = NewObject { key, bytes: bytes.clone(), content_type: content_type(key), cache_control: None };
            // Two records of one bucket naming the key: the first put placed it.
            let _ = estate.uploads.put_new(&bucket, put).await;
        }
        if !named {
            let keys =
                event.records.iter().filter(|r| is_created(r)).filter_map(|r| decoded_key(r.s3.object.key.as_deref()));
            return Err(InvokeError::NoRecordNames { key: key.clone(), keys: keys.collect() });
        }
    }
    Ok(())
}

fn is_created(record: &aws_lambda_events::event::s3::S3EventRecord) -> bool {
    record.event_name.as_deref().is_some_and(|n| n.starts_with("ObjectCreated:"))
}

fn decoded_key(raw: Option<&str>) -> Option<String> {
    platform_aws::s3::decode_key(raw?).ok()
}

/// What an uploader's client would send for the file's extension.
fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// The objects in the estate's buckets, to tell afterwards what an invocation wrote.
pub struct Before(BTreeSet<(String, String, String)>);

pub fn before(estate: &Estate) -> Before {
    Before(estate.uploads.all().into_iter().map(|(bucket, o)| (bucket, o.key, o.etag)).collect())
}

/// Writes every object the invocation wrote (in the S3 bucket: new since `before`; in GCS: all,
/// since only a function writes there) to `dir/<bucket>/<key>`, and says where.
pub async fn write_out(estate: &Estate, before: &Before, dir: &Path) -> Result<Vec<PathBuf>, InvokeError> {
    let mut written = Vec::new();
    let s3_objects = estate
        .uploads
        .all()
        .into_iter()
        .filter(|(b, o)| !before.0.contains(&(b.clone(), o.key.clone(), o.etag.clone())));
    for (bucket, meta) in s3_objects {
        let read = estate.uploads.get(&bucket, &meta.key, Revision::Etag(&meta.etag)).await;
        let bytes = read.ok().flatten().map(|(_, bytes)| bytes).unwrap_or_default();
        written.push(write_one(dir, &bucket, &meta.key, &bytes)?);
    }
    // The lake: only lake-archiver writes there.
    for (bucket, meta, bytes) in estate.lake.all_with_bytes() {
        written.push(write_one(dir, &bucket, &meta.key, &bytes)?);
    }
    for info in estate.objects.all() {
        let bytes = estate.objects.get(&info.bucket, &info.key).await.ok().flatten().unwrap_or_default();
        written.push(write_one(dir, &info.bucket, &info.key, &bytes)?);
    }
    Ok(written)
}

fn write_one(dir: &Path, bucket: &str, key: &str, bytes: &[u8]) -> Result<PathBuf, InvokeError> {
    let relative = Path::new(bucket).join(key);
    // A key is a name, not a path: one with `..` or a leading `/` would land outside DIR.
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(InvokeError::CannotWrite(format!("{bucket}/{key}: not a path under --out")));
    }
    let path = dir.join(relative);
    let cannot = |e: std::io::Error| InvokeError::CannotWrite(format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(cannot)?;
    }
    std::fs::write(&path, bytes).map_err(cannot)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::ObjectFile;

    #[test]
    fn an_object_argument_splits_at_its_last_equals_sign() {
        let parsed: ObjectFile = "uploads/SKU-1/a=b.jpg=/tmp/photo.jpg".parse().expect("KEY=FILE");
        assert_eq!((parsed.key.as_str(), parsed.file.to_str()), ("uploads/SKU-1/a=b.jpg", Some("/tmp/photo.jpg")));
        for bad in ["uploads/SKU-1/a.jpg", "=photo.jpg", "uploads/SKU-1/a.jpg="] {
            assert!(bad.parse::<ObjectFile>().is_err(), "{bad}");
        }
    }
}
