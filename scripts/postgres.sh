#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and CI (trust auth on 127.0.0.1 only, fsync off).
#
#   scripts/postgres.sh start DIR PORT   # initdb in DIR (or reuse it), start, create evault_test, print export
#   scripts/postgres.sh stop DIR         # pg_ctl stop -m fast
#
# Uses the highest version under /usr/lib/postgresql/*/bin. As root the server runs as the `postgres` OS user
# (or EVAULT_PG_USER) and DIR is chowned to it, because PostgreSQL refuses to run as root.
set -euo pipefail

MARKER=".evault-postgres"
DATABASE=evault_test

die() { echo "postgres: $*" >&2; exit 1; }
log() { echo "postgres: $*" >&2; }

usage() {
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
}

find_bindir() {
    local dir best="" best_version=0 version
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x $dir/initdb && -x $dir/pg_ctl ]] || continue
        version=$(basename "$(dirname "$dir")")
        [[ $version =~ ^[0-9]+$ ]] || continue
        if ((version > best_version)); then
            best=$dir
            best_version=$version
        fi
    done
    if [[ -z $best ]]; then
        echo "postgres: no PostgreSQL server found under /usr/lib/postgresql/*/bin" >&2
        echo "postgres: install it with: apt-get install --no-install-recommends postgresql" >&2
        exit 127
    fi
    echo "$best"
}

# Run a command as the unprivileged owner of the cluster, from inside DIR (root's cwd may be unreadable).
as_owner() {
    if ((EUID == 0)); then
        (cd "$DIR" && runuser -u "$OWNER" -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

is_running() { [[ -f $DIR/data/PG_VERSION ]] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

prepare_dir() {
    if [[ -e $DIR ]]; then
        [[ -d $DIR ]] || die "$DIR exists and is not a directory"
        if [[ -n $(ls -A "$DIR") && ! -e $DIR/$MARKER ]]; then
            die "$DIR is not empty and was not created by this script; refusing to use it"
        fi
    fi
    mkdir -p "$DIR/run" "$DIR/log"
    : >"$DIR/$MARKER"
    if ((EUID == 0)); then
        id -u "$OWNER" >/dev/null 2>&1 || die "user $OWNER does not exist; set EVAULT_PG_USER to an unprivileged user"
        chown -R "$OWNER:" "$DIR"
        runuser -u "$OWNER" -- test -x "$DIR" \
            || die "$OWNER cannot reach $DIR (a parent folder is private); choose a DIR under /tmp"
    fi
}

init_cluster() {
    log "initdb in $DIR/data with $BIN"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        --no-sync >"$DIR/log/initdb.log" 2>&1 || { tail -n 20 "$DIR/log/initdb.log" >&2; die "initdb failed"; }
    # Throwaway test data: durability costs time and buys nothing here.
    cat >>"$DIR/data/postgresql.conf" <<EOF

# Added by scripts/postgres.sh (throwaway test cluster)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR/run'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

start_cluster() {
    local port=$1 started=$SECONDS
    if is_running; then
        local running_port
        running_port=$(sed -n 4p "$DIR/data/postmaster.pid")
        [[ $running_port == "$port" ]] || die "the cluster in $DIR is already running on port $running_port"
        log "already running in $DIR; reusing it"
    else
        port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"
        prepare_dir
        [[ -f $DIR/data/PG_VERSION ]] || init_cluster
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log/postgres.log" -o "-p $port" -w -t 60 start \
            >/dev/null || { tail -n 20 "$DIR/log/postgres.log" >&2; die "the server did not start"; }
    fi
    local deadline=$((SECONDS + 30))
    until as_owner "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
        ((SECONDS < deadline)) || { tail -n 20 "$DIR/log/postgres.log" >&2; die "not ready on 127.0.0.1:$port"; }
        sleep 0.2
    done
    if [[ -z $(as_owner "$BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'") ]]; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DATABASE"
    fi
    log "ready in $((SECONDS - started)) s: PostgreSQL $(basename "$(dirname "$BIN")") on 127.0.0.1:$port"
    echo "export EVAULT_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$port/$DATABASE"
}

stop_cluster() {
    if [[ ! -f $DIR/data/PG_VERSION ]]; then
        log "no cluster in $DIR; nothing to stop"
        return
    fi
    if is_running; then
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null
        log "stopped the cluster in $DIR"
    else
        log "the cluster in $DIR is not running"
    fi
}

main() {
    (($# >= 2)) || usage
    local cmd=$1
    DIR=$2
    OWNER=${EVAULT_PG_USER:-postgres}
    BIN=$(find_bindir)
    if [[ -d $DIR ]]; then DIR=$(cd "$DIR" && pwd); fi
    case $cmd in
        start)
            (($# == 3)) || usage
            [[ $3 =~ ^[0-9]+$ ]] && (($3 > 0 && $3 < 65536)) || die "PORT must be a TCP port number, got '$3'"
            mkdir -p "$DIR"
            DIR=$(cd "$DIR" && pwd)
            start_cluster "$3"
            ;;
        stop)
            (($# == 2)) || usage
            stop_cluster
            ;;
        *) usage ;;
    esac
}

main "$@"
