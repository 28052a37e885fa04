#!/usr/bin/env bash
# Starts a real S3 server for PageFS's tests and benchmarks, and stops exactly what it
# started.
#
#   infra/s3-server.sh run -- CMD...   run CMD with an S3 endpoint in the AWS_* variables,
#                                      starting a server first (and stopping it after, also
#                                      on failure) unless one is already configured
#   infra/s3-server.sh start           start one; prints the variables to eval
#   infra/s3-server.sh stop            stop the one `start` started
#
# Which server: an endpoint already in AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL is used as
# it is; else MinIO when the `minio` binary is installed; else MinIO in Docker when a
# Docker engine answers (infra/compose.yaml); else a one-node Ceph RGW from Debian's
# packages (infra/rgw/, installed on first use; needs root and apt).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${PAGEFS_INFRA_DIR:-$here/../.infra}

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # first port from $1 upwards that nothing listens on (and $1+1 with "pair")
  local p=$1
  while in_use "$p" || { [ "${2:-}" = pair ] && in_use $((p + 1)); }; do p=$((p + 2)); done
  echo "$p"
}

wait_http() {  # wait_http PORT SECONDS
  local end=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < end)) || { echo "s3-server: nothing answers on port $1" >&2; return 1; }
    sleep 0.1
  done
}

start() {
  mkdir -p "$state"
  if [ -f "$state/kind" ]; then
    echo "s3-server: already started ($(cat "$state/kind")); stop it first" >&2
    return 1
  fi
  local ak=pagefs sk=pagefs-secret port
  if command -v minio >/dev/null; then
    port=$(free_port 9000)
    mkdir -p "$state/minio"
    MINIO_ROOT_USER=$ak MINIO_ROOT_PASSWORD=$sk nohup minio server "$state/minio" \
      --address "127.0.0.1:$port" >"$state/minio.log" 2>&1 &
    echo $! >"$state/pid"
    echo minio >"$state/kind"
    wait_http "$port" 30
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    port=$(free_port 9000)
    MINIO_PORT=$port docker compose -f "$here/compose.yaml" -p "pagefs-test-$port" up -d >&2
    echo "pagefs-test-$port" >"$state/project"
    echo docker >"$state/kind"
    wait_http "$port" 60
  else
    # Ports are picked free, then bound by the servers: another start at the same moment may
    # take them in between (start-rgw.sh then fails), so a failed start tries new ones.
    local mon out="" attempt
    for attempt in 1 2 3; do
      port=$(free_port 7480)
      mon=$(free_port 40000 pair)
      out=$(RGW_DIR="$state/rgw" RGW_PORT=$port MON_PORT=$mon RGW_ACCESS_KEY=$ak \
        RGW_SECRET_KEY=$sk RGW_STORE=${RGW_STORE:-memstore} bash "$here/rgw/start-rgw.sh") && break
      out=""
      echo "s3-server: start $attempt of 3 failed" >&2
    done
    echo rgw >"$state/kind"
    [ -n "$out" ] || return 1
  fi
  # Used by the test helpers to create their buckets.
  cat >"$state/env" <<VARS
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port
AWS_ACCESS_KEY_ID=$ak
AWS_SECRET_ACCESS_KEY=$sk
AWS_REGION=us-east-1
VARS
  cat "$state/env"
}

stop() {
  [ -f "$state/kind" ] || return 0
  case $(cat "$state/kind") in
    minio)
      local pid
      pid=$(cat "$state/pid")
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = minio ]; then kill "$pid" 2>/dev/null || true; fi
      ;;
    docker) docker compose -f "$here/compose.yaml" -p "$(cat "$state/project")" down -v >&2 ;;
    rgw) RGW_DIR="$state/rgw" bash "$here/rgw/stop-rgw.sh" --wipe ;;
  esac
  rm -rf "$state"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    if [ -n "${AWS_ENDPOINT_URL_S3:-}${AWS_ENDPOINT_URL:-}" ]; then
      exec "$@"
    fi
    # A run of our own gets a state directory of its own, so parallel runs don't collide.
    state=$(mktemp -d "${TMPDIR:-/tmp}/pagefs-infra.XXXXXX")
    trap stop EXIT
    trap 'exit 130' INT TERM
    set -a
    eval "$(start)"
    set +a
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
