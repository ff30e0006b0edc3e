"""Which vault a host command works on: `evault init` records each home it made, absolute, in a per-user file and
in the home itself, so a command run from another folder (a relative EVAULT_HOME) says where the vault is instead
of finding none, and `init` never makes a second signing key by accident."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from vault.cli_support import EX_CONFIG
from vault.config import Settings
from vault.keys import SIGNING_KEY_FILE

HOME_MARKER = "vault-home.json"


class HostFailure(click.ClickException):
    """No vault where a host command looked: one line `error (code): message`, exit 78 (EX_CONFIG)."""

    exit_code = EX_CONFIG

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def show(self, file: object = None) -> None:
        """Print the one-line refusal on stderr."""
        click.echo(f"error ({self.code}): {self.message}", err=True)


@dataclass(frozen=True)
class RecordedHome:
    """One vault home `evault init` made for this operating-system user."""

    home: Path
    initialised_at: str

    @property
    def present(self) -> bool:
        """Return whether the vault's signing key is still there."""
        return (self.home / "keys" / SIGNING_KEY_FILE).exists()


def has_vault(settings: Settings) -> bool:
    """Return whether the resolved home holds a vault (its signing key)."""
    return (settings.keys_dir / SIGNING_KEY_FILE).exists()


def recorded_homes(settings: Settings) -> list[RecordedHome]:
    """Return the homes `evault init` recorded for this user, oldest first (none if the file is unreadable)."""
    try:
        data = json.loads(settings.vault_registry_file.read_text(encoding="utf-8"))
        return [RecordedHome(Path(entry["home"]), str(entry.get("initialised_at", ""))) for entry in data["vaults"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def record_home(settings: Settings, *, now: datetime) -> None:
    """Record the resolved home in the per-user list and in the home itself (once each)."""
    marker = settings.home / HOME_MARKER
    if not marker.exists():
        _write_atomically(marker, {"home": str(settings.home), "initialised_at": now.isoformat()})
    homes = recorded_homes(settings)
    if any(entry.home == settings.home for entry in homes):
        return
    entries = [{"home": str(e.home), "initialised_at": e.initialised_at} for e in homes]
    entries.append({"home": str(settings.home), "initialised_at": now.isoformat()})
    _write_atomically(settings.vault_registry_file, {"vaults": entries})


def _write_atomically(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
    os.replace(temporary, path)


def where_looked(settings: Settings) -> str:
    """Describe where a command looked for the vault: the absolute home, and how a relative setting resolved."""
    given = settings.home_as_given
    if given.is_absolute():
        return str(settings.home)
    return f"{settings.home} (EVAULT_HOME={given} is relative to the current folder {Path.cwd()})"


def _recorded_text(homes: list[RecordedHome]) -> str:
    return ", ".join(f"{e.home}" + ("" if e.present else " (its signing key is missing)") for e in homes)


def require_vault(settings: Settings) -> None:
    """Refuse (exit 78) unless the resolved home holds a vault; say where it looked and which vaults init made."""
    if has_vault(settings):
        return
    homes = recorded_homes(settings)
    hint = (f"`evault init` recorded: {_recorded_text(homes)}; set EVAULT_HOME to one of them" if homes
            else "run `evault init` to create one")
    raise HostFailure("no_vault", f"no vault at {where_looked(settings)}; {hint}")


def refuse_second_vault(settings: Settings, *, new_vault: bool) -> None:
    """Refuse to make a new signing key while this user's init already made a vault, unless --new-vault."""
    if new_vault or has_vault(settings):
        return
    # A home whose folder is gone altogether (the operator deleted it to start again) holds no vault to protect.
    homes = [entry for entry in recorded_homes(settings) if entry.home.exists()]
    if homes:
        raise HostFailure("vault_exists_elsewhere",
                          f"no vault at {where_looked(settings)}, but `evault init` already made one for this user: "
                          f"{_recorded_text(homes)}; set EVAULT_HOME to it, or pass --new-vault to make another "
                          "vault with its own signing key")
