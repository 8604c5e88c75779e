#!/usr/bin/env bash
# Usage: tests/golden/record.sh [CASE...]
# Regenerates tests/golden/CASE/expected.txt with real BuildKit (the one inside dockerd,
# Debian's docker.io 20.10, BuildKit v0.8). Run by hand, never by CI: CI only compares hoist
# with the committed files (tests/golden_buildkit.rs).
#
# Needs: dockerd running (e.g. `dockerd --bridge=none --iptables=false --ip-masq=false
# --data-root /var/lib/docker-golden`), Debian's docker client (/usr/bin/docker: a newer
# client wants buildx), python3, and the base image hoist-golden/busybox:latest, loaded with
#   examples/make-busybox-layout.sh DIR
#   skopeo copy oci:DIR:latest docker-daemon:hoist-golden/busybox:latest
#
# Each case folder holds a Dockerfile, optionally context.sh (run with sh in an empty
# context dir to create the context: symlinks and hard links cannot live in git),
# build-args (KEY=VALUE lines) and README.md. A case whose expected.txt starts with
# "# hand-edited" is not overwritten: its fresh record goes to recorded-v0.8.txt, to
# compare with the hand edits (see that case's README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
docker=${DOCKER:-/usr/bin/docker}
"$docker" image inspect hoist-golden/busybox:latest >/dev/null ||
  { echo "error: load hoist-golden/busybox:latest first (see the header)" >&2; exit 1; }
if (($#)); then cases=("$@"); else
  cases=(); for d in "$here"/*/; do [[ -f $d/Dockerfile ]] && cases+=("$(basename "$d")"); done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for case in "${cases[@]}"; do
  dir=$here/$case
  ctx=$work/$case/context out=$work/$case/out
  mkdir -p "$ctx"
  if [[ -f $dir/context.sh ]]; then (cd "$ctx" && sh "$dir/context.sh"); fi
  cp "$dir/Dockerfile" "$ctx/Dockerfile"
  args=()
  if [[ -f $dir/build-args ]]; then
    while IFS= read -r kv; do [[ -n $kv ]] && args+=(--build-arg "$kv"); done <"$dir/build-args"
  fi
  echo "== $case" >&2
  DOCKER_BUILDKIT=1 "$docker" build --no-cache --network=host --progress=plain \
    "${args[@]}" -o "type=tar,dest=$out.tar" "$ctx" >"$work/$case.log" 2>&1 ||
    { cat "$work/$case.log" >&2; exit 1; }
  target=$dir/expected.txt
  if [[ -f $target ]] && head -n1 "$target" | grep -q '^# hand-edited'; then
    target=$dir/recorded-v0.8.txt
    echo "   $case/expected.txt is hand-edited: wrote $case/recorded-v0.8.txt instead" >&2
  fi
  {
    echo "# Recorded by tests/golden/record.sh with $("$docker" version -f 'dockerd {{.Server.Version}}') (BuildKit v0.8)."
    echo "# Format: path type mode uid:gid size sha256-or-linktarget [links=N] (see list.py); bin/* -> busybox links left out."
    python3 "$here/list.py" "$out.tar"
  } >"$target"
done
