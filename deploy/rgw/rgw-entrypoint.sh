#!/bin/bash
# The compose file's Ceph RGW variant: a one-node cluster in one container (a monitor, one bluestore OSD on a
# sparse file under the data volume, radosgw on :9000), kept across restarts. The first start makes the cluster
# and two S3 users: the bucket owner (the s3_root_* secrets) and the vault's own account (uid evault-service, the
# vault_s3_* secrets), which owns nothing and gets only what the bucket policy grants it (s3-init).
#
#   rgw-entrypoint.sh          # run the cluster (the container's main process)
#   rgw-entrypoint.sh health   # the health check: exit 0 once the users exist and S3 answers
#
# Environment: RGW_DATA (/data), RGW_PORT (9000), RGW_OSD_BYTES (size of the OSD's block file, 1 TiB sparse),
# RGW_MON_PORT (3300), SECRETS_DIR (/run/secrets). The same script runs with Debian's ceph 16.2 in the tests.
set -euo pipefail

DATA=${RGW_DATA:-/data}
PORT=${RGW_PORT:-9000}
MON_PORT=${RGW_MON_PORT:-3300}
OSD_BYTES=${RGW_OSD_BYTES:-$((1024 ** 4))}
SECRETS=${SECRETS_DIR:-/run/secrets}
CONF=$DATA/ceph.conf
CEPH=(ceph -c "$CONF" --connect-timeout 10)
PIDS=()

log() { echo "rgw: $*" >&2; }
secret() { tr -d '\r\n' <"$SECRETS/$1"; }

write_conf() {
    cat >"$CONF" <<CONF
# Written by deploy/rgw/rgw-entrypoint.sh on the first start.
[global]
fsid = $(uuidgen)
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
# One container, loopback only between the daemons; S3 clients authenticate to radosgw with their keys.
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DATA/run
log file = $DATA/log/\$name.log
mon data = $DATA/mon/\$name
osd data = $DATA/osd/\$name
osd objectstore = bluestore
bluestore block create = true
bluestore block size = $OSD_BYTES
osd memory target = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false

[client.rgw]
ms mon client mode = crc
ms client mode = crc
ms service mode = crc
rgw frontends = beast port=$PORT
rgw data = $DATA/rgw
CONF
}

wait_for() {
    local what=$1 tries=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((--tries > 0)) || { log "timed out waiting for $what"; exit 1; }
        sleep 1
    done
}

start() {  # run one daemon in the foreground of a background job, so this script sees it die
    "$@" -f >>"$DATA/log/daemons.log" 2>&1 &
    PIDS+=($!)
}

osd_up() { "${CEPH[@]}" osd dump 2>/dev/null | grep -Eq '^osd\.0 up +in'; }

user() {  # uid, access key, secret key: made once, kept on later starts
    radosgw-admin -c "$CONF" user info --uid "$1" >/dev/null 2>&1 \
        || radosgw-admin -c "$CONF" user create --uid "$1" --display-name "$1" --access-key "$2" \
            --secret-key "$3" --max-buckets "$4" >/dev/null
}

make_users() {
    user evault-owner "$(secret s3_root_user)" "$(secret s3_root_password)" 10
    user evault-service "$(secret vault_s3_access_key)" "$(secret vault_s3_secret_key)" -1  # -1: may create none
}

stop_daemon() {
    local pid=$1 deadline=$((SECONDS + $2))
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_daemons() {
    # Newest first, each with its share of the 60 s stop grace period: radosgw (it keeps nothing of its own, and
    # its shutdown may wait 120 s for requests), then the osd, which needs the monitor to report to, then the monitor.
    local grace=(10 25 10) i  # in PIDS order: monitor, osd, radosgw
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_daemon "${PIDS[i]}" "${grace[i]}"
    done
}

stop_all() {
    log "stopping"
    stop_daemons
    exit 0
}

health() {
    [[ -f $DATA/run/ready ]] && curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/"
}

main() {
    mkdir -p "$DATA"/{run,log,mon,osd/osd.0,rgw}
    rm -f "$DATA/run/ready"  # S3 answering is not enough: s3-init needs the users made below
    local first=false
    if [[ ! -f $DATA/.bootstrapped ]]; then
        first=true
        rm -rf -- "${DATA:?}"/mon/* "${DATA:?}"/osd/osd.0/*
        write_conf
        monmaptool --create --clobber --fsid "$(awk '/^fsid/ {print $3}' "$CONF")" \
            --addv a "[v2:127.0.0.1:$MON_PORT]" "$DATA/monmap" >/dev/null
        ceph-mon -c "$CONF" -i a --mkfs --monmap "$DATA/monmap"
    fi
    trap stop_all TERM INT
    start ceph-mon -c "$CONF" -i a
    wait_for "the monitor" 60 "${CEPH[@]}" mon stat
    if $first; then
        local osd_uuid
        osd_uuid=$(uuidgen)
        "${CEPH[@]}" osd create "$osd_uuid" >/dev/null
        ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid"
    fi
    start ceph-osd -c "$CONF" -i 0
    wait_for "osd.0" 120 osd_up
    start radosgw -c "$CONF" -n client.rgw
    wait_for "the S3 users" 120 make_users
    $first && touch "$DATA/.bootstrapped"
    touch "$DATA/run/ready"
    log "ready: S3 on :$PORT"
    wait -n "${PIDS[@]}"  # any daemon gone: stop the rest, and let the container restart
    log "a daemon exited; stopping the others"
    stop_daemons
    exit 1
}

if [[ ${1:-} == health ]]; then
    health
else
    main
fi
