//! The emulators `up` runs on: started with `scripts/emulators.sh start` (a running one is kept,
//! with its data), and their endpoints read from `scripts/emulators.sh env`, so `up` and the
//! script agree on ports and run directory (`EMU_RUN`, the `*_PORT` variables) without a second
//! copy of them here.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `up` needs of the emulators: the Kafka emulator, moto (DynamoDB with Streams, S3, SQS,
/// SES), the Pub/Sub emulator, the Cosmos DB emulator (the function apps), the GCS emulator
/// (audit-sink) and PostgreSQL (image-analytics).
pub const SERVICES: [&str; 6] = ["kafka", "moto", "pubsub", "cosmos", "gcs", "postgres"];

/// Where the emulators answer, and the test credentials moto takes (not secrets).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub kafka: String,
    pub aws: String,
    pub region: String,
    pub aws_key_id: String,
    pub aws_secret: String,
    /// `host:port`, as `PUBSUB_EMULATOR_HOST` names it.
    pub pubsub: String,
    pub cosmos: String,
    /// What the Cosmos SDK needs to talk to the emulator (its certificate, HTTP/1.1, JSON).
    pub cosmos_client: Vec<(String, String)>,
    pub gcs: String,
    pub database_url: String,
}

impl Endpoints {
    /// Read from the script's `export NAME=value` lines.
    pub fn from_exports(text: &str) -> Result<Endpoints, String> {
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        let get = |k: &str| vars.get(k).map(|v| v.to_string()).ok_or_else(|| format!("emulators.sh env sets no {k}"));
        Ok(Endpoints {
            kafka: get("KAFKA_BOOTSTRAP_SERVERS")?,
            aws: get("AWS_ENDPOINT_URL")?,
            region: get("AWS_REGION")?,
            aws_key_id: get("AWS_ACCESS_KEY_ID")?,
            aws_secret: get("AWS_SECRET_ACCESS_KEY")?,
            pubsub: get("PUBSUB_EMULATOR_HOST")?,
            cosmos: get("COSMOS_ENDPOINT")?,
            cosmos_client: vars
                .iter()
                .filter(|(k, _)| k.starts_with("AZURE_COSMOS_") || k.starts_with("COSMOS_DISABLE"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            gcs: get("GCS_ENDPOINT")?,
            database_url: get("DATABASE_URL")?,
        })
    }

    /// The AWS SDK's configuration for moto.
    pub async fn aws_config(&self) -> aws_config::SdkConfig {
        let credentials = aws_sdk_s3::config::Credentials::new(&self.aws_key_id, &self.aws_secret, None, None, "moto");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.aws)
            .region(aws_config::Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .load()
            .await
    }

    /// An S3 client for moto (path-style addressing: moto serves every bucket on one host).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.aws_config().await)
    }
}

/// An S3 client on `config` with path-style addressing, as moto needs.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

/// The repository's `scripts/emulators.sh`, found from the working directory upwards.
pub fn script() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    cwd.ancestors()
        .map(|d| d.join("scripts/emulators.sh"))
        .find(|p| p.is_file())
        .ok_or_else(|| "scripts/emulators.sh not found above the working directory: run from the repository".into())
}

/// Where `local up` writes the functions' logs: `.emu/logs` beside the emulators' own.
pub fn logs_dir() -> Option<PathBuf> {
    Some(script().ok()?.parent()?.parent()?.join(".emu/logs"))
}

/// Which set of emulators a call means: the script's run directory and ports as its environment
/// names them (`EMU_RUN`, `KAFKA_PORT`, …). The default is the caller's own environment; a set of
/// its own (another run directory and ports) lets a test break its emulators without touching
/// anyone else's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmulatorSet {
    pub env: Vec<(String, String)>,
}

impl EmulatorSet {
    /// A set in `.emu/<name>` of the repository, on the ports from `base` on (kafka `base`,
    /// cosmos +1, gcs +2, pubsub +3, moto +4, postgres +5).
    pub fn own(name: &str, base: u16) -> Result<EmulatorSet, String> {
        let root = script()?.parent().and_then(|s| s.parent()).map(Path::to_path_buf).ok_or("no repository root")?;
        let ports = ["KAFKA_PORT", "COSMOS_PORT", "GCS_PORT", "PUBSUB_PORT", "MOTO_PORT", "PG_PORT"];
        let mut env = vec![("EMU_RUN".to_string(), root.join(".emu").join(name).display().to_string())];
        env.extend(ports.iter().enumerate().map(|(i, p)| (p.to_string(), (base + i as u16).to_string())));
        Ok(EmulatorSet { env })
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        run_with(&self.env, &script()?, args)
    }

    /// Starts the services that are not running (installing them first if needed): their
    /// endpoints, and which services this call started (the ones to stop at the end; a service
    /// that was running is left running). An emulator that cannot start is an error, never a skip.
    pub fn start(&self) -> Result<(Endpoints, Vec<&'static str>), String> {
        let mut status = vec!["status"];
        status.extend(SERVICES);
        let before = self.run(&status)?;
        let started: Vec<&'static str> = SERVICES
            .into_iter()
            .filter(|s| !before.lines().any(|l| l.split_whitespace().take(2).eq([*s, "running"])))
            .collect();
        let mut args = vec!["start"];
        args.extend(SERVICES);
        let said = self.run(&args)?;
        eprintln!("{}", said.trim());
        Ok((Endpoints::from_exports(&self.run(&["env"])?)?, started))
    }

    /// What the Cosmos SDK needs in the environment to talk to this set's emulator (its
    /// certificate, HTTP/1.1, JSON): for a process that reads the emulator itself.
    pub fn cosmos_client_env(&self) -> Result<Vec<(String, String)>, String> {
        Ok(Endpoints::from_exports(&self.run(&["env"])?)?.cosmos_client)
    }

    /// Stops these services (those `start` started).
    pub fn stop(&self, services: &[&str]) -> Result<(), String> {
        if services.is_empty() {
            return Ok(());
        }
        let mut args = vec!["stop"];
        args.extend(services);
        self.run(&args).map(|_| ())
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) a running emulator's processes: it keeps its state,
    /// and its clients' connections hang until it resumes, as a stalled server's do.
    pub fn pause(&self, service: &str, paused: bool) -> Result<(), String> {
        self.run(&[if paused { "pause" } else { "resume" }, service]).map(|_| ())
    }

    /// Restarts PostgreSQL for real (`pg_ctl restart`), its data kept: every connection drops.
    pub fn restart_postgres(&self) -> Result<(), String> {
        self.run(&["restart", "postgres"]).map(|_| ())
    }
}

fn run_with(env: &[(String, String)], script: &Path, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("bash");
    command.arg(script).args(args).envs(env.iter().cloned());
    let out = command.output().map_err(|e| format!("{}: {e}", script.display()))?;
    // `status` exits 3 when a service is stopped: an answer, not a failure.
    let answered = out.status.success() || (args.first() == Some(&"status") && out.status.code() == Some(3));
    if !answered {
        return Err(format!(
            "emulators.sh {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The caller's own set started (see `EmulatorSet::start`).
pub fn start() -> Result<(Endpoints, Vec<&'static str>), String> {
    EmulatorSet::default().start()
}

/// These services of the caller's own set stopped.
pub fn stop(services: &[&str]) -> Result<(), String> {
    EmulatorSet::default().stop(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_of_its_own_is_its_run_directory_and_six_ports() {
        let set = EmulatorSet::own("faults", 29092).expect("the script");
        let get = |k: &str| set.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert!(get("EMU_RUN").is_some_and(|d| d.ends_with("/.emu/faults")), "{set:?}");
        let ports = ["KAFKA_PORT", "COSMOS_PORT", "GCS_PORT", "PUBSUB_PORT", "MOTO_PORT", "PG_PORT"].map(get);
        assert_eq!(ports, ["29092", "29093", "29094", "29095", "29096", "29097"].map(Some));
        assert_eq!(EmulatorSet::default().env, []);
    }

    #[test]
    fn endpoints_are_read_from_the_scripts_exports() {
        let text = "# a comment\nexport KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092\nexport AWS_ENDPOINT_URL=http://127.0.0.1:15000\n\
                    export AWS_REGION=eu-west-1\nexport AWS_ACCESS_KEY_ID=testing\nexport AWS_SECRET_ACCESS_KEY=testing\n\
                    export PUBSUB_EMULATOR_HOST=127.0.0.1:18085\nexport DATABASE_URL=\"postgres://x?a=b\"\n\
                    export COSMOS_ENDPOINT=https://127.0.0.1:18081\nexport AZURE_COSMOS_X=false\nexport GCS_ENDPOINT=http://127.0.0.1:14443\n";
        let e = Endpoints::from_exports(text).expect("endpoints");
        assert_eq!(
            (e.kafka.as_str(), e.aws.as_str(), e.pubsub.as_str()),
            ("127.0.0.1:19092", "http://127.0.0.1:15000", "127.0.0.1:18085")
        );
        assert_eq!((e.database_url.as_str(), e.gcs.as_str()), ("postgres://x?a=b", "http://127.0.0.1:14443"));
        assert_eq!(e.cosmos_client, [("AZURE_COSMOS_X".to_string(), "false".to_string())]);
        assert!(Endpoints::from_exports("export AWS_REGION=x").is_err_and(|m| m.contains("KAFKA_BOOTSTRAP_SERVERS")));
    }
}
