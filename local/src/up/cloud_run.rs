//! One Cloud Run service as its own process, as Cloud Run runs a container: its binary started
//! with `PORT` (a free one here), `K_SERVICE`, `K_REVISION` and `K_CONFIGURATION` set, plus its
//! own variables; ready when it accepts connections on `PORT`, started again if it exits. It
//! answers HTTP, nothing else.
use super::http_process::{HttpProcess, HttpProcessConfig, free_port};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr go; None: the runner's own.
    pub log: Option<PathBuf>,
}

pub struct CloudRunService {
    /// `http://127.0.0.1:<PORT>`.
    pub url: String,
    pub process: HttpProcess,
}

impl CloudRunService {
    pub async fn start(config: &ServiceConfig) -> Result<CloudRunService, String> {
        let port = free_port().map_err(|e| e.to_string())?;
        let mut env = vec![
            ("PORT".to_string(), port.to_string()),
            ("K_SERVICE".into(), config.name.clone()),
            ("K_REVISION".into(), format!("{}-00001-loc", config.name)),
            ("K_CONFIGURATION".into(), config.name.clone()),
        ];
        env.extend(config.env.iter().cloned());
        let process = HttpProcess::start(HttpProcessConfig {
            name: config.name.clone(),
            binary: config.binary.clone(),
            env,
            port,
            log: config.log.clone(),
        })
        .await?;
        Ok(CloudRunService { url: process.url.clone(), process })
    }

    pub async fn stop(&self) {
        self.process.stop().await;
    }
}
