"""`evault verify-bundle`: check an evidence bundle offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault.exports.verify import format_report, verify_bundle


@click.command("verify-bundle")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The agency's published vault key (PEM); without it the key in the bundle is used.",
)
@click.option(
    "--tsa-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trusted TSA certificate(s) (PEM); without it the ones in the bundle are used.",
)
@click.option("--sm3", is_flag=True, help="Also check the SM3 digests (about 150 MB/s).")
def verify_bundle_command(bundle: Path, public_key: Path | None, tsa_ca: Path | None, sm3: bool) -> None:
    """Check a bundle offline: payload digests, manifests, signature, custody proofs, time-stamp. Exit 0 if valid."""
    report = verify_bundle(
        bundle,
        public_key_pem=public_key.read_bytes() if public_key else None,
        tsa_certificates_pem=tsa_ca.read_bytes() if tsa_ca else None,
        sm3=sm3,
    )
    click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)
