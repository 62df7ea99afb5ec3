//! Why an image cannot be made into variants. Each is permanent (the same bytes fail the same
//! way), so each is dead-lettered with its code; S3 or Kafka being unavailable is not one of
//! these, and is returned for Lambda to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the object is empty")]
    Empty,
    #[error("not an image: no JPEG, PNG or WebP signature")]
    NotAnImage,
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    #[error("bad header: {0}")]
    BadHeader(String),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("the object is {bytes} bytes, over the {limit}-byte limit (MAX_IMAGE_BYTES)")]
    TooManyBytes { bytes: u64, limit: u64 },
    #[error("{width} x {height} is {pixels} pixels, over the {limit}-pixel limit (MAX_IMAGE_PIXELS)")]
    TooManyPixels { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("decoding would take {bytes} bytes, over the {limit}-byte limit (MAX_DECODE_BYTES)")]
    DecodeTooLarge { bytes: u64, limit: u64 },
    #[error("corrupt image: {0}")]
    Corrupt(String),
    #[error("an S3 event this function does not handle: {0:?}")]
    UnsupportedEvent(String),
    #[error("bad key: {0}")]
    BadKey(String),
}

impl ImageError {
    /// The dead letter's reason code.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::Empty => "empty_object",
            ImageError::NotAnImage => "not_an_image",
            ImageError::UnsupportedFormat(_) => "unsupported_format",
            ImageError::BadHeader(_) => "bad_header",
            ImageError::Truncated(_) => "truncated",
            ImageError::TooManyBytes { .. } => "too_many_bytes",
            ImageError::TooManyPixels { .. } => "too_many_pixels",
            ImageError::DecodeTooLarge { .. } => "decode_too_large",
            ImageError::Corrupt(_) => "corrupt_image",
            ImageError::BadKey(_) => "bad_key",
            ImageError::UnsupportedEvent(_) => "unsupported_event",
        }
    }
}
