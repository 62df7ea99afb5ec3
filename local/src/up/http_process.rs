//! A function that answers HTTP on a port the platform gives it — a Cloud Run container on
//! `PORT`, an Azure custom handler on `FUNCTIONS_CUSTOMHANDLER_PORT` — as its own process, kept
//! running as the platforms keep theirs: one that exits is started again on the same port after
//! a pause, and until it listens again its traffic fails (Cloud Run answers 503, the Functions
//! host fails the invocation), which the trigger's retries absorb.
use crate::runtime::process::isolated;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::process::Child;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct HttpProcessConfig {
    pub name: String,
    pub binary: PathBuf,
    /// Everything it is given, its port's variable included.
    pub env: Vec<(String, String)>,
    pub port: u16,
    /// Where its stdout and stderr go; None: the runner's own.
    pub log: Option<PathBuf>,
}

/// How long a process may take to listen (Cloud Run's default startup probe allows 240 s; a
/// local process that takes more than this is not starting).
const STARTUP: Duration = Duration::from_secs(30);
/// The pause before an exited process is started again.
const RESTART_PAUSE: Duration = Duration::from_millis(500);

/// A port nothing listens on now, for the next process.
pub fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr().map(|a| a.port())
}

pub struct HttpProcess {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pid: Arc<AtomicU32>,
    starts: Arc<AtomicU32>,
    stop: tokio::sync::watch::Sender<bool>,
    supervisor: std::sync::Mutex<Option<JoinHandle<()>>>,
}

async fn spawn(config: &HttpProcessConfig) -> Result<Child, String> {
    let mut command = isolated(&config.binary, config.log.as_deref()).map_err(|e| e.to_string())?;
    command.envs(config.env.iter().cloned());
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", config.binary.display()))?;
    let until = tokio::time::Instant::now() + STARTUP;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", config.port)).await.is_ok() {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited before it listened ({status})", config.name));
        }
        if tokio::time::Instant::now() > until {
            return Err(format!("{} did not listen on port {} within {STARTUP:?}", config.name, config.port));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl HttpProcess {
    /// Starts it and returns once it listens; a first start that fails is an error (a process
    /// that cannot start is not restarted in a loop).
    pub async fn start(config: HttpProcessConfig) -> Result<HttpProcess, String> {
        let child = spawn(&config).await?;
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        let starts = Arc::new(AtomicU32::new(1));
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let url = format!("http://127.0.0.1:{}", config.port);
        let supervisor = tokio::spawn(supervise(child, config, pid.clone(), starts.clone(), stopping));
        Ok(HttpProcess { url, pid, starts, stop, supervisor: std::sync::Mutex::new(Some(supervisor)) })
    }

    /// The running process's id (0 while it is being started again).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// How many processes were started (1 + restarts).
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }

    /// Kills the process and stops restarting it.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.supervisor.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for HttpProcess {
    /// A process is never left behind its handle (a start that failed half-way drops them).
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.supervisor.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort(); // its child is killed as it is dropped
        }
    }
}

async fn supervise(
    child: Child,
    config: HttpProcessConfig,
    pid: Arc<AtomicU32>,
    starts: Arc<AtomicU32>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut child = Some(child);
    loop {
        let Some(running) = child.as_mut() else {
            tokio::select! {
                _ = tokio::time::sleep(RESTART_PAUSE) => {}
                _ = stopping.changed() => return,
            }
            starts.fetch_add(1, Ordering::SeqCst);
            match spawn(&config).await {
                Ok(c) => {
                    pid.store(c.id().unwrap_or(0), Ordering::SeqCst);
                    tracing::warn!(function = config.name, "started again");
                    child = Some(c);
                }
                Err(e) => tracing::error!(function = config.name, error = %e, "could not start again; trying again"),
            }
            continue;
        };
        tokio::select! {
            status = running.wait() => {
                pid.store(0, Ordering::SeqCst);
                tracing::warn!(function = config.name, status = ?status.ok(), "the process exited; starting it again");
                child = None;
            }
            _ = stopping.changed() => {
                let _ = running.kill().await;
                return;
            }
        }
    }
}
