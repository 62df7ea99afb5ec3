//! The repository stands on its own: no tracked file points outside it. The notes the project
//! was built from lived in a folder beside it; what the project needs from them is written into
//! its own docs, and a path there would be a dead link in any clone.
use std::process::Command;

#[test]
fn no_tracked_file_names_a_path_outside_the_repository() {
    // Spelled in two pieces so this file does not match itself.
    let outside = ["..", "/shared"].concat();
    let root = estate_tests::repo_root();
    let listed = Command::new("git").arg("ls-files").current_dir(&root).output().expect("git runs");
    assert!(listed.status.success(), "git ls-files: {}", String::from_utf8_lossy(&listed.stderr));
    let files: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_string).collect();
    assert!(files.iter().any(|f| f == "README.md"), "the listing is the repository's");
    let naming: Vec<&String> = files
        .iter()
        .filter(|f| std::fs::read(root.join(f)).is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(&outside)))
        .collect();
    assert!(naming.is_empty(), "these tracked files name {outside}: {naming:?}");
}
