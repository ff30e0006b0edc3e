"""`evault witness ...`: this vault's keys for pairing two vaults, and an offline check of a checkpoint time-stamp."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC
from pathlib import Path
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.context import current
from evault_client.errors import CommandFailed
from evault_client.exits import Exit
from evault_client.output import local_time

# rfc3161-client reads a TimeStampResp; a bare token is read as one granted: SEQUENCE { PKIStatusInfo(0), token }.
GRANTED_STATUS = bytes.fromhex("3003020100")


@click.group("witness", cls=VaultGroup)
def witness() -> None:
    """Witness other vaults' custody logs (见证), and check checkpoint time-stamps."""


def _public_get(path: str) -> Any:
    client = current().public_api()
    try:
        return client.get(path)
    finally:
        client.close()


@witness.command("vkey")
def vkey_command() -> None:
    """Print this vault's cosignature verifier key: the other vault lists it in EVAULT_WITNESSES."""
    run = current()
    key = _public_get("/api/witness/vkey")
    run.out.document(key, key["vkey"])


def renamed_vkey(vkey: str, name: str) -> str:
    """Return the signed-note verifier key of the same public key under another name (C2SP signed-note)."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise click.BadParameter(current().text(f"密钥名 {name!r} 不能为空，也不能含空格或 '+'",
                                                f"key name {name!r} must be non-empty, without spaces or '+'"),
                                 param_hint="--origin")
    material = base64.b64decode(vkey.split("+", 2)[2])  # name+keyid+base64; the base64 may hold "+"
    key_id = hashlib.sha256(name.encode() + b"\n" + material).digest()[:4]
    return f"{name}+{key_id.hex()}+{base64.b64encode(material).decode()}"


@witness.command("log-vkey")
@click.option("--origin", default=None, help="Origin line of the checkpoints (default: the vault's own origin).")
def log_vkey_command(origin: str | None) -> None:
    """Print the verifier key of this vault's checkpoints: the witness lists it in EVAULT_WITNESS_TRUSTED_LOGS."""
    run = current()
    key = _public_get("/api/custody/public-key")
    vkey = renamed_vkey(key["vkey"], origin) if origin else key["vkey"]
    run.out.document({"origin": origin or key["origin"], "vkey": vkey}, vkey)


def _as_response(der: bytes) -> list[bytes]:
    """Return der as it is, and wrapped as a granted TimeStampResp in case it is a bare TimeStampToken."""
    body = GRANTED_STATUS + der
    size = len(body)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes(
        (size.bit_length() + 7) // 8, "big")
    return [der, b"\x30" + length + body]


def _invalid(zh: str, en: str) -> CommandFailed:
    message = current().text(f"时间戳无效：{zh}", f"time-stamp INVALID (时间戳无效): {en}")
    return CommandFailed("timestamp_invalid", message, exit_status=Exit.CHECK_FAILED)


@witness.command("verify-timestamp")
@click.argument("token", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("note", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tsa-ca", "ca", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The TSA's CA certificate(s), PEM.")
def verify_timestamp_command(token: Path, note: Path, ca: Path) -> None:
    """Check offline that TOKEN (RFC 3161, DER) time-stamps the checkpoint NOTE; exit 1 if it does not."""
    run = current()
    try:
        import rfc3161_client
    except ImportError:
        raise CommandFailed("missing_extra", run.text(
            "核验时间戳需要 rfc3161-client：pip install 'evidence-vault-client[timestamps]'",
            "checking time-stamps needs rfc3161-client: pip install 'evidence-vault-client[timestamps]'"),
            exit_status=Exit.CONFIGURATION) from None
    from cryptography import x509

    try:
        roots = x509.load_pem_x509_certificates(ca.read_bytes())
    except ValueError:
        raise _invalid("TSA CA 文件中没有 PEM 证书", "the TSA CA file holds no PEM certificate") from None
    response = None
    for candidate in _as_response(token.read_bytes()):
        try:
            response = rfc3161_client.decode_timestamp_response(candidate)
            break
        except ValueError:
            continue
    if response is None:
        raise _invalid("无法读取时间戳（不是 DER 格式的 RFC 3161）",
                       "the time-stamp token cannot be read (not DER RFC 3161)")
    try:
        rfc3161_client.VerifierBuilder(roots=roots).build().verify_message(response, note.read_bytes())
    except rfc3161_client.VerificationError as exc:
        raise _invalid(f"时间戳核验未通过：{exc}", f"the time-stamp token does not verify: {exc}") from None
    moment = response.tst_info.gen_time
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    tsa = _signer_name(response)
    shown = local_time(moment.isoformat(), run.zone)
    run.out.document({"ok": True, "note": str(note), "gen_time": moment.isoformat(), "tsa": tsa},
                     run.text(f"时间戳有效：{note.name} 在 {shown} 已存在（TSA：{tsa}）",
                              f"time-stamp OK (时间戳有效): {note.name} existed at {shown} (TSA: {tsa})"))


def _signer_name(response: Any) -> str:
    from cryptography import x509

    signers = list(response.signed_data.signer_infos)
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if any(cert.issuer == s.issuer and cert.serial_number == s.serial_number for s in signers):
            return str(cert.subject.rfc4514_string())
    return current().text("未具名的 TSA", "an unnamed TSA")
