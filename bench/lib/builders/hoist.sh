# hoist, the builder under test (sourced by lib/step.sh). One data root per workload under
# $STATE/root/hoist; W9's empty "root B" is $STATE/root/hoist/WL-b. The base image comes from the
# OCI layout via --build-context busybox=oci-layout://..., so no registry is involved in builds.
# Interface of every builder file (lib/builders/*.sh), with $wl, $cwl, $ctx, $phase, $out set:
#   b_available          exit 0 if the builder can run here, else print why
#   b_version            one line
#   b_unsupported PHASE  print why and exit 0 if this builder cannot do PHASE
#   b_reset              cold: drop every cache the builder has for $wl (the base image stays usable)
#   b_reset_b            W9: empty the second ("root B") cache
#   b_build              the timed action of $phase; commands whose peak RSS counts run under `m`
#   B_DAEMON_PIDS        daemons whose peak RSS (VmHWM) is sampled around each timed action
B_DAEMON_PIDS=
hoist_root=$STATE/root/hoist/$cwl

b_available() { [[ -x $HOIST ]] || { echo "no hoist binary at $HOIST"; return 1; }; }
b_version() { echo "hoist $("$HOIST" --version 2>&1 | head -1) ($(cd "$REPO_DIR" && git rev-parse --short HEAD))"; }
b_unsupported() {
  case $1 in
    cache-to | cache-from)
      "$HOIST" build --help 2>&1 | grep -q -- --cache-to && return 1
      echo "hoist build has no --cache-to/--cache-from yet"
      ;;
    *) return 1 ;;
  esac
}
b_reset() { rm -rf "$hoist_root"; }
b_reset_b() { rm -rf "$hoist_root-b"; }
b_build() {
  local args=() root=$hoist_root cache_ref=$PUSH_REGISTRY/bench/hoist-cache-$wl:latest
  case $phase in
    tar | oci | docker) args=(-o "type=$phase,dest=$out/$wl.hoist.$phase") ;;
    oci-zstd) args=(-o "type=oci,dest=$out/$wl.hoist.$phase,compression=zstd,force-compression=true") ;;
    local) args=(-o "type=local,dest=$out/$wl.hoist.$phase") ;;
    push) args=(-t "$PUSH_REGISTRY/bench/$wl:hoist" --push --insecure-registry "$PUSH_REGISTRY") ;;
    cache-to) args=(--cache-to "type=registry,ref=$cache_ref,mode=max" --insecure-registry "$PUSH_REGISTRY") ;;
    cache-from) root=$hoist_root-b args=(--cache-from "type=registry,ref=$cache_ref" --insecure-registry "$PUSH_REGISTRY") ;;
  esac
  m "$HOIST" build --root "$root" --progress plain \
    --build-context "busybox=oci-layout://$BASE_LAYOUT:latest" "${args[@]}" "$ctx"
}
