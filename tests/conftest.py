"""Shared fixtures: a real catalog (SQLite, or PostgreSQL when EVAULT_TEST_DATABASE_URL is set),
a real blob store (local folder, or Ceph RGW when EVAULT_TEST_STORE=s3), keys, and an API client."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from evault.app import create_app
from evault.migrate import upgrade_database
from tests.oidc_provider import OidcProvider, run_provider
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.db import make_engine, utcnow
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import Role, User
from vault.identities.service import HandlerInput, add_handler, create_user, issue_token
from vault.identities.sign_in import set_password
from vault.keys import create_keys
from vault.storage.base import BlobStore, LockMode
from vault.storage.local import LocalBlobStore

POSTGRES_URL = os.environ.get("EVAULT_TEST_DATABASE_URL")
S3_ENDPOINT = os.environ.get("EVAULT_TEST_S3_ENDPOINT")
STORE_KIND = os.environ.get("EVAULT_TEST_STORE", "local")
AGENCY = "阜阳市应急管理局"  # a real agency name: exports refuse the placeholder outside a demo vault


@pytest.fixture(autouse=True)
def _host_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the vault homes `evault init` records out of the real user's folder, one list per test."""
    monkeypatch.setenv("EVAULT_HOST_CONFIG_DIR", str(tmp_path_factory.mktemp("host-config")))


def pytest_report_header() -> str:
    """Say which catalog and store this run tests against, so a CI log shows it."""
    catalog = "PostgreSQL at " + make_url(POSTGRES_URL).render_as_string() if POSTGRES_URL else "SQLite"
    store = f"S3 at {S3_ENDPOINT}" if STORE_KIND == "s3" else "local folder"
    return f"evault: catalog {catalog}; store {store}" + (f" (S3 tests at {S3_ENDPOINT})" if S3_ENDPOINT else "")


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one template database per test session; tests get copies of it."""
    if POSTGRES_URL:
        name = f"evault_template_{os.getpid()}"
        admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade_database(engine)
        engine.dispose()
        yield name
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade_database(engine)
        engine.dispose()
        yield str(path)


def fresh_database_url(template_database: str, tmp_path: Path, file_name: str = "evault.db") -> Iterator[str]:
    """Yield the URL of a fresh copy of the migrated template database, and drop it afterwards."""
    if POSTGRES_URL:
        name = f"evault_t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path / file_name
        shutil.copyfile(template_database, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    """Return the URL of a fresh, migrated database for this test alone."""
    yield from fresh_database_url(template_database, tmp_path)


def serve_app(context: VaultContext, app: FastAPI | None = None) -> Iterator[str]:
    """Serve the vault's real application (or the given one) on a free local port; yield its URL, then stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app or create_app(context), log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the vault server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


def make_s3_store(*, bucket: str | None = None, lock_mode: LockMode = LockMode.GOVERNANCE) -> BlobStore:
    """Return an S3 store on the test RGW with a fresh Object Lock bucket."""
    from vault.storage.s3 import S3BlobStore

    store = S3BlobStore(
        endpoint=S3_ENDPOINT or "",
        access_key=os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
        secret_key=os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
        bucket=bucket or f"t-{uuid.uuid4().hex[:20]}",
        lock_mode=lock_mode,
    )
    store.ensure_bucket()
    return store


def stored_objects(store: BlobStore) -> list[str]:
    """List every object version the store holds, locked or not (what a refusal must leave untouched), apart
    from the custody log's anchors, which every commit that records an event adds."""
    from vault.storage.s3 import S3BlobStore

    if isinstance(store, LocalBlobStore):
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*")
                      if p.is_file() and not p.name.endswith(".lock.json")
                      and p.relative_to(store.root).parts[0] != "anchors")
    assert isinstance(store, S3BlobStore)
    client = store._client  # the test looks behind the store at the bucket itself
    return sorted(f"{o.object_name}@{o.version_id}"
                  for o in client.list_objects(store.bucket, recursive=True, include_version=True)
                  if not (o.object_name or "").startswith("custody/"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Return settings for a vault home under tmp_path with its keys created."""
    home = tmp_path / "home"
    result = Settings(home=home, database_url=database_url, log_json=False, agency_name=AGENCY)
    create_keys(result.keys_dir)
    return result


@pytest.fixture
def store(settings: Settings) -> BlobStore:
    """Return the blob store the suite runs against (local folder, or RGW when EVAULT_TEST_STORE=s3)."""
    if STORE_KIND == "s3":
        if not S3_ENDPOINT:
            pytest.fail("EVAULT_TEST_STORE=s3 needs EVAULT_TEST_S3_ENDPOINT")
        return make_s3_store()
    return LocalBlobStore(settings.objects_dir)


@pytest.fixture
def context(settings: Settings, store: BlobStore) -> Iterator[VaultContext]:
    """Return an open vault context on the per-test database and store."""
    ctx = build_context(settings, store=store)
    yield ctx
    ctx.close()


@pytest.fixture
def session(context: VaultContext) -> Iterator[Session]:
    """Return a session; tests commit explicitly like callers do."""
    with context.sessions() as sess:
        yield sess


@dataclass
class Person:
    """A test user with their token."""

    user: User
    token: str

    @property
    def actor(self) -> Actor:
        """Return the user as an actor."""
        return Actor.of(self.user)

    @property
    def headers(self) -> dict[str, str]:
        """Return the Authorization header for this user."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_person(context: VaultContext) -> Callable[..., Person]:
    """Create a committed user of a role (optionally with a handler certificate) and a token."""
    counter = iter(range(1, 10_000))

    def make(role: Role, *, name: str | None = None, certificate: str | None = None) -> Person:
        with context.sessions() as sess:
            if certificate:
                add_handler(session=sess, actor=SYSTEM, data=HandlerInput(
                    certificate_number=certificate, name=f"执法员{next(counter)}",
                    valid_from=date(2023, 1, 1), valid_until=date(2030, 12, 31), unit="示例市应急管理局"))
            user = create_user(session=sess, actor=SYSTEM, name=name or f"{role.value}-{next(counter)}",
                               role=role, handler_certificate=certificate)
            token = issue_token(session=sess, actor=SYSTEM, user=user)
            sess.commit()
            return Person(user=user, token=token)

    return make


@pytest.fixture
def client(context: VaultContext) -> Iterator[TestClient]:
    """Return an HTTP client for the full application."""
    with TestClient(create_app(context), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def now() -> datetime:
    """Return a fixed 'now' for time-dependent tests."""
    return datetime(2025, 3, 31, 2, 0, tzinfo=UTC)


def days(n: int) -> timedelta:
    """Return n days."""
    return timedelta(days=n)


class WireClient:
    """A blocking HTTP client whose requests reach the app byte for byte, as through a real server."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request and return the whole response."""
        return self._portal.call(partial(self._client.request, method, url, **kwargs))


@pytest.fixture
def wire(context: VaultContext) -> Iterator[WireClient]:
    """Return a client that sends header values as the raw bytes given.

    The Starlette TestClient re-encodes every header value as UTF-8, so a Latin-1 byte such as 0xB2 ("²") never
    reaches the app as a client or proxy would send it; httpx's ASGI transport passes the bytes through.
    """
    with start_blocking_portal() as portal:
        # Like a real server, a failure inside the app answers 500 rather than raising into the test.
        transport = httpx.ASGITransport(app=create_app(context), raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        yield WireClient(portal, client)
        portal.call(client.aclose)


@pytest.fixture
def oidc_provider() -> Iterator[OidcProvider]:
    """Start the small test OpenID provider (tests/oidc_provider.py) on a free local port."""
    yield from run_provider(OidcProvider())


GOOD_PASSWORD = "晨光-bright-4471"


def with_password(context: VaultContext, person: Person, password: str = GOOD_PASSWORD) -> str:
    """Give a test user a sign-in password (as an admin would); return their name."""
    with context.sessions() as session:
        user = session.get(User, person.user.id)
        assert user is not None
        set_password(session=session, actor=SYSTEM, user=user, password=password, now=utcnow())
        session.commit()
    return person.user.name
