"""The vault's least-privilege bucket policy, applied with the bucket owner's keys (never the vault's own).

    python -m vault.storage.bucket_policy print --bucket evidence --vault-user evault-service
    python -m vault.storage.bucket_policy apply --endpoint rgw:7480 --bucket evidence --vault-user evault-service \\
        --owner-access-key-file /run/secrets/s3_owner_access_key \\
        --owner-secret-key-file /run/secrets/s3_owner_secret_key

`apply` creates the bucket with Object Lock if it is missing, keeps the abort-incomplete-multipart rule on it (the
vault may read its lifecycle but not write it), sets the policy and reads it back.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import structlog

from vault.errors import InvalidInput, VaultError
from vault.storage.s3 import S3BlobStore

log = structlog.get_logger(__name__)

POLICY_TEMPLATE = "vault-bucket-policy.json"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PRINCIPAL = re.compile(r"^arn:aws:iam::[A-Za-z0-9_-]*:user/[A-Za-z0-9_.@+=,/-]+$")


def rgw_user_principal(uid: str, *, tenant: str = "") -> str:
    """Return the principal ARN Ceph RGW gives a user (arn:aws:iam::TENANT:user/UID)."""
    return f"arn:aws:iam::{tenant}:user/{uid}"


def render_bucket_policy(*, bucket: str, vault_principal: str) -> str:
    """Return the policy document for bucket, granting the vault's principal only what it needs."""
    if not _BUCKET_NAME.match(bucket):
        raise InvalidInput("not a valid S3 bucket name", details={"bucket": bucket})
    if not _PRINCIPAL.match(vault_principal):
        raise InvalidInput("the vault's principal must be an IAM user ARN such as arn:aws:iam:::user/evault-service",
                           details={"principal": vault_principal})
    template = resources.files("vault.storage").joinpath("policies", POLICY_TEMPLATE).read_text(encoding="utf-8")
    return Template(template).substitute(BUCKET=bucket, VAULT_PRINCIPAL=vault_principal)


def apply_bucket_policy(owner: S3BlobStore, *, vault_principal: str, abort_multipart_days: int = 1) -> dict[str, Any]:
    """Prepare the owner's bucket for the vault (Object Lock, abort rule) and set the vault's policy; return it."""
    owner.ensure_bucket(abort_multipart_days=abort_multipart_days)
    policy = render_bucket_policy(bucket=owner.bucket, vault_principal=vault_principal)
    owner.set_bucket_policy(policy)
    applied = json.loads(owner.bucket_policy())
    log.info("storage.s3.bucket_policy_applied", bucket=owner.bucket, principal=vault_principal,
             statements=len(applied.get("Statement", [])))
    return dict(applied)


def _read_secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vault.storage.bucket_policy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("print", "apply"):
        command = commands.add_parser(name)
        command.add_argument("--bucket", required=True)
        who = command.add_mutually_exclusive_group(required=True)
        who.add_argument("--vault-user", help="the vault's RGW user id (principal arn:aws:iam:::user/UID)")
        who.add_argument("--vault-principal", help="the vault's principal ARN, as the S3 server names it")
    apply = commands.choices["apply"]
    apply.add_argument("--endpoint", required=True, help="host:port of the S3 endpoint")
    apply.add_argument("--secure", action="store_true", help="use https")
    apply.add_argument("--owner-access-key-file", type=Path, required=True)
    apply.add_argument("--owner-secret-key-file", type=Path, required=True)
    apply.add_argument("--abort-multipart-days", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print or apply the vault's bucket policy; exit 1 with the vault's error if the server refuses."""
    args = _parser().parse_args(argv)
    principal = args.vault_principal or rgw_user_principal(args.vault_user)
    try:
        if args.command == "print":
            print(render_bucket_policy(bucket=args.bucket, vault_principal=principal), end="")
            return 0
        owner = S3BlobStore(endpoint=args.endpoint, access_key=_read_secret(args.owner_access_key_file),
                            secret_key=_read_secret(args.owner_secret_key_file), bucket=args.bucket,
                            secure=args.secure)
        applied = apply_bucket_policy(owner, vault_principal=principal, abort_multipart_days=args.abort_multipart_days)
    except (VaultError, OSError) as exc:
        print(f"存储桶策略未应用 (bucket policy not applied): {exc}", file=sys.stderr)
        return 1
    print(f"存储桶 {args.bucket} 已应用证据库策略 (bucket policy applied): "
          f"{len(applied.get('Statement', []))} statements for {principal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
