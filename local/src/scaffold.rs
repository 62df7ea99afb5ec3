//! `local new <cloud> <name> --trigger <trigger>`: a new function from the templates in
//! `local/templates/<trigger>/`, joined to the estate. It writes the crate at
//! `functions/<cloud>/<name>`, its fixture under `events/` and the fixture's goldens under
//! `tests/golden/`, and adds one line each to the registry, its hosts, the workspace's and
//! `local`'s dependencies and the fixtures' table. Everything is checked before anything is
//! written: a name in use, an existing file or a trigger of another cloud is refused.
use crate::registry::{self, Trigger};
use std::path::{Path, PathBuf};

/// The line of each edited file above which `local new` inserts.
const REGISTRY_MARK: &str = "    // `local new` adds its entries above this line.";
const CARGO_MARK: &str = "# `local new` adds function crates above this line.";
const FIXTURES_MARK: &str = "<!-- `local new` adds its fixtures' rows above this line. -->";
/// An AWS function's deployment under `local up`, and its row of the README's table of them.
const LAMBDAS_MARK: &str = "    // `local new` adds its deployments above this line.";
const LAMBDAS_README_MARK: &str = "<!-- `local new` adds its Lambda's row above this line. -->";
/// A Cloud Run service's or a function app's deployment under `local up`, and its README row.
const CLOUD_RUN_MARK: &str = "    // `local new` adds its Cloud Run services above this line.";
const CLOUD_RUN_README_MARK: &str = "<!-- `local new` adds its Cloud Run service's row above this line. -->";
const APPS_MARK: &str = "    // `local new` adds its function apps above this line.";
const APPS_README_MARK: &str = "<!-- `local new` adds its function app's row above this line. -->";
/// Template files that are not copied into the crate.
const NOT_COPIED: [&str; 11] = [
    "lambda-entry.rs",
    "lambda-row.md",
    "service-entry.rs",
    "service-row.md",
    "registry-entry.rs",
    "host.rs",
    "fixture.json",
    "fixture.path",
    "invoke.golden.json",
    "decode.golden.json",
    "README.md",
];

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "{0:?} is not a function name: lowercase letters, digits and single hyphens, starting with a letter, at most 40 characters"
    )]
    BadName(String),
    #[error("unknown trigger {0:?}; known: msk, s3, schedule, dynamodb-stream (aws), kafka (azure), pubsub-push (gcp)")]
    UnknownTrigger(String),
    #[error("the {trigger} trigger runs on {runs_on}, not {cloud}")]
    WrongCloud { trigger: String, runs_on: &'static str, cloud: String },
    #[error("{0:?} is taken: {1}")]
    Taken(String, String),
    #[error("{0} exists already; nothing was written")]
    Exists(String),
    #[error("not in the workspace: {0}")]
    NoWorkspace(String),
    #[error("{file}: {detail}")]
    Io { file: String, detail: String },
}

/// Where a new function starts from, and what it touches.
pub struct Plan {
    root: PathBuf,
    /// Files written whole, relative to the root.
    files: Vec<(String, String)>,
    /// Lines inserted: (file, line to insert it above, text).
    inserts: Vec<(String, &'static str, String)>,
    /// Text appended: (file, text).
    appends: Vec<(String, String)>,
}

/// The workspace root: the nearest directory upwards with `local/templates`.
pub fn workspace_root(from: &Path) -> Result<PathBuf, ScaffoldError> {
    from.ancestors()
        .find(|d| d.join("local/templates").is_dir() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| ScaffoldError::NoWorkspace(format!("no local/templates above {}", from.display())))
}

fn valid_name(name: &str) -> bool {
    let starts = name.starts_with(|c: char| c.is_ascii_lowercase());
    let chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    starts && chars && name.len() <= 40 && !name.ends_with('-') && !name.contains("--")
}

fn read(path: &Path) -> Result<String, ScaffoldError> {
    std::fs::read_to_string(path)
        .map_err(|e| ScaffoldError::Io { file: path.display().to_string(), detail: e.to_string() })
}

/// The placeholders of a template: `{{name}}`, `{{crate}}`, `{{Type}}`.
fn fill(text: &str, name: &str) -> String {
    let krate = name.replace('-', "_");
    let camel: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    text.replace("{{name}}", name).replace("{{crate}}", &krate).replace("{{Type}}", &camel)
}

/// Refuses a name another crate or dependency of the workspace has, and one whose fixtures'
/// prefix (`<name>-`) would take another function's fixtures or be taken by its prefix.
fn taken(root: &Path, name: &str, trigger: Trigger) -> Result<(), ScaffoldError> {
    let refuse = |why: String| Err(ScaffoldError::Taken(name.into(), why));
    if registry::function(name).is_ok() {
        return refuse("a function of the estate has it".into());
    }
    let manifest = read(&root.join("Cargo.toml"))?;
    if manifest.lines().any(|l| l.split_once(" = ").is_some_and(|(key, _)| key.trim() == name)) {
        return refuse("the workspace has a dependency of that name".into());
    }
    if name == "local" || name == "estate-tests" {
        return refuse("the workspace has a crate of that name".into());
    }
    for dir in ["shared", "functions/aws", "functions/azure", "functions/gcp"] {
        if root.join(dir).join(name).exists() {
            return refuse(format!("the workspace has a crate of that name ({dir})"));
        }
    }
    let prefix = format!("{name}-");
    let shared =
        registry::FUNCTIONS.iter().filter(|f| f.trigger.folders().iter().any(|d| trigger.folders().contains(d)));
    for f in shared.filter(|f| !f.fixture_prefix.is_empty()) {
        if f.fixture_prefix.starts_with(&prefix) || prefix.starts_with(f.fixture_prefix) {
            return refuse(format!("its fixtures' prefix {prefix:?} and {}'s {:?} overlap", f.name, f.fixture_prefix));
        }
    }
    for folder in trigger.folders() {
        let files = std::fs::read_dir(root.join("events").join(folder)).into_iter().flatten().flatten();
        if let Some(file) = files.map(|e| e.file_name().to_string_lossy().into_owned()).find(|f| f.starts_with(&prefix))
        {
            return refuse(format!("events/{folder}/{file} would become its fixture"));
        }
    }
    Ok(())
}

/// Every file under `dir`, relative to it, in name order.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

impl Plan {
    /// What `local new` would write; nothing is touched yet.
    pub fn new(root: &Path, cloud: &str, name: &str, trigger_name: &str) -> Result<Plan, ScaffoldError> {
        if !valid_name(name) {
            return Err(ScaffoldError::BadName(name.into()));
        }
        let (trigger, runs_on) =
            Trigger::by_name(trigger_name).ok_or_else(|| ScaffoldError::UnknownTrigger(trigger_name.into()))?;
        if runs_on.as_str() != cloud {
            let wrong = ScaffoldError::WrongCloud {
                trigger: trigger_name.into(),
                runs_on: runs_on.as_str(),
                cloud: cloud.into(),
            };
            return Err(wrong);
        }
        taken(root, name, trigger)?;
        let templates = root.join("local/templates").join(trigger_name);
        let crate_dir = format!("functions/{cloud}/{name}");
        let mut files = Vec::new();
        for rel in files_under(&templates) {
            let rel_text = rel.to_string_lossy().into_owned();
            if !NOT_COPIED.contains(&rel_text.as_str()) {
                files.push((format!("{crate_dir}/{rel_text}"), fill(&read(&templates.join(&rel))?, name)));
            }
        }
        let fixture = fill(read(&templates.join("fixture.path"))?.trim(), name);
        files.push((format!("events/{fixture}"), fill(&read(&templates.join("fixture.json"))?, name)));
        files.push((
            format!("tests/golden/invoke/{fixture}"),
            fill(&read(&templates.join("invoke.golden.json"))?, name),
        ));
        if trigger_name != "kafka" && trigger_name != "pubsub-push" {
            // The AWS envelopes are also decoded on their own, each against its golden.
            let decoded = fill(&read(&templates.join("decode.golden.json"))?, name);
            files.push((format!("tests/golden/decode/{fixture}"), decoded));
        }
        let mut inserts = vec![
            ("local/src/registry.rs".into(), REGISTRY_MARK, fill(&read(&templates.join("registry-entry.rs"))?, name)),
            ("Cargo.toml".into(), CARGO_MARK, format!("{name} = {{ path = \"{crate_dir}\" }}\n")),
            ("local/Cargo.toml".into(), CARGO_MARK, format!("{name}.workspace = true\n")),
            (
                "events/README.md".into(),
                FIXTURES_MARK,
                format!(
                    "| `{fixture}` | {} → {name} | the `{trigger_name}` template of `local new`: replace it with a payload of your own |\n",
                    trigger.envelope()
                ),
            ),
        ];
        if cloud == "aws" {
            inserts.push((
                "local/src/up/lambdas.rs".into(),
                LAMBDAS_MARK,
                fill(&read(&templates.join("lambda-entry.rs"))?, name),
            ));
            inserts.push((
                "README.md".into(),
                LAMBDAS_README_MARK,
                fill(&read(&templates.join("lambda-row.md"))?, name),
            ));
        }
        let marks = match cloud {
            "gcp" => Some((CLOUD_RUN_MARK, CLOUD_RUN_README_MARK)),
            "azure" => Some((APPS_MARK, APPS_README_MARK)),
            _ => None,
        };
        if let Some((entry_mark, row_mark)) = marks {
            let entry = fill(&read(&templates.join("service-entry.rs"))?, name);
            inserts.push(("local/src/up/services.rs".into(), entry_mark, entry));
            inserts.push(("README.md".into(), row_mark, fill(&read(&templates.join("service-row.md"))?, name)));
        }
        let appends = vec![(
            "local/src/registry/hosts.rs".into(),
            format!("\n{}", fill(&read(&templates.join("host.rs"))?, name)),
        )];
        let plan = Plan { root: root.to_path_buf(), files, inserts, appends };
        plan.check()?;
        Ok(plan)
    }

    /// Refuses before writing: no file of the plan may exist, and every edited file has its mark.
    fn check(&self) -> Result<(), ScaffoldError> {
        for (rel, _) in &self.files {
            if self.root.join(rel).exists() {
                return Err(ScaffoldError::Exists(rel.clone()));
            }
        }
        for (rel, mark, _) in &self.inserts {
            if !read(&self.root.join(rel))?.lines().any(|l| l == *mark) {
                return Err(ScaffoldError::Io { file: rel.clone(), detail: format!("no line {mark:?} to add above") });
            }
        }
        Ok(())
    }

    /// Writes the plan; returns the files written or edited, relative to the root.
    pub fn write(self) -> Result<Vec<String>, ScaffoldError> {
        let io = |file: &Path| {
            let file = file.display().to_string();
            move |e: std::io::Error| ScaffoldError::Io { file, detail: e.to_string() }
        };
        let mut touched = Vec::new();
        for (rel, text) in &self.files {
            let path = self.root.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            std::fs::write(&path, text).map_err(io(&path))?;
            touched.push(rel.clone());
        }
        for (rel, mark, line) in &self.inserts {
            let path = self.root.join(rel);
            let text = read(&path)?.replacen(&format!("{mark}\n"), &format!("{line}{mark}\n"), 1);
            std::fs::write(&path, text).map_err(io(&path))?;
            touched.push(rel.clone());
        }
        for (rel, more) in &self.appends {
            let path = self.root.join(rel);
            let text = read(&path)? + more;
            std::fs::write(&path, text).map_err(io(&path))?;
            touched.push(rel.clone());
        }
        // A signature fits one line or several by the length of the name in it: rustfmt lays the
        // Rust files out as `cargo fmt --check` wants them.
        let rust: Vec<PathBuf> = touched
            .iter()
            .filter(|f| f.ends_with(".rs") && *f != "local/src/registry.rs")
            .map(|f| self.root.join(f))
            .collect();
        let config = self.root.join("rustfmt.toml");
        let formatted = std::process::Command::new("rustfmt")
            .args(["--edition", "2024", "--config-path"])
            .arg(&config)
            .args(&rust)
            .status();
        if !formatted.is_ok_and(|s| s.success()) {
            eprintln!("rustfmt did not run on the new files: run `cargo fmt --all` before you commit");
        }
        Ok(touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_placeholders() {
        assert!(valid_name("order-notifier") && valid_name("a1"));
        for bad in ["Order", "-x", "x-", "a--b", "a_b", "1a", ""] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            fill("{{name}} {{crate}} {{Type}}", "lake-archiver-2"),
            "lake-archiver-2 lake_archiver_2 LakeArchiver2"
        );
    }

    #[test]
    fn a_wrong_cloud_a_taken_name_or_an_unknown_trigger_is_refused_before_anything_is_written() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the workspace");
        let refused = |cloud, name, trigger| Plan::new(&root, cloud, name, trigger).err().map(|e| e.to_string());
        assert_eq!(refused("gcp", "x", "msk").as_deref(), Some("the msk trigger runs on aws, not gcp"));
        assert!(refused("aws", "cart-cleaner", "msk").is_some_and(|e| e.contains("a function of the estate has it")));
        assert!(refused("aws", "orders", "msk").is_some_and(|e| e.contains("dependency of that name")));
        assert!(
            refused("aws", "order", "msk").is_some_and(|e| e.contains("overlap")),
            "order-updater's order-updater-"
        );
        assert!(refused("gcp", "audit", "pubsub-push").is_some_and(|e| e.contains("overlap")));
        assert!(refused("gcp", "erp", "pubsub-push").is_some_and(|e| e.contains("would become its fixture")));
        assert!(refused("aws", "x", "sqs").is_some_and(|e| e.contains("unknown trigger \"sqs\"")));
        assert!(refused("aws", "X", "msk").is_some_and(|e| e.contains("not a function name")));
    }
}
