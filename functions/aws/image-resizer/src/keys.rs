//! Object keys: S3 event keys decoded exactly once, uploads parsed into sku and stem, and the
//! immutable keys of the variants.
//!
//! `uploads/<sku>/<path>` gives `processed/<sku>/<stem>@<etag12>/<label>.<ext>`, where `<stem>` is
//! `<path>` without its extension and `<etag12>` the first 12 hex digits of the source's entity
//! tag: a replaced upload has a new etag, so its variants get new keys and cached copies of the
//! old ones stay valid.
use crate::error::ImageError;
use domain::values::Sku;

pub const UPLOADS: &str = "uploads/";
pub const PROCESSED: &str = "processed/";

/// An S3 event's key as the object's real name. S3 encodes it like a form value (`+` for a
/// space, `%XX` for other bytes, a literal `+` as `%2B`), so it is decoded once, here; decoding
/// twice would turn a `%2B` that was really `%252B` into a `+`.
pub fn decode_event_key(raw: &str) -> Result<String, ImageError> {
    platform_aws::s3::decode_key(raw).map_err(|e| ImageError::BadKey(e.to_string()))
}

/// An upload's place: `uploads/<sku>/<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub sku: Sku,
    /// The path after the sku without its extension.
    pub stem: String,
}

impl Upload {
    /// None for a key outside `uploads/` (not ours to process); an error for one inside it that
    /// does not name a sku and a file.
    pub fn parse(key: &str) -> Result<Option<Upload>, ImageError> {
        let Some(rest) = key.strip_prefix(UPLOADS) else { return Ok(None) };
        let bad = |why: String| ImageError::BadKey(format!("{key:?}: {why}"));
        let (sku, path) = rest.split_once('/').ok_or_else(|| bad("expected uploads/<sku>/<file>".into()))?;
        let sku = Sku::parse(sku).map_err(|e| bad(e.to_string()))?;
        let file_start = path.rfind('/').map_or(0, |i| i + 1);
        let stem = match path[file_start..].rfind('.') {
            Some(dot) if dot > 0 => &path[..file_start + dot],
            _ => path,
        };
        if stem.is_empty() || stem.ends_with('/') || stem.split('/').any(str::is_empty) {
            return Err(bad("no file name".into()));
        }
        Ok(Some(Upload { sku, stem: stem.to_string() }))
    }

    /// Where the variants of one version (by its etag) go.
    pub fn variant_prefix(&self, etag: &str) -> Result<String, ImageError> {
        let tag: String = etag.trim_matches('"').chars().take(12).collect::<String>().to_ascii_lowercase();
        if tag.len() != 12 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ImageError::BadKey(format!("entity tag {etag:?} does not start with 12 hex digits")));
        }
        Ok(format!("{}{tag}/", self.all_versions_prefix()))
    }

    /// Lists the variants of every version; [`Upload::is_variant`] tells them apart from those of
    /// a stem that merely starts the same way.
    pub fn all_versions_prefix(&self) -> String {
        format!("{PROCESSED}{}/{}@", self.sku, self.stem)
    }

    pub fn is_variant(&self, key: &str) -> bool {
        key.strip_prefix(&self.all_versions_prefix()).and_then(|r| r.split_once('/')).is_some_and(|(tag, file)| {
            tag.len() == 12 && tag.bytes().all(|b| b.is_ascii_hexdigit()) && !file.is_empty() && !file.contains('/')
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_decoded_exactly_once() {
        assert_eq!(decode_event_key("uploads/SKU-1/front+view.jpg").as_deref(), Ok("uploads/SKU-1/front view.jpg"));
        assert_eq!(decode_event_key("uploads/SKU-1/a%2Bb.jpg").as_deref(), Ok("uploads/SKU-1/a+b.jpg"));
        assert_eq!(decode_event_key("uploads/SKU-1/100%25.jpg").as_deref(), Ok("uploads/SKU-1/100%.jpg"));
        assert_eq!(
            decode_event_key("uploads/SKU-1/a%252B.jpg").as_deref(),
            Ok("uploads/SKU-1/a%2B.jpg"),
            "once, not twice"
        );
        assert_eq!(decode_event_key("uploads/SKU-1/caf%C3%A9.jpg").as_deref(), Ok("uploads/SKU-1/café.jpg"));
        for bad in ["a%2", "a%zz.jpg", "a%FF.jpg"] {
            assert_eq!(decode_event_key(bad).map_err(|e| e.code()), Err("bad_key"), "{bad}");
        }
    }

    #[test]
    fn uploads_give_sku_and_stem_and_variant_keys_name_the_etag() {
        let up = Upload::parse("uploads/SKU-1/shots/front view.v2.JPG").unwrap().unwrap();
        assert_eq!((up.sku.as_str(), up.stem.as_str()), ("SKU-1", "shots/front view.v2"));
        assert_eq!(
            up.variant_prefix("\"0123456789ABCDEF0123\"").as_deref(),
            Ok("processed/SKU-1/shots/front view.v2@0123456789ab/")
        );
        assert_eq!(Upload::parse("uploads/SKU-1/.hidden").unwrap().map(|u| u.stem), Some(".hidden".to_string()));
        assert_eq!(Upload::parse("incoming/SKU-1/a.jpg"), Ok(None));
        for bad in ["uploads/a.jpg", "uploads/sku lower/a.jpg", "uploads/SKU-1/", "uploads/SKU-1/dir//a.jpg"] {
            assert_eq!(Upload::parse(bad).map_err(|e| e.code()), Err("bad_key"), "{bad}");
        }
    }

    #[test]
    fn only_this_stems_variants_are_its_variants() {
        let up = Upload::parse("uploads/SKU-1/photo.jpg").unwrap().unwrap();
        assert!(up.is_variant("processed/SKU-1/photo@0123456789ab/thumb.jpg"));
        assert!(!up.is_variant("processed/SKU-1/photo@x@0123456789ab/thumb.jpg"), "the stem photo@x");
        assert!(!up.is_variant("processed/SKU-1/photo@0123456789ab/deeper/thumb.jpg"));
        assert!(!up.is_variant("processed/SKU-1/photos@0123456789ab/thumb.jpg"));
    }
}
