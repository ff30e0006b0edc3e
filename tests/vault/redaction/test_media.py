"""Clips, blurred faces and silenced audio, measured on the rendered files with ffmpeg and numpy."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.media import make_face_video
from vault.redaction.faces import detect_faces, link_tracks
from vault.redaction.media import CutMode, MediaFacts, media_facts, render, watermark
from vault.redaction.spec import AudioMethod, AudioRange, Box, Clip, EditSpec, Method, Reason, Region

SIZE = 512  # the astronaut photograph is 512 x 512
FACE_CENTRE = (225 / SIZE, 118 / SIZE)  # between the eyes, read off the photograph
AWAY = (slice(300, 420), slice(20, 140))  # the orange suit at the lower left, far from the face


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_face_video(tmp_path_factory.mktemp("redaction") / "astronaut.mp4")


@pytest.fixture(scope="module")
def facts(video: Path) -> MediaFacts:
    return media_facts(str(video))


@pytest.fixture(scope="module")
def face(video: Path, facts: MediaFacts) -> Region:
    """The detector's one track, accepted as a person would accept the suggestion."""
    tracks = link_tracks(detect_faces(str(video), facts))
    assert len(tracks) == 1, tracks
    frames = [d.box for d in tracks[0].detections]
    return Region(reason=Reason.OTHERS_PRIVACY, keyframes=frames, hold_until=facts.duration)


def gray_frame(path: Path, at: float) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(SIZE, SIZE).astype(float)


def mean_volume(path: Path, start: float, end: float) -> float:
    done = subprocess.run(["ffmpeg", "-nostdin", "-i", str(path), "-af", f"atrim={start}:{end},volumedetect", "-f",
                           "null", "-"], capture_output=True, text=True, check=True)
    found = re.search(r"mean_volume: (-?[\d.]+) dB", done.stderr)
    assert found, done.stderr
    return float(found.group(1))


def video_packets(path: Path) -> list[tuple[float, str]]:
    """Return (time, SHA-256 of the bytes) of each video packet."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time,data_hash", "-show_data_hash", "sha256", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return [(float(t), digest) for t, digest in (line.split(",") for line in out.splitlines())]


def test_the_detector_finds_the_astronauts_face_in_every_sample(video: Path, facts: MediaFacts, face: Region) -> None:
    assert len(face.keyframes) >= 2 * int(facts.duration) - 1  # sampled twice a second, found in each sample
    for box in face.keyframes:
        assert box.x < FACE_CENTRE[0] < box.x + box.w and box.y < FACE_CENTRE[1] < box.y + box.h
        assert box.w * box.h < 0.15  # a face, not the whole frame


def _face_pixels(frame: np.ndarray, box: Box) -> np.ndarray:
    inset = 0.1  # measure inside the box, clear of its edge
    x0, x1 = int((box.x + box.w * inset) * SIZE), int((box.x + box.w * (1 - inset)) * SIZE)
    y0, y1 = int((box.y + box.h * inset) * SIZE), int((box.y + box.h * (1 - inset)) * SIZE)
    return frame[y0:y1, x0:x1]


def _detail(pixels: np.ndarray) -> float:
    """Return the share of neighbouring pixels that differ visibly: fine detail, which blocks flatten."""
    return float((np.abs(np.diff(pixels, axis=1)) > 3).mean())


def test_pixelating_removes_the_faces_detail(video: Path, facts: MediaFacts, face: Region, tmp_path: Path) -> None:
    out = tmp_path / "pixelated.mp4"
    render(str(video), EditSpec(regions=[face.model_copy(update={"method": Method.PIXELATE})]), facts, out)
    original, redacted = gray_frame(video, 2.5), gray_frame(out, 2.5)
    box = face.keyframes[5]
    # Blocks keep the face's average colours, by design; what identifies a face (eyes, mouth) is gone.
    assert _detail(_face_pixels(redacted, box)) <= 0.2 * _detail(_face_pixels(original, box))
    assert np.abs(original[AWAY] - redacted[AWAY]).mean() < 3.0


@pytest.mark.parametrize("method", [Method.BLUR, Method.BLACK])
def test_rendering_hides_the_face_and_leaves_the_rest(video: Path, facts: MediaFacts, face: Region, method: Method,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "redacted.mp4"
    region = face.model_copy(update={"method": method})
    assert render(str(video), EditSpec(regions=[region]), facts, out) is CutMode.REENCODE
    for at in (0.5, 2.5, 4.5):
        original, redacted = gray_frame(video, at), gray_frame(out, at)
        box = face.keyframes[round(at * 2)]
        before, after = _face_pixels(original, box).var(), _face_pixels(redacted, box).var()
        assert after <= 0.2 * before, (method, at, before, after)
        assert np.abs(original[AWAY] - redacted[AWAY]).mean() < 3.0  # only the re-encoding's loss


def test_muted_and_bleeped_ranges(video: Path, facts: MediaFacts, tmp_path: Path) -> None:
    out = tmp_path / "muted.mp4"
    spec = EditSpec(audio=[AudioRange(reason=Reason.OTHERS_PRIVACY, start=1.0, end=2.0),
                           AudioRange(reason=Reason.OTHER, reason_text="证人姓名", start=3.0, end=4.0,
                                      method=AudioMethod.BLEEP)])
    render(str(video), spec, facts, out)
    assert mean_volume(out, 1.1, 1.9) < -80  # silence
    assert mean_volume(out, 0.1, 0.9) > -30 and mean_volume(out, 2.1, 2.9) > -30  # the tone around it
    assert mean_volume(out, 3.1, 3.9) > -30  # a bleep, not silence


def test_a_clip_on_a_keyframe_is_copied_packet_for_packet(video: Path, facts: MediaFacts, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    assert render(str(video), EditSpec(clip=Clip(start=2.0, end=4.0)), facts, out) is CutMode.STREAM_COPY
    clipped = media_facts(str(out))
    assert abs(clipped.duration - 2.0) <= facts.frame_seconds
    wanted = [digest for t, digest in video_packets(video) if 2.0 - 1e-6 <= t < 4.0 - 1e-6]
    assert [digest for _, digest in video_packets(out)] == wanted


def test_a_clip_between_keyframes_is_re_encoded_to_the_frame(video: Path, facts: MediaFacts, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    assert render(str(video), EditSpec(clip=Clip(start=1.52, end=3.0)), facts, out) is CutMode.REENCODE
    assert abs(media_facts(str(out)).duration - 1.48) <= facts.frame_seconds


NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # fonts-noto-cjk, a system package


def test_each_recipients_watermark_makes_its_own_copy(video: Path, tmp_path: Path) -> None:
    copies = {}
    for recipient in ("陈某（当事人）", "阜阳市中级人民法院"):
        out = tmp_path / f"{len(copies)}.mp4"
        watermark(str(video), [f"交付：{recipient}", "导出 7c1e2f3a · 2026-12-07"], out, font=NOTO_CJK, height=SIZE)
        copies[recipient] = out
    first, second = (gray_frame(path, 1.0) for path in copies.values())
    original = gray_frame(video, 1.0)
    corner = (slice(SIZE - 60, SIZE - 10), slice(SIZE // 2, SIZE - 10))  # where the mark is burned in
    assert np.abs(original[corner] - first[corner]).mean() > 10
    assert np.abs(first[corner] - second[corner]).mean() > 1  # the names differ, so do the pixels
    assert np.abs(original[:200, :200] - first[:200, :200]).mean() < 3.0
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in copies.values()}
    assert len(digests) == 2


CANVAS = (1024, 576)
PHOTO = 288  # the photograph scaled down, crossing the canvas at PACE pixels a second
PACE = 120
NOSE = (270, 116)  # the middle of the face in the photograph, at the nose


def _crossing_x(at: float) -> float:
    return 40 + PACE * at


def make_crossing_face_video(path: Path, seconds: float = 5.0) -> Path:
    """Write the astronaut crossing a grey canvas faster than her face's width every half second (one sample)."""
    from skimage import data

    photo = Path(data.__file__).parent / "astronaut.png"
    graph = f"[1:v]scale={PHOTO}:{PHOTO}[p];[0:v][p]overlay=x='40+{PACE}*t':y=100:shortest=1,format=yuv420p[v]"
    canvas = f"color=gray:size={CANVAS[0]}x{CANVAS[1]}:rate=25"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", canvas,
                    "-loop", "1", "-framerate", "25", "-i", str(photo), "-filter_complex", graph, "-map", "[v]",
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", str(path)], check=True)
    return path


def test_a_face_crossing_the_frame_is_one_track_and_stays_hidden_between_samples(tmp_path: Path) -> None:
    video = make_crossing_face_video(tmp_path / "crossing.mp4")
    facts = media_facts(str(video))
    tracks = link_tracks(detect_faces(str(video), facts))
    assert len(tracks) == 1, [len(t.detections) for t in tracks]  # one person, one suggestion to accept
    region = Region(reason=Reason.OTHERS_PRIVACY, keyframes=[d.box for d in tracks[0].detections],
                    hold_until=facts.duration)
    out = tmp_path / "redacted.mp4"
    render(str(video), EditSpec(regions=[region]), facts, out)
    scale = PHOTO / SIZE
    for at in (1.24, 2.76, 3.5):  # between samples: the box follows the face, interpolated
        original, redacted = (_canvas_frame(path, at) for path in (video, out))
        cx, cy = round(_crossing_x(at) + NOSE[0] * scale), round(100 + NOSE[1] * scale)
        face_rows, face_cols = slice(cy - 14, cy + 14), slice(cx - 14, cx + 14)
        before, after = original[face_rows, face_cols].var(), redacted[face_rows, face_cols].var()
        assert after <= 0.2 * before, (at, before, after)
        x = round(_crossing_x(at))
        suit = (slice(100 + round(300 * scale), 100 + round(420 * scale)), slice(x + round(20 * scale), x + 79))
        assert np.abs(original[suit] - redacted[suit]).mean() < 3.0


def _canvas_frame(path: Path, at: float) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(CANVAS[1], CANVAS[0]).astype(float)
