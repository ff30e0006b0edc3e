"""Tags that travel as tus upload metadata: from command-line options, or from a recorder folder's sidecar."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from evault_client.upload.errors import ClientError
from evault_client.upload.files import SIDECAR_NAMES

ACTIVITIES = ("inspection", "questioning", "seizure", "hearing", "service", "coercion", "other")
CONFIDENTIALITY = ("none", "state_secret", "trade_secret", "personal_privacy")


@dataclass(frozen=True)
class Tags:
    """What the officer declares about a batch of recordings; every field is optional to the vault."""

    case_number: str | None = None
    party: str | None = None
    handlers: tuple[str, ...] = ()
    activity: str | None = None
    recorder_serial: str | None = None
    party_informed: bool | None = None
    field_return_at: datetime | None = None
    late_reason: str | None = None
    notes: str | None = None
    confidentiality: str | None = None
    place: str | None = None

    def metadata(self, *, filename: str, sha256: str) -> dict[str, str]:
        """Return the tus Upload-Metadata pairs (values are base64-encoded when sent)."""
        values: dict[str, str | None] = {
            "filename": filename,
            "sha256": sha256,
            "case_number": self.case_number,
            "party": self.party,
            "handlers": ",".join(self.handlers) or None,
            "activity": self.activity,
            "recorder_serial": self.recorder_serial,
            "party_informed": None if self.party_informed is None else str(self.party_informed).lower(),
            "field_return_at": self.field_return_at.isoformat() if self.field_return_at else None,
            "late_reason": self.late_reason,
            "notes": self.notes,
            "confidentiality": self.confidentiality,
            "place": self.place,
        }
        return {key: value for key, value in values.items() if value}

    def merged(self, other: Tags) -> Tags:
        """Return these tags with every field `other` sets taking precedence."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) not in (None, ())}
        return replace(self, **changes)


def parse_time(value: str, *, name: str) -> datetime:
    """Parse an ISO 8601 time that must carry its UTC offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ClientError(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2025-03-31T18:30:00+08:00)") from exc
    if parsed.tzinfo is None:
        raise ClientError(f"{name}: {value!r} needs a UTC offset (e.g. +08:00)")
    return parsed


def check_tags(tags: Tags) -> Tags:
    """Refuse locally what the vault would refuse as malformed metadata (422), before hashing anything."""
    for cert in tags.handlers:
        if not cert.strip() or "," in cert:
            raise ClientError(f"handler certificate number (执法证号) {cert!r} is empty or contains a comma")
    if tags.activity is not None and tags.activity not in ACTIVITIES:
        raise ClientError(f"activity {tags.activity!r} is not one of {', '.join(ACTIVITIES)}")
    if tags.confidentiality is not None and tags.confidentiality not in CONFIDENTIALITY:
        raise ClientError(f"confidentiality {tags.confidentiality!r} is not one of {', '.join(CONFIDENTIALITY)}")
    return tags


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise ClientError(f"{key} must be text")
    return str(value)


def _handlers(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("handlers", data.get("handler"))
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise ClientError("handlers must be a list of certificate numbers (执法证号)")


SIDECAR_KEYS = frozenset({
    "case_number", "party", "handlers", "handler", "activity", "recorder_serial", "party_informed",
    "field_return_at", "late_reason", "notes", "confidentiality", "place",
})


def tags_from_mapping(data: dict[str, Any]) -> Tags:
    """Build tags from a sidecar's keys (the protocol's metadata names); refuse unknown keys."""
    unknown = sorted(set(data) - SIDECAR_KEYS)
    if unknown:
        raise ClientError(f"unknown keys {', '.join(unknown)}; allowed: {', '.join(sorted(SIDECAR_KEYS))}")
    informed = data.get("party_informed")
    if informed is not None and not isinstance(informed, bool):
        raise ClientError("party_informed must be true or false")
    returned = _text(data, "field_return_at")
    return check_tags(Tags(
        case_number=_text(data, "case_number"),
        party=_text(data, "party"),
        handlers=_handlers(data),
        activity=_text(data, "activity"),
        recorder_serial=_text(data, "recorder_serial"),
        party_informed=informed,
        field_return_at=parse_time(returned, name="field_return_at") if returned else None,
        late_reason=_text(data, "late_reason"),
        notes=_text(data, "notes"),
        confidentiality=_text(data, "confidentiality"),
        place=_text(data, "place"),
    ))


def read_sidecar(folder: Path) -> Tags | None:
    """Read `evault.json` or `evault.toml` from a recorder folder; None if it has neither."""
    for name in SIDECAR_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")
            data = json.loads(text) if name.endswith(".json") else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise ClientError(f"{path}: cannot read the sidecar: {exc}") from exc
        if not isinstance(data, dict):
            raise ClientError(f"{path}: the sidecar must be an object of tags")
        try:
            return tags_from_mapping(data)
        except ClientError as exc:
            raise ClientError(f"{path}: {exc.message}") from exc
    return None
