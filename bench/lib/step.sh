#!/usr/bin/env bash
# One benchmark action, as run by hyperfine:  step.sh ACTION WORKLOAD [PHASE]
#   reset   remove the workload's hoist data root (cold) and its outputs        (prepare)
#   mutate  change one file of the workload's context                           (prepare)
#   clean   remove the phase's output (type=local dir, scratch registry data)   (prepare)
#           (all three end with `sync`, so that no run pays for the previous one's writeback)
#   verify  check that the phase's output exists (W5 probe: hoist may exit 0 and write nothing)
#   build   the timed action: hoist build of the workload, with the output PHASE asks for
#           (W5: tar, local, oci, docker, push; otherwise none). hoist's output is appended to
#           $STATE/logs/WORKLOAD.log; if $RSS_FILE is set, /usr/bin/time appends hoist's
#           peak RSS ("rss_kb N", the largest of hoist and its children) to it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
action=$1 wl=$2 phase=${3:-}
cwl=$(context_of "$wl")
ctx=$STATE/ctx/$cwl root=$STATE/root/$cwl out=$STATE/out
logf=$STATE/logs/$wl.log
mkdir -p "$out" "$STATE/logs"

case $action in
  reset) rm -rf "$root" "$out/$wl".* && sync ;;
  mutate) "$BENCH_DIR/workloads/$cwl/gen.sh" --mutate "$ctx" && sync ;;
  clean)
    rm -rf "$out/$wl.$phase"
    [[ $phase != push ]] || rm -rf "$STATE/push-registry/docker"
    sync
    ;;
  verify)
    case $phase in
      push) curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json' \
        "http://$PUSH_REGISTRY/v2/bench/$wl/manifests/hoist" 2>/dev/null ||
        die "hoist exited 0 but $PUSH_REGISTRY/bench/$wl:hoist is not in the registry: --push did nothing" ;;
      *) [[ -e $out/$wl.$phase ]] || die "hoist exited 0 but wrote no $phase output at $out/$wl.$phase" ;;
    esac
    ;;
  build)
    outargs=()
    case $phase in
      tar | oci | docker) outargs=(-o "type=$phase,dest=$out/$wl.$phase") ;;
      local) outargs=(-o "type=local,dest=$out/$wl.$phase") ;;
      push) outargs=(-t "$PUSH_REGISTRY/bench/$wl:hoist" --push --insecure-registry "$PUSH_REGISTRY") ;;
    esac
    timer=()
    [[ -z ${RSS_FILE:-} ]] || timer=(/usr/bin/time -f "rss_kb %M" -a -o "$RSS_FILE")
    echo "=== $(date -u +%T) $wl ${phase:-build}" >>"$logf"
    if ! "${timer[@]}" "$HOIST" build --root "$root" --progress plain \
      --build-context "busybox=oci-layout://$BASE_LAYOUT:latest" "${outargs[@]}" "$ctx" >>"$logf" 2>&1; then
      tail -n 20 "$logf" >&2
      die "hoist build $wl ${phase:-} failed (full log: $logf)"
    fi
    ;;
  *) die "unknown action: $action" ;;
esac
