"""Upload metadata: decode it from tus or header form, validate every value, refuse path tricks in names."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from urllib.parse import unquote

from ingest.errors import InvalidFilename, InvalidMetadata
from vault.evidence.models import Confidentiality
from vault.text import text_problem

MAX_FILENAME = 255
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DRIVE = re.compile(r"^[A-Za-z]:")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}
E = TypeVar("E", bound=StrEnum)
_LIMITS = {"case_number": 128, "party": 256, "recorder_serial": 128, "place": 256, "late_reason": 2000,
           "notes": 8000}
_MAX_VALUE = max(_LIMITS.values())


class Activity(StrEnum):
    """The enforcement activity a recording documents."""

    INSPECTION = "inspection"
    QUESTIONING = "questioning"
    SEIZURE = "seizure"
    HEARING = "hearing"
    SERVICE = "service"
    COERCION = "coercion"
    OTHER = "other"


# Every activity but OTHER is an enforcement action needing two certified officers (001 第十五、十六条).
ENFORCEMENT_ACTIVITIES = frozenset(Activity) - {Activity.OTHER}


@dataclass(frozen=True)
class UploadMetadata:
    """Everything a client may declare about one file (docs/ingest-protocol.md)."""

    filename: str
    sha256: str | None = None
    case_number: str | None = None
    party: str | None = None
    handlers: tuple[str, ...] = ()
    activity: Activity | None = None
    recorder_serial: str | None = None
    capture_start: datetime | None = None
    capture_end: datetime | None = None
    party_informed: bool = False
    field_return_at: datetime | None = None
    late_reason: str | None = None
    notes: str = ""
    confidentiality: Confidentiality = Confidentiality.NONE
    place: str | None = None


def check_filename(name: str) -> str:
    """Return the name if it is a plain file name; refuse path components, drive letters and control characters."""
    problem = None
    if not name or name in {".", ".."}:
        problem = "is empty or a directory reference"
    elif len(name) > MAX_FILENAME:
        problem = f"is longer than {MAX_FILENAME} characters"
    elif "/" in name or "\\" in name or _DRIVE.match(name):
        problem = "contains a path; send the bare file name"
    elif _has_control(name):
        problem = "contains control characters"
    if problem:
        raise InvalidFilename(f"the file name {problem}", details={"filename": name[:MAX_FILENAME]})
    return name


def parse_tus_metadata(header: str | None) -> dict[str, str]:
    """Decode a tus Upload-Metadata header (`key base64value` pairs separated by commas)."""
    result: dict[str, str] = {}
    for pair in (header or "").split(","):
        parts = pair.strip().split(" ")
        if parts == [""]:
            continue
        key = parts[0]
        if len(parts) > 2 or not key.isascii() or _has_control(key) or key in result:
            raise InvalidMetadata("Upload-Metadata must be comma-separated `key base64value` pairs, each key once")
        try:
            raw = base64.b64decode(parts[1], validate=True) if len(parts) == 2 else b""
            result[key] = raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error and non-ASCII input are both ValueErrors
            raise InvalidMetadata(f"metadata value of '{key}' is not base64 of UTF-8 text",
                                  details={"key": key}) from None
    return result


def parse_header_metadata(headers: Mapping[str, str], prefix: str = "evault-meta-") -> dict[str, str]:
    """Collect `Evault-Meta-<key>` headers (percent-encoded UTF-8 values); dashes in keys read as underscores."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(prefix):
            key = lowered[len(prefix):].replace("-", "_")
            result[key] = _percent_decoded(name, key, value)
    return result


def _percent_decoded(name: str, key: str, value: str) -> str:
    """Decode a percent-encoded UTF-8 header value; a stray `%` or a raw non-ASCII byte is refused, not kept."""
    try:
        if not value.isascii() or _BAD_PERCENT.search(value):
            raise ValueError(value)
        return unquote(value, encoding="utf-8", errors="strict")
    except ValueError:  # UnicodeDecodeError is one
        raise InvalidMetadata(f"header {name} is not percent-encoded UTF-8", details={"key": key}) from None


def _check_storable(raw: Mapping[str, str]) -> None:
    """Refuse a value the catalog cannot keep (a NUL, or past any bound): even an ignored key is stored."""
    for key, value in raw.items():
        problem = text_problem(value) or (f"is longer than {_MAX_VALUE} characters" if len(value) > _MAX_VALUE
                                          else None)
        if problem:
            raise InvalidMetadata(f"metadata value of '{key}' {problem}", details={"key": key})


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def parse_text(raw: Mapping[str, str], key: str, *, multiline: bool = False) -> str | None:
    """Return a trimmed text value (None when blank); refuse over-long values and control characters."""
    value = raw.get(key, "").strip()
    if not value:
        return None
    if len(value) > _LIMITS.get(key, 256):
        raise InvalidMetadata(f"'{key}' is longer than {_LIMITS.get(key, 256)} characters", details={"key": key})
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if _has_control("".join(c for c in value if c not in allowed)):
        raise InvalidMetadata(f"'{key}' contains control characters", details={"key": key})
    return value


def parse_moment(value: str | None, key: str) -> datetime | None:
    """Parse an ISO 8601 time that names its offset; refuse naive or malformed times."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMetadata(f"'{key}' is not an ISO 8601 time", details={"key": key, "value": value[:64]}) from None
    if moment.tzinfo is None:
        raise InvalidMetadata(f"'{key}' must include a UTC offset, e.g. 2025-03-31T09:00:00+08:00",
                              details={"key": key, "value": value[:64]})
    return moment


def parse_bool(value: str | None, key: str) -> bool:
    """Parse true/false (also 1/0, yes/no)."""
    lowered = (value or "").strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidMetadata(f"'{key}' must be true or false", details={"key": key})


def parse_choice(enum: type[E], value: str | None, key: str) -> E | None:
    """Return the enum member named by value (None when absent), or refuse listing the valid ones."""
    if value is None or not value.strip():
        return None
    try:
        return enum(value.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise InvalidMetadata(f"'{key}' must be one of: {valid}", details={"key": key}) from None


def parse_handlers(value: str | None) -> tuple[str, ...]:
    """Split comma-separated certificate numbers (执法证号), dropping blanks and repeats."""
    numbers: list[str] = []
    for item in (value or "").split(","):
        number = item.strip()
        if len(number) > 64 or any(ord(c) < 32 for c in number):
            raise InvalidMetadata("a handler certificate number (执法证号) is malformed", details={"key": "handlers"})
        if number and number not in numbers:
            numbers.append(number)
    return tuple(numbers)


def refuse_future(moments: Mapping[str, datetime | None], *, now: datetime, tolerance: timedelta) -> None:
    """Refuse a declared time later than now (beyond the clocks' tolerance): nothing is recorded in the future."""
    for key, moment in moments.items():
        if moment is not None and moment > now + tolerance:
            raise InvalidMetadata(f"'{key}' 是将来的时间 {moment.isoformat()}，不可能 (it lies in the future)",
                                  details={"key": key, "value": moment.isoformat(), "now": now.isoformat()})


def refuse_return_before_capture(field_return_at: datetime | None, capture_start: datetime | None) -> None:
    """Refuse a field return declared before the recording started: one of the two is wrong."""
    if field_return_at is not None and capture_start is not None and field_return_at < capture_start:
        raise InvalidMetadata(
            f"'field_return_at' {field_return_at.isoformat()} 早于开始拍摄时间 {capture_start.isoformat()} "
            "(the return from field work is before the recording started)",
            details={"key": "field_return_at", "capture_start": capture_start.isoformat()})


def declared_moments(meta: UploadMetadata) -> dict[str, datetime | None]:
    """Return the times an uploader declared, by key."""
    return {"capture_start": meta.capture_start, "capture_end": meta.capture_end,
            "field_return_at": meta.field_return_at}


def parse_metadata(raw: Mapping[str, str]) -> UploadMetadata:
    """Validate decoded metadata; unknown keys are ignored, malformed values refused."""
    filename = check_filename(raw.get("filename", ""))
    sha256 = raw.get("sha256", "").strip() or None
    if sha256 is not None and not _HEX64.fullmatch(sha256):
        raise InvalidMetadata("'sha256' must be 64 hex digits", details={"key": "sha256"})
    start = parse_moment(raw.get("capture_start"), "capture_start")
    end = parse_moment(raw.get("capture_end"), "capture_end")
    if start and end and end < start:
        raise InvalidMetadata("'capture_end' is before 'capture_start'", details={"key": "capture_end"})
    _check_storable(raw)
    returned = parse_moment(raw.get("field_return_at"), "field_return_at")
    refuse_return_before_capture(returned, start)
    return UploadMetadata(
        filename=filename,
        sha256=sha256.lower() if sha256 else None,
        case_number=parse_text(raw, "case_number"),
        party=parse_text(raw, "party"),
        handlers=parse_handlers(raw.get("handlers")),
        activity=parse_choice(Activity, raw.get("activity"), "activity"),
        recorder_serial=parse_text(raw, "recorder_serial"),
        capture_start=start,
        capture_end=end,
        party_informed=parse_bool(raw.get("party_informed"), "party_informed"),
        field_return_at=returned,
        late_reason=parse_text(raw, "late_reason", multiline=True),
        notes=parse_text(raw, "notes", multiline=True) or "",
        confidentiality=parse_choice(Confidentiality, raw.get("confidentiality"), "confidentiality")
        or Confidentiality.NONE,
        place=parse_text(raw, "place"),
    )
