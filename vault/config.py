"""Settings for one vault process; the only module that reads the environment."""

from __future__ import annotations

import getpass
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vault.custody.witness import check_cosigner_name, parse_trusted_logs, parse_witnesses
from vault.storage.base import LockMode

PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "minioadmin", "secret", "password"})
# The agency name shipped as a default: fine for a demo vault, never on a bundle handed to a court.
PLACEHOLDER_AGENCY_NAME = "示例市应急管理局 (Example City Emergency Management Bureau)"


class Settings(BaseSettings):
    """Every knob of the vault, read from `EVAULT_*` variables with embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="EVAULT_", extra="ignore")

    # Resolved once, when settings are read, to an absolute path (relative to the current folder); `evault init`
    # records the homes it made in the per-user folder below, so a command run elsewhere can say where they are.
    home: Path = Path("./evault-data")
    host_config_dir: Path | None = None
    database_url: str | None = None
    store: Literal["local", "s3"] = "local"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "evidence"
    s3_secure: bool = False
    s3_lock_mode: LockMode = LockMode.COMPLIANCE
    # A store that hangs fails a request within about this many seconds (connect, read and retries together).
    s3_timeout_seconds: float = 10.0
    # `evault init` sets a bucket rule aborting multipart uploads left incomplete for this many days; 0 leaves the
    # bucket's rules to its owner (MinIO refuses the rule and clears stale uploads itself).
    s3_abort_multipart_days: int = Field(default=1, ge=0)
    # Custody log anchoring (issue 12): the checkpoint origin (key name) and how long anchors stay locked. Anchors
    # prove the log for as long as any record it covers is kept, so they outlast the longest retention class.
    log_origin: str = ""
    anchor_retention_years: int = 100
    # The auditor's log page offers "verify now" up to this many entries; a larger log is verified with the CLI.
    audit_web_verify_max_entries: int = Field(default=200_000, ge=0)
    # The agency (制作单位) named on every explanation sheet; exports refuse the placeholder unless `demo` is set.
    agency_name: str = PLACEHOLDER_AGENCY_NAME
    demo: bool = False
    timezone: str = "Asia/Shanghai"
    max_upload_bytes: int = 64 * 1024**3
    presign_seconds: int = 300
    log_json: bool = True
    log_level: str = "INFO"
    # A retention default applied at the store when nothing longer is known: the shortest statutory class.
    minimum_retention_days: int = 183
    # Access (查阅): uploaders viewing their own footage without a request is an agency decision, off by default.
    uploader_self_view: bool = False
    access_max_grant_hours: int = 720
    playback_idle_seconds: int = 600
    # The web app: browser sessions and password sign-in (issue 13).
    web_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    web_absolute_hours: int = Field(default=12, ge=1, le=24 * 7)
    # How long a token from `evault login` lasts (tokens from `evault tokens create` never expire by themselves).
    cli_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    sign_in_max_failures: int = Field(default=5, ge=1, le=100)
    sign_in_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Mark the session cookie Secure; "auto" does so when the request arrived over https (or a proxy says so).
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # OpenID Connect bearer tokens; disabled unless an issuer and a JWKS source are set.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_algorithms: list[str] = ["RS256", "ES256"]
    oidc_username_claim: str = "preferred_username"
    oidc_role_claim: str = "roles"
    oidc_role_map: dict[str, str] = {}
    oidc_auto_provision: bool = True
    # Single sign-on in the web app (authorization code flow with PKCE); off unless an issuer and a client id are
    # set. Endpoints come from the issuer's discovery document; without a secret the vault is a public client. The
    # redirect URL is derived from the request unless set (set it behind a proxy that rewrites the host).
    oidc_client_id: str | None = None
    # The public client `evault login --device` uses (no secret: a command line cannot keep one); else the web's.
    oidc_cli_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_url: str | None = None
    oidc_scopes: str = "openid profile"
    oidc_sign_in_seconds: int = Field(default=600, ge=30, le=3600)
    oidc_timeout_seconds: float = 10.0
    # Ingest rules (DOMAIN.md, Ingest): shipped defaults an agency may change.
    continuity_tolerance_seconds: float = 1.0
    field_handover_hours: int = 24
    minimum_certified_officers: int = 2
    # How far a declared time may disagree with the file's own clock, or lie ahead of the vault's, before it is
    # flagged `metadata_mismatch` (file) or refused (a declared time in the future).
    clock_tolerance_seconds: float = 300.0
    # Docking stations (`evault dock`) report their status; one that has not reported for this long has gone silent.
    dock_silent_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # Evidence bundles (证据包): optional RFC 3161 time-stamping authority, and how long retained copies are locked.
    tsa_url: str | None = None
    tsa_certificates_file: Path | None = None
    tsa_timeout_seconds: float = 30.0
    # SM3 runs at ~150 MB/s; by default a bundle reuses the SM3 recorded at ingest (the streamed SHA-256 ties it).
    export_compute_sm3: bool = False
    export_copy_retention_days: int = 30 * 365
    # A font with Chinese glyphs for per-recipient watermarks (Debian fonts-noto-cjk).
    export_watermark_font: Path = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    # Derived files (thumbnails, proxies) can be made again from their original: a short GOVERNANCE lock only.
    derivative_retention_days: int = Field(default=30, ge=1)
    # Call-ups (调阅): case materials are due within this many working days (`001` 备案规定 第十五条).
    callup_working_days: int = Field(default=5, ge=1, le=60)
    # Resumable uploads: the staging folder every API instance must share (default: under home), and how long
    # a PATCH waits for an earlier PATCH of the same upload to let go before it answers 423 Locked.
    staging_dir: Path | None = None
    upload_lock_wait_seconds: float = 5.0
    # The reconciler: finished writes younger than the grace may still be on their way to the catalog.
    reconcile_grace_seconds: int = 3600
    reconcile_lookback_days: int = 7
    # An unfinished upload no request touched for this long is abandoned: terminated, its staged bytes deleted.
    upload_expiry_hours: float = 168.0
    # Test-only kill switch: the process kills itself at the named point (see vault/faults.py). Never set it.
    crash_at: str | None = None
    # Scheduled jobs: a running worker refreshes its lease this often; a lease silent for longer than the
    # takeover time belongs to a dead worker, and another worker takes the run over.
    job_heartbeat_seconds: float = 30.0
    job_takeover_seconds: float = 180.0
    # Disposal (销毁): an approved disposal waits this many days, and a records manager may cancel it meanwhile.
    # 0 turns the window off: approval destroys at once.
    disposal_recovery_days: int = Field(default=7, ge=0, le=3650)
    # Witnesses (c2sp.org/tlog-witness): who cosigns our checkpoints, each "<vkey> <submission URL prefix>"; and,
    # acting as a witness for other logs, our cosigner name (empty: witnessing is off) and the logs' vkeys we trust.
    witnesses: list[str] = []
    witness_name: str = ""
    witness_trusted_logs: list[str] = []
    # Deployment (compose, issue 16): "worker" when `evault worker` runs the scheduled jobs, so `evault serve`
    # never runs a second scheduler beside it. Any setting may also come from a file: EVAULT_<NAME>_FILE.
    scheduler: Literal["embedded", "worker"] = "embedded"

    # Observability (issue 16): a file holding the token Prometheus scrapes /metrics with (at least 24 characters,
    # read on every scrape so it can be rotated); without it only admins' and auditors' API tokens may scrape.
    metrics_token_file: Path | None = None

    # Playback (issue 17): the first range of a view is committed before its bytes are sent; the ranges after it
    # are held in memory and written to their playback session this often, so a killed server loses at most this
    # many seconds of a view's extent, never the view. Shorter than the idle time, which closes a session.
    playback_flush_seconds: float = Field(default=5.0, gt=0, le=300)
    # A view's next ranges skip the catalog's grant check for this long after a check that allowed it (never past
    # the grant's expiry): a grant revoked by another process, or a token or sign-in ended, stops playback at the
    # latest this many seconds later. 0 checks every range.
    playback_recheck_seconds: float = Field(default=2.0, ge=0, le=30)

    # Custody (issue 17): 0 signs and anchors a checkpoint in every commit that appends events; above 0, commits only
    # append, and each process signs and anchors one checkpoint over everything committed at most this many ms
    # after the oldest unsigned commit (docs/custody.md, "The signing window").
    custody_sign_window_ms: int = Field(default=0, ge=0, le=60_000)

    @model_validator(mode="after")
    def _flush_playback_before_idle(self) -> Settings:
        if self.playback_flush_seconds >= self.playback_idle_seconds:
            raise ValueError("EVAULT_PLAYBACK_FLUSH_SECONDS must be shorter than EVAULT_PLAYBACK_IDLE_SECONDS")
        return self

    # S3 store (issue 16): presigned links are signed for the public endpoint clients reach (scheme://host[:port];
    # empty: the internal endpoint); every object is written with server-side encryption and HEAD must confirm it.
    s3_public_endpoint: str = ""
    s3_sse: Literal["none", "s3", "kms"] = "none"
    s3_kms_key_id: str = ""

    _home_as_given: Path = PrivateAttr(default=Path("./evault-data"))

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read settings from arguments, then the environment, then `EVAULT_<NAME>_FILE` files."""
        return init_settings, env_settings, _SettingFiles(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _resolve_home(self) -> Settings:
        self._home_as_given = self.home
        self.home = self.home.expanduser().resolve()
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.store == "s3":
            secret = self.s3_secret_key.get_secret_value()
            if not self.s3_access_key or not secret:
                raise ValueError("EVAULT_S3_ACCESS_KEY and EVAULT_S3_SECRET_KEY are required when EVAULT_STORE=s3")
            if secret.lower() in PLACEHOLDER_SECRETS:
                raise ValueError("EVAULT_S3_SECRET_KEY is a placeholder; set a real secret")
            if self.s3_sse == "kms" and not self.s3_kms_key_id:
                raise ValueError("EVAULT_S3_KMS_KEY_ID is required when EVAULT_S3_SSE=kms")
        return self

    @model_validator(mode="after")
    def _refuse_takeover_of_live_jobs(self) -> Settings:
        if self.job_heartbeat_seconds <= 0 or self.job_takeover_seconds < 2 * self.job_heartbeat_seconds:
            raise ValueError("EVAULT_JOB_TAKEOVER_SECONDS must be at least twice EVAULT_JOB_HEARTBEAT_SECONDS (> 0), "
                             "or live jobs would be taken over")
        return self

    @model_validator(mode="after")
    def _parse_witness_settings(self) -> Settings:
        parse_witnesses(self.witnesses)
        parse_trusted_logs(self.witness_trusted_logs)
        check_cosigner_name(self.witness_name)
        return self

    @property
    def agency_name_missing(self) -> bool:
        """Return whether the agency name is blank or still the shipped placeholder."""
        return not self.agency_name.strip() or self.agency_name.strip() == PLACEHOLDER_AGENCY_NAME

    @property
    def resolved_database_url(self) -> str:
        """Return the configured database URL, or the embedded SQLite file under home."""
        return self.database_url or f"sqlite:///{self.home.resolve() / 'evault.db'}"

    @property
    def home_as_given(self) -> Path:
        """Return EVAULT_HOME as it was set (possibly relative), for messages that say where a command looked."""
        return self._home_as_given

    @property
    def vault_registry_file(self) -> Path:
        """Return the per-user file listing the vault homes `evault init` made (EVAULT_HOST_CONFIG_DIR moves it)."""
        return (self.host_config_dir or _user_config_dir()) / "vault-homes.json"

    @property
    def keys_dir(self) -> Path:
        """Return the folder holding the vault's signing and data keys."""
        return self.home / "keys"

    @property
    def uploads_dir(self) -> Path:
        """Return the folder where uploads are staged: shared by every API instance (EVAULT_STAGING_DIR)."""
        return self.staging_dir or self.home / "uploads"

    @property
    def objects_dir(self) -> Path:
        """Return the folder of the local object store."""
        return self.home / "objects"

    @cached_property
    def zone(self) -> ZoneInfo:
        """Return the agency's time zone, used for display and day boundaries."""
        return ZoneInfo(self.timezone)


class _SettingFiles(PydanticBaseSettingsSource):
    """Settings from files named by `EVAULT_<NAME>_FILE` (compose and Kubernetes secrets), one value a file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Return nothing field by field: every value comes from __call__."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return each setting whose `_FILE` variable is set, read from that file without its final newline."""
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            variable = f"EVAULT_{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if variable in os.environ:
                raise ValueError(f"both {variable} and {variable}_FILE are set; set one of them")
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{variable}_FILE names {path}, which cannot be read: {exc.strerror}") from exc
            field = self.settings_cls.model_fields[name]
            # A list or a mapping is JSON in its file, as it would be in its variable.
            values[name] = self.decode_complex_value(name, field, value) if self.field_is_complex(field) else value
        return values


def _user_config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "evault"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "evault"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "evault"


def host_login() -> str:
    """Return the operating-system user running this process, from its user id where the system has one."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # Windows, or a uid without a passwd entry (containers)
        return getpass.getuser()


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
