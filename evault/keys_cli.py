"""Host command to rotate the vault's signing key, keeping everything the old key signed verifiable."""

from __future__ import annotations

import click

from evault.cli import host_actor, open_host_vault
from vault.cli_support import cli_settings, friendly_errors
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.keys import rotate_signing_key


@click.command("rotate-signing-key")
@click.option("--yes", is_flag=True, help="Rotate without asking (scripts); the vault's processes must restart after.")
@friendly_errors
def rotate_signing_key_command(yes: bool) -> None:
    """Retire the Ed25519 signing key and start signing with a new one; old checkpoints and receipts still verify."""
    settings = cli_settings()
    context = open_host_vault(settings)
    try:
        if not yes:
            click.confirm(f"retire signing key {context.signer.key_id}? every vault process must restart after",
                          abort=True)
        rotated = rotate_signing_key(settings.keys_dir, origin=context.anchors.origin)
        with context.sessions() as session:
            # Signed by the retired key, which this process still holds: the log says which key follows it.
            record_event(session=session, actor=host_actor(), action=CustodyAction.SIGNING_KEY_ROTATED,
                         subject_type="vault", subject_id=context.anchors.origin,
                         details={"retired_key_id": rotated.retired.key_id, "key_id": rotated.current.key_id})
            session.commit()
    finally:
        context.close()
    click.echo(f"signing key {rotated.retired.key_id} retired (its public key kept in "
               f"{settings.keys_dir / 'retired-signing-keys'}); now signing with {rotated.current.key_id}")
    click.echo(f"log origin unchanged: {rotated.origin}")
    click.echo("restart every `evault serve` and `evault worker`, then give witnesses and pinned clients the new key "
               "(GET /api/custody/public-key)")
