"""`evault verify-bundle`: check an evidence bundle offline, with the same single file every bundle carries."""

from __future__ import annotations

from pathlib import Path

import click

from evault_client.cli import VaultCommand
from evault_client.context import current
from evault_client.exits import Exit

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("verify-bundle", cls=VaultCommand)
@click.argument("bundle", type=FILE)
@click.option("--public-key", type=FILE,
              help="The agency's published vault key (PEM); without it the key in the bundle is used.")
@click.option("--tsa-ca", type=FILE,
              help="Trusted TSA certificate(s) (PEM); without it the ones in the bundle are used.")
@click.option("--sm3", is_flag=True, help="Also check the SM3 digests (about 150 MB/s).")
def verify_bundle(bundle: Path, public_key: Path | None, tsa_ca: Path | None, sm3: bool) -> None:
    """Check a bundle offline: payload digests, manifests, signature, custody proofs, time-stamp. Exit 0 if valid."""
    from dataclasses import asdict

    from evault_client.verify_bundle import format_report
    from evault_client.verify_bundle import verify_bundle as check

    run = current()
    report = check(bundle, public_key_pem=public_key.read_bytes() if public_key else None,
                   tsa_certificates_pem=tsa_ca.read_bytes() if tsa_ca else None, sm3=sm3)
    document = {"bundle": str(bundle), "valid": report.ok, "findings": [asdict(f) for f in report.findings]}
    run.out.document(document, human=format_report(report))
    if not report.ok:
        click.get_current_context().exit(int(Exit.CHECK_FAILED))


@click.command("verify-export", cls=VaultCommand)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--public-key", type=FILE,
              help="The agency's published vault key (PEM); without it the key in the export is used.")
@click.option("--no-sm3", is_flag=True, help="Skip the SM3 digests of the originals (about 150 MB/s).")
def verify_export(directory: Path, public_key: Path | None, no_sm3: bool) -> None:
    """Check an `evault export-vault` folder offline: inventories, digests, signatures, the custody log. Exit 0 if
    valid."""
    from dataclasses import asdict

    from evault_client.verify_export import format_export_report
    from evault_client.verify_export import verify_export as check

    run = current()
    report = check(directory, public_key_pem=public_key.read_bytes() if public_key else None, sm3=not no_sm3)
    document = {"directory": str(directory), "valid": report.ok, "findings": [asdict(f) for f in report.findings]}
    run.out.document(document, human=format_export_report(report))
    if not report.ok:
        click.get_current_context().exit(int(Exit.CHECK_FAILED))
