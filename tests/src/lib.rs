//! Helpers for the black-box tests: fixtures, golden files, emulator endpoints, fresh names.
pub mod checkout;
pub mod contracts;

use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let path = repo_root().join("events").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Every recorded trigger fixture under events/ (schemas excluded), relative to events/.
pub fn all_fixtures() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                // Not fixtures: the events' schemas, and the stores fixtures start from.
                if p.file_name().is_some_and(|n| n != "schemas" && n != "state") {
                    walk(&p, base, out);
                }
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p.strip_prefix(base).unwrap_or(&p).to_string_lossy().into_owned());
            }
        }
    }
    let base = repo_root().join("events");
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    out.sort();
    out
}

/// Compares `actual` with tests/golden/<name>. `UPDATE_GOLDEN=1` writes it instead; a written
/// golden is read by hand once before it is committed.
pub fn assert_golden(name: &str, actual: &Value) {
    let path = repo_root().join("tests/golden").join(name);
    let text = serde_json::to_string_pretty(actual).unwrap_or_default() + "\n";
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).ok();
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden {} missing ({e}); run with UPDATE_GOLDEN=1 and review it", path.display()));
    assert_eq!(text, expected, "output differs from golden {}", path.display());
}

/// An emulator endpoint from the environment. Missing means the test fails, loudly: the
/// emulator-backed tests are never skipped. `scripts/test.sh` starts the emulators and sets these.
pub fn emulator(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: emulator-backed tests need the emulators (run scripts/test.sh, or scripts/emulators.sh start and its env)"
        ),
    }
}

/// A name no other test run uses: fresh topics, buckets and containers per test.
pub fn fresh(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Which function consumes a recorded fixture, by its folder and name (the registry's rule).
pub fn function_for(path: &str) -> Option<&'static str> {
    local::registry::function_for(path)
}

/// Captures the JSON log lines written while its guard is the default subscriber.
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The functions' own log format (`serve::json_subscriber`), at trace, into this buffer.
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        tracing::subscriber::set_default(serve::json_subscriber(serve::EnvFilter::new("trace"), move || writer.clone()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

/// The `local` binary the workspace build made (its package has CLI tests, so every test run
/// builds it): beside this test's `deps/` folder, or, when cargo's build directory is set apart
/// (`build.build-dir`), in the workspace's `target/debug`.
pub fn local_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let workspace_target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug");
    let candidates = [dir.join("local"), workspace_target.join("local")];
    let bin = candidates.iter().find(|b| b.exists());
    bin.cloned().unwrap_or_else(|| panic!("{candidates:?} missing: build the workspace's tests first"))
}
