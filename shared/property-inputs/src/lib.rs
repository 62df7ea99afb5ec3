//! Inputs for the property tests of every decoder of the estate, shared by the crates that own
//! the decoders (a dev-dependency only): the checked-in fixtures, mutations of them (byte-level,
//! and structure-aware for JSON, through the layers of JSON that travel inside strings), and the
//! number of cases each property runs.
//!
//! A property test of a decoder is one `proptest!` block:
//!
//! ```ignore
//! proptest! {
//!     #![proptest_config(property_inputs::config())]
//!     #[test]
//!     fn my_decoder_decodes_or_refuses(bytes in property_inputs::mutations(property_inputs::fixtures("aws/msk"))) {
//!         match my_decoder(&bytes) { Ok(v) => /* re-encodes to v */, Err(e) => /* a typed error */ }
//!     }
//! }
//! ```
mod bytes;
mod json;

pub use bytes::{ByteEdit, byte_edit};
pub use json::{Doc, Edit, edit, layers, raw_json};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cases per property when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 10_000;

/// The case count: `PROPTEST_CASES` if set (proptest's own variable, so it still works for a
/// plain `proptest!` block), else [`DEFAULT_CASES`]. Read here because `Config::with_cases`
/// would overrule the variable, and the default config cannot tell it from proptest's 256.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// The config of every decoder property: [`cases`] cases, and a failing input's seed kept in
/// `<test file>.proptest-regressions` beside the test, which is committed so the case runs
/// first from then on (proptest's default looks for a `lib.rs` above the test, which
/// integration tests do not have).
pub fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

/// The repository's root (this crate is `shared/property-inputs`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One checked-in fixture under `events/`, e.g. `aws/msk/order-updater-confirmed.json`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = repo_root().join("events").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// Every `.json` fixture of a folder under `events/` (e.g. `aws/msk`), in name order.
pub fn fixtures(dir: &str) -> Vec<Vec<u8>> {
    let full = repo_root().join("events").join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("fixtures {}: {e}", full.display()))
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", full.display());
    paths.iter().map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect()
}

/// Inputs made from `seeds`: mostly a JSON seed with one to three structure-aware edits (any
/// value replaced by another type, a huge number, deep nesting, bad UTF-8 or base64, a member
/// dropped, duplicated or reordered, also inside the JSON a string carries), else any seed with
/// byte edits (flips, inserts, deletes, truncation), else a few random bytes.
pub fn mutations(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let docs: Vec<Doc> = seeds.iter().filter_map(|s| Doc::parse(s)).collect();
    let bytes = byte_mutations(seeds);
    if docs.is_empty() {
        return prop_oneof![9 => bytes, 1 => random_bytes()].boxed();
    }
    prop_oneof![6 => json_mutations(docs), 3 => bytes, 1 => random_bytes()].boxed()
}

/// One of `docs` with one to three [`Edit`]s, rendered as (perhaps no longer valid) JSON.
pub fn json_mutations(docs: Vec<Doc>) -> BoxedStrategy<Vec<u8>> {
    let docs = Arc::new(docs);
    (any::<Index>(), prop::collection::vec((any::<Index>(), edit()), 1..=3))
        .prop_map(move |(pick, edits)| docs[pick.index(docs.len())].render(&edits))
        .boxed()
}

/// One of `seeds` with one to four [`ByteEdit`]s.
pub fn byte_mutations(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let seeds = Arc::new(seeds);
    (any::<Index>(), prop::collection::vec(byte_edit(), 1..=4))
        .prop_map(move |(pick, edits)| {
            let mut b = seeds[pick.index(seeds.len())].clone();
            edits.iter().for_each(|e| e.apply(&mut b));
            b
        })
        .boxed()
}

/// Up to 64 bytes of anything.
pub fn random_bytes() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64).boxed()
}
