#!/bin/sh
# s3-init for MinIO (runs in the minio/mc image as the server's root): the evidence bucket with Object Lock, then
# the vault's own account with only the actions it needs. No abort-incomplete-multipart rule: MinIO refuses that
# lifecycle action (minio/minio#15681, #16120) and purges uploads left incomplete for 24 h by itself.
# Safe to run again: every step checks or replaces what an earlier run made.
set -eu
secret() { cat "/run/secrets/$1"; }
mc alias set root "$S3_URL" "$(secret s3_root_user)" "$(secret s3_root_password)" >/dev/null
mc mb --ignore-existing --with-lock "root/$S3_BUCKET"
sed "s/\${BUCKET}/$S3_BUCKET/g" /deploy/minio/vault-user-policy.json >/tmp/vault-user-policy.json
mc admin policy create root evault-vault /tmp/vault-user-policy.json
mc admin user add root "$(secret vault_s3_access_key)" "$(secret vault_s3_secret_key)"
mc admin policy attach root evault-vault --user "$(secret vault_s3_access_key)" 2>/dev/null \
    || mc admin policy entities root --user "$(secret vault_s3_access_key)" | grep -q evault-vault
echo "s3-init: bucket $S3_BUCKET (Object Lock) and the vault's account are ready"
