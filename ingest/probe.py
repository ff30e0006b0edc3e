"""Tell media from anything else by content, and summarise media with ffprobe (counting packets)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from ingest.errors import UnsupportedMedia

log = structlog.get_logger(__name__)

# Demuxers ffprobe may use: a playlist or concat file renamed .mp4 would otherwise open other local files.
FORMAT_WHITELIST = ",".join(
    ["mov", "mp4", "m4a", "3gp", "3g2", "mj2", "avi", "matroska", "webm", "mpegts", "mpeg", "flv", "asf", "wav",
     "mp3", "aac", "ogg", "flac", "amr", "jpeg_pipe", "png_pipe", "image2"]
)
PROBE_TIMEOUT_SECONDS = 600
BROWSER_VIDEO_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
BROWSER_AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "vorbis"})
SNIFF_BYTES = 512


@dataclass(frozen=True)
class MediaProbe:
    """What the ingest learned about a file from its bytes."""

    media_type: str
    kind: str  # video, audio or image
    damaged: bool
    damage: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    creation_time: datetime | None = None
    duration: float | None = None


def _ftyp_type(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in {b"heic", b"heix", b"mif1", b"msf1"}:
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in {b"M4A ", b"M4B "}:
            return "audio/mp4"
        return "video/3gpp" if brand.startswith(b"3g") else "video/mp4"
    if head[4:8] in {b"moov", b"mdat", b"wide", b"free", b"skip"}:
        return "video/quicktime"
    return None


def sniff_media_type(head: bytes) -> str | None:
    """Return the media type named by a file's first bytes, or None when they are not a known media container."""
    riff = {b"AVI ": "video/x-msvideo", b"WAVE": "audio/wav"}
    if head[:4] == b"RIFF" and head[8:12] in riff:
        return riff[head[8:12]]
    signatures = [
        (b"\x1a\x45\xdf\xa3", "video/x-matroska"),
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video/x-ms-asf"),
        (b"\x00\x00\x01\xba", "video/mpeg"),
        (b"FLV\x01", "video/x-flv"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"OggS", "audio/ogg"),
        (b"fLaC", "audio/flac"),
        (b"ID3", "audio/mpeg"),
        (b"#!AMR", "audio/amr"),
    ]
    for magic, media_type in signatures:
        if head.startswith(magic):
            return media_type
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "video/mp2t"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 in {0xF0, 0xF2}:
        return "audio/aac"
    return _ftyp_type(head)


def _run_ffprobe(path: Path) -> tuple[dict[str, Any] | None, str]:
    # ffmpeg.probe() drops stderr on success, and stderr is where a damaged tail shows; so run it directly.
    args = ["ffprobe", "-v", "error", "-format_whitelist", FORMAT_WHITELIST, "-count_packets",
            "-show_format", "-show_streams", "-of", "json", str(path)]
    try:
        done = subprocess.run(args, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return None, "ffprobe timed out"
    errors = done.stderr.decode("utf-8", "replace").replace(str(path), "<file>").strip()
    if done.returncode != 0:
        return None, errors or f"ffprobe exited with {done.returncode}"
    try:
        return json.loads(done.stdout), errors
    except json.JSONDecodeError:
        return None, "ffprobe printed no readable summary"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rate(value: Any) -> float | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    num, _, den = value.partition("/")
    try:
        return round(int(num) / int(den), 3) if int(den) else None
    except ValueError:
        return None


def _stream_summary(stream: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": stream.get("codec_type"),
        "codec": stream.get("codec_name"),
        "width": stream.get("width"),
        "height": stream.get("height"),
        "frame_rate": _rate(stream.get("avg_frame_rate")),
        "frames": int(stream["nb_frames"]) if str(stream.get("nb_frames", "")).isdigit() else None,
        "packets": int(stream["nb_read_packets"]) if str(stream.get("nb_read_packets", "")).isdigit() else None,
    }


def _missing_packets(streams: list[dict[str, Any]]) -> str:
    for stream in streams:
        frames, packets = stream["frames"], stream["packets"]
        # Container frame counts can be off by one (AVI); a shorter read than that means a lost tail.
        if frames is not None and packets is not None and packets < frames - 1:
            return f"{stream['type']} stream holds {packets} of {frames} packets its index declares"
    return ""


def parse_creation_time(value: Any) -> datetime | None:
    """Parse ffprobe's creation_time tag (UTC, second precision); None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _summarise(data: dict[str, Any], media_type: str) -> MediaProbe:
    fmt = data.get("format", {})
    streams = [_stream_summary(s) for s in data.get("streams", []) if s.get("codec_type") in {"video", "audio"}]
    video = next((s for s in streams if s["type"] == "video"), None)
    audio = next((s for s in streams if s["type"] == "audio"), None)
    is_image = media_type.startswith("image/") or fmt.get("format_name") in {"jpeg_pipe", "png_pipe", "image2"}
    kind = "image" if is_image else ("video" if video else "audio")
    tags = {str(k): str(v)[:256] for k, v in (fmt.get("tags") or {}).items()}
    info: dict[str, Any] = {
        "format": fmt.get("format_name"),
        "duration": None if is_image else _number(fmt.get("duration")),
        "bit_rate": _number(fmt.get("bit_rate")),
        "video_codec": video["codec"] if video else None,
        "audio_codec": audio["codec"] if audio else None,
        "width": video["width"] if video else None,
        "height": video["height"] if video else None,
        "frame_rate": video["frame_rate"] if video and not is_image else None,
        "creation_time": tags.get("creation_time"),
        "tags": tags,
        "streams": streams,
    }
    info["browser_playable"] = browser_playable(media_type, info)
    damage = _missing_packets(streams)
    return MediaProbe(media_type=media_type, kind=kind, damaged=bool(damage), damage=damage, info=info,
                      creation_time=parse_creation_time(tags.get("creation_time")), duration=info["duration"])


def browser_playable(media_type: str, info: dict[str, Any]) -> bool:
    """Return whether a browser plays the original as is (MP4/WebM with H.264/VP9/AV1 and common audio)."""
    if media_type not in {"video/mp4", "video/webm", "audio/mp4", "audio/mpeg", "audio/wav", "audio/ogg"}:
        return False
    video, audio = info.get("video_codec"), info.get("audio_codec")
    return (video is None or video in BROWSER_VIDEO_CODECS) and (audio is None or audio in BROWSER_AUDIO_CODECS)


def read_head(path: Path) -> bytes:
    """Return the first bytes of a file, as many as sniffing looks at."""
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


def require_media_head(head: bytes) -> str:
    """Return the media type a file's first bytes name; raise UnsupportedMedia when they name none."""
    media_type = sniff_media_type(head)
    if media_type is None:
        raise UnsupportedMedia(
            "the file is not audio, video or a photo (its content matches no media format); nothing was stored",
            details={"accepted": "MP4, MOV, AVI, MKV, MPEG-TS, FLV, ASF, WAV, MP3, AAC, OGG, FLAC, AMR, JPEG, PNG"},
        )
    return media_type


def probe_media(path: Path) -> MediaProbe:
    """Probe a staged file; raise UnsupportedMedia unless its bytes are a recording or a photo."""
    media_type = require_media_head(read_head(path))
    data, errors = _run_ffprobe(path)
    if data is None or not any(s.get("codec_type") in {"video", "audio"} for s in data.get("streams", [])):
        # The container signature is there but nothing decodes: a broken recording is still evidence.
        log.info("ingest.probe.unreadable", media_type=media_type, error=errors[:200])
        kind = media_type.split("/")[0]
        return MediaProbe(media_type=media_type, kind=kind, damaged=True,
                          damage=f"unreadable: {errors[:500] or 'no decodable stream'}",
                          info={"format": None, "probe_error": errors[:500], "browser_playable": False})
    probe = _summarise(data, media_type)
    if probe.kind == "audio" and media_type == "video/mp4":
        probe = MediaProbe(**{**probe.__dict__, "media_type": "audio/mp4"})
    if errors and not probe.damaged:
        probe = MediaProbe(**{**probe.__dict__, "damaged": True, "damage": f"decoder errors: {errors[:500]}"})
    return probe
