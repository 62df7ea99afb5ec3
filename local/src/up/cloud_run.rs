//! One Cloud Run service as its own process, as Cloud Run runs a container: its binary started
//! with `PORT` (a free one here), `K_SERVICE`, `K_REVISION` and `K_CONFIGURATION` set, plus its
//! own variables; ready when it accepts connections on `PORT`. It answers HTTP, nothing else.
use crate::runtime::process::isolated;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Child;

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
    child: Child,
}

/// How long a service may take to listen (Cloud Run's default startup probe allows 240 s; a
/// local process that takes more than this is not starting).
const STARTUP: Duration = Duration::from_secs(30);

impl CloudRunService {
    pub async fn start(config: &ServiceConfig) -> Result<CloudRunService, String> {
        let port = {
            let free = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
            free.local_addr().map_err(|e| e.to_string())?.port()
        };
        let mut command = isolated(&config.binary, config.log.as_deref()).map_err(|e| e.to_string())?;
        command
            .env("PORT", port.to_string())
            .env("K_SERVICE", &config.name)
            .env("K_REVISION", format!("{}-00001-loc", config.name))
            .env("K_CONFIGURATION", &config.name)
            .envs(config.env.iter().cloned());
        let mut child = command.spawn().map_err(|e| format!("{}: {e}", config.binary.display()))?;
        let until = tokio::time::Instant::now() + STARTUP;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(CloudRunService { url: format!("http://127.0.0.1:{port}"), child });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{} exited before it listened ({status})", config.name));
            }
            if tokio::time::Instant::now() > until {
                return Err(format!("{} did not listen on PORT {port} within {STARTUP:?}", config.name));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
