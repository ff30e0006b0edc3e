"""Client settings: the only place the ingest client reads the environment (EVAULT_SERVER, EVAULT_TOKEN)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    return Path.home() / ".cache" / "evault"


class ClientSettings(BaseSettings):
    """Where the vault is and who the officer is; the token never comes from a command-line flag."""

    model_config = SettingsConfigDict(env_prefix="EVAULT_", extra="ignore")

    server: str | None = None
    token: SecretStr | None = None
    state_dir: Path = Field(default_factory=_default_state_dir)


def load_client_settings() -> ClientSettings:
    """Read the client settings from the environment."""
    return ClientSettings()
