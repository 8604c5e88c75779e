#!/usr/bin/env bash
# One benchmark action of one builder:  step.sh BUILDER ACTION WORKLOAD [PHASE]
#   BUILDER       hoist | buildkit | buildah (lib/builders/BUILDER.sh)
#   available     exit 0 if the builder can run here, else print why
#   version       the builder's version line
#   unsupported   print why and exit 0 if the builder cannot do PHASE (else exit 1)
#   reset         cold: drop the builder's caches, the workload's outputs          (prepare)
#   mutate        change one file of the workload's context                         (prepare)
#   clean         remove the phase's output; empty the scratch registry for push, remove the
#                 builder's cache repository (bench/BUILDER-cache-WL) for cache-to; empty the
#                 second cache for cache-from                                        (prepare)
#                 (reset, mutate and clean end with `sync`: no run pays for the previous one's writeback)
#   build         the timed action. With $TIMES_FILE set, appends its wall time in seconds (bash's
#                 EPOCHREALTIME around the builder's commands, no wrapper start-up); with $RSS_FILE,
#                 appends "rss_kb N" for every measured process (/usr/bin/time: the largest of it and
#                 its children) and "daemon_kb N" (the daemon's VmHWM, reset before the action).
#                 The builder's output goes to $STATE/logs/WORKLOAD.BUILDER.log.
#   finish        end of the run: unmount what the builder left mounted
#   verify        check that the phase's output exists (a builder may exit 0 and write nothing)
set -euo pipefail
source "$(dirname "$0")/common.sh"
builder=$1 action=$2 wl=$3 phase=${4:-}
cwl=$(context_of "$wl")
ctx=$STATE/ctx/$cwl out=$STATE/out
logf=$STATE/logs/$wl.$builder.log
mkdir -p "$out" "$STATE/logs"
[[ -f $BENCH_DIR/lib/builders/$builder.sh ]] || die "unknown builder: $builder"
source "$BENCH_DIR/lib/builders/$builder.sh"

# A measured command: its peak RSS goes to $RSS_FILE; it is killed after $STEP_TIMEOUT seconds
# (default 300: dockerd 20.10's `docker build -o type=local` of W3 was seen to hang at the end).
m() {
  local rc=0 t=${STEP_TIMEOUT:-300}
  if [[ -n ${RSS_FILE:-} ]]; then
    /usr/bin/time -f "rss_kb %M" -a -o "$RSS_FILE" timeout -k 10 "$t" "$@" || rc=$?
  else
    timeout -k 10 "$t" "$@" || rc=$?
  fi
  ((rc != 124)) || echo "error: timed out after $t s: $1 ${2:-}"
  return "$rc"
}
wipe_registry() { rm -rf "$STATE/push-registry/docker"; }

case $action in
  available) b_available ;;
  version) b_version ;;
  unsupported) b_unsupported "$phase" ;;
  finish) if declare -F b_finish >/dev/null; then b_finish; fi ;;
  reset) b_reset >>"$logf" 2>&1 && rm -rf "$out/$wl".* && sync ;;
  mutate) "$BENCH_DIR/workloads/$cwl/gen.sh" --mutate "$ctx" && sync ;;
  clean)
    rm -rf "$out/$wl.$builder.$phase"
    case $phase in
      push) wipe_registry ;;
      # Only this builder's cache repository: the others' caches must survive until their cache-from.
      cache-to) rm -rf "$STATE/push-registry/docker/registry/v2/repositories/bench/$builder-cache-$wl" && b_reset >>"$logf" 2>&1 ;;
      cache-from) b_reset_b >>"$logf" 2>&1 ;;
    esac
    sync
    ;;
  verify)
    case $phase in
      push) curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json' \
        "http://$PUSH_REGISTRY/v2/bench/$wl/manifests/$builder" 2>/dev/null ||
        die "$builder exited 0 but $PUSH_REGISTRY/bench/$wl:$builder is not in the registry" ;;
      tar | local | oci | oci-zstd | docker) [[ -e $out/$wl.$builder.$phase ]] || die "$builder exited 0 but wrote no $phase output at $out/$wl.$builder.$phase" ;;
    esac
    ;;
  build)
    for p in $B_DAEMON_PIDS; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done # reset the peak-RSS mark
    echo "=== $(date -u +%T) $builder $wl ${phase:-build}" >>"$logf"
    start=$EPOCHREALTIME
    if ! b_build >>"$logf" 2>&1; then
      tail -n 15 "$logf" >&2
      die "$builder $wl ${phase:-build} failed (full log: $logf)"
    fi
    end=$EPOCHREALTIME
    [[ -z ${TIMES_FILE:-} ]] || awk -v a="$start" -v b="$end" 'BEGIN{printf "%.4f\n", b - a}' >>"$TIMES_FILE"
    if [[ -n ${RSS_FILE:-} ]]; then
      for p in $B_DAEMON_PIDS; do awk '/^VmHWM/{print "daemon_kb", $2}' "/proc/$p/status"; done >>"$RSS_FILE"
    fi
    if declare -F b_after >/dev/null; then b_after >>"$logf" 2>&1 || true; fi
    ;;
  *) die "unknown action: $action" ;;
esac
