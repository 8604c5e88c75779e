#!/usr/bin/env bash
# W2 context: a single small file.   gen.sh DEST | gen.sh --mutate DEST
# Copied from ../shared/bench (hoist's shared benchmark material).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $1 == --mutate ]]; then echo "changed $(date +%s%N)" >"$2/mid.txt"; exit; fi
rm -rf "${1:?}" && mkdir -p "$1" && cp "$here/Dockerfile" "$1/"
echo "middle" >"$1/mid.txt"
