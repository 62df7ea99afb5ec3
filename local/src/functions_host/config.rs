//! What the Functions host reads of an app: `host.json` (the custom handler's executable, the
//! function timeout, the Kafka extension's `maxBatchSize` and `SubscriberIntervalInSeconds`) and
//! each function folder's `function.json` (one `kafkaTrigger`, `kafka` output bindings, the retry
//! policy). What the local host does not play — another trigger or binding type, a retry strategy
//! it does not know, a malformed interval — is an error naming it, never a function that is
//! silently never triggered.
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A function.json: its Kafka trigger, its Kafka output bindings (name → topic), its retries.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionJson {
    pub trigger_topic: String,
    /// The trigger binding's name: the key of the request's `Data`.
    pub trigger_name: String,
    pub consumer_group: String,
    /// `cardinality: many`: a batch per invocation (one record otherwise).
    pub many: bool,
    /// As written (`%KAFKA_BOOTSTRAP_SERVERS%` names an app setting).
    pub broker_list: String,
    pub outputs: Vec<(String, String)>,
    /// Retries after the first attempt (0 without a retry policy; `u32::MAX` for -1, forever).
    pub max_retry_count: u32,
    pub retry: Retry,
}

/// A function's retry policy (`retry` in function.json).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    None,
    FixedDelay(Duration),
    /// The first retry waits `min`, each next one twice the last, never more than `max`.
    ExponentialBackoff {
        min: Duration,
        max: Duration,
    },
}

impl Retry {
    /// The pause before retry number `n` (1 is the first).
    pub fn pause(&self, n: u32) -> Duration {
        match *self {
            Retry::None => Duration::ZERO,
            Retry::FixedDelay(d) => d,
            Retry::ExponentialBackoff { min, max } => min.saturating_mul(1 << n.saturating_sub(1).min(20)).min(max),
        }
    }
}

fn text<'a>(b: &'a Value, field: &str, what: &str) -> Result<&'a str, String> {
    b[field].as_str().filter(|s| !s.is_empty()).ok_or_else(|| format!("{what} has no {field}"))
}

/// `hh:mm:ss` (with optional fractional seconds), as the host writes intervals.
pub fn interval(s: &str) -> Result<Duration, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [h, m, sec] = parts[..] else { return Err(format!("interval {s:?} is not hh:mm:ss")) };
    let whole = |p: &str| p.parse::<u64>().map_err(|_| format!("interval {s:?} is not hh:mm:ss"));
    let secs: f64 = sec.parse().map_err(|_| format!("interval {s:?} is not hh:mm:ss"))?;
    Ok(Duration::from_secs(whole(h)? * 3600 + whole(m)? * 60) + Duration::from_secs_f64(secs.max(0.0)))
}

/// Parses a function.json as the host would: exactly one `kafkaTrigger`, and `kafka` outputs.
pub fn parse_function_json(text_of: &str) -> Result<FunctionJson, String> {
    let v: Value = serde_json::from_str(text_of).map_err(|e| format!("not JSON: {e}"))?;
    let bindings = v["bindings"].as_array().ok_or("no bindings")?;
    let mut trigger = None;
    let mut outputs = Vec::new();
    for b in bindings {
        let kind = b["type"].as_str().unwrap_or_default();
        match (kind, b["direction"].as_str().unwrap_or_default()) {
            ("kafkaTrigger", "in") if trigger.is_none() => trigger = Some(b),
            ("kafkaTrigger", "in") => return Err("more than one trigger".into()),
            ("kafka", "out") => outputs.push((
                text(b, "name", "an output binding")?.to_string(),
                text(b, "topic", "an output binding")?.into(),
            )),
            (kind, direction) => {
                return Err(format!("binding {kind:?} ({direction}) is not one the local Functions host plays"));
            }
        }
    }
    let t = trigger.ok_or("no kafkaTrigger binding")?;
    let many = match t["cardinality"].as_str().unwrap_or("one") {
        "many" => true,
        "one" => false,
        other => return Err(format!("cardinality {other:?} is neither one nor many")),
    };
    let r = &v["retry"];
    let (retry, max_retry_count) = if r.is_null() {
        (Retry::None, 0)
    } else {
        let count = r["maxRetryCount"].as_i64().ok_or("retry has no maxRetryCount")?;
        let count = if count < 0 { u32::MAX } else { count as u32 };
        let retry = match r["strategy"].as_str().unwrap_or_default() {
            "fixedDelay" => Retry::FixedDelay(interval(text(r, "delayInterval", "a fixedDelay retry")?)?),
            "exponentialBackoff" => Retry::ExponentialBackoff {
                min: interval(text(r, "minimumInterval", "an exponentialBackoff retry")?)?,
                max: interval(text(r, "maximumInterval", "an exponentialBackoff retry")?)?,
            },
            other => return Err(format!("retry strategy {other:?} is not fixedDelay or exponentialBackoff")),
        };
        (retry, count)
    };
    Ok(FunctionJson {
        trigger_topic: text(t, "topic", "the kafkaTrigger")?.into(),
        trigger_name: text(t, "name", "the kafkaTrigger")?.into(),
        consumer_group: text(t, "consumerGroup", "the kafkaTrigger")?.into(),
        many,
        broker_list: text(t, "brokerList", "the kafkaTrigger")?.into(),
        outputs,
        max_retry_count,
        retry,
    })
}

/// A host.json: what the host starts and how it feeds the Kafka triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    /// `customHandler.description.defaultExecutablePath`.
    pub executable: String,
    /// `functionTimeout` (the Consumption plan's default, 5 minutes, when absent).
    pub function_timeout: Duration,
    /// `extensions.kafka.maxBatchSize` (the extension's default, 64).
    pub max_batch_size: usize,
    /// `extensions.kafka.SubscriberIntervalInSeconds` (default 1).
    pub subscriber_interval: Duration,
}

pub fn parse_host_json(text_of: &str) -> Result<HostJson, String> {
    let v: Value = serde_json::from_str(text_of).map_err(|e| format!("not JSON: {e}"))?;
    if v["version"] != "2.0" {
        return Err(format!("version {} (the host reads 2.0)", v["version"]));
    }
    let handler = &v["customHandler"]["description"];
    let kafka = &v["extensions"]["kafka"];
    let function_timeout = match v["functionTimeout"].as_str() {
        Some(t) => interval(t)?,
        None => Duration::from_secs(300),
    };
    Ok(HostJson {
        executable: text(handler, "defaultExecutablePath", "customHandler.description")?.into(),
        function_timeout,
        max_batch_size: kafka["maxBatchSize"].as_u64().unwrap_or(64).max(1) as usize,
        subscriber_interval: Duration::from_secs(kafka["SubscriberIntervalInSeconds"].as_u64().unwrap_or(1)),
    })
}

/// An app folder as the host loads it: host.json, and every sub-folder holding a function.json.
#[derive(Debug, Clone)]
pub struct FunctionApp {
    pub dir: PathBuf,
    pub host: HostJson,
    /// (folder = function name, its function.json), in name order.
    pub functions: Vec<(String, FunctionJson)>,
}

impl FunctionApp {
    pub fn load(dir: &Path) -> Result<FunctionApp, String> {
        let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
        let host =
            parse_host_json(&read(dir.join("host.json"))?).map_err(|e| format!("{}/host.json: {e}", dir.display()))?;
        let mut functions = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.flatten() {
            let json = entry.path().join("function.json");
            if json.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let f = parse_function_json(&read(json.clone())?).map_err(|e| format!("{}: {e}", json.display()))?;
                functions.push((name, f));
            }
        }
        if functions.is_empty() {
            return Err(format!("{}: no function folder (a sub-folder with a function.json)", dir.display()));
        }
        functions.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(FunctionApp { dir: dir.to_path_buf(), host, functions })
    }
}

/// `%NAME%` in a binding's value is the app setting NAME.
pub fn resolve_setting(value: &str, settings: &[(String, String)]) -> Result<String, String> {
    let Some(name) = value.strip_prefix('%').and_then(|v| v.strip_suffix('%')) else { return Ok(value.into()) };
    settings
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| format!("the app setting {name} is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estates_function_jsons_are_read_as_the_host_reads_them() {
        let f = parse_function_json(fraud_scorer::FUNCTIONS[0].1).expect("fraud-scorer's");
        assert_eq!((f.trigger_topic.as_str(), f.trigger_name.as_str()), ("order.confirmed", "orders"));
        assert_eq!((f.consumer_group.as_str(), f.many, f.max_retry_count), ("fraud-scorer", true, 5));
        assert_eq!(
            f.outputs,
            [("scores".into(), "fraud.scored".into()), ("deadLetters".into(), "checkout.dlq".into())]
        );
        let backoff = [2, 4, 8, 16, 32, 60, 60].map(Duration::from_secs);
        assert_eq!((1..=7).map(|n| f.retry.pause(n)).collect::<Vec<_>>(), backoff);
    }

    #[test]
    fn what_the_local_host_does_not_play_is_refused_by_name() {
        let with = |bindings: &str, retry: &str| format!(r#"{{"bindings": [{bindings}], "retry": {retry}}}"#);
        let trigger = r#"{"type": "kafkaTrigger", "direction": "in", "name": "e", "topic": "t", "consumerGroup": "g", "brokerList": "b"}"#;
        let ok = parse_function_json(&with(
            trigger,
            r#"{"strategy": "fixedDelay", "maxRetryCount": -1, "delayInterval": "00:00:01.5"}"#,
        ))
        .expect("fixed delay, forever");
        assert_eq!(
            (ok.retry, ok.max_retry_count, ok.many),
            (Retry::FixedDelay(Duration::from_millis(1500)), u32::MAX, false)
        );
        let http = r#"{"type": "httpTrigger", "direction": "in", "name": "req"}"#;
        assert!(parse_function_json(&with(http, "null")).is_err_and(|e| e.contains("httpTrigger")));
        let blob = format!(r#"{trigger}, {{"type": "blob", "direction": "out", "name": "o"}}"#);
        assert!(parse_function_json(&with(&blob, "null")).is_err_and(|e| e.contains("\"blob\"")));
        let odd = r#"{"strategy": "linear", "maxRetryCount": 3}"#;
        assert!(parse_function_json(&with(trigger, odd)).is_err_and(|e| e.contains("linear")));
        assert!(parse_function_json(&with("", "null")).is_err_and(|e| e.contains("no kafkaTrigger")));
        assert!(interval("2s").is_err());
        let settings = [("KAFKA_BOOTSTRAP_SERVERS".to_string(), "127.0.0.1:9092".to_string())];
        assert_eq!(resolve_setting("%KAFKA_BOOTSTRAP_SERVERS%", &settings).as_deref(), Ok("127.0.0.1:9092"));
        assert!(resolve_setting("%NOPE%", &settings).is_err_and(|e| e.contains("NOPE")));
    }

    #[test]
    fn an_app_folder_is_its_host_json_and_every_function_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/azure/projection-updater");
        let app = FunctionApp::load(&dir).expect("projection-updater's app");
        assert_eq!(app.host.executable, "projection-updater");
        assert_eq!((app.host.max_batch_size, app.host.subscriber_interval), (500, Duration::from_secs(1)));
        let names: Vec<&str> = app.functions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["inventory-changed", "price-changed"]);
        assert!(FunctionApp::load(&dir.join("src")).is_err_and(|e| e.contains("host.json")));
    }
}
