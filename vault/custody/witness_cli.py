"""`evault witness ...`: this vault's witness key for pairing, and an offline check of a checkpoint time-stamp."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault.cli_support import cli_settings, friendly_errors
from vault.custody.anchoring import default_origin
from vault.custody.note import NoteError, NoteKey
from vault.custody.witness_service import witness_identity
from vault.keys import load_signer
from vault.timestamping import TimestampInvalid, verify_timestamp


@click.group("witness")
def witness_group() -> None:
    """Witness other vaults' custody logs (见证), and check checkpoint time-stamps."""


@witness_group.command("vkey")
@friendly_errors
def vkey_command() -> None:
    """Print this vault's cosignature verifier key: the other vault lists it in EVAULT_WITNESSES."""
    settings = cli_settings()
    identity = witness_identity(name=settings.witness_name, signer=load_signer(settings.keys_dir))
    click.echo(identity.key.vkey())


@witness_group.command("log-vkey")
@click.option("--origin", default=None,
              help="Origin line of the checkpoints (default: EVAULT_LOG_ORIGIN, or the vault's own default).")
@friendly_errors
def log_vkey_command(origin: str | None) -> None:
    """Print the verifier key of this vault's checkpoints: the witness lists it in EVAULT_WITNESS_TRUSTED_LOGS."""
    settings = cli_settings()
    signer = load_signer(settings.keys_dir)
    try:
        key = NoteKey(name=origin or settings.log_origin or default_origin(signer), public_raw=signer.public_raw)
    except NoteError as exc:
        raise click.BadParameter(exc.message, param_hint="--origin") from exc
    click.echo(key.vkey())


@witness_group.command("verify-timestamp")
@click.argument("token", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("note", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tsa-ca", "ca", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The TSA's CA certificate(s), PEM.")
@friendly_errors
def verify_timestamp_command(token: Path, note: Path, ca: Path) -> None:
    """Check offline that TOKEN (RFC 3161, DER) time-stamps the checkpoint NOTE; exit 1 if it does not."""
    try:
        stamp = verify_timestamp(token.read_bytes(), data=note.read_bytes(), ca_pem=ca.read_bytes())
    except TimestampInvalid as exc:
        click.echo(f"time-stamp INVALID (时间戳无效): {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"time-stamp OK (时间戳有效): {note.name} existed at {stamp.gen_time.isoformat()} (TSA: {stamp.tsa})")
