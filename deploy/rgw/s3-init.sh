#!/bin/bash
# s3-init for Ceph RGW (runs in the ceph image as the bucket owner, over S3 with curl's SigV4): the evidence
# bucket with Object Lock, the abort-incomplete-multipart rule `evault init` expects (the vault's account may not
# set lifecycle rules), and the bucket policy that grants the vault's account (uid evault-service) only what it
# needs. Safe to run again. Environment: S3_URL, S3_BUCKET, SECRETS_DIR (/run/secrets), POLICY (the policy file).
set -euo pipefail
SECRETS=${SECRETS_DIR:-/run/secrets}
POLICY=${POLICY:-/deploy/s3/vault-bucket-policy.json}
secret() { tr -d '\r\n' <"$SECRETS/$1"; }
OWNER="$(secret s3_root_user):$(secret s3_root_password)"

s3() {  # METHOD QUERY BODY [headers...]: one signed request as the owner; prints the HTTP status
    local method=$1 query=$2 body=$3
    shift 3
    # The payload's own hash, signed; and "?name=" not "?name": curl 7.88 signs a bare key differently.
    curl -sS -o /tmp/s3-init.body -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$OWNER" \
        -H "x-amz-content-sha256: $(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" "$@" \
        -X "$method" --data-binary "$body" "$S3_URL/$S3_BUCKET$query"
}

status=$(s3 PUT "" "" -H "x-amz-bucket-object-lock-enabled: true")
case $status in
    200) echo "s3-init: bucket $S3_BUCKET is there, created with Object Lock" ;;
    409) echo "s3-init: bucket $S3_BUCKET exists" ;;
    *) echo "s3-init: creating bucket $S3_BUCKET answered $status: $(cat /tmp/s3-init.body)" >&2; exit 1 ;;
esac

lifecycle='<LifecycleConfiguration><Rule><ID>evault-abort-incomplete-multipart</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>'
md5=$(printf '%s' "$lifecycle" | openssl dgst -md5 -binary | base64)
status=$(s3 PUT "?lifecycle=" "$lifecycle" -H "Content-MD5: $md5")
[[ $status == 200 ]] || { echo "s3-init: lifecycle answered $status: $(cat /tmp/s3-init.body)" >&2; exit 1; }

if [[ -f $POLICY ]]; then
    policy=$(sed -e "s|\${BUCKET}|$S3_BUCKET|g" -e "s|\${VAULT_PRINCIPAL}|arn:aws:iam:::user/evault-service|g" "$POLICY")
    status=$(s3 PUT "?policy=" "$policy")
    [[ $status == 204 || $status == 200 ]] || { echo "s3-init: policy answered $status: $(cat /tmp/s3-init.body)" >&2; exit 1; }
    echo "s3-init: bucket policy from $POLICY applied for evault-service"
else
    echo "s3-init: no bucket policy at $POLICY: the vault's account can do nothing with $S3_BUCKET" >&2
    exit 1
fi
