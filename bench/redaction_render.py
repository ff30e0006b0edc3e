"""Redaction renders and clips as a ratio of real time, against plain ffmpeg doing the same on the same footage.

    .venv/bin/python bench/redaction_render.py                 # 1080p25 and 720p30, 20 s, 3 alternating rounds
    .venv/bin/python bench/redaction_render.py --heights 1080 --seconds 30 --rounds 5

Makes body-camera-like footage with ffmpeg (H.264 8/4 Mbit/s + AAC, GOP 2 s at 25 fps / 1 s at 30 fps, a pan
over a photograph with sensor noise, and scikit-image's astronaut, a real face, moving across it), then measures:
  redact   faces found (CenterFace), linked, accepted, blurred, 3 s muted, one ffmpeg pass: the vault's `render`;
           peer: plain ffmpeg running the same filter graph (boxes already known), same encoder settings
  copy     a stream-copy clip from a keyframe; peer: `ffmpeg -ss -t -c copy`
  reencode a clip between keyframes, re-encoded; peer: the same cut with the same encoder settings
Each step runs in its own process so its peak RSS (VmHWM) and its ffmpeg children's are its own. Rounds alternate
which goes first. Prints every round, the median and min-max of each ratio to real time, vault/peer, peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vault.redaction.media import MediaFacts
    from vault.redaction.spec import EditSpec

ROOT = Path(__file__).resolve().parents[1]
MUTED = (5.0, 8.0)


def make_footage(path: Path, height: int, fps: int, seconds: float) -> Path:
    """Write a pan with sensor noise and the astronaut moving across it, like a body camera's file."""
    from skimage import data

    folder = Path(data.__file__).parent
    width, face = height * 16 // 9, height // 2
    gop, bitrate = (2 * fps, "8M") if height >= 1080 else (fps, "4M")
    graph = (f"[0:v]scale={width * 5 // 4}:{height * 5 // 4},crop={width}:{height}:x='{width // 8}*(1+sin(2*PI*t/20))'"
             f":y='{height // 8}*(1+sin(2*PI*t/13))',noise=alls=6:allf=t[bg];[1:v]scale={face}:{face}[face];"
             "[bg][face]overlay=x='(W-w)/2*(1+0.8*sin(2*PI*t/12))':y='(H-h)/2*(1+0.6*sin(2*PI*t/17))',"
             "format=yuv420p[v]")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-framerate", str(fps),
                    "-i", str(folder / "coffee.png"), "-loop", "1", "-framerate", str(fps),
                    "-i", str(folder / "astronaut.png"), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-filter_complex", graph, "-map", "[v]", "-map", "2:a", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "veryfast", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-g", str(gop),
                    "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(path)], check=True)
    return path


def _redact_spec(source: str) -> tuple[MediaFacts, EditSpec, int]:
    """Find, link and accept every face, and mute MUTED: what a records manager's edit holds."""
    from vault.redaction.faces import SAMPLES_PER_SECOND, detect_faces, link_tracks
    from vault.redaction.media import media_facts
    from vault.redaction.spec import AudioRange, EditSpec, Reason, Region

    facts = media_facts(source)
    tracks = link_tracks(detect_faces(source, facts))
    regions = [Region(reason=Reason.OTHERS_PRIVACY, keyframes=[d.box for d in track.detections],
                      hold_until=min(facts.duration, track.last.t + 1 / SAMPLES_PER_SECOND)) for track in tracks]
    spec = EditSpec(regions=regions, audio=[AudioRange(reason=Reason.OTHERS_PRIVACY, start=MUTED[0], end=MUTED[1])])
    return facts, spec, len(tracks)


def _vault_step(step: str, source: str, out: Path, clip: tuple[float, float]) -> None:
    from vault.redaction.media import media_facts, render
    from vault.redaction.spec import Clip, EditSpec

    if step == "redact":
        facts, spec, tracks = _redact_spec(source)
        render(source, spec, facts, out)
        print(f"tracks={tracks}", file=sys.stderr)
    else:
        start = clip[0] if step == "copy" else clip[0] + 0.5
        render(source, EditSpec(clip=Clip(start=start, end=clip[1])), media_facts(source), out)


def _peer_args(step: str, source: str, out: Path, clip: tuple[float, float], graph: str) -> list[str]:
    from vault.redaction.media import AUDIO_CODEC, VIDEO_CODEC

    head = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    tail = ["-movflags", "+faststart", "-f", "mp4", str(out)]
    if step == "redact":
        return [*head, "-i", source, "-filter_complex", graph, "-map", "[v]", *VIDEO_CODEC, "-map", "[a]",
                *AUDIO_CODEC, *tail]
    start = clip[0] if step == "copy" else clip[0] + 0.5
    cut = [*head, "-ss", f"{start}", "-i", source, "-t", f"{clip[1] - start}", "-map", "0"]
    if step == "copy":
        return [*cut, "-c", "copy", "-avoid_negative_ts", "make_zero", *tail]
    return [*cut, *VIDEO_CODEC, *AUDIO_CODEC, *tail]


def worker(args: argparse.Namespace) -> None:
    """Run one step in this process; print its wall seconds and peak RSS (own and children's) as JSON."""
    clip = (float(args.clip[0]), float(args.clip[1]))
    started = time.perf_counter()
    if args.who == "vault":
        _vault_step(args.step, args.source, args.out, clip)
    else:
        subprocess.run(_peer_args(args.step, args.source, args.out, clip, args.graph.read_text()), check=True)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "own_mib": own, "children_mib": children}))


def _measure(who: str, step: str, source: Path, work: Path, clip: tuple[float, float]) -> dict[str, float]:
    out = work / f"{who}-{step}.mp4"
    done = subprocess.run([sys.executable, __file__, "--worker", who, step, str(source), str(out),
                           "--graph", str(work / "graph.txt"), "--clip", str(clip[0]), str(clip[1])],
                          capture_output=True, text=True, check=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    out.unlink(missing_ok=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _write_graph(source: Path, work: Path) -> None:
    """Write the filter graph the vault renders, for the peer to run with the boxes already known."""
    from vault.redaction.media import audio_filters, video_filters

    facts, spec, _ = _redact_spec(str(source))
    graph = video_filters(spec.regions, facts, 0.0) + ";" + audio_filters(spec.audio, 0.0, facts.duration)
    (work / "graph.txt").write_text(graph)


def run(height: int, seconds: float, rounds: int, work: Path) -> None:
    """Measure every step of one resolution in alternating rounds and print them."""
    fps = 25 if height >= 1080 else 30
    source = make_footage(work / f"bodycam-{height}p.mp4", height, fps, seconds)
    _write_graph(source, work)
    clip = (2.0, seconds - 2.0)
    media = {"redact": seconds, "copy": clip[1] - clip[0], "reencode": clip[1] - clip[0] - 0.5}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    print(f"\n{height}p{fps}, {seconds:.0f} s, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'round':>5} {'step':>9} {'vault x':>8} {'peer x':>8} {'vault/peer':>10}")
    for number in range(rounds):
        for step in media:
            order = ("vault", "peer") if number % 2 == 0 else ("peer", "vault")
            for who in order:
                results.setdefault((who, step), []).append(_measure(who, step, source, work, clip))
            vault, peer = (media[step] / results[(w, step)][-1]["seconds"] for w in ("vault", "peer"))
            print(f"{number + 1:>5} {step:>9} {vault:>8.2f} {peer:>8.2f} {vault / peer:>10.2f}", flush=True)
    print(f"median (min-max) of {rounds} rounds, x real time; load average {os.getloadavg()[0]:.1f} at the end")
    for step in media:
        rates = {who: [media[step] / r["seconds"] for r in results[(who, step)]] for who in ("vault", "peer")}
        memory = {who: (max(r["own_mib"] for r in results[(who, step)]),
                        max(r["children_mib"] for r in results[(who, step)])) for who in ("vault", "peer")}
        line = "; ".join(f"{who} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for who, v in rates.items())
        ratio = statistics.median(rates["vault"]) / statistics.median(rates["peer"])
        print(f"{step:>9}: {line}; vault/peer {ratio:.2f};"
              f" peak RSS vault {memory['vault'][0]:.0f} MiB + ffmpeg {memory['vault'][1]:.0f} MiB,"
              f" peer ffmpeg {memory['peer'][1]:.0f} MiB")


def main() -> None:
    """Parse arguments and run (or run one step, as a worker)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heights", type=int, nargs="+", default=[1080, 720])
    parser.add_argument("--seconds", type=float, default=20.0, help="footage length (at least 20)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--worker", nargs=4, metavar=("WHO", "STEP", "SOURCE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--graph", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--clip", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.who, args.step, args.source, out = args.worker
        args.out = Path(out)
        worker(args)
        return
    work = Path(tempfile.mkdtemp(prefix="evault-bench-", dir=args.work))
    try:
        print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (the machine is shared)")
        for height in args.heights:
            run(height, max(20.0, args.seconds), args.rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
