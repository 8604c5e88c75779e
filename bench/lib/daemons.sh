# The daemons bench/run starts and stops (sourced by bench/run): the private dockerd (BuildKit)
# and the scratch registry. Both are started at most once per run and stopped by stop_daemons.
DOCKERD_PID= REGISTRY_PID=

# dockerd 20.10 with its own data root, exec root, pid file and socket under $STATE/docker, no
# bridge and no iptables (builds use --network=host); the busybox base image is `docker load`ed.
start_dockerd() {
  local d=$STATE/docker
  mkdir -p "$d/data" "$d/exec" "$DOCKER_CONFIG" "$STATE/logs"
  [[ -f $DOCKER_CONFIG/config.json ]] || echo '{}' >"$DOCKER_CONFIG/config.json"
  if ! "$DOCKER_CLI" version >/dev/null 2>&1; then
    log "starting dockerd (data root $d/data, socket $DOCKER_SOCK)"
    dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
      --host "unix://$DOCKER_SOCK" --bridge=none --iptables=false --ip-masq=false \
      >"$STATE/logs/dockerd.log" 2>&1 </dev/null &
    DOCKERD_PID=$!
    for _ in $(seq 120); do "$DOCKER_CLI" version >/dev/null 2>&1 && break; sleep 0.25; done
    "$DOCKER_CLI" version >/dev/null 2>&1 || die "dockerd did not start (log: $STATE/logs/dockerd.log)"
  fi
  "$DOCKER_CLI" image inspect busybox:latest >/dev/null 2>&1 || "$DOCKER_CLI" load -q -i "$BASE_ARCHIVE" >/dev/null
}

# Debian's docker-registry on $PUSH_REGISTRY, storage under $STATE/push-registry (wiped by the
# steps that need an empty registry: W5 push, W9).
start_registry() {
  curl -fsS "http://$PUSH_REGISTRY/v2/" >/dev/null 2>&1 && return 0
  mkdir -p "$STATE/push-registry" "$STATE/logs"
  cat >"$STATE/push-registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/push-registry
  delete:
    enabled: true
http:
  addr: $PUSH_REGISTRY
YML
  docker-registry serve "$STATE/push-registry.yml" >"$STATE/logs/push-registry.log" 2>&1 </dev/null &
  REGISTRY_PID=$!
  for _ in $(seq 40); do curl -fsS "http://$PUSH_REGISTRY/v2/" >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "the scratch registry on $PUSH_REGISTRY did not start (log: $STATE/logs/push-registry.log)"
}

stop_daemons() {
  if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    log "stopping dockerd ($DOCKERD_PID)"
    kill "$DOCKERD_PID"
    for _ in $(seq 80); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID"
    # dockerd unmounts its overlay mounts on a clean exit; anything left under the bench's
    # data root is unmounted here so that no mount outlives the run.
    grep -o " $STATE/docker/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  DOCKERD_PID=
  [[ -z $REGISTRY_PID ]] || kill "$REGISTRY_PID" 2>/dev/null || true
  REGISTRY_PID=
}
