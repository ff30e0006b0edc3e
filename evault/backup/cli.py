"""`evault backup FILE` and `evault restore FILE`: host commands (they read the vault's files), acting as
host:<login>. The passphrase comes from a file or standard input, never from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evault.backup.archive import write_backup
from evault.cli import host_actor, open_host_vault
from vault.cli_support import cli_settings, friendly_errors
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import transaction, utcnow
from vault.errors import InvalidInput

_PASSPHRASE_HELP = "Read the passphrase from this file's first line (default: one line of standard input)."


def read_passphrase(path: Path | None, *, confirm: bool) -> bytes:
    """Return the passphrase: the first line of a file or of standard input (asked, hidden, on a terminal)."""
    if path is not None:
        line = path.read_text(encoding="utf-8").splitlines()[:1]
    elif sys.stdin.isatty():
        line = [str(click.prompt("口令 (passphrase)", hide_input=True, confirmation_prompt=confirm, err=True))]
    else:
        line = [sys.stdin.readline().rstrip("\r\n")]
    if not line or not line[0]:
        raise InvalidInput("no passphrase: give --passphrase-file, or one line on standard input")
    return line[0].encode()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_PASSPHRASE_HELP)
@friendly_errors
def backup(file: Path, passphrase_file: Path | None) -> None:
    """Write one consistent, encrypted copy of the catalog and the keys to FILE; log it as vault:backed_up."""
    passphrase = read_passphrase(passphrase_file, confirm=True)
    settings = cli_settings()
    context = open_host_vault(settings)
    try:
        written = write_backup(settings, target=file.absolute(), passphrase=passphrase, anchors=context.anchors,
                               now=utcnow())
        catalog = written.manifest["catalog"]
        with transaction(context.sessions) as session:
            record_event(session=session, actor=host_actor(), action=CustodyAction.VAULT_BACKED_UP,
                         subject_type="vault", subject_id=written.digest,
                         details={"manifest_sha256": written.digest, "catalog": catalog["kind"],
                                  "custody_entries": catalog["custody_entries"], "evidence": catalog["evidence"],
                                  "schema_revisions": catalog["schema_revisions"]})
    finally:
        context.close()
    schema = max(catalog["schema_revisions"], default="none")
    click.echo(f"backup written to {file}: {catalog['kind']} catalog, {catalog['evidence']} evidence, "
               f"{catalog['custody_entries']} custody entries, schema {schema}; manifest SHA-256 {written.digest}")
    click.echo("keep the passphrase apart from the file: without it the backup cannot be opened")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_PASSPHRASE_HELP)
@click.option("--accept-lost-entries", type=click.IntRange(min=0), default=None,
              help="Acknowledge that this many custody log entries, anchored after the backup, are lost.")
@friendly_errors
def restore(file: Path, passphrase_file: Path | None, accept_lost_entries: int | None) -> None:
    """Restore FILE onto a fresh home and empty catalog against the same store; report what the backup lacks."""
    from evault.backup.restore import restore_vault

    passphrase = read_passphrase(passphrase_file, confirm=False)
    settings = cli_settings()
    with file.open("rb") as source:
        report = restore_vault(settings, source, passphrase=passphrase, accept_lost=accept_lost_entries,
                               actor=host_actor(), now=utcnow())
    catalog = report.backup.manifest["catalog"]
    click.echo(f"restored the backup of {report.backup.manifest['created_at']} into {settings.home}: "
               f"{catalog['evidence']} evidence, {catalog['custody_entries']} custody entries")
    if report.revisions_before != report.revisions_after:
        click.echo(f"catalog migrated from {', '.join(report.revisions_before)} to {', '.join(report.revisions_after)}")
    for setting in report.differing:
        click.echo(f"check: {setting}")
    click.echo(f"custody log: {report.gap.describe()}")
    if report.gap.lost_entries:
        click.echo(f"  acknowledged by {host_actor().name}: the log continues after them, each marked "
                   "vault:log_entry_lost; `evault verify-log` lists the lost branch's anchored checkpoints")
    click.echo(f"store: {len(report.unknown)} stored originals are not in the restored catalog"
               + (" (acknowledged after the backup, or never committed):" if report.unknown else ""))
    for version in report.unknown:
        click.echo(f"  {version.key} version {version.version_id}, {version.size} bytes, "
                   f"stored {version.modified.isoformat(timespec='seconds')}")
