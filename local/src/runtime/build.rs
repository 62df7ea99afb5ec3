//! The function binaries, built once with cargo as they deploy (the dev profile here), and where
//! cargo put them: read from its JSON messages, so a target or build directory set anywhere
//! (`CARGO_TARGET_DIR`, `CARGO_BUILD_BUILD_DIR`) is found.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Builds every function of the registry, always the same set: cargo unifies features over the
/// packages it builds together, so another set would rebuild the shared dependencies with other
/// features (minutes on 2 cores) instead of reusing them.
pub fn functions() -> Result<BTreeMap<String, PathBuf>, String> {
    let names: Vec<&str> = crate::registry::FUNCTIONS.iter().map(|f| f.name).collect();
    binaries(&names)
}

/// Builds the binaries of these packages and returns each one's path by name.
pub fn binaries(packages: &[&str]) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(["build", "--message-format=json-render-diagnostics", "--bins"]);
    for p in packages {
        command.args(["-p", p]);
    }
    let out = command.output().map_err(|e| format!("cargo build: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(path)) = (message["target"]["name"].as_str(), message["executable"].as_str()) {
            found.insert(name.to_string(), PathBuf::from(path));
        }
    }
    match packages.iter().find(|p| !found.contains_key(**p)) {
        Some(missing) => Err(format!("cargo built no binary named {missing}")),
        None => Ok(found),
    }
}
