#!/usr/bin/env bash
# Installs the Debian packages the project needs (build, tests and the lab), only those missing.
# Needs root; safe to run repeatedly.
set -euo pipefail

packages=(
  etcd-server etcd-client   # the etcd v3 backend's tests and `--datastore etcd`
  protobuf-compiler libprotobuf-dev   # etcd-client's build (protoc and its well-known .proto files)
  openssl                   # TLS certificates for the etcd TLS tests
  iproute2 nftables         # network namespaces and the dataplane
  iputils-ping              # connectivity probes in tests and the lab
  bird2 frr                 # real BGP peers: interop tests and the lab's top-of-rack router
  containernetworking-plugins   # Debian's CNI plugins: chaining tests and the CNI benchmark
  iperf3                    # dataplane throughput benchmark
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}; run this as root to install them" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
