"""GPU speed of the ltx2 engine against the stock diffusers call, on the full-size LTX-2 architecture.

    .venv/bin/python bench/gpu_ltx2.py [--steps 30] [--guidance 3] [--duration 5] [--resolution 720p]
                                       [--attention-backend flash] [--cache taylorseer] [--compile] [--repeat 1]

Builds LTX-2 19B (transformer, text connectors, video and audio VAEs, vocoder)
and its Gemma 3 12B text encoder from the config files in bench/configs/ with
random weights, directly on the GPU in bfloat16 (speed does not depend on the
weight values; real weights cannot be had here). Then runs one 16:9 t2v job
(5 s at 720p by default: 120 frames, generated as 1280x736x121) through
``LTX2Engine.generate`` (frames fitted to 1280x720 and consumed, as the worker
does) and the same pipeline call with the same arguments straight through
diffusers, and prints seconds for each, their ratio, the engine's time per
denoising step and the peak GPU memory of each. Needs CUDA and the diffusion
extra; it refuses to run on the CPU unless --allow-cpu is given (for a smoke
run of this script with tiny configs: --configs DIR).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timer  # noqa: E402

CONFIGS = Path(__file__).parent / "configs"
FILES = {
    "transformer": "ltx2_19b_transformer.json",
    "connectors": "ltx2_19b_connectors.json",
    "vae": "ltx2_19b_vae.json",
    "audio_vae": "ltx2_19b_audio_vae.json",
    "vocoder": "ltx2_19b_vocoder.json",
    "text_encoder": "gemma3_12b_text_encoder.json",
}


def load_config(directory: Path, component: str) -> dict[str, Any]:
    config = json.loads((directory / FILES[component]).read_text())
    return {k: v for k, v in config.items() if not k.startswith("_")}


def char_tokenizer() -> Any:
    """A character-level Gemma tokenizer: token ids only need to exist in the vocabulary for timing."""
    from transformers import GemmaTokenizer

    vocab = {token: i for i, token in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789.,\u2581":
        vocab[char] = len(vocab)
    return GemmaTokenizer(vocab=vocab, merges=[])


def build_pipeline(directory: Path, device: str, dtype: Any) -> Any:
    """An ``LTX2Pipeline`` of randomly initialised components, built in place on ``device``."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # no float32 copy of 31B parameters on the way
    try:
        with torch.device(device):
            torch.manual_seed(0)
            parts = {
                "transformer": LTX2VideoTransformer3DModel(**load_config(directory, "transformer")),
                "connectors": LTX2TextConnectors(**load_config(directory, "connectors")),
                "vae": AutoencoderKLLTX2Video(**load_config(directory, "vae")),
                "audio_vae": AutoencoderKLLTX2Audio(**load_config(directory, "audio_vae")),
                "vocoder": LTX2Vocoder(**load_config(directory, "vocoder")),
                "text_encoder": Gemma3ForConditionalGeneration(
                    Gemma3Config(**load_config(directory, "text_encoder"))).eval(),
            }
    finally:
        torch.set_default_dtype(previous)
    return LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), tokenizer=char_tokenizer(), **parts)


class StepClock:
    """An engine context that records when each denoising step ended."""

    def __init__(self, steps: int) -> None:
        self.log = logging.getLogger("bench")
        self.steps, self.times = steps, []

    def report_progress(self, fraction: float) -> None:
        if len(self.times) < self.steps:
            self.times.append(time.perf_counter())

    def cancelled(self) -> bool:
        return False


def measure(run: Any, device: str) -> tuple[float, float]:
    """``(seconds, peak GiB)`` of ``run()``, synchronised with the GPU."""
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with Timer() as timer:
        run()
        if cuda:
            torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    return timer.seconds, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=Path, default=CONFIGS)
    parser.add_argument("--resolution", default="720p", choices=["720p", "1080p"])
    parser.add_argument("--width", type=int, help="override the 16:9 frame width")
    parser.add_argument("--height", type=int, help="override the 16:9 frame height")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--profile", default="full", choices=["full", "distilled"])
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--max-sequence-length", type=int, default=1024, help="prompt tokens (the pipeline's default)")
    parser.add_argument("--attention-backend")
    parser.add_argument("--cache")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--vae-tiling", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (stock, engine); the best of each counts")
    parser.add_argument("--allow-cpu", action="store_true", help="smoke-run the script on the CPU (tiny configs)")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("gpu_ltx2: needs the diffusion extra: pip install 'happyhorse[diffusion]'", file=sys.stderr)
        return 2
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("gpu_ltx2: no CUDA GPU here; this benchmark only means something on a GPU "
              "(docs/benchmarks.md says it has not been measured yet). Refusing to run.", file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, args.dtype if device == "cuda" else "float32")

    from happyhorse.engines import GenerationSpec
    from happyhorse.engines.ltx2.engine import LTX2Engine
    from happyhorse.rules import RULES

    width, height = RULES.frame_size("16:9", args.resolution)
    width, height = args.width or width, args.height or height
    with Timer() as built:
        pipeline = build_pipeline(args.configs, device, dtype)
    engine = LTX2Engine.from_pipeline(
        pipeline, device=device, dtype=str(dtype).removeprefix("torch."), profile=args.profile, steps=args.steps,
        guidance=args.guidance, attention_backend=args.attention_backend, cache=args.cache, compile=args.compile,
        vae_tiling=args.vae_tiling, max_sequence_length=args.max_sequence_length,
    )
    spec = GenerationSpec(mode="t2v", prompt="a horse gallops along the beach at sunset, waves crashing",
                          width=width, height=height, num_frames=args.duration * 24, seed=0)
    shape, pipe, arguments = engine.plan(spec)
    steps = engine.options.num_steps
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"LTX-2 architecture from {args.configs} with random weights (built in {built.seconds:.0f} s) "
          f"on {gpu}, {str(dtype).removeprefix('torch.')}")
    print(f"t2v {width}x{height}, {args.duration} s (generated {shape.width}x{shape.height}x{shape.num_frames}), "
          f"{steps} steps, guidance {engine.options.guidance_scale}, profile {args.profile}")

    def stock() -> None:
        with torch.inference_mode():
            pipe(**arguments, generator=torch.Generator("cpu").manual_seed(0), output_type="np")

    clocks: list[StepClock] = []

    def ours() -> None:
        clocks.append(StepClock(steps))
        clip = engine.generate(spec, clocks[-1])
        for _ in clip.frames:  # fitting every frame to the output size is part of the job
            pass

    # Warm-up (kernel selection, compilation) at the same shape, not counted.
    measure(ours if args.compile else stock, device)
    stock_runs, engine_runs = [], []
    for _ in range(args.repeat):
        stock_runs.append(measure(stock, device))
        engine_runs.append((*measure(ours, device), clocks[-1]))
    stock_s, stock_peak = min(stock_runs)
    engine_s, engine_peak, clock = min(engine_runs, key=lambda run: run[0])
    per_step = (clock.times[-1] - clock.times[0]) / max(len(clock.times) - 1, 1)
    print(f"  stock diffusers pipeline call: {stock_s:8.1f} s   peak GPU memory {stock_peak:6.1f} GiB")
    print(f"  happyhorse ltx2 engine:        {engine_s:8.1f} s   peak GPU memory {engine_peak:6.1f} GiB   "
          f"{per_step:.2f} s/step")
    print(f"  ratio engine / stock: {engine_s / stock_s:.2f} (below 1 = the engine is faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
