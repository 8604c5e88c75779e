#!/usr/bin/env bash
# W6 context: ~4,000 files, most of them ignored.   gen.sh DEST | gen.sh --mutate DEST (edits an ignored file)
# Copied from ../shared/bench (hoist's shared benchmark material).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $1 == --mutate ]]; then echo "changed $(date +%s%N)" >"$2/node_modules/pkg00/f0000.js"; exit; fi
rm -rf "${1:?}" && mkdir -p "$1" && cp "$here/Dockerfile" "$here/.dockerignore" "$1/"
python3 "$here/../../lib/gentree.py" "$1" 6 \
  'src/s{i:03}.txt'                 200 512  4K text \
  'node_modules/pkg{d:02}/f{i:04}.js' 3000  1K 16K mixed \
  '.git/objects/{d:02}/o{i:04}'     500  1K 16K random \
  'build/out{i}.bin'                  4  1M  2M random \
  'logs/run{i}.log'                  20  1K  8K text
echo main >"$1/src/main.txt"; echo keep >"$1/build/keep.txt"
echo debug >"$1/src/debug.log"; echo app >"$1/app.log"
