//! `local new` for every trigger (every cloud among them) in a scratch copy of the workspace: the
//! copy then builds, and passes the new crates' tests, the registry's, the fixture/golden tests
//! and the checkout demo, with the new functions in it, as generated.
use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: [(&str, &str, &str); 6] = [
    ("aws", "try-msk", "msk"),
    ("aws", "try-s3", "s3"),
    ("aws", "try-schedule", "schedule"),
    ("aws", "try-stream", "dynamodb-stream"),
    ("azure", "try-kafka", "kafka"),
    ("gcp", "try-push", "pubsub-push"),
];

fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The workspace's files (tracked, and new ones not ignored) copied with their times, so the
/// copy's build reuses what the workspace already built, in a git repository of their own.
fn copy_workspace(from: &Path, to: &Path) {
    let (ok, files, err) = run(from, "git", &["ls-files", "--cached", "--others", "--exclude-standard"]);
    assert!(ok, "git ls-files: {err}");
    std::fs::create_dir_all(to).expect("scratch directory");
    for rel in files.lines().filter(|f| from.join(f).is_file()) {
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("directory");
        std::fs::copy(from.join(rel), &target).expect("copy");
        let modified = std::fs::metadata(from.join(rel)).and_then(|m| m.modified()).expect("mtime");
        std::fs::File::options().write(true).open(&target).and_then(|f| f.set_modified(modified)).expect("set mtime");
    }
    // A repository of its own, as a clone is (a test lists the tracked files).
    for args in [&["init", "-q"][..], &["add", "-A"]] {
        let (ok, _, err) = run(to, "git", args);
        assert!(ok, "git {args:?}: {err}");
    }
}

/// cargo in the copy, on the workspace's own target directory.
fn cargo(scratch: &Path, target: &Path, args: &[&str]) -> String {
    let nextest = Command::new("cargo").args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    let mut args: Vec<&str> = args.to_vec();
    if !nextest && args.first() == Some(&"nextest") {
        args.remove(0); // `cargo test` takes the same package and target selection
        args[0] = "test";
    }
    let out = Command::new("cargo")
        .args(&args)
        .current_dir(scratch)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap_or_else(|e| panic!("cargo {args:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo {args:?} in {} failed:\n{text}", scratch.display());
    text
}

#[test]
#[ignore = "copies and builds the workspace (minutes): scripts/test.sh runs it as a step of its own"]
fn a_function_scaffolded_for_each_trigger_builds_and_passes_the_tests_as_generated() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let local = PathBuf::from(env!("CARGO_BIN_EXE_local"));
    // <target>/<profile>/local
    let target = local.parent().and_then(Path::parent).expect("the target directory").to_path_buf();
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scaffold-{}", std::process::id()));
    copy_workspace(workspace, &scratch);

    let local = local.to_string_lossy().into_owned();
    for (cloud, name, trigger) in CASES {
        let (ok, written, err) = run(&scratch, &local, &["new", cloud, name, "--trigger", trigger]);
        assert!(ok, "local new {cloud} {name} --trigger {trigger}: {err}");
        for file in [format!("functions/{cloud}/{name}/src/lib.rs"), format!("functions/{cloud}/{name}/src/main.rs")] {
            assert!(written.lines().any(|l| l == file), "{name}: {file} not in {written}");
            assert!(scratch.join(&file).is_file(), "{file}");
        }
        assert!(written.contains("local/src/registry.rs") && written.contains("tests/golden/invoke/"), "{written}");
    }
    let (ok, _, err) = run(&scratch, &local, &["new", "aws", "try-msk", "--trigger", "msk"]);
    assert!(!ok && err.contains("\"try-msk\" is taken"), "a second scaffold of one name is refused: {err}");
    assert!(
        std::fs::read_to_string(scratch.join("functions/azure/try-kafka/order-confirmed/function.json"))
            .is_ok_and(|f| f.contains("kafkaTrigger"))
    );

    let table = std::fs::read_to_string(scratch.join("events/README.md")).expect("the fixtures' table");
    assert!(table.contains("|\n| `aws/msk/try-msk-order-confirmed.json` |"), "a row of the table:\n{table}");

    // What `local new` tells its user to run, for all six at once (the emulator tests and
    // `local up`'s aside: they need the emulators, and the new functions have none yet).
    cargo(&scratch, &target, &["fmt", "--all", "--", "--check"]);
    let mut command = vec!["nextest", "run"];
    for (_, name, _) in CASES {
        command.extend(["-p", name]);
    }
    command.extend(["-p", "local", "-p", "estate-tests", "-E", "not test(/^(emulators|up|up_clouds|up_faults)::/)"]);
    cargo(&scratch, &target, &command);
    let listed = cargo(&scratch, &target, &["run", "-q", "-p", "local", "--", "fixtures", "try-stream"]);
    assert!(listed.contains("aws/dynamodb-stream/try-stream-"), "{listed}");
    // The demo reads the registry: the new Kafka Lambda and Cloud Run service take their part.
    let demo = cargo(&scratch, &target, &["run", "-q", "-p", "local", "--", "demo", "--flows", "checkout"]);
    for name in ["try-msk", "try-push", "try-kafka"] {
        assert!(demo.lines().any(|l| l.starts_with(name)), "{name} not in the demo's report:\n{demo}");
    }
    std::fs::remove_dir_all(&scratch).ok();
}
