"""What one `evault` invocation knows: which vault, whose credential, the language, and `--json`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from evault_client.credentials import CredentialStore, StoredCredential, config_dir
from evault_client.errors import CommandFailed
from evault_client.exits import Exit
from evault_client.output import Output

if TYPE_CHECKING:
    from evault_client.http import ApiClient

DEFAULT_ZONE = "Asia/Shanghai"


@dataclass
class Invocation:
    """The root command's state, found by every command through `click.get_current_context()`.

    This is the one place the client reads its environment: EVAULT_SERVER, EVAULT_TOKEN, EVAULT_LANG,
    EVAULT_TIMEZONE and EVAULT_CLIENT_DIR."""

    server_option: str | None = None
    json_mode: bool = False
    language: str = "zh"
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @cached_property
    def credentials(self) -> CredentialStore:
        """Return the person's credential store."""
        return CredentialStore(config_dir(self.environ), use_keyring=self.environ.get("EVAULT_KEYRING") != "0")

    @property
    def server(self) -> str:
        """Return the vault's URL: --server, EVAULT_SERVER, or the server of the last `evault login`."""
        server = self.server_option or self.environ.get("EVAULT_SERVER") or self.credentials.default_server()
        if not server:
            raise CommandFailed("no_server", self.text(
                "未指定证据库服务器：请先运行 evault login --server URL，或设置 EVAULT_SERVER",
                "no vault server: run `evault login --server URL` or set EVAULT_SERVER"),
                exit_status=Exit.CONFIGURATION)
        return server.rstrip("/")

    @cached_property
    def stored(self) -> StoredCredential | None:
        """Return the credential `evault login` stored for this server."""
        return self.credentials.get(self.server)

    @property
    def token(self) -> str:
        """Return the bearer token: EVAULT_TOKEN, else the stored sign-in; refuse when there is neither."""
        token = self.environ.get("EVAULT_TOKEN") or (self.stored.token if self.stored else None)
        if not token:
            raise CommandFailed("not_signed_in", self.text(
                f"尚未登录 {self.server}：请运行 evault login", f"not signed in to {self.server}: run `evault login`"),
                exit_status=Exit.AUTHENTICATION)
        return token

    @cached_property
    def api(self) -> ApiClient:
        """Return an API client acting as the signed-in person."""
        from evault_client.http import ApiClient

        return ApiClient(self.server, self.token)

    def public_api(self) -> ApiClient:
        """Return an API client for the public endpoints, carrying no credential."""
        from evault_client.http import ApiClient

        return ApiClient(self.server, None)

    @cached_property
    def zone(self) -> ZoneInfo:
        """Return the agency's zone for display: EVAULT_TIMEZONE, else the one the vault announced at sign-in."""
        stored_zone = None
        if not self.environ.get("EVAULT_TIMEZONE"):
            try:
                stored_zone = self.stored.timezone if self.stored else None
            except CommandFailed:
                stored_zone = None
        name = self.environ.get("EVAULT_TIMEZONE") or stored_zone or DEFAULT_ZONE
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(DEFAULT_ZONE)

    @cached_property
    def out(self) -> Output:
        """Return the printer for this invocation."""
        return Output(json_mode=self.json_mode, zone=self.zone)

    def text(self, zh: str, en: str) -> str:
        """Return a message in the person's language (Chinese first; `--lang en` or EVAULT_LANG=en)."""
        return en if self.language == "en" else zh

    def close(self) -> None:
        """Close the API client if one was opened."""
        if "api" in self.__dict__:
            self.api.close()


def current() -> Invocation:
    """Return the running invocation (commands call this rather than taking it as an argument)."""
    invocation = click.get_current_context().find_object(Invocation)
    if invocation is None:  # a command invoked on its own, as in some tests
        invocation = Invocation()
        click.get_current_context().obj = invocation
    return invocation
