//! Shared by the functions' start-up tests (included with `#[path]`): runs a function binary
//! with a clean environment and waits for it to exit. A binary that does not refuse to start
//! serves forever, so the wait is bounded and then the test fails instead of hanging.
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exit code and standard error of `binary` run with exactly `env`.
pub fn exit_of(binary: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{binary} was still running after 20 s: it did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.code(), stderr)
}
