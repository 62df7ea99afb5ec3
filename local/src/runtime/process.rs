//! One deployed function binary run as Lambda runs it: a process started with the environment
//! Lambda gives (`AWS_LAMBDA_FUNCTION_NAME`, `_MEMORY_SIZE`, `_VERSION`, `AWS_LAMBDA_RUNTIME_API`,
//! the log group and stream, the region) plus the function's own variables, polling the runner's
//! Runtime API. An invocation past the function's timeout kills the process and starts a new one
//! (a cold start), as Lambda does; so does a process that exits.
use super::api::{Outcome, RuntimeApi};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// What a function is started with.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    pub name: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub region: String,
    /// The function's own variables, and anything else of the environment it must see
    /// (endpoints and test credentials of the emulators).
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr go (Lambda's CloudWatch log stream); None: the runner's own.
    pub log: Option<PathBuf>,
}

impl FunctionConfig {
    /// The environment Lambda sets for the function, then its own variables.
    pub fn lambda_env(&self, runtime_api: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_LAMBDA_FUNCTION_NAME".to_string(), self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), self.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_RUNTIME_API".into(), runtime_api.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{}", self.name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), format!("local/[$LATEST]{}", std::process::id())),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_DEFAULT_REGION".into(), self.region.clone()),
            ("AWS_EXECUTION_ENV".into(), "AWS_Lambda_provided.al2023".into()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }

    /// The function's ARN as Lambda names it to the runtime.
    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:000000000000:function:{}", self.region, self.name)
    }
}

/// A function binary's command as a cloud starts it: an environment of its own (only what a
/// process needs to run at all here is kept: the loader's search path, a home, the log filter),
/// no stdin, killed with its handle, in its own process group (a Ctrl-C at the runner's
/// terminal is the runner's to act on, not a signal each function process dies of), and its
/// output to `log` when one is given (the cloud's log stream).
pub fn isolated(binary: &std::path::Path, log: Option<&std::path::Path>) -> std::io::Result<Command> {
    let mut command = Command::new(binary);
    command.env_clear();
    for keep in ["PATH", "HOME", "LD_LIBRARY_PATH", "RUST_LOG", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(keep) {
            command.env(keep, v);
        }
    }
    command.stdin(Stdio::null()).kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    if let Some(path) = log {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        command.stdout(log.try_clone()?).stderr(log);
    }
    Ok(command)
}

/// A function's process and its Runtime API; one invocation at a time.
pub struct FunctionProcess {
    config: FunctionConfig,
    api: RuntimeApi,
    address: String,
    child: Mutex<Option<Child>>,
    /// How many processes were started (1 + restarts).
    starts: std::sync::atomic::AtomicU32,
    /// The process's id, while one runs (0: none).
    pid: std::sync::atomic::AtomicU32,
    /// Set by `stop`: an invocation in flight ends at once, and nothing restarts.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl FunctionProcess {
    /// Serves its Runtime API and starts the process.
    pub async fn start(config: FunctionConfig) -> std::io::Result<FunctionProcess> {
        let api = RuntimeApi::new(config.arn());
        let address = api.serve().await?.to_string();
        let process = FunctionProcess {
            config,
            api,
            address,
            child: Mutex::new(None),
            starts: std::sync::atomic::AtomicU32::new(0),
            pid: std::sync::atomic::AtomicU32::new(0),
            stopping: tokio::sync::watch::channel(false).0,
        };
        *process.child.lock().await = Some(process.spawn()?);
        Ok(process)
    }

    fn spawn(&self) -> std::io::Result<Child> {
        self.starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.api.clear_init_error();
        let mut command = isolated(&self.config.binary, self.config.log.as_deref())?;
        command.envs(self.config.lambda_env(&self.address));
        let child = command.spawn()?;
        self.pid.store(child.id().unwrap_or(0), std::sync::atomic::Ordering::SeqCst);
        Ok(child)
    }

    /// The running process's id (0 when none runs), e.g. to kill it from outside as a crash would.
    pub fn pid(&self) -> u32 {
        self.pid.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many times a process was started (the first start and every restart).
    pub fn starts(&self) -> u32 {
        self.starts.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn api(&self) -> &RuntimeApi {
        &self.api
    }

    /// Invokes the function with `event` and waits for its outcome, as Lambda does: an
    /// invocation past the timeout kills the process and the next starts a new one; a process
    /// that exits mid-invocation is `Runtime.ExitError` and is started again.
    pub async fn invoke(&self, event: Vec<u8>) -> Outcome {
        let mut child = self.child.lock().await;
        if let Some(exited) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            tracing::warn!(function = %self.config.name, %exited, "the process had exited: starting a new one");
            *child = self.spawn().ok();
        }
        let invoked = self.api.invoke(event, self.config.timeout);
        tokio::pin!(invoked);
        let mut stopping = self.stopping.subscribe();
        let outcome = loop {
            tokio::select! {
                outcome = &mut invoked => break outcome,
                _ = stopping.wait_for(|s| *s) => return Outcome::TimedOut,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                        let body = serde_json::json!({"errorMessage": format!("Runtime exited: {status}"), "errorType": "Runtime.ExitError"});
                        break Outcome::Error { error_type: Some("Runtime.ExitError".into()), body: body.to_string().into_bytes() };
                    }
                }
            }
        };
        let restart = match &outcome {
            Outcome::TimedOut | Outcome::InitError { .. } => true,
            Outcome::Error { error_type, .. } => error_type.as_deref() == Some("Runtime.ExitError"),
            Outcome::Response(_) => false,
        };
        if restart && !*self.stopping.borrow() {
            if let Some(mut old) = child.take() {
                let _ = old.kill().await;
            }
            *child = self.spawn().ok();
        }
        outcome
    }

    /// Stops the process, ending an invocation in flight.
    pub async fn stop(&self) {
        self.stopping.send_replace(true);
        if let Some(mut c) = self.child.lock().await.take() {
            let _ = c.kill().await;
        }
        self.pid.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}
