#!/usr/bin/env bash
# W1 context: one small input file per stage.   gen.sh DEST | gen.sh --mutate DEST
# Copied from ../shared/bench (hoist's shared benchmark material).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $1 == --mutate ]]; then echo "changed $(date +%s%N)" >"$2/s4.txt"; exit; fi
rm -rf "${1:?}" && mkdir -p "$1" && cp "$here/Dockerfile" "$1/"
for i in 1 2 3 4; do echo "input of stage $i" >"$1/s$i.txt"; done
