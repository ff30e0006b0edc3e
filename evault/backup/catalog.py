"""One consistent copy of the catalog: SQLite's online backup API, or pg_dump inside an exported snapshot; and
loading that copy into an empty catalog."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from vault.errors import Conflict, VaultError

SQLITE_PART = "catalog/evault.db"
POSTGRES_PART = "catalog/evault.pgdump"


class CatalogCopyFailed(VaultError):
    """pg_dump or pg_restore failed, or is not installed."""

    code = "catalog_copy_failed"
    status = 503


def catalog_kind(url: str) -> str:
    """Return "sqlite" or "postgresql" for a catalog URL."""
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


def describe_catalog(connection: Connection) -> dict[str, Any]:
    """Return what a manifest says about a catalog: schema revision, newest checkpoint, counts."""
    revisions = sorted(connection.scalars(text("SELECT version_num FROM alembic_version")))
    newest = connection.execute(text("SELECT tree_size, root_hash FROM custody_checkpoints "
                                     "ORDER BY tree_size DESC LIMIT 1")).first()
    return {
        "schema_revisions": revisions,
        "checkpoint": {"tree_size": newest[0], "root_hash": newest[1]} if newest else None,
        "custody_entries": connection.scalar(text("SELECT count(*) FROM custody_events")),
        "evidence": connection.scalar(text("SELECT count(*) FROM evidence")),
    }


def snapshot_sqlite(url: str, target: Path) -> dict[str, Any]:
    """Copy a live SQLite catalog with the online backup API into target; describe the copy."""
    source = sqlite3.connect(make_url(url).database or "", timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as connection:
            return describe_catalog(connection)
    finally:
        engine.dispose()


def _libpq(url: URL) -> tuple[list[str], dict[str, str]]:
    """Return pg_dump/pg_restore connection arguments and environment; the password goes in the environment."""
    args = ["--dbname", url.database or "", "--host", url.host or "localhost", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise CatalogCopyFailed(f"{name} is not on PATH; install the PostgreSQL client (Debian: postgresql-client)")
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise CatalogCopyFailed(f"{Path(argv[0]).name} failed (exit {done.returncode}): {last[0]}")


def dump_postgres(url: str, target: Path) -> dict[str, Any]:
    """Dump a PostgreSQL catalog with pg_dump inside one exported snapshot, and describe that same snapshot."""
    parsed = make_url(url)
    args, env = _libpq(parsed)
    engine = create_engine(url)
    try:
        connection = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with connection, connection.begin():  # the snapshot lives as long as this transaction
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            described = describe_catalog(connection)
            _run([_tool("pg_dump"), *args, "--format=custom", f"--snapshot={snapshot}", "--no-owner",
                  "--file", str(target)], env)
    finally:
        engine.dispose()
    return described


def sqlite_path(url: str) -> Path:
    """Return the file of a SQLite catalog URL."""
    return Path(make_url(url).database or "")


def catalog_is_empty(url: str) -> bool:
    """Return whether the configured catalog holds no tables at all (a SQLite file that does not exist is empty)."""
    if catalog_kind(url) == "sqlite" and not sqlite_path(url).exists():
        return True
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return not inspect(connection).get_table_names()
    finally:
        engine.dispose()


@contextmanager
def _refusing_non_empty(url: str) -> Iterator[None]:
    if not catalog_is_empty(url):
        raise Conflict("the configured catalog database is not empty; restore only into an empty database "
                       "(create a new one, or drop this one after you have kept a copy)",
                       details={"database": make_url(url).render_as_string()})
    yield


def load_catalog(url: str, part: Path, kind: str) -> None:
    """Load a catalog copy into the configured, empty catalog (refused if it holds any table)."""
    if kind != catalog_kind(url):
        raise Conflict(f"the backup holds a {kind} catalog but this host is configured for {catalog_kind(url)}")
    with _refusing_non_empty(url):
        if kind == "sqlite":
            target = sqlite_path(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + ".restoring")
            try:
                os.replace(part, temporary)  # the unpacked copy is in the home already: move it, don't copy it
            except OSError:
                shutil.copyfile(part, temporary)
            os.chmod(temporary, 0o600)
            with temporary.open("rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            return
        args, env = _libpq(make_url(url))
        _run([_tool("pg_restore"), *args, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              str(part)], env)
