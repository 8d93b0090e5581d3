#!/usr/bin/env bash
# The project's main job on a fresh machine: installs the Debian packages it needs, builds the
# binaries, and runs `calico-lab demo`: a Calico cluster in network namespaces on this machine
# (nodes, workloads made by the real CNI plugin, policy, IPAM), on the embedded datastore, then
# takes it all down again. Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
  echo "error: demo.sh needs root to create network namespaces; run it as root" >&2
  exit 1
fi
scripts/install-deps.sh
echo "building (first time: a few minutes)..."
cargo build --release --quiet -p lab -p node -p cni -p ctl
exec target/release/calico-lab demo "$@"
