"""Where `evault login` keeps a credential: the OS keyring when `keyring` is installed, else a file only the user
can read (0600). Tokens never go on a command line, where other users of the machine could read them."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KEYRING_SERVICE = "evidence-vault"


@dataclass(frozen=True)
class StoredCredential:
    """A signed-in person's credential for one vault."""

    server: str
    user: str
    token: str
    expires_at: str | None = None
    method: str = "password"
    timezone: str | None = None  # the agency's zone, as the vault announced it at sign-in


def config_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Return the per-user folder for the client's state (`EVAULT_CLIENT_DIR` overrides it)."""
    if environ.get("EVAULT_CLIENT_DIR"):
        return Path(environ["EVAULT_CLIENT_DIR"])
    if sys.platform == "win32":
        return Path(environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "evault"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "evault"
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "evault"


class CredentialStore:
    """Credentials per server, and the server last signed in to (the default for later commands)."""

    def __init__(self, folder: Path, *, use_keyring: bool = True) -> None:
        self.path = folder / "credentials.json"
        self.use_keyring = use_keyring

    def default_server(self) -> str | None:
        """Return the server of the last sign-in, if any."""
        server = self._read().get("default")
        return str(server) if server else None

    def get(self, server: str) -> StoredCredential | None:
        """Return the credential stored for a server."""
        entry = self._read().get("servers", {}).get(server)
        if not isinstance(entry, dict):
            return None
        token = entry.get("token") or self._keyring_get(server)
        if not token:
            return None
        return StoredCredential(server=server, user=str(entry.get("user", "")), token=str(token),
                                expires_at=entry.get("expires_at"), method=str(entry.get("method", "password")),
                                timezone=entry.get("timezone"))

    def put(self, credential: StoredCredential) -> str:
        """Store a credential and make its server the default; return where the token went."""
        data = self._read()
        entry: dict[str, Any] = asdict(credential)
        entry.pop("server")
        where = str(self.path)
        if self._keyring_set(credential.server, credential.token):
            entry.pop("token")
            where = "the system keyring"
        data.setdefault("servers", {})[credential.server] = entry
        data["default"] = credential.server
        self._write(data)
        return where

    def remove(self, server: str) -> bool:
        """Forget a server's credential; return whether there was one."""
        data = self._read()
        found = data.get("servers", {}).pop(server, None) is not None
        if data.get("default") == server:
            data.pop("default")
        self._keyring_delete(server)
        self._write(data)
        return found

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".credentials-")
        try:
            if sys.platform != "win32":
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, indent=1)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _keyring(self) -> Any:
        if not self.use_keyring:
            return None
        try:
            import keyring
            from keyring.backends.fail import Keyring as NoKeyring
        except ImportError:
            return None
        return None if isinstance(keyring.get_keyring(), NoKeyring) else keyring

    def _keyring_get(self, server: str) -> str | None:
        backend = self._keyring()
        return backend.get_password(KEYRING_SERVICE, server) if backend else None

    def _keyring_set(self, server: str, token: str) -> bool:
        backend = self._keyring()
        if backend is None:
            return False
        try:
            backend.set_password(KEYRING_SERVICE, server, token)
        except Exception:  # noqa: BLE001 - a locked or absent keyring daemon: fall back to the 0600 file
            return False
        return True

    def _keyring_delete(self, server: str) -> None:
        backend = self._keyring()
        if backend is None:
            return
        try:
            backend.delete_password(KEYRING_SERVICE, server)
        except Exception:  # noqa: BLE001 - nothing stored there
            return
