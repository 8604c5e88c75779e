#!/usr/bin/env bash
# W4 context: build.sh and 64 small source files.   gen.sh DEST | gen.sh --mutate DEST
# Copied from ../shared/bench (hoist's shared benchmark material).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $1 == --mutate ]]; then echo "/* changed $(date +%s%N) */" >>"$2/src/m000.c"; exit; fi
rm -rf "${1:?}" && mkdir -p "$1" && cp "$here/Dockerfile" "$here/build.sh" "$1/"
python3 "$here/../../lib/gentree.py" "$1" 4 'src/m{i:03}.c' 64 2K 8K text
