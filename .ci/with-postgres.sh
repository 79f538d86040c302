#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster:
#
#     .ci/with-postgres.sh python3 -m pytest -q
#
# The cluster lives in a temporary folder, listens on a unix socket in that folder only
# (nothing listens on the network), and is stopped and deleted when the command ends,
# however it ends. Its URL is exported as TPSTORE_TEST_POSTGRES, which the test suite's
# `location` fixture reads. As root, the server runs as the `postgres` user (the server
# refuses to run as root); otherwise as the calling user. The command's exit status is
# this script's.
set -euo pipefail

find_bin() {
    # Debian keeps the server's programs in a versioned folder off PATH; take the newest.
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
        echo "with-postgres: initdb not found (apt-get install postgresql)" >&2
        exit 127
    fi
    echo "$dir"
}

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

BIN=$(find_bin)
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/tpstore-pg.XXXXXX")
DATA="$ROOT/data"
SOCKET="$ROOT/socket"
mkdir -p "$SOCKET"

if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$ROOT"
    chmod 755 "$ROOT"
    as_server() { runuser -u postgres -- "$@"; }
    DB_USER=postgres
else
    as_server() { "$@"; }
    DB_USER=$(id -un)
fi

cleanup() {
    as_server "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -N: no fsync of the data folder; the cluster dies with the run. The locale is C so that
# tests of locale-independent key order create their own non-C databases explicitly.
as_server "$BIN/initdb" -N -D "$DATA" -U "$DB_USER" --auth=trust --locale=C.UTF-8 \
    --encoding=UTF8 >"$ROOT/initdb.log" 2>&1 || {
    cat "$ROOT/initdb.log" >&2
    exit 1
}
as_server "$BIN/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -w -s \
    -o "-c listen_addresses='' -c unix_socket_directories='$SOCKET' -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
    start || {
    cat "$ROOT/server.log" >&2
    exit 1
}

export TPSTORE_TEST_POSTGRES="postgresql://$DB_USER@/postgres?host=$SOCKET"
set +e
"$@"
status=$?
set -e
exit "$status"
