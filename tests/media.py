"""Media fixtures made on the fly with ffmpeg (a few seconds of testsrc), never checked in."""

from __future__ import annotations

from pathlib import Path

import ffmpeg  # type: ignore[import-untyped]


def make_video(path: Path, *, seconds: float = 2.0, size: str = "320x240", rate: int = 25, codec: str = "libx264",
               creation_time: str | None = None, faststart: bool = True) -> Path:
    """Write a short testsrc video with a sine tone; codec libx264 (browser-playable) or libx265/mpeg4."""
    video = ffmpeg.input(f"testsrc=duration={seconds}:size={size}:rate={rate}", f="lavfi")
    audio = ffmpeg.input(f"sine=frequency=440:duration={seconds}", f="lavfi")
    options: dict[str, str] = {"vcodec": codec, "acodec": "aac", "pix_fmt": "yuv420p", "loglevel": "error"}
    if codec == "libx264":
        options["preset"] = "ultrafast"
    if faststart and path.suffix.lower() in {".mp4", ".mov"}:
        options["movflags"] = "+faststart"
    if creation_time:
        options["metadata"] = f"creation_time={creation_time}"
    ffmpeg.output(video, audio, str(path), **options).overwrite_output().run(quiet=True)
    return path


def make_photo(path: Path, *, size: str = "640x480") -> Path:
    """Write one JPEG frame of testsrc."""
    ffmpeg.input(f"testsrc=size={size}:rate=1", f="lavfi").output(
        str(path), vframes=1, loglevel="error").overwrite_output().run(quiet=True)
    return path


def truncate(path: Path, keep_fraction: float = 0.6) -> Path:
    """Cut a file short, as a damaged recorder or an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def make_audio(path: Path, *, seconds: float = 1.0) -> Path:
    """Write a short sine tone (AAC in .m4a) with no creation time, as a voice recorder may leave it."""
    ffmpeg.input(f"sine=frequency=440:duration={seconds}", f="lavfi").output(
        str(path), acodec="aac", loglevel="error").overwrite_output().run(quiet=True)
    return path


def make_face_video(path: Path, *, seconds: float = 6.0, keyframe_every: int = 25) -> Path:
    """Write a video of scikit-image's astronaut photograph (a real face) with a 440 Hz tone, a keyframe a second."""
    from skimage import data

    photo = Path(data.__file__).parent / "astronaut.png"
    video = ffmpeg.input(str(photo), loop=1, framerate=25)
    audio = ffmpeg.input(f"sine=frequency=440:sample_rate=48000:duration={seconds}", f="lavfi")
    ffmpeg.output(video, audio, str(path), t=seconds, vcodec="libx264", preset="ultrafast", pix_fmt="yuv420p",
                  g=keyframe_every, acodec="aac", movflags="+faststart", loglevel="error").overwrite_output().run(
        quiet=True)
    return path
