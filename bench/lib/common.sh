# Shared settings of bench/run, bench/report, bench/setup and lib/step.sh (sourced).
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
STATE=${BENCH_STATE:-/var/lib/hoist-bench}      # contexts, hoist data roots, base image, outputs, logs
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/results}    # hyperfine JSON, RSS samples, skip notes (gitignored)
HOIST=${HOIST:-$REPO_DIR/target/release/hoist}
LAYER_BENCH=${LAYER_BENCH:-$REPO_DIR/target/release/examples/layer_bench}
BASE_LAYOUT=$STATE/base/busybox-oci             # OCI layout (tag latest) made by examples/make-busybox-layout.sh
PUSH_REGISTRY=${PUSH_REGISTRY:-127.0.0.1:5001}  # scratch registry for W5 push (started by setup if absent)

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

# The workload whose generated context (and hoist data root) WL uses: itself, or the name in
# workloads/WL/context (W5 exports the W3 build).
context_of() {
  local f=$BENCH_DIR/workloads/$1/context
  if [[ -f $f ]]; then cat "$f"; else echo "$1"; fi
}
