# buildah (Debian), `buildah bud --isolation chroot --layers`, with a private store under
# $STATE/buildah (sourced by lib/step.sh; interface: see hoist.sh). The busybox base image is pulled
# into that store from the docker-archive (docker.io/library/busybox:latest), so `FROM busybox`
# resolves locally. RUN --mount=type=cache directories live under $TMPDIR/buildah-cache-*.
B_DAEMON_PIDS=
img=bench/$wl:buildah
buildah_() {
  mkdir -p "$BUILDAH_DIR/tmp"
  TMPDIR=$BUILDAH_DIR/tmp buildah --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/run" --storage-driver overlay "$@"
}

b_available() { command -v buildah >/dev/null || { echo "buildah not installed (apt-get install buildah)"; return 1; }; }
b_version() { echo "buildah $(buildah version | awk '/^Version:/{print $2}'), storage driver overlay, isolation chroot"; }
b_unsupported() { return 1; }
b_reset() {
  buildah_ rm --all >/dev/null
  buildah_ rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$BUILDAH_DIR/tmp"/buildah-cache*
  buildah_ pull -q "docker-archive:$BASE_ARCHIVE" >/dev/null
}
b_reset_b() { b_reset; }
bud_() { m env TMPDIR="$BUILDAH_DIR/tmp" buildah --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/run" --storage-driver overlay \
  bud --isolation chroot --layers -f "$ctx/Dockerfile" "$@" "$ctx"; }
push_() { m env TMPDIR="$BUILDAH_DIR/tmp" buildah --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/run" --storage-driver overlay push "$@"; }
b_build() {
  local cache=$PUSH_REGISTRY/bench/buildah-cache-$wl
  case $phase in
    tar) bud_ -o "type=tar,dest=$out/$wl.buildah.tar" ;;
    local) bud_ -o "type=local,dest=$out/$wl.buildah.local" ;;
    oci) bud_ -t "$img" && push_ "$img" "oci-archive:$out/$wl.buildah.oci" ;;
    oci-zstd) bud_ -t "$img" && push_ --compression-format zstd "$img" "oci-archive:$out/$wl.buildah.oci-zstd" ;;
    docker) bud_ -t "$img" && push_ "$img" "docker-archive:$out/$wl.buildah.docker:$img" ;;
    push) bud_ -t "$img" && push_ --tls-verify=false "$img" "docker://$PUSH_REGISTRY/bench/$wl:buildah" ;;
    cache-to) bud_ --tls-verify=false --cache-to "$cache" -t "$img" ;;
    cache-from) bud_ --tls-verify=false --cache-from "$cache" -t "$img" ;;
    *) bud_ -t "$img" ;;
  esac
}
# End of a run: no container, no mount of the private store outlives it (containers/storage keeps
# image layers and its own overlay dir mounted otherwise).
b_finish() {
  buildah_ rm --all >/dev/null 2>&1 || true
  buildah_ umount --all >/dev/null 2>&1 || true
  grep -o " $BUILDAH_DIR/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}
