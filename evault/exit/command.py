"""The host command `evault export-vault DIR`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evault.cli import host_actor, open_host_vault
from vault.cli_support import cli_settings, friendly_errors
from vault.db import utcnow


@click.command("export-vault")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@friendly_errors
def export_vault(directory: Path) -> None:
    """Write every original with its metadata, the custody log, checkpoints and certificates to DIR as an OCFL 1.1
    storage root; run it again on the same DIR to resume or to add what changed. Logged as host:<your login>."""
    from evault.exit.run import ExitRun

    context = open_host_vault(cli_settings())
    try:
        context.check_store()
        run = ExitRun(context=context, actor=host_actor(), root=directory.resolve(), now=utcnow(), say=click.echo)
        summary = run.run()
    finally:
        context.close()
    click.echo(f"导出完成 (export finished): {summary.root}")
    click.echo(f"  objects {summary.objects}: {summary.written} written, {summary.versioned} new versions, "
               f"{summary.unchanged} unchanged, {summary.disposed} disposed (no bytes), 1 vault object")
    click.echo(f"  custody log {summary.tree_size} entries; {summary.bytes_copied} bytes copied in "
               f"{summary.seconds:.1f} s ({summary.mb_per_second:.1f} MB/s)")
    if summary.failed:
        for failure in summary.failed:
            click.echo(f"  失败 (FAILED) {failure}", err=True)
        click.echo(f"{len(summary.failed)} 条记录未导出 (records not exported): their stored originals no longer "
                   "match their ingest digests; the rest of the root is complete", err=True)
        sys.exit(1)
