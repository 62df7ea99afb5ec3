//! Configuration from the environment, read through a lookup so that start-up rules (which
//! variable is required where) are tested with plain maps instead of the process environment.
use std::collections::BTreeMap;

/// A start-up configuration error: the binary refuses to start and says which variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Where configuration comes from: the process environment, or a fixed map in tests.
#[derive(Debug, Clone, Default)]
pub enum Env {
    #[default]
    Process,
    Fixed(BTreeMap<String, String>),
}

impl Env {
    pub fn fixed<const N: usize>(vars: [(&str, &str); N]) -> Self {
        Env::Fixed(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// The variable's value; unset and empty are the same (an empty secret is no secret).
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match self {
            Env::Process => std::env::var(name).ok(),
            Env::Fixed(m) => m.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    pub fn get_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    /// A positive integer, or its default when unset; anything else is an error naming it.
    pub fn number(&self, name: &str, default: usize) -> Result<usize, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError(format!("{name}={v:?} is not a positive integer"))),
        }
    }

    /// True on Cloud Run, which sets `K_SERVICE` in every container.
    pub fn on_cloud_run(&self) -> bool {
        self.get("K_SERVICE").is_some()
    }

    /// True in an Azure Functions app, whose host sets `WEBSITE_SITE_NAME`.
    pub fn on_azure_functions(&self) -> bool {
        self.get("WEBSITE_SITE_NAME").is_some()
    }

    /// True in AWS Lambda, which sets `AWS_LAMBDA_FUNCTION_NAME` in every execution environment.
    pub fn on_lambda(&self) -> bool {
        self.get("AWS_LAMBDA_FUNCTION_NAME").is_some()
    }

    /// A variable the cloud deployment must set, defaulted only off the cloud (`in_cloud` false):
    /// a local default such as `127.0.0.1:9092` must never be what a deployed function uses.
    pub fn required_in_cloud(&self, name: &str, in_cloud: bool, local_default: &str) -> Result<String, ConfigError> {
        match self.get(name) {
            Some(v) => Ok(v),
            None if in_cloud => Err(ConfigError(format!("{name} not set (required when deployed)"))),
            None => Ok(local_default.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_numbers_are_checked() {
        let env = Env::fixed([("A", " "), ("N", "12"), ("BAD", "-3")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.number("N", 1), Ok(12));
        assert_eq!(env.number("MISSING", 7), Ok(7));
        assert!(env.number("BAD", 1).unwrap_err().to_string().contains("BAD=\"-3\""));
    }
}
