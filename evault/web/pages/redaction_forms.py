"""The redaction page's forms read into a new edit spec: a drawn box, one more keyframe, an audio range, a clip.

Each change builds a whole EditSpec again, so spec.py's rules check the result; the services store it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from vault.errors import Conflict, InvalidInput, NotFound
from vault.redaction.spec import AudioMethod, AudioRange, Box, Clip, EditSpec, Method, Reason, Region


def _invalid(error: ValidationError) -> InvalidInput:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return InvalidInput(f"{where}: {first['msg']}" if where else str(first["msg"]),
                        details=error.errors(include_url=False, include_context=False))


def _spec(spec: EditSpec, **changes: Any) -> EditSpec:
    """Return the spec with these parts replaced, validated as a whole."""
    parts = {"clip": spec.clip, "regions": list(spec.regions), "audio": list(spec.audio)} | changes
    try:
        return EditSpec.model_validate({key: _dumped(value) for key, value in parts.items()})
    except ValidationError as error:
        raise _invalid(error) from error


def _dumped(value: Any) -> Any:
    if isinstance(value, list):
        return [item.model_dump() for item in value]
    return value.model_dump() if value is not None else None


def spec_digest(spec: dict[str, Any]) -> str:
    """Return a short digest of a stored spec: a form names the spec it was filled in against."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def require_unchanged(spec: dict[str, Any], seen: str) -> EditSpec:
    """Return the stored spec if the form was filled in against it; a region's number may mean another one now."""
    if seen != spec_digest(spec):
        raise Conflict("编辑内容已被更改，请刷新页面后重试 (the edit changed since this page was opened; reload it)")
    return EditSpec.model_validate(spec)


def read_box(*, t: float, x: float, y: float, w: float, h: float) -> Box:
    """Return a box drawn on the player, as fractions of the frame at time t (seconds)."""
    try:
        return Box(t=t, x=x, y=y, w=w, h=h)
    except ValidationError as error:
        raise InvalidInput("请先在画面上拖动画出一个框 (draw a box on the video first): "
                           f"{_invalid(error).message}") from error


def add_region(spec: EditSpec, box: Box, *, end: float, method: Method, reason: Reason, reason_text: str) -> EditSpec:
    """Return the spec with a region hidden from the box's time until end, where the box was drawn."""
    try:
        region = Region(keyframes=[box], hold_until=end, method=method, reason=reason, reason_text=reason_text)
    except ValidationError as error:
        raise _invalid(error) from error
    return _spec(spec, regions=[*spec.regions, region])


def _region(spec: EditSpec, number: int) -> Region:
    if not 1 <= number <= len(spec.regions):
        raise NotFound(f"the edit has no region {number}")
    return spec.regions[number - 1]


def add_keyframe(spec: EditSpec, number: int, box: Box) -> EditSpec:
    """Return the spec with region `number` (from 1) passing through the box too; it is hidden at least until then."""
    region = _region(spec, number)
    if any(k.t == box.t for k in region.keyframes):
        raise InvalidInput(f"region {number} already has a keyframe at {box.t:.3f} s: move the player first")
    keyframes = sorted([*region.keyframes, box], key=lambda k: k.t)
    hold_until = None if region.hold_until is None else max(region.hold_until, box.t)
    try:
        changed = region.model_validate({**region.model_dump(), "keyframes": [k.model_dump() for k in keyframes],
                                         "hold_until": hold_until})
    except ValidationError as error:
        raise _invalid(error) from error
    regions = [changed if index == number - 1 else r for index, r in enumerate(spec.regions)]
    return _spec(spec, regions=regions)


def remove_region(spec: EditSpec, number: int) -> EditSpec:
    """Return the spec without region `number` (from 1)."""
    _region(spec, number)
    return _spec(spec, regions=[r for index, r in enumerate(spec.regions) if index != number - 1])


def add_audio(spec: EditSpec, *, start: float, end: float, method: AudioMethod, reason: Reason,
              reason_text: str) -> EditSpec:
    """Return the spec with one more stretch of sound to mute or bleep."""
    try:
        audio = AudioRange(start=start, end=end, method=method, reason=reason, reason_text=reason_text)
    except ValidationError as error:
        raise _invalid(error) from error
    return _spec(spec, audio=[*spec.audio, audio])


def remove_audio(spec: EditSpec, number: int) -> EditSpec:
    """Return the spec without audio range `number` (from 1)."""
    if not 1 <= number <= len(spec.audio):
        raise NotFound(f"the edit has no audio range {number}")
    return _spec(spec, audio=[a for index, a in enumerate(spec.audio) if index != number - 1])


def set_clip(spec: EditSpec, *, start: float | None, end: float | None) -> EditSpec:
    """Return the spec keeping only start to end of the original, or all of it when both are left empty."""
    if start is None and end is None:
        return _spec(spec, clip=None)
    if start is None or end is None:
        raise InvalidInput("a clip needs both a start and an end (剪辑需要开始和结束时间)")
    try:
        clip = Clip(start=start, end=end)
    except ValidationError as error:
        raise _invalid(error) from error
    return _spec(spec, clip=clip)
