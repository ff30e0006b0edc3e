"""Where a record was made (拍摄地点): GPS from a photo's EXIF or a recording's metadata, else the declared place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vault.evidence.models import Evidence

# ffprobe's format tags that carry an ISO 6709 position: MP4 (`location`, as ffmpeg and Android write it) and
# QuickTime (as iPhones write it).
LOCATION_TAGS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_ISO6709 = re.compile(r"^([+-])(\d+(?:\.\d+)?)([+-])(\d+(?:\.\d+)?)(?:[+-]\d+(?:\.\d+)?)?(?:CRS[A-Za-z0-9_:]+)?/?$")


class PlaceSource(StrEnum):
    """Where the sheet's place comes from."""

    GPS_EXIF = "gps_exif"
    GPS_RECORDING = "gps_recording"
    DECLARED = "declared"


@dataclass(frozen=True)
class RecordedPlace:
    """A place and its source: coordinates for GPS, the officer's words for a declared place."""

    source: PlaceSource
    lat: float | None = None
    lon: float | None = None
    declared: str | None = None


def _degrees(sign: str, digits: str, degree_digits: int) -> float | None:
    """Read ±DD.D, ±DDMM.M or ±DDMMSS.S (ISO 6709; longitude has one more degree digit)."""
    whole = digits.split(".")[0]
    extra = len(whole) - degree_digits
    if extra not in (0, 2, 4):
        return None
    value = float(digits)
    if extra == 2:
        degrees, minutes = divmod(value, 100)
        value = degrees + minutes / 60
    elif extra == 4:
        degrees, rest = divmod(value, 10000)
        minutes, seconds = divmod(rest, 100)
        value = degrees + minutes / 60 + seconds / 3600
    return -value if sign == "-" else value


def parse_iso6709(text: str) -> tuple[float, float] | None:
    """Return (lat, lon) from an ISO 6709 point such as `+31.2304+121.4737/`; None when it is not one."""
    match = _ISO6709.match(text.strip())
    if match is None:
        return None
    lat = _degrees(match.group(1), match.group(2), 2)
    lon = _degrees(match.group(3), match.group(4), 3)
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(lat, 7), round(lon, 7)


def _exif_gps(media_info: dict[str, Any]) -> tuple[float, float] | None:
    gps = (media_info.get("exif") or {}).get("gps")
    if isinstance(gps, dict) and isinstance(gps.get("lat"), int | float) and isinstance(gps.get("lon"), int | float):
        return float(gps["lat"]), float(gps["lon"])
    return None


def _recording_gps(media_info: dict[str, Any]) -> tuple[float, float] | None:
    tags = {str(k).lower(): v for k, v in (media_info.get("tags") or {}).items()}
    for name in LOCATION_TAGS:
        value = tags.get(name.lower())
        point = parse_iso6709(value) if isinstance(value, str) else None
        if point is not None:
            return point
    return None


def recorded_place(evidence: Evidence) -> RecordedPlace | None:
    """Return GPS from the photo's EXIF or the recording's metadata, else the declared place, else None."""
    declared = (evidence.place or "").strip() or None
    for source, point in ((PlaceSource.GPS_EXIF, _exif_gps(evidence.media_info)),
                          (PlaceSource.GPS_RECORDING, _recording_gps(evidence.media_info))):
        if point is not None:
            return RecordedPlace(source=source, lat=point[0], lon=point[1], declared=declared)
    return RecordedPlace(source=PlaceSource.DECLARED, declared=declared) if declared else None
