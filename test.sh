#!/usr/bin/env bash
# Installs what the tests need, then runs every test of the workspace (unit, property,
# and integration tests against a real etcd and real embedded datastore files).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
