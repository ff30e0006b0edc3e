"""Create a vault home: folders, keys, database schema and the first admin."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from evault.migrate import upgrade_database
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.db import transaction, utcnow
from vault.identities.actor import SYSTEM
from vault.identities.service import bootstrap_admin
from vault.identities.sign_in import set_password
from vault.keys import create_keys
from vault.storage.base import BlobStore
from vault.storage.factory import prepare_blob_store

FIRST_PASSWORD_FILE = "first-admin-password"


@dataclass(frozen=True)
class InitResult:
    """What `evault init` did."""

    created_keys: bool
    admin_name: str | None
    admin_token: str | None
    admin_password: str | None = None
    password_file: Path | None = None


def open_vault(settings: Settings, *, store: BlobStore | None = None) -> VaultContext:
    """Open an initialised vault, migrating its database to the newest schema."""
    context = build_context(settings, store=store)
    context.check_database()
    upgrade_database(context.engine)
    return context


def initialise(settings: Settings, *, admin_name: str = "admin") -> InitResult:
    """Prepare the store, then create home, keys, schema and first admin; safe to run again."""
    store = prepare_blob_store(settings)  # first: a bucket refused here leaves nothing else half-made
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.objects_dir.mkdir(parents=True, exist_ok=True)
    created = create_keys(settings.keys_dir)
    context = open_vault(settings, store=store)
    try:
        context.check_store()
        with transaction(context.sessions) as session:
            admin = bootstrap_admin(session=session, name=admin_name)
            password = secrets.token_urlsafe(12) if admin else None
            if admin is not None and password is not None:
                set_password(session=session, actor=SYSTEM, user=admin[0], password=password, now=utcnow())
    finally:
        context.close()
    if admin is None or password is None:
        return InitResult(created_keys=created, admin_name=None, admin_token=None)
    return InitResult(created_keys=created, admin_name=admin[0].name, admin_token=admin[1], admin_password=password,
                      password_file=keep_first_password(settings, password))


def keep_first_password(settings: Settings, password: str) -> Path:
    """Keep the first admin's password in the home, readable only by its owner (0600), for the first sign-in."""
    path = settings.home / FIRST_PASSWORD_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return path


def write_credentials_file(path: Path, result: InitResult) -> Path:
    """Write the first admin's name, password and token to a new file only its owner can read (0600); return it."""
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a file left from an earlier vault: its token is dead, and O_EXCL keeps the mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"admin": result.admin_name, "password": result.admin_password, "token": result.admin_token},
                  handle, ensure_ascii=False)
        handle.write("\n")
    return path
