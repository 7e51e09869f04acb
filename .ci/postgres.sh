#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster for the test run (sourced by .ci/run).
# Installs Debian's `postgresql` when no server binaries are present, runs initdb + pg_ctl as the
# `postgres` user in a temporary directory on a free port, and exports MEDCHECK_TEST_POSTGRES_URL.
# On any failure it says why and leaves the variable unset: the PostgreSQL tests then skip.
medcheck_start_postgres() {
    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null \
                || { echo "postgres: could not install Debian's postgresql; its tests will skip"; return 0; }
            bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        else
            echo "postgres: not installed and cannot install it here; its tests will skip"
            return 0
        fi
    fi
    local user=postgres run=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres \
            || { echo "postgres: no postgres user; its tests will skip"; return 0; }
        run=(runuser -u postgres --)
    else
        user=$(id -un)
    fi
    PG_TMP=$(mktemp -d /tmp/medcheck-pg.XXXXXX)
    chown "$user" "$PG_TMP" 2>/dev/null || true
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${run[@]}" "$bindir/initdb" -D "$PG_TMP/data" -U medcheck --auth=trust -E UTF8 >/dev/null \
        || { echo "postgres: initdb failed; its tests will skip"; return 0; }
    "${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/log" -w -t 60 \
        -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
        || { echo "postgres: did not start; its tests will skip"; cat "$PG_TMP/log"; return 0; }
    "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U medcheck medcheck_test \
        || { echo "postgres: createdb failed; its tests will skip"; return 0; }
    export MEDCHECK_TEST_POSTGRES_URL="postgresql+psycopg://medcheck@127.0.0.1:$port/medcheck_test"
    PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -m fast -w stop)
    echo "postgres: $MEDCHECK_TEST_POSTGRES_URL"
}

medcheck_stop_postgres() {
    if [ -n "${PG_TMP:-}" ]; then
        "${PG_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$PG_TMP"
    fi
}
