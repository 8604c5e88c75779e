#!/usr/bin/env bash
# W3 context: 20,000 files, ~308 MiB, byte-identical on every machine.   gen.sh DEST | gen.sh --mutate DEST
# Copied from ../shared/bench (hoist's shared benchmark material).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $1 == --mutate ]]; then echo "changed $(date +%s%N)" >"$2/src/d000/f00000.txt"; exit; fi
rm -rf "${1:?}" && mkdir -p "$1" && cp "$here/Dockerfile" "$1/"
python3 "$here/../../lib/gentree.py" "$1" 3 \
  'src/d{d:03}/f{i:05}.txt'      18000  1K   8K text \
  'assets/a{d:02}/blob{i:04}.dat' 1900  8K  96K mixed \
  'large/big{i:03}.bin'            100 512K  2M random
