#!/usr/bin/env bash
# A tour of calicoctl against a throw-away embedded datastore: apply a sample cluster's
# resources, list, label, patch, a refused bad input, and v1 conversion.
set -euo pipefail
cd "$(dirname "$0")/.."

bold() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

bold "Installing Debian packages (if missing) and building"
scripts/install-deps.sh
cargo build --release --quiet -p ctl
export PATH="$PWD/target/release:$PATH"

work=$(mktemp -d /tmp/calico-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DATASTORE_TYPE=embedded DATASTORE_PATH="$work/calico.db"

bold "Apply a sample cluster (examples/cluster.yaml) to the embedded datastore"
run calicoctl apply -f examples/cluster.yaml

bold "List what is there"
run calicoctl get ippools -o wide
run calicoctl get nodes -o wide
run calicoctl get bgppeers
run calicoctl get networkpolicies -A -o wide
run calicoctl get globalnetworkpolicy security.deny-blue -o yaml

bold "Edit: label a node, patch a pool"
run calicoctl label node node1 zone=west
run calicoctl patch ippool rack-2-pool -p '{"spec":{"natOutgoing":true}}'
run calicoctl get ippool -o custom-columns=NAME,CIDR,NAT

bold "Bad input is refused with a clear error and changes nothing"
cat > "$work/bad.yaml" <<'YAML'
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: overlapping}
spec: {cidr: 192.168.10.0/24}
YAML
run calicoctl create -f "$work/bad.yaml" || echo "(exit status $?, as expected)"
run calicoctl get ippools

bold "Convert Calico v1 YAML to v3"
run calicoctl convert -f examples/v1-resources.yaml

bold "Done"
echo "The datastore was $DATASTORE_PATH; it is removed now."
