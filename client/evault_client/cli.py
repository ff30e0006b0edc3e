"""The `evault` command: a root group that imports each command only when it runs, so start-up stays fast.

Commands act through the vault's API as the person who signed in. Commands that need the vault's own host
(`init`, `serve`, `worker`, ...) come from the server package, found through the `evault.host_commands` entry
points; on a laptop with the client alone they are simply absent."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click

from evault_client import __version__
from evault_client.context import Invocation, current
from evault_client.errors import CommandFailed
from evault_client.exits import Exit

HOST_COMMANDS_GROUP = "evault.host_commands"

# name -> "module:attribute"; a module is imported only when its command runs or its help is asked for.
COMMANDS = {
    "login": "evault_client.commands.session:login",
    "logout": "evault_client.commands.session:logout",
    "whoami": "evault_client.commands.session:whoami",
    "upload": "evault_client.commands.upload:upload",
    "dock": "evault_client.commands.upload:dock",
    "users": "evault_client.commands.people:users",
    "tokens": "evault_client.commands.people:tokens",
    "handlers": "evault_client.commands.people:handlers",
    "cases": "evault_client.commands.cases:cases",
    "parties": "evault_client.commands.cases:parties",
    "evidence": "evault_client.commands.evidence:evidence",
    "flags": "evault_client.commands.evidence:flags",
    "access": "evault_client.commands.access:access",
    "audit": "evault_client.commands.audit:audit",
    "retention": "evault_client.commands.retention:retention",
    "calendar": "evault_client.commands.retention:calendar",
    "callups": "evault_client.commands.exports:callups",
    "export": "evault_client.commands.exports:export",
    "exports": "evault_client.commands.exports:exports",
    "verify-bundle": "evault_client.commands.verify:verify_bundle",
    "verify-export": "evault_client.commands.verify:verify_export",
    "witness": "evault_client.commands.witness:witness",
    "edits": "evault_client.commands.edits:edits",
    "jobs": "evault_client.commands.jobs:jobs",
}


def _json_flag(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        (ctx.find_object(Invocation) or Invocation()).json_mode = True


JSON_OPTION = click.Option(["--json", "json_mode"], is_flag=True, expose_value=False, is_eager=True,
                           callback=_json_flag, help="Print JSON (one document, or JSON lines for lists).")


class VaultCommand(click.Command):
    """A command that accepts `--json` after its name as well as before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(JSON_OPTION)


class VaultGroup(click.Group):
    """A group whose subcommands are VaultCommands and VaultGroups."""

    command_class = VaultCommand

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a CommandFailed becomes one line (or the JSON error shape) and its exit status."""
        try:
            return super().invoke(ctx)
        except CommandFailed as failure:
            report_failure(failure)
            ctx.exit(int(failure.exit_status))


VaultGroup.group_class = VaultGroup


class RootGroup(VaultGroup):
    """The root: lazily imported client commands, then the host's commands if the server package is installed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List every command name, the host's included."""
        return sorted({*COMMANDS, *_host_entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return one command."""
        target = COMMANDS.get(cmd_name)
        if target is not None:
            module_name, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            return command if isinstance(command, click.Command) else None
        entry_point = _host_entry_points().get(cmd_name)
        if entry_point is None:
            return None
        loaded = entry_point.load()
        return loaded if isinstance(loaded, click.Command) else None


    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands; the host's are named without importing the server for a help page."""
        rows = []
        for name in sorted(COMMANDS):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        host = sorted(set(_host_entry_points()) - set(COMMANDS))
        if host:
            with formatter.section("On the vault's host (need its files)"):
                formatter.write_dl([(name, "evault " + name + " --help") for name in host])


def _host_entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {point.name: point for point in entry_points(group=HOST_COMMANDS_GROUP)}


def report_failure(failure: CommandFailed) -> None:
    """Print a failure on stderr: one line for people, or the API's error shape with `--json`."""
    invocation = click.get_current_context().find_object(Invocation)
    if invocation is not None and invocation.json_mode:
        click.echo(json.dumps(failure.as_document(), ensure_ascii=False), err=True)
        return
    label = invocation.text("错误", "error") if invocation else "error"
    click.echo(f"{label} ({failure.code}): {failure.message}", err=True)


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="evault")
@click.option("--server", "server_option", metavar="URL", help="The vault's URL (default: EVAULT_SERVER, or the "
              "server of the last `evault login`).")
@click.option("--json", "json_mode", is_flag=True, help="Print JSON: one document, or JSON lines for lists.")
@click.option("--lang", "language", type=click.Choice(["zh", "en"]), default=None,
              help="Language of messages (default: EVAULT_LANG, else zh).")
@click.pass_context
def root(ctx: click.Context, server_option: str | None, json_mode: bool, language: str | None) -> None:
    """Evidence Vault (evault): write-once store for enforcement audio-visual records (执法音像记录).

    Sign in first with `evault login`; every command then acts as you, through the vault's API."""
    invocation = ctx.ensure_object(Invocation)
    invocation.server_option = server_option
    invocation.json_mode = invocation.json_mode or json_mode
    invocation.language = language or invocation.environ.get("EVAULT_LANG", "zh")
    ctx.call_on_close(invocation.close)


def main() -> None:
    """Run the `evault` command line."""
    try:
        root.main(prog_name="evault")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


__all__ = ["COMMANDS", "Exit", "VaultCommand", "VaultGroup", "current", "main", "root"]
