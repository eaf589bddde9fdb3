"""The preview engine's speed including encoding, as multiples of real time.

    .venv/bin/python bench/preview_speed.py [--duration 5] [--repeat 2]

For each mode at 720p and 1080p it runs what the worker runs for a job —
engine.generate streaming into media.encode_clip (H.264 + AAC + poster) — and
prints seconds of video per second of wall time (targets: >= 2x at 720p,
>= 1x at 1080p on a 2-core machine). The baseline is real time itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timer  # noqa: E402

from happyhorse.engines import GenerationSpec, NullContext, load_engine  # noqa: E402
from happyhorse.media.encode import encode_clip  # noqa: E402
from happyhorse.rules import RULES  # noqa: E402


def picture(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 120)], -1).astype(np.uint8)
    image[height // 4 : height // 2, width // 4 : width // 2] = rng.integers(0, 255, 3)
    return image


def run(mode: str, resolution: str, duration: int, workdir: Path) -> float:
    width, height = RULES.frame_size("16:9", resolution)
    images: tuple[np.ndarray, ...] = ()
    if mode == "i2v":
        images = (picture(1600, 900, 1),)
    elif mode == "r2v":
        images = tuple(picture(512, 512, seed) for seed in range(3))
    prompt = "character1 and character2 ride horses along a beach at sunset, waves crashing"
    spec = GenerationSpec(mode=mode, prompt=prompt, width=width, height=height, num_frames=duration * 24, seed=42,
                          images=images)
    engine = load_engine("preview")
    with Timer() as timer:
        clip = engine.generate(spec, NullContext())
        encode_clip(clip, workdir / "out.mp4", workdir / "poster.jpg", watermark=True)
    return timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"preview engine + encoding, {args.duration} s clips, {os.cpu_count()} CPUs, best of {args.repeat}")
    print(f"{'mode':5} {'resolution':10} {'seconds':>8} {'x real time':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for resolution in ("720p", "1080p"):
            for mode in ("t2v", "i2v", "r2v"):
                best = min(run(mode, resolution, args.duration, Path(tmp)) for _ in range(args.repeat))
                print(f"{mode:5} {resolution:10} {best:8.2f} {args.duration / best:11.2f}x")


if __name__ == "__main__":
    main()
