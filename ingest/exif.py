"""Photo EXIF (ffprobe does not read it): capture time, device, GPS position."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL, _DATETIME = 271, 272, 306
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL = 36867, 36881


def _offset(value: Any) -> tzinfo | None:
    if not isinstance(value, str) or len(value) != 6 or value[0] not in "+-":
        return None
    try:
        hours, minutes = int(value[1:3]), int(value[4:6])
    except ValueError:
        return None
    sign = 1 if value[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _capture_time(raw: Any, offset: Any, zone: tzinfo) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007 - zone set below
    except ValueError:
        return None
    # EXIF stores the camera's wall clock; without OffsetTimeOriginal it is the agency's local time.
    return moment.replace(tzinfo=_offset(offset) or zone)


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = d + m / 60 + s / 3600
    return round(-result if ref in {"S", "W"} else result, 7)


def read_exif(path: Path, *, zone: tzinfo) -> dict[str, Any]:
    """Return capture_time (aware), make, model and gps {lat, lon} found in a photo; {} when it has none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a huge or odd image must not fail the ingest
            with Image.open(path) as image:
                exif = image.getexif()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return {}
    sub = exif.get_ifd(_EXIF_IFD)
    gps = exif.get_ifd(_GPS_IFD)
    result: dict[str, Any] = {}
    captured = _capture_time(sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME), sub.get(_OFFSET_ORIGINAL), zone)
    if captured is not None:
        result["capture_time"] = captured.isoformat()
    for key, tag in (("make", _MAKE), ("model", _MODEL)):
        if isinstance(exif.get(tag), str) and exif[tag].strip("\x00 "):
            result[key] = exif[tag].strip("\x00 ")[:128]
    lat, lon = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
    if lat is not None and lon is not None:
        result["gps"] = {"lat": lat, "lon": lon}
    return result
