# bench/run measurements other than builds (sourced): layer (issue #7), floors, micro-benchmarks.

bench_layer() { # issue #7: hoist's apply_layer / write_layer vs the usual tools, same data, same run
  local ctx=$STATE/ctx/w3-big-context L=$STATE/layer res=$RESULTS/layer codec hex
  ensure_context w3-big-context
  [[ -x $LAYER_BENCH ]] || die "no layer_bench at $LAYER_BENCH (cargo build --release -p hoist-snapshotter --example layer_bench)"
  rm -rf "$L" && mkdir -p "$L"
  : >"$res/sizes.txt"
  # Keep one blob per codec (untimed run, under /usr/bin/time for its peak RSS) for the unpack part.
  declare -A blob
  for codec in none gzip zstd; do
    /usr/bin/time -f "rss_kb %M" -o "$L/rss" "$LAYER_BENCH" write "$ctx" "$L/keep-$codec" "$codec" >"$L/out.json"
    hex=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/p' "$L/out.json")
    blob[$codec]=$L/keep-$codec/blobs/sha256/$hex
    echo "hoist write_layer $codec: $(cat "$L/out.json") $(cat "$L/rss")" >>"$res/sizes.txt"
  done
  local tarc="tar -C $ctx -cf - ."
  bash -c "$tarc | gzip -6 | wc -c | sed 's/^/gzip -6 bytes: /'; $tarc | pigz -6 | wc -c | sed 's/^/pigz -6 bytes: /'
           $tarc | zstd -q -3 -T0 | wc -c | sed 's/^/zstd -3 -T0 bytes: /'; $tarc | wc -c | sed 's/^/tar bytes: /'" >>"$res/sizes.txt"
  log "layer create: hoist write_layer vs tar -c | gzip / pigz / zstd"
  hyperfine -N --style basic --runs "$RUNS" --prepare "bash -c 'rm -rf $L/store $L/t.tar $L/t.tar.gz $L/t.tar.zst; sync'" \
    --export-json "$res/create.json" \
    -n "hoist write_layer none (tar + sha256)" "$LAYER_BENCH write $ctx $L/store none" \
    -n "tar -c > file" "bash -c '$tarc > $L/t.tar'" \
    -n "hoist write_layer gzip -6" "$LAYER_BENCH write $ctx $L/store gzip 6" \
    -n "tar -c | gzip -6" "bash -c '$tarc | gzip -6 > $L/t.tar.gz'" \
    -n "tar -c | pigz -6" "bash -c '$tarc | pigz -6 > $L/t.tar.gz'" \
    -n "hoist write_layer zstd -3" "$LAYER_BENCH write $ctx $L/store zstd 3" \
    -n "tar -c | zstd -3 -T0" "bash -c '$tarc | zstd -q -3 -T0 > $L/t.tar.zst'" ||
    log "layer create: a command failed; see above"
  # Unpack into the disk the store lives on, and into tmpfs (the code's own cost, without the disk).
  local where d
  for where in disk tmpfs; do
    if [[ $where == disk ]]; then d=$L/dest; else d=/dev/shm/hoist-bench-dest; fi
    log "layer unpack ($where): hoist apply_layer vs tar -x (hoist-written blobs)"
    hyperfine -N --style basic --runs "$RUNS" --prepare "bash -c 'rm -rf $d; sync'" --export-json "$res/apply-$where.json" \
      -n "hoist apply_layer tar" "$LAYER_BENCH apply ${blob[none]} $d" \
      -n "hoist apply_layer tar, overlay whiteouts" "$LAYER_BENCH apply ${blob[none]} $d --overlay" \
      -n "tar -x" "bash -c 'mkdir -p $d && tar -C $d -xf ${blob[none]}'" \
      -n "hoist apply_layer tar+gzip" "$LAYER_BENCH apply ${blob[gzip]} $d" \
      -n "tar -xz (gzip -d)" "bash -c 'mkdir -p $d && tar -C $d -xzf ${blob[gzip]}'" \
      -n "pigz -dc | tar -x" "bash -c 'mkdir -p $d && pigz -dc ${blob[gzip]} | tar -C $d -xf -'" \
      -n "hoist apply_layer tar+zstd" "$LAYER_BENCH apply ${blob[zstd]} $d" \
      -n "zstd -dc | tar -x" "bash -c 'mkdir -p $d && zstd -qdc ${blob[zstd]} | tar -C $d -xf -'" ||
      log "layer unpack: a command failed; see above"
    rm -rf "$d"
  done
  /usr/bin/time -f "rss_kb %M" -o "$L/rss" "$LAYER_BENCH" apply "${blob[gzip]}" "$L/dest-rss" >"$L/out.json"
  echo "hoist apply_layer gzip: $(cat "$L/out.json") $(cat "$L/rss")" >>"$res/sizes.txt"
  rm -rf "$L"
}

bench_floors() { # issue #9 point 4: the machine's floors for the W3 context and the sandbox
  local ctx=$STATE/ctx/w3-big-context res=$RESULTS/floors
  ensure_context w3-big-context
  log "floors: read, hash, compress the W3 context"
  hyperfine -N --style basic --runs "$RUNS" --warmup 1 --export-json "$res/context.json" \
    -n "lstat walk (find -printf size, mtime, inode)" "bash -c 'find $ctx -printf \"%s %T@ %i\\n\" | wc -l'" \
    -n "read every file (cat)" "bash -c 'cd $ctx && find . -type f -print0 | xargs -0 cat | wc -c'" \
    -n "sha256sum every file, 1 process" "bash -c 'cd $ctx && find . -type f -print0 | xargs -0 sha256sum | wc -l'" \
    -n "sha256sum every file, 2 processes" "bash -c 'cd $ctx && find . -type f -print0 | xargs -0 -P2 -n 1000 sha256sum | wc -l'" \
    -n "tar -c | sha256sum" "bash -c 'tar -C $ctx -cf - . | sha256sum'" \
    -n "tar -c | zstd -3 -T0" "bash -c 'tar -C $ctx -cf - . | zstd -q -3 -T0 | wc -c'" \
    -n "tar -c | pigz -6" "bash -c 'tar -C $ctx -cf - . | pigz -6 | wc -c'" || log "floors: a command failed"
  log "floors: copy the W3 context (what COPY . /app must write at least)"
  hyperfine -N --style basic --runs "$RUNS" --prepare "bash -c 'rm -rf $STATE/cp-dest /dev/shm/hoist-bench-cp; sync'" --export-json "$res/copy.json" \
    -n "cp -a context (disk)" "cp -a $ctx $STATE/cp-dest" \
    -n "cp -a context (tmpfs)" "cp -a $ctx /dev/shm/hoist-bench-cp" ||
    log "floors: a command failed"
  rm -rf "$STATE/cp-dest" /dev/shm/hoist-bench-cp
  log "floors: unpack the W3 context's tar (what applying its layer must write at least)"
  tar -C "$ctx" -cf "$STATE/floor-w3.tar" .
  hyperfine -N --style basic --runs "$RUNS" --prepare "bash -c 'rm -rf $STATE/untar-dest /dev/shm/hoist-bench-untar; sync'" --export-json "$res/untar.json" \
    -n "tar -x (disk)" "bash -c 'mkdir -p $STATE/untar-dest && tar -C $STATE/untar-dest -xf $STATE/floor-w3.tar'" \
    -n "tar -x (tmpfs)" "bash -c 'mkdir -p /dev/shm/hoist-bench-untar && tar -C /dev/shm/hoist-bench-untar -xf $STATE/floor-w3.tar'" ||
    log "floors: a command failed"
  rm -rf "$STATE/untar-dest" /dev/shm/hoist-bench-untar "$STATE/floor-w3.tar"
  # The least a RUN step costs: new mount + pid namespaces, a bind mount, pivot_root into a
  # busybox root and exec of its /bin/true (no overlay, no network namespace, no image config).
  local rootfs=$STATE/floor-rootfs
  if [[ ! -x $rootfs/bin/busybox ]]; then
    rm -rf "$rootfs" && mkdir -p "$rootfs"/{bin,.old}
    cp /bin/busybox "$rootfs/bin/busybox" && ln -s busybox "$rootfs/bin/true"
  fi
  local pivot="mount --make-rprivate / && mount --bind $rootfs $rootfs && cd $rootfs && pivot_root . .old && exec /bin/true"
  log "floors: process and namespace costs"
  hyperfine -N --style basic --runs 30 --warmup 3 --export-json "$res/process.json" \
    -n "true (fork + exec)" "true" \
    -n "unshare -mpf --mount-proc true" "unshare -mpf --mount-proc true" \
    -n "unshare -mpf + bind mount + pivot_root + exec /bin/true" "unshare -mpf sh -c '$pivot'" \
    -n "hoist --version" "$HOIST --version" || log "floors: a command failed"
}

bench_micro() { # issue #9 point 3: criterion micro-benchmarks; estimates copied to results/micro
  local crit=${CARGO_TARGET_DIR:-$REPO_DIR/target}/criterion
  rm -rf "$crit" "$RESULTS/micro" && mkdir -p "$RESULTS/micro"
  log "micro: cargo bench (frontend convert, builder context, snapshotter layer); log $STATE/logs/micro.log"
  if ! (cd "$REPO_DIR" && cargo bench -q -p hoist-frontend --bench convert &&
    cargo bench -q -p hoist-builder --bench context &&
    cargo bench -q -p hoist-snapshotter --bench layer) >"$STATE/logs/micro.log" 2>&1; then
    tail -n 20 "$STATE/logs/micro.log" >&2
    log "micro: cargo bench failed; continuing"
  fi
  [[ -d $crit ]] && (cd "$crit" && find . -path '*/new/*.json' -exec cp --parents {} "$RESULTS/micro/" \;)
  grep -E '^layer (tar|gzip6|zstd3):' "$STATE/logs/micro.log" >"$RESULTS/micro/layer-sizes.txt" || true
}

