"""The vault's own S3 account on Ceph RGW: it stores, locks, holds and disposes, and nothing more.

The bucket belongs to another (owner) account, which applies the vault's bucket policy; the server, not our code,
must refuse everything else.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import ENABLED, GOVERNANCE, Filter
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.objectlockconfig import DAYS, ObjectLockConfig
from minio.versioningconfig import SUSPENDED, VersioningConfig

from tests.vault.storage.conftest import S3_ACCESS_KEY, S3_ENDPOINT, S3_SECRET_KEY, fresh_bucket_name
from vault.errors import ObjectLocked, StoreAccessDenied
from vault.storage.base import LockMode
from vault.storage.bucket_policy import apply_bucket_policy, main, render_bucket_policy, rgw_user_principal
from vault.storage.s3 import S3BlobStore

VAULT_USER = os.environ.get("EVAULT_TEST_S3_VAULT_USER", "")
VAULT_ACCESS_KEY = os.environ.get("EVAULT_TEST_S3_VAULT_ACCESS_KEY", "")
VAULT_SECRET_KEY = os.environ.get("EVAULT_TEST_S3_VAULT_SECRET_KEY", "")

pytestmark = [
    pytest.mark.s3,
    pytest.mark.skipif(not (S3_ENDPOINT and VAULT_ACCESS_KEY),
                       reason="needs Ceph RGW with the vault's user: scripts/ceph-rgw.sh start DIR PORT"),
]


@dataclass
class Accounts:
    """One fresh bucket, its owner's store, and the vault's store and raw client on it."""

    owner: S3BlobStore
    vault: S3BlobStore
    vault_client: Minio
    owner_client: Minio


@pytest.fixture
def accounts() -> Accounts:
    """Create a bucket as the owner, apply the vault's policy, and open it with the vault's keys."""
    bucket = fresh_bucket_name()
    owner = S3BlobStore(endpoint=S3_ENDPOINT or "", access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY,
                        bucket=bucket, lock_mode=LockMode.GOVERNANCE)
    apply_bucket_policy(owner, vault_principal=rgw_user_principal(VAULT_USER))
    vault = S3BlobStore(endpoint=S3_ENDPOINT or "", access_key=VAULT_ACCESS_KEY, secret_key=VAULT_SECRET_KEY,
                        bucket=bucket, lock_mode=LockMode.GOVERNANCE)
    vault.ensure_bucket()  # `evault init` with the vault's keys: reads the bucket's settings, writes nothing
    return Accounts(owner, vault, Minio(S3_ENDPOINT or "", VAULT_ACCESS_KEY, VAULT_SECRET_KEY, secure=False),
                    Minio(S3_ENDPOINT or "", S3_ACCESS_KEY, S3_SECRET_KEY, secure=False))


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_the_vault_stores_locks_holds_reads_and_disposes_with_its_own_keys(accounts: Accounts) -> None:
    vault = accounts.vault
    blob = vault.put_stream(io.BytesIO(b"footage" * 1000), retain_until=in_seconds(3600))
    assert vault.stat(blob.key, blob.version_id).lock_mode == LockMode.GOVERNANCE
    vault.set_retention(blob.key, blob.version_id, in_seconds(7200))
    vault.set_legal_hold(blob.key, blob.version_id, True)
    assert vault.stat(blob.key, blob.version_id).legal_hold
    vault.set_legal_hold(blob.key, blob.version_id, False)
    assert b"".join(vault.open_range(blob.key, blob.version_id)) == b"footage" * 1000
    with pytest.raises(ObjectLocked):
        vault.delete(blob.key, blob.version_id)

    due = vault.put_stream(io.BytesIO(b"due for disposal"), retain_until=in_seconds(1.5))
    time.sleep(max(0.0, (vault.stat(due.key, due.version_id).retain_until or in_seconds(0)).timestamp()
                   - time.time() + 0.2))
    vault.delete(due.key, due.version_id)  # an approved disposal once retention has run out
    assert [v.key for v in vault.list_versions()] == [blob.key]


def _refusals(accounts: Accounts) -> dict[str, Callable[[], object]]:
    client, bucket = accounts.vault_client, accounts.vault.bucket
    expire = LifecycleConfig([Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="gone",
                                   expiration=Expiration(days=1))])
    return {
        "put bucket policy": lambda: client.set_bucket_policy(bucket, json.dumps({"Version": "2012-10-17",
                                                                                  "Statement": []})),
        "delete bucket policy": lambda: client.delete_bucket_policy(bucket),
        "put lifecycle": lambda: client.set_bucket_lifecycle(bucket, expire),
        "delete lifecycle": lambda: client.delete_bucket_lifecycle(bucket),
        "default retention": lambda: client.set_object_lock_config(bucket, ObjectLockConfig(GOVERNANCE, 1, DAYS)),
        "suspend versioning": lambda: client.set_bucket_versioning(bucket, VersioningConfig(SUSPENDED)),
        "delete bucket": lambda: client.remove_bucket(bucket),
    }


def test_the_server_refuses_the_vault_any_change_to_the_bucket(accounts: Accounts) -> None:
    for action, attempt in _refusals(accounts).items():
        with pytest.raises(S3Error) as refused:
            attempt()
        assert refused.value.code == "AccessDenied", action
    # Through the vault's own code the refusal is the vault's error, never a raw S3 one.
    with pytest.raises(StoreAccessDenied) as denied:
        accounts.vault.set_bucket_policy("{}")
    assert denied.value.code == "storage_access_denied" and denied.value.details["server_code"] == "AccessDenied"
    assert json.loads(accounts.owner.bucket_policy())["Statement"][0]["Sid"] == "EvaultReadsBucketState"


def test_the_vault_cannot_bypass_governance(accounts: Accounts) -> None:
    blob = accounts.vault.put_stream(io.BytesIO(b"governed"), retain_until=in_seconds(3600))
    with pytest.raises(S3Error) as refused:
        list(accounts.vault_client.remove_objects(accounts.vault.bucket, [DeleteObject(blob.key, blob.version_id)],
                                                  bypass_governance_mode=True))
    assert refused.value.code == "AccessDenied"
    assert accounts.vault.stat(blob.key, blob.version_id).retain_until is not None


def test_evault_init_with_the_vault_keys_names_what_the_owner_must_do(accounts: Accounts) -> None:
    accounts.owner_client.delete_bucket_lifecycle(accounts.vault.bucket)  # the abort rule is the owner's to set
    with pytest.raises(StoreAccessDenied) as denied:
        accounts.vault.ensure_bucket()
    assert "bucket policy" in denied.value.message


def test_the_policy_command_prints_and_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = fresh_bucket_name()
    assert main(["print", "--bucket", bucket, "--vault-user", VAULT_USER]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(render_bucket_policy(bucket=bucket, vault_principal=rgw_user_principal(VAULT_USER)))
    (tmp_path / "access").write_text(S3_ACCESS_KEY + "\n")
    (tmp_path / "secret").write_text(S3_SECRET_KEY + "\n")
    owner = ["--owner-access-key-file", str(tmp_path / "access"), "--owner-secret-key-file", str(tmp_path / "secret")]
    assert main(["apply", "--endpoint", S3_ENDPOINT or "", "--bucket", bucket, "--vault-user", VAULT_USER, *owner]) == 0
    assert "applied" in capsys.readouterr().out
    vault = S3BlobStore(endpoint=S3_ENDPOINT or "", access_key=VAULT_ACCESS_KEY, secret_key=VAULT_SECRET_KEY,
                        bucket=bucket)
    vault.ensure_bucket()
    # The vault's keys cannot apply the policy themselves: the command fails, with the vault's error.
    (tmp_path / "access").write_text(VAULT_ACCESS_KEY)
    (tmp_path / "secret").write_text(VAULT_SECRET_KEY)
    assert main(["apply", "--endpoint", S3_ENDPOINT or "", "--bucket", bucket, "--vault-user", VAULT_USER, *owner]) == 1
    assert "not applied" in capsys.readouterr().err
