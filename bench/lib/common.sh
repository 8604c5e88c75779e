# Shared settings of bench/run, bench/report, bench/setup, lib/step.sh and lib/builders/*.sh (sourced).
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
STATE=${BENCH_STATE:-/var/lib/hoist-bench}      # contexts, data roots of every builder, base image, outputs, logs
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results}    # timings, RSS samples, skip notes, criterion estimates (gitignored)
HOIST=${HOIST:-$REPO_DIR/target/release/hoist}
LAYER_BENCH=${LAYER_BENCH:-$REPO_DIR/target/release/examples/layer_bench}
BASE_LAYOUT=$STATE/base/busybox-oci             # OCI layout (tag latest) made by examples/make-busybox-layout.sh
BASE_ARCHIVE=$STATE/base/busybox-docker.tar     # the same image as a docker-archive named busybox:latest (docker load, buildah pull)
PUSH_REGISTRY=${PUSH_REGISTRY:-127.0.0.1:5001}  # scratch registry for W5 push and W9's cache (emptied before each run)
# BuildKit as embedded in Debian's dockerd 20.10: a private dockerd started by bench/run (lib/dockerd.sh)
# with its own data root and socket; always the Debian client (/usr/local/bin may hold another one).
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}
DOCKER_SOCK=$STATE/docker/docker.sock
export DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_BUILDKIT=1 DOCKER_CONFIG=$STATE/docker/client-config
# buildah: a private store under $STATE/buildah (never the machine's default one).
BUILDAH_DIR=$STATE/buildah

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date -u +%T)] $*" >&2; }

# Resolve "w3" or "w3-big-context" to the workload directory name.
workload_name() {
  local d
  for d in "$BENCH_DIR"/workloads/"$1" "$BENCH_DIR"/workloads/"$1"-*; do
    [[ -d $d ]] && { basename "$d"; return; }
  done
  die "unknown workload: $1"
}

# The workload whose generated context (and data roots) WL uses: itself, or the name in
# workloads/WL/context (W5 exports the W3 build).
context_of() {
  local f=$BENCH_DIR/workloads/$1/context
  if [[ -f $f ]]; then cat "$f"; else echo "$1"; fi
}

# The phases of a workload: workloads/WL/phases, else cold noop change (PHASES overrides).
phases_of() {
  if [[ -n ${PHASES:-} ]]; then echo "$PHASES"; else cat "$BENCH_DIR/workloads/$1/phases" 2>/dev/null || echo cold noop change; fi
}
