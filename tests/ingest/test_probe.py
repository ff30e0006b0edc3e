"""Content sniffing and ffprobe summaries on media made with ffmpeg."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.errors import UnsupportedMedia
from ingest.exif import read_exif
from ingest.probe import probe_media, sniff_media_type
from ingest.rules import IngestRules
from vault.config import Settings


def test_a_clip_is_summarised(media: dict[str, Path]) -> None:
    probe = probe_media(media["clip"])
    assert (probe.media_type, probe.kind, probe.damaged) == ("video/mp4", "video", False)
    assert probe.info["video_codec"] == "h264" and probe.info["audio_codec"] == "aac"
    assert (probe.info["width"], probe.info["height"], probe.info["frame_rate"]) == (320, 240, 25.0)
    assert probe.duration == pytest.approx(2.0, abs=0.1) and probe.info["browser_playable"] is True
    assert probe.creation_time == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(("name", "media_type", "playable"), [
    ("hevc", "video/mp4", False), ("avi", "video/x-msvideo", False), ("photo", "image/jpeg", False)])
def test_other_formats_are_recognised(media: dict[str, Path], name: str, media_type: str, playable: bool) -> None:
    probe = probe_media(media[name])
    assert probe.media_type == media_type and not probe.damaged and probe.info["browser_playable"] is playable


@pytest.mark.parametrize("name", ["truncated", "tail_lost"])
def test_truncated_recordings_are_damaged_not_refused(media: dict[str, Path], name: str) -> None:
    probe = probe_media(media[name])
    assert probe.damaged and probe.media_type == "video/mp4" and probe.damage


@pytest.mark.parametrize("name", ["text", "elf"])
def test_bytes_that_are_not_media_are_refused(media: dict[str, Path], name: str) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        probe_media(media[name])
    assert caught.value.status == 415 and "not audio, video or a photo" in caught.value.message


def test_a_playlist_named_mp4_is_refused(tmp_path: Path, media: dict[str, Path]) -> None:
    playlist = tmp_path / "evil.mp4"
    playlist.write_text(f"#EXTM3U\n#EXTINF:2,\nfile://{media['clip']}\n")
    with pytest.raises(UnsupportedMedia):
        probe_media(playlist)


def test_sniffing_knows_common_containers() -> None:
    assert sniff_media_type(b"RIFF\0\0\0\0WAVEfmt ") == "audio/wav"
    assert sniff_media_type(b"\x00\x00\x00\x18ftypqt  ") == "video/quicktime"
    assert sniff_media_type(b"\x1a\x45\xdf\xa3rest") == "video/x-matroska"
    assert sniff_media_type(bytes([0x47] + [0] * 187) * 3) == "video/mp2t"
    assert sniff_media_type(b"\x7fELF\x02\x01") is None and sniff_media_type(b"") is None


def test_exif_gives_capture_time_device_and_gps(media: dict[str, Path], settings: Settings) -> None:
    exif = read_exif(media["photo"], zone=IngestRules.of(settings).zone)
    assert exif["capture_time"] == "2025-03-30T14:05:06+08:00"
    assert (exif["make"], exif["model"]) == ("DSJ", "DSJ-T9")
    assert exif["gps"] == {"lat": 31.5, "lon": pytest.approx(117.26)}
    assert read_exif(media["text"], zone=IngestRules.of(settings).zone) == {}
