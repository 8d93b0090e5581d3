//! Golden tests: `golden/NN-input-*.json` (a desired state) -> `NN-output-*-{v4,v6}.nft` (the
//! batch that programs it from nothing). Set `DATAPLANE_REGENERATE=1` to rewrite the outputs.

use std::fs;
use std::path::{Path, PathBuf};

use dataplane::model::{DesiredState, IpVersion};
use dataplane::{diff, render, Table};

fn inputs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("-input-"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no golden inputs in {}", dir.display());
    inputs
}

#[test]
fn rendered_batches_match_golden_files() {
    let regenerate = std::env::var_os("DATAPLANE_REGENERATE").is_some();
    let mut failures = Vec::new();
    for input in inputs() {
        let state: DesiredState =
            serde_json::from_str(&fs::read_to_string(&input).unwrap()).unwrap();
        for (family, suffix) in [(IpVersion::V4, "v4"), (IpVersion::V6, "v6")] {
            let table = render(&state, family).unwrap();
            let batch = diff(&Table::empty(family), &table);
            let name = input
                .to_string_lossy()
                .replace("-input-", "-output-")
                .replace(".json", &format!("-{suffix}.nft"));
            if regenerate {
                fs::write(&name, &batch.text).unwrap();
            } else if fs::read_to_string(&name).ok().as_deref() != Some(batch.text.as_str()) {
                failures.push(name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatch (rerun with DATAPLANE_REGENERATE=1 and review): {failures:?}"
    );
}

#[test]
fn rendering_is_deterministic_and_a_fresh_render_diffs_to_nothing() {
    for input in inputs() {
        let state: DesiredState =
            serde_json::from_str(&fs::read_to_string(&input).unwrap()).unwrap();
        for family in [IpVersion::V4, IpVersion::V6] {
            let a = render(&state, family).unwrap();
            let b = render(&state, family).unwrap();
            assert_eq!(a, b);
            assert!(diff(&a, &b).is_empty());
        }
    }
}

#[test]
fn endpoint_order_does_not_change_the_table() {
    for input in inputs() {
        let state: DesiredState =
            serde_json::from_str(&fs::read_to_string(&input).unwrap()).unwrap();
        let mut reversed = state.clone();
        reversed.workloads.reverse();
        reversed.host_endpoints.reverse();
        for family in [IpVersion::V4, IpVersion::V6] {
            assert_eq!(
                render(&state, family).unwrap(),
                render(&reversed, family).unwrap(),
                "{}",
                input.display()
            );
        }
    }
}
