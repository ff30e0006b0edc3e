"""Check an RFC 3161 time-stamp reply offline with the standard library and `cryptography` only.

A small DER reader walks TimeStampResp -> SignedData -> TSTInfo; the TSA's signature over the signed
attributes is checked with its certificate, which must be issued by a trusted TSA certificate.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
DIGESTS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - only to read old tokens; the imprint we ask for is SHA-256
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


class DERError(ValueError):
    """The bytes are not the DER structure expected."""


@dataclass(frozen=True)
class Node:
    """One DER tag-length-value: its identifier byte, whole encoding and content."""

    tag: int
    raw: bytes
    body: bytes

    def children(self) -> list[Node]:
        """Return the TLVs inside a constructed value."""
        items, offset = [], 0
        while offset < len(self.body):
            node, offset = read_tlv(self.body, offset)
            items.append(node)
        return items

    def oid(self) -> str:
        """Decode an OBJECT IDENTIFIER."""
        if self.tag != 0x06 or not self.body:
            raise DERError("expected an OBJECT IDENTIFIER")
        first = self.body[0]
        parts, value = [str(min(first // 40, 2)), str(first - 40 * min(first // 40, 2))], 0
        for byte in self.body[1:]:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                parts.append(str(value))
                value = 0
        return ".".join(parts)

    def integer(self) -> int:
        """Decode an INTEGER."""
        if self.tag != 0x02:
            raise DERError("expected an INTEGER")
        return int.from_bytes(self.body, "big", signed=True)


def read_tlv(data: bytes, offset: int = 0) -> tuple[Node, int]:
    """Read one TLV at offset; return it and the offset after it."""
    try:
        tag, length = data[offset], data[offset + 1]
        start = offset + 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4:
                raise DERError("unsupported DER length")
            length = int.from_bytes(data[start : start + count], "big")
            start += count
    except IndexError:
        raise DERError("DER value is cut short") from None
    end = start + length
    if end > len(data):
        raise DERError("DER value is cut short")
    return Node(tag, data[offset:end], data[start:end]), end


def parse(data: bytes) -> Node:
    """Parse exactly one DER value."""
    node, end = read_tlv(data)
    if end != len(data):
        raise DERError("trailing bytes after the DER value")
    return node


@dataclass
class TimestampVerdict:
    """The outcome of checking one time-stamp reply."""

    gen_time: datetime | None = None
    tsa: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when nothing was found wrong."""
        return not self.problems


@dataclass(frozen=True)
class _Token:
    tst_info: bytes
    imprint_algorithm: str
    imprint: bytes
    gen_time: datetime
    digest_algorithm: str
    signed_attrs: bytes
    message_digest: bytes
    signature: bytes
    serial: int | None
    certificates: list[x509.Certificate]


def _generalized_time(node: Node) -> datetime:
    text = node.body.decode("ascii").rstrip("Z")
    whole, _, fraction = text.partition(".")
    moment = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return moment.replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))


def _read_token(reply: bytes) -> _Token:
    response = parse(reply).children()
    status = response[0].children()[0].integer()
    if status not in (0, 1) or len(response) < 2:
        raise DERError(f"the TSA reply status is {status} (not granted)")
    content_info = response[1].children()
    if content_info[0].oid() != OID_SIGNED_DATA:
        raise DERError("the token is not CMS SignedData")
    signed_data = content_info[1].children()[0].children()
    encap = signed_data[2].children()
    if encap[0].oid() != OID_TST_INFO:
        raise DERError("the token does not carry a TSTInfo")
    tst_info = encap[1].children()[0].body
    info = parse(tst_info).children()
    imprint = info[2].children()
    gen_time = _generalized_time(info[4])
    certificates = [
        x509.load_der_x509_certificate(c.raw) for n in signed_data[3:-1] if n.tag == 0xA0 for c in n.children()
    ]
    signer = signed_data[-1].children()[0].children()
    sid = signer[1]
    serial = sid.children()[1].integer() if sid.tag == 0x30 else None
    attrs = signer[3]
    if attrs.tag != 0xA0:
        raise DERError("the signer info has no signed attributes")
    message_digest = b""
    for attribute in attrs.children():
        parts = attribute.children()
        if parts[0].oid() == OID_MESSAGE_DIGEST:
            message_digest = parts[1].children()[0].body
    return _Token(
        tst_info=tst_info,
        imprint_algorithm=DIGESTS.get(imprint[0].children()[0].oid(), "unknown"),
        imprint=imprint[1].body,
        gen_time=gen_time,
        digest_algorithm=DIGESTS.get(signer[2].children()[0].oid(), "unknown"),
        signed_attrs=b"\x31" + attrs.raw[1:],  # signed over as an explicit SET OF (RFC 5652 §5.4)
        message_digest=message_digest,
        signature=signer[5].body,
        serial=serial,
        certificates=certificates,
    )


def _verify_with(cert: x509.Certificate, token: _Token) -> None:
    key = cert.public_key()
    algorithm = _HASHES[token.digest_algorithm]
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(token.signature, token.signed_attrs, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(token.signature, token.signed_attrs, ec.ECDSA(algorithm))
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(token.signature, token.signed_attrs)
    else:
        raise InvalidSignature("unsupported TSA key type")


def _signer_certificate(token: _Token, verdict: TimestampVerdict) -> x509.Certificate | None:
    for cert in token.certificates:
        if token.serial is None or cert.serial_number == token.serial:
            return cert
    verdict.problems.append("the token does not include the TSA certificate (request it with certReq)")
    return None


def _check_trust(cert: x509.Certificate, trusted: list[x509.Certificate], verdict: TimestampVerdict) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.TIME_STAMPING not in usage:
            verdict.problems.append("the TSA certificate is not for time-stamping (extended key usage)")
    except x509.ExtensionNotFound:
        verdict.problems.append("the TSA certificate has no time-stamping extended key usage")
    if verdict.gen_time and not cert.not_valid_before_utc <= verdict.gen_time <= cert.not_valid_after_utc:
        verdict.problems.append("the token was issued outside the TSA certificate's validity")
    for anchor in trusted:
        if anchor == cert:
            return
        try:
            cert.verify_directly_issued_by(anchor)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    verdict.problems.append("the TSA certificate is not issued by a trusted TSA certificate")


def verify_timestamp(reply: bytes, data: bytes, trusted: list[x509.Certificate]) -> TimestampVerdict:
    """Check that reply time-stamps SHA-256(data), is signed by its TSA, and that TSA is trusted."""
    verdict = TimestampVerdict()
    try:
        token = _read_token(reply)
    except (DERError, ValueError, IndexError) as exc:
        verdict.problems.append(f"the time-stamp token cannot be read: {exc}")
        return verdict
    verdict.gen_time = token.gen_time
    if token.imprint_algorithm not in _HASHES:
        verdict.problems.append(f"unsupported imprint algorithm {token.imprint_algorithm}")
        return verdict
    if not hmac.compare_digest(token.imprint, hashlib.new(token.imprint_algorithm, data).digest()):
        verdict.problems.append("the time-stamp covers different bytes than the signature in this bundle")
    if token.digest_algorithm not in _HASHES or not hmac.compare_digest(
        token.message_digest, hashlib.new(token.digest_algorithm, token.tst_info).digest()
    ):
        verdict.problems.append("the token's signed attributes do not match its TSTInfo")
    cert = _signer_certificate(token, verdict)
    if cert is None:
        return verdict
    verdict.tsa = cert.subject.rfc4514_string()
    try:
        _verify_with(cert, token)
    except (InvalidSignature, ValueError, TypeError):
        verdict.problems.append("the TSA's signature on the time-stamp token is invalid")
    _check_trust(cert, trusted, verdict)
    return verdict
