"""`evault init` with EVAULT_STORE=s3 prepares the bucket on Ceph RGW, or refuses one that could let evidence expire."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import (
    AbortIncompleteMultipartUpload,
    Expiration,
    LifecycleConfig,
    NoncurrentVersionExpiration,
    Rule,
    Transition,
)
from minio.objectlockconfig import DAYS, GOVERNANCE, ObjectLockConfig

from evault_client.cli import root
from vault.storage.s3 import ABORT_MULTIPART_RULE, _could_expire

S3_ENDPOINT = os.environ.get("EVAULT_TEST_S3_ENDPOINT")
ACCESS_KEY = os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci")
SECRET_KEY = os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key")
needs_rgw = pytest.mark.skipif(not S3_ENDPOINT, reason="needs Ceph RGW: set EVAULT_TEST_S3_ENDPOINT")


@pytest.fixture
def s3() -> Minio:
    return Minio(S3_ENDPOINT or "", access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)


@pytest.fixture
def bucket() -> str:
    return f"init-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def env(tmp_path: Path, database_url: str, bucket: str) -> dict[str, str]:
    return {"EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": database_url, "EVAULT_LOG_JSON": "false",
            "EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": S3_ENDPOINT or "", "EVAULT_S3_ACCESS_KEY": ACCESS_KEY,
            "EVAULT_S3_SECRET_KEY": SECRET_KEY, "EVAULT_S3_BUCKET": bucket, "EVAULT_S3_ABORT_MULTIPART_DAYS": "2"}


def init(env: dict[str, str]) -> Result:
    return CliRunner().invoke(root, ["init"], env=env, catch_exceptions=False)


def rules(s3: Minio, bucket: str) -> dict[str, Rule]:
    config = s3.get_bucket_lifecycle(bucket)
    return {} if config is None else {rule.rule_id or "": rule for rule in config.rules}


def assert_abort_rule(s3: Minio, bucket: str, days: int) -> None:
    ours = rules(s3, bucket)[ABORT_MULTIPART_RULE]
    assert ours.status == ENABLED and ours.expiration is None and ours.noncurrent_version_expiration is None
    assert ours.abort_incomplete_multipart_upload == AbortIncompleteMultipartUpload(days)


@needs_rgw
def test_init_creates_a_fresh_bucket_with_object_lock_and_an_abort_multipart_rule(
    env: dict[str, str], s3: Minio, bucket: str
) -> None:
    result = init(env)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("evt_")
    assert s3.get_object_lock_config(bucket).mode is None  # Object Lock on, no default rule
    assert_abort_rule(s3, bucket, 2)
    again = init(env)
    assert again.exit_code == 0 and "already initialised" in again.output
    assert list(rules(s3, bucket)) == [ABORT_MULTIPART_RULE]


@needs_rgw
def test_with_zero_days_init_leaves_the_buckets_rules_to_its_owner(env: dict[str, str], s3: Minio, bucket: str) -> None:
    result = init({**env, "EVAULT_S3_ABORT_MULTIPART_DAYS": "0"})
    assert result.exit_code == 0, result.output
    assert list(rules(s3, bucket)) == []


@needs_rgw
def test_init_accepts_an_existing_object_lock_bucket_and_keeps_its_harmless_rules(
    env: dict[str, str], s3: Minio, bucket: str
) -> None:
    s3.make_bucket(bucket, object_lock=True)
    logs = Rule(ENABLED, rule_filter=Filter(prefix="logs/"), rule_id="expire-logs", expiration=Expiration(days=30))
    s3.set_bucket_lifecycle(bucket, LifecycleConfig([logs]))
    result = init(env)
    assert result.exit_code == 0, result.output
    assert sorted(rules(s3, bucket)) == sorted([ABORT_MULTIPART_RULE, "expire-logs"])
    assert_abort_rule(s3, bucket, 2)


def assert_refused(result: Result, env: dict[str, str], message: str) -> None:
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not Path(env["EVAULT_HOME"]).exists()  # no home, keys or admin: nothing half-done


@needs_rgw
def test_init_refuses_a_bucket_without_object_lock(env: dict[str, str], s3: Minio, bucket: str) -> None:
    s3.make_bucket(bucket)
    assert_refused(init(env), env, "without Object Lock")
    assert rules(s3, bucket) == {}


@needs_rgw
def test_init_refuses_a_bucket_with_a_default_retention_rule(env: dict[str, str], s3: Minio, bucket: str) -> None:
    s3.make_bucket(bucket, object_lock=True)
    s3.set_object_lock_config(bucket, ObjectLockConfig(GOVERNANCE, 1, DAYS))
    assert_refused(init(env), env, "default retention rule")
    assert rules(s3, bucket) == {}


EXPIRING_RULES = {
    "expire-everything": Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="expire-everything",
                              expiration=Expiration(days=365)),
    "old-versions": Rule(ENABLED, rule_filter=Filter(prefix="originals/"), rule_id="old-versions",
                         noncurrent_version_expiration=NoncurrentVersionExpiration(30)),
    "delete-markers": Rule(ENABLED, rule_filter=Filter(prefix="orig"), rule_id="delete-markers",
                           expiration=Expiration(expired_object_delete_marker=True)),
    "abort-and-expire": Rule(ENABLED, rule_filter=Filter(prefix="originals/2026"), rule_id="abort-and-expire",
                             abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(1),
                             expiration=Expiration(days=30)),
}


@needs_rgw
@pytest.mark.parametrize("name", sorted(EXPIRING_RULES))
def test_init_refuses_a_bucket_with_a_lifecycle_rule_that_could_expire_evidence(
    env: dict[str, str], s3: Minio, bucket: str, name: str
) -> None:
    s3.make_bucket(bucket, object_lock=True)
    s3.set_bucket_lifecycle(bucket, LifecycleConfig([EXPIRING_RULES[name]]))
    assert_refused(init(env), env, "could expire or move evidence")
    assert list(rules(s3, bucket)) == [name]  # the bucket is left exactly as it was


def test_transitions_and_untargeted_rules_count_as_expiring_evidence() -> None:
    move = Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="to-glacier", transition=Transition(days=30,
                storage_class="GLACIER"))
    unfiltered = Rule(ENABLED, rule_id="no-filter", expiration=Expiration(days=1))
    abort_only = Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="abort",
                      abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(7))
    disabled = Rule("Disabled", rule_filter=Filter(prefix=""), rule_id="off", expiration=Expiration(days=1))
    assert _could_expire(move, "originals/") and _could_expire(unfiltered, "originals/")
    assert not _could_expire(abort_only, "originals/") and not _could_expire(disabled, "originals/")
