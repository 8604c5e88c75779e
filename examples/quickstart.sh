#!/usr/bin/env bash
# Quick start on a fresh Debian machine (as root, offline except for Debian's and
# crates.io's package servers): installs what is missing, builds hoist, makes a busybox
# base image locally, builds examples/hello with hoist and runs the program it built
# inside the resulting filesystem.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in busybox-static umoci; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release --quiet
work=${HOIST_QUICKSTART_DIR:-/tmp/hoist-quickstart}
mkdir -p "$work"
examples/make-busybox-layout.sh "$work/busybox"
./target/release/hoist build \
  --root "$work/root" \
  --build-context busybox=oci-layout://"$work/busybox":latest \
  -o type=local,dest="$work/out" \
  examples/hello
echo "--- running /usr/local/bin/hello from the built filesystem:"
chroot "$work/out" /usr/local/bin/hello
