#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server for the control plane tests and print
#   export TENANTS_TEST_POSTGRES_URL=postgresql+psycopg://...
# on stdout, so a caller can `eval "$(scripts/postgres.sh)"`. Diagnostics go to stderr.
#
# The cluster lives in $TENANTS_PG_DIR (default: a directory under the system temp dir),
# listens on 127.0.0.1 only, on a free port, with trust authentication. Running the script
# again while the server is up just prints the URL. PostgreSQL is installed from Debian
# packages when it is missing and the script runs as root.
#   scripts/postgres.sh          start or reuse, print the export line
#   scripts/postgres.sh stop     stop the server and delete the cluster
set -euo pipefail

PG_DIR="${TENANTS_PG_DIR:-${TMPDIR:-/tmp}/tenants-postgres}"
DATA="$PG_DIR/data"
PORT_FILE="$PG_DIR/port"
DATABASE="tenants_test"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

as_owner() {
    # The server refuses to run as root; run it as the `postgres` system user instead.
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    echo "postgresql+psycopg://postgres@127.0.0.1:$(cat "$PORT_FILE")/$DATABASE"
}

if ! BIN="$(find_bin)"; then
    if [[ "$(id -u)" != 0 ]]; then
        log "PostgreSQL is not installed; install the 'postgresql' package (needs root)"
        exit 1
    fi
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN="$(find_bin)"
fi

if [[ "${1:-start}" == "stop" ]]; then
    if [[ -d "$DATA" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2 || true
    fi
    rm -rf "$PG_DIR"
    log "stopped and removed $PG_DIR"
    exit 0
fi

if [[ -f "$PORT_FILE" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "export TENANTS_TEST_POSTGRES_URL=$(url)"
    exit 0
fi

mkdir -p "$PG_DIR"
if [[ "$(id -u)" == 0 ]]; then
    chown postgres "$PG_DIR"
fi
if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "creating a cluster in $DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
        --no-instructions >&2
fi

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_owner "$BIN/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PG_DIR -c fsync=off -c max_connections=100" \
    start >&2
echo "$PORT" >"$PORT_FILE"

if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DATABASE"
fi
log "server on 127.0.0.1:$PORT, log in $PG_DIR/server.log"
echo "export TENANTS_TEST_POSTGRES_URL=$(url)"
