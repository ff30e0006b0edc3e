#!/usr/bin/env bash
# Make the secret files docker-compose.yml reads (./secrets/ by default; git-ignored), once.
#
#   scripts/make-secrets.sh [DIR]
#
# Each file holds one random value: postgres_password and database_url (the same password), s3_root_user and
# s3_root_password (the S3 server's root, or RGW's bucket owner), vault_s3_access_key and vault_s3_secret_key (the
# vault's own least-privilege S3 account). Existing files are kept: a new database or S3 password would lock the
# vault out of data made with the old one. The folder is 0700; the files are 0644 inside it because compose
# bind-mounts them into containers whose users (postgres, evault uid 10001) are not yours.
set -euo pipefail
DIR=${1:-"$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)/secrets"}

random() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

put() {
    local name=$1 value=$2
    if [[ -e $DIR/$name ]]; then
        echo "kept     $DIR/$name"
        return
    fi
    (umask 022 && printf '%s' "$value" >"$DIR/$name")
    echo "made     $DIR/$name"
}

mkdir -p "$DIR/tls"
chmod 0700 "$DIR"
password=$(cat "$DIR/postgres_password" 2>/dev/null || random 24)
put postgres_password "$password"
put database_url "postgresql+psycopg://evault:$password@postgres:5432/evault"
put s3_root_user "root$(random 6)"
put s3_root_password "$(random 24)"
put vault_s3_access_key "evault$(random 8)"
put vault_s3_secret_key "$(random 24)"
echo "secrets ready in $DIR (provided TLS certificates, if any, go in $DIR/tls/)"
