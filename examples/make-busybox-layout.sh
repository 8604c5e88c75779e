#!/usr/bin/env bash
# Usage: [BUSYBOX=FILE] [ARCH=amd64] make-busybox-layout.sh DIR
# Writes an OCI image layout at DIR (tag "latest") holding busybox from Debian's
# busybox-static: /bin/busybox, its applet links, /etc/passwd, /etc/group, /tmp.
# BUSYBOX and ARCH give another architecture's busybox (the tests' arm64 image);
# its applet list comes from the host's /bin/busybox when it cannot run here.
# Offline; needs busybox-static and umoci (Debian packages). Used by README's quick
# start and by the tests, as the base image of the examples.
set -euo pipefail
out=${1:?usage: $0 DIR}
busybox=${BUSYBOX:-/bin/busybox}
arch=${ARCH:-amd64}
[[ -x $busybox ]] || { echo "error: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$(dirname "$out")"
umoci init --layout "$out"
umoci new --image "$out:latest"
umoci unpack --image "$out:latest" "$work/bundle" >/dev/null
root=$work/bundle/rootfs
mkdir -p "$root"/{bin,etc,root,tmp}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
lister=$root/bin/busybox
"$lister" --list >/dev/null 2>&1 || lister=/bin/busybox
for applet in $("$lister" --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
umoci repack --image "$out:latest" "$work/bundle"
umoci config --image "$out:latest" --os linux --architecture "$arch" \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd /bin/sh
umoci gc --layout "$out"
