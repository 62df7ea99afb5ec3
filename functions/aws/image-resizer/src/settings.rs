//! The function's configuration, from the environment.
use crate::NAME;
use crate::limits::Limits;
use crate::variants::Encoding;
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::topics;
use serve::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where variants go; None: the bucket of the upload.
    pub processed_bucket: Option<String>,
    /// JPEG always, then WebP if asked for.
    pub encodings: Vec<Encoding>,
    pub limits: Limits,
    pub kafka_bootstrap: String,
    pub dead_letters: DeadLetterPolicy,
}

impl Settings {
    /// `PROCESSED_BUCKET`, `IMAGE_FORMATS` (comma-separated: `jpeg`, `webp`; default `jpeg`), the
    /// limits (`MAX_IMAGE_BYTES`, `MAX_IMAGE_PIXELS`, `MAX_DECODE_BYTES`), `KAFKA_BOOTSTRAP_SERVERS`
    /// (required in Lambda), `DEAD_LETTER_MAX_PAYLOAD_BYTES`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        Ok(Settings {
            processed_bucket: env.get("PROCESSED_BUCKET"),
            encodings: encodings(&env.get_or("IMAGE_FORMATS", "jpeg"))?,
            limits: Limits::from_env(env)?,
            kafka_bootstrap: env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?,
            dead_letters: DeadLetterPolicy::new(NAME, topics::IMAGES_DLQ).with_max_payload_bytes(max),
        })
    }
}

impl Settings {
    /// The defaults, as on a laptop: variants beside their uploads, JPEG only.
    pub fn local() -> Self {
        Settings {
            processed_bucket: None,
            encodings: vec![Encoding::Jpeg],
            limits: Limits::default(),
            kafka_bootstrap: "127.0.0.1:9092".into(),
            dead_letters: DeadLetterPolicy::new(NAME, topics::IMAGES_DLQ),
        }
    }
}

/// An unknown format refuses to start, naming it: a typo must not silently drop WebP.
fn encodings(list: &str) -> Result<Vec<Encoding>, ConfigError> {
    let mut out = vec![Encoding::Jpeg];
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => {}
            "webp" if !out.contains(&Encoding::WebP) => out.push(Encoding::WebP),
            "webp" => {}
            _ => return Err(ConfigError(format!("IMAGE_FORMATS: unknown format {name:?} (jpeg, webp)"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_jpeg_plus_what_is_asked_and_nothing_unknown() {
        let formats = |v| Settings::from_env(&Env::fixed([("IMAGE_FORMATS", v)])).map(|s| s.encodings);
        assert_eq!(formats("jpeg"), Ok(vec![Encoding::Jpeg]));
        assert_eq!(formats("webp, jpeg"), Ok(vec![Encoding::Jpeg, Encoding::WebP]));
        assert!(formats("jpeg,avif").unwrap_err().0.contains("\"avif\""));
        let in_lambda = Settings::from_env(&Env::fixed([("AWS_LAMBDA_FUNCTION_NAME", "image-resizer")]));
        assert!(in_lambda.unwrap_err().0.contains("KAFKA_BOOTSTRAP_SERVERS"));
    }
}
