"""ffmpeg at work on an original: find keyframes, cut clips, and render the regions and audio a spec hides."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vault.errors import InvalidInput, VaultError
from vault.redaction.spec import AudioMethod, AudioRange, EditSpec, Method, Region

RENDER_TIMEOUT_SECONDS = 6 * 3600
# Encoder settings of every re-encoded derivative: H.264 a browser and a court's player both open.
VIDEO_CODEC = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
AUDIO_CODEC = ["-c:a", "aac", "-b:a", "128k"]
BLEEP_HERTZ = 1000


class RenderFailed(VaultError):
    """ffmpeg could not make the derivative."""

    code = "render_failed"
    status = 422


class CutMode(StrEnum):
    """How a clip was cut: packets copied as they are, or decoded and encoded again."""

    STREAM_COPY = "stream_copy"
    REENCODE = "reencode"


@dataclass(frozen=True)
class MediaFacts:
    """What a render needs to know about the original."""

    duration: float
    width: int
    height: int
    frame_seconds: float
    has_audio: bool
    keyframes: tuple[float, ...]


def _run(args: list[str], timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RenderFailed(f"{args[0]} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def media_facts(source: str) -> MediaFacts:
    """Probe a video: duration, size, frame duration, audio, and the times of its video keyframes."""
    info = json.loads(_run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", source]))
    video = next((s for s in info["streams"] if s.get("codec_type") == "video"), None)
    if video is None:
        raise InvalidInput("only a video can be clipped or redacted")
    rate = video.get("avg_frame_rate") or video.get("r_frame_rate") or "25/1"
    numerator, _, denominator = rate.partition("/")
    fps = float(numerator) / float(denominator or 1) if float(numerator or 0) else 25.0
    packets = _run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
                    "-of", "csv=p=0", source])
    keyframes = sorted(float(t) for t, _, flags in (line.partition(",") for line in packets.splitlines())
                       if "K" in flags and t not in ("", "N/A"))
    return MediaFacts(duration=float(info["format"]["duration"]), width=int(video["width"]),
                      height=int(video["height"]), frame_seconds=1.0 / fps,
                      has_audio=any(s.get("codec_type") == "audio" for s in info["streams"]),
                      keyframes=tuple(keyframes))


def cut_mode(facts: MediaFacts, start: float) -> CutMode:
    """Return stream copy when the clip starts on a keyframe (within half a frame), else re-encoding."""
    on_keyframe = any(abs(k - start) <= facts.frame_seconds / 2 for k in facts.keyframes)
    return CutMode.STREAM_COPY if on_keyframe else CutMode.REENCODE


def _lerp(a: float, b: float, t0: float, t1: float) -> str:
    """Return an ffmpeg expression of t going from a at t0 to b at t1."""
    if t1 <= t0 or a == b:
        return f"{a:.6f}"
    return f"({a:.6f}+({b - a:.6f})*(t-{t0:.6f})/{t1 - t0:.6f})"


Segment = tuple[float, float, float, float, str, str]
# A chain's box is the largest of its segments, so it never hides less than the spec; a new chain starts where
# the box would grow past this, so a face walking up to the camera does not blur its surroundings for long.
CHAIN_GROWTH = 1.25


def _segments(region: Region, offset: float) -> list[Segment]:
    """Return (start, end, width, height, centre-x, centre-y) per keyframe interval, in the output's time."""
    frames = region.keyframes
    pairs = list(itertools.pairwise(frames))
    if region.end > frames[-1].t:  # held still after its last keyframe
        pairs.append((frames[-1], frames[-1]))
    segments = []
    for first, last in pairs:
        t0, t1 = first.t - offset, (last.t if last is not first else region.end) - offset
        cx = _lerp(first.x + first.w / 2, last.x + last.w / 2, t0, t1)
        cy = _lerp(first.y + first.h / 2, last.y + last.h / 2, t0, t1)
        segments.append((t0, t1, max(first.w, last.w), max(first.h, last.h), cx, cy))
    return [s for s in segments if s[1] >= 0]


def _chains(segments: list[Segment]) -> list[list[Segment]]:
    """Group consecutive segments whose boxes stay within CHAIN_GROWTH of the chain's smallest: a filter chain each."""
    chains: list[list[Segment]] = []
    for segment in segments:
        if chains:
            joined = [*chains[-1], segment]
            widths, heights = [s[2] for s in joined], [s[3] for s in joined]
            if max(widths) <= min(widths) * CHAIN_GROWTH and max(heights) <= min(heights) * CHAIN_GROWTH:
                chains[-1] = joined
                continue
        chains.append([segment])
    return chains


def _piecewise(segments: list[Segment], value: Callable[[Segment], str]) -> str:
    """Return an expression of t that takes each segment's value in its time, as a balanced tree of if()s."""
    if len(segments) == 1:
        return value(segments[0])
    middle = len(segments) // 2
    return (f"if(lt(t,{segments[middle][0]:.6f}),{_piecewise(segments[:middle], value)},"
            f"{_piecewise(segments[middle:], value)})")


def _hide(method: Method, width: int, height: int, enable: str) -> str:
    """Return the filter that hides a cropped box of this size, skipping frames outside enable where it can."""
    if method is Method.BLACK:
        return f"drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:{enable}"
    if method is Method.PIXELATE:  # scale has no timeline: it pixelates every frame, cheap at a face's size
        blocks_w, blocks_h = max(1, width // 16), max(1, height // 16)
        return f"scale={blocks_w}:{blocks_h}:flags=area,scale={width}:{height}:flags=neighbor"
    radius = max(1, min(width, height) // 4 - 1)  # the chroma planes are half the size: keep under their limit
    return (f"boxblur=luma_radius={radius}:luma_power=4:chroma_radius={max(1, radius // 2)}:chroma_power=4:"
            f"{enable}")


def video_filters(regions: list[Region], facts: MediaFacts, offset: float) -> str:
    """Return a filter graph from [0:v] to [v] that hides every region over its time, following its keyframes.

    One crop-hide-overlay chain per region (or per stretch of similar box size), not per keyframe interval: every
    chain costs a pass over every frame, so a face tracked for a minute must not cost a hundred of them.
    """
    steps, current, index = [], "0:v", 0
    for region in regions:
        for chain in _chains(_segments(region, offset)):
            width = max(2, round(max(s[2] for s in chain) * facts.width) // 2 * 2)
            height = max(2, round(max(s[3] for s in chain) * facts.height) // 2 * 2)
            cx, cy = _piecewise(chain, lambda s: s[4]), _piecewise(chain, lambda s: s[5])
            x = f"max(0,min({facts.width - width},{cx}*{facts.width}-{width / 2}))"
            y = f"max(0,min({facts.height - height},{cy}*{facts.height}-{height / 2}))"
            enable = f"enable='between(t,{max(chain[0][0], 0):.6f},{chain[-1][1]:.6f})'"
            hide = _hide(region.method, width, height, enable)
            steps.append(f"[{current}]split[b{index}][p{index}]")
            steps.append(f"[p{index}]crop=w={width}:h={height}:x='{x}':y='{y}',{hide}[h{index}]")
            steps.append(f"[b{index}][h{index}]overlay=x='{x}':y='{y}':{enable}[v{index}]")
            current, index = f"v{index}", index + 1
    steps.append(f"[{current}]null[v]")
    return ";".join(steps)


def audio_filters(ranges: list[AudioRange], offset: float, duration: float) -> str:
    """Return a filter graph from [0:a] to [a] that mutes or bleeps every range."""
    if not ranges:
        return "[0:a]anull[a]"
    windows = [(r.start - offset, r.end - offset, r.method) for r in ranges]
    muted = ",".join(f"volume=enable='between(t,{s:.6f},{e:.6f})':volume=0" for s, e, _ in windows)
    bleeps = [(s, e) for s, e, method in windows if method is AudioMethod.BLEEP]
    if not bleeps:
        return f"[0:a]{muted}[a]"
    audible = "+".join(f"between(t,{s:.6f},{e:.6f})" for s, e in bleeps)
    return (f"[0:a]{muted}[m];sine=frequency={BLEEP_HERTZ}:sample_rate=48000:duration={duration:.3f},"
            f"volume=enable='not({audible})':volume=0[tone];"
            "[m][tone]amix=inputs=2:duration=first:normalize=0[a]")


def _progress_lines(process: subprocess.Popen[str], total: float, progress: Callable[[float], None]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        key, _, value = line.strip().partition("=")
        if key == "out_time_us" and value.isdigit() and total > 0:
            progress(min(1.0, int(value) / 1e6 / total))


def render(source: str, spec: EditSpec, facts: MediaFacts, output: Path,
           progress: Callable[[float], None] = lambda _: None) -> CutMode:
    """Write the derivative a spec describes to output (MP4); return how it was cut."""
    start = spec.clip.start if spec.clip else 0.0
    end = min(spec.clip.end if spec.clip else facts.duration, facts.duration)
    if start >= facts.duration:
        raise InvalidInput(f"the clip starts at {start:.3f} s, after the original ends ({facts.duration:.3f} s)")
    mode = CutMode.REENCODE if spec.redacts or spec.clip is None else cut_mode(facts, start)
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-progress", "pipe:1", "-nostats",
            "-ss", f"{start:.6f}", "-i", source, "-t", f"{end - start:.6f}"]
    if mode is CutMode.STREAM_COPY:
        args += ["-map", "0", "-c", "copy", "-avoid_negative_ts", "make_zero"]
    else:
        graph = video_filters(spec.regions, facts, start)
        if facts.has_audio:
            graph += ";" + audio_filters(spec.audio, start, end - start)
        args += ["-filter_complex", graph, "-map", "[v]", *VIDEO_CODEC]
        args += ["-map", "[a]", *AUDIO_CODEC] if facts.has_audio else []
    args += ["-movflags", "+faststart", "-f", "mp4", str(output)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        _progress_lines(process, end - start, progress)
        _, errors = process.communicate(timeout=RENDER_TIMEOUT_SECONDS)
    if process.returncode != 0:
        raise RenderFailed(f"ffmpeg could not render the derivative: {errors.strip()[-400:]}")
    progress(1.0)
    return mode


def watermark(source: str, lines: list[str], output: Path, *, font: Path, height: int | None = None) -> None:
    """Burn lines of text (recipient, export id, date) into every frame, bottom right, half opaque.

    The output's suffix picks the kind: .jpg for a photo (one frame), anything else an H.264 MP4. Without a height
    the text is sized from the frame itself.
    """
    if not lines or any("\n" in line or "\r" in line for line in lines):
        raise InvalidInput("a watermark is one or more single lines of text")
    text_file = output.with_suffix(".watermark.txt")
    # Read from a file with expansion off: no character of a recipient's name can change the filter graph.
    text_file.write_text("\n".join(lines), encoding="utf-8")
    size = str(max(12, height // 24)) if height else "'max(12,h/24)'"
    spacing = max(12, height // 24) // 3 if height else 4  # ffmpeg takes no expression for the spacing
    mark = (f"drawtext=fontfile={font}:textfile={text_file}:expansion=none:fontcolor=white@0.6:borderw=2:"
            f"bordercolor=black@0.6:fontsize={size}:line_spacing={spacing}:x=w-tw-w/40:y=h-th-h/40")
    photo = output.suffix.lower() in (".jpg", ".jpeg")
    encode = ["-frames:v", "1", "-q:v", "2", "-f", "image2"] if photo else [
        *VIDEO_CODEC, "-c:a", "copy", "-movflags", "+faststart", "-f", "mp4"]
    try:
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", source, "-vf", mark, *encode, str(output)],
             timeout=RENDER_TIMEOUT_SECONDS)
    finally:
        text_file.unlink(missing_ok=True)
