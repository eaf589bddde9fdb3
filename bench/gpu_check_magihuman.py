"""The GPU check's magihuman family (issue 13): full-size daVinci-MagiHuman, random weights, run as the worker runs it.

Run through ``bench/gpu_check.py --engine magihuman`` (or ``both``, the default: after ltx2 is freed).

What it builds, directly on the GPU with random weights (nothing is downloaded): the three DiTs the engine
holds, each ``DiTConfig.real()`` (15.3B: block linears bf16 as published, norms, embedders and heads fp32)
— the distilled base DiT, the 540p SR DiT (the same architecture: the engine reads it so without a
``config.json``) and the 1080p SR DiT with its local-attention layers (``real(sr_1080p=True)``); the
T5Gemma 9B encoder in bf16 (``bench/configs/t5gemma_9b_encoder.json``: Gemma 2 9B's sizes, since T5Gemma's
own config.json could not be confirmed here: the file and the header say so); and the two VAEs in float32,
as the engine loads and runs them (Wan 2.2 TI2V-5B's ``wan22_ti2v_vae.json``, Stable Audio Open's Oobleck
``oobleck_sao.json``). Each module is constructed under ``torch.device("cuda")``: its own init is already
device-side and cheap (the DiT's ``_init_weights`` draws its linears there and computes its rotary bands, which
a ``meta`` build then ``to_empty`` would leave as garbage), and no float32 host copy is ever made. About
46B + 9.2B parameters: ~112 GB of the H200's ~139 GiB, so 1080p runs with every model resident (on an 80 GB
card it needs ``--magihuman-option cpu_offload=model``).

What it runs, on the distilled profile (8 base steps at 256p, no guidance; 5 SR steps): t2v 720p 5 s
(540p SR, frames resized up), t2v 1080p 5 s, i2v 720p 5 s, i2v 1080p 5 s, in that order, each one job through
``MagiHumanEngine.generate`` → ``encode_clip`` → ``LocalStorage.put_file`` as in the ltx2 check. It prints per
stage: text encoding, VAE encode (i2v), base steps and SR steps (with s/step), audio decode, video decode,
H.264 encode (resize and encode, the decode pulled inside it taken out), store; peak GPU memory, peak host
RSS, wall ÷ video seconds; and beside them the published H100 figures for 5 s (README of the model: 256p
2.0 s = base 1.6 + decode 0.4; 540p 8.0 s; 1080p 38.4 s = SR 31.0 + decode 5.8, on the reference's own
kernels, with its turbo decoder) — ours is SDPA attention, the Wan 2.2 decoder, and an MP4 at the end.

Time estimate on one H200 (written before any run; conservative): take the published H100 seconds ×2 for
our kernels and decoder, the H200 no faster: t2v 720p ~16 s + ~6 s resize and encode ≈ 25 s; 1080p
~77 s + ~10 s ≈ 90 s; i2v adds an image encode (~2 s). Build ~35 s (three 40-layer DiTs and the encoder's
init on the device) + warm-up ~10 s. Alone: ~15 s wheels, ~45 s build and warm-up, ~230 s of cases:
~4.9 min. With ltx2 first (``--engine both``, ltx2 shrunk to t2v without its back-to-back pair and
two-stage 1080p: ~280 s with its build), the guard keeps the whole under ``--budget-seconds``: ltx2 runs
within the budget less :data:`RESERVE_SECONDS` (magihuman's build and its t2v 720p and 1080p), and each
magihuman case runs only if its estimate (scaled from t2v 720p once measured) fits in what is left, i2v
first to go.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _gpu import PROMPT, Check, Meter, Run, StageClock, finish, generate, hook, memory_line, ours_one_job, size
from _gpu import source_image

CONFIGS = Path(__file__).parent / "configs"
TINY_CONFIGS = CONFIGS / "tiny"
TEXT_FILE, VIDEO_VAE_FILE, AUDIO_VAE_FILE, TINY_DIT_FILE = (
    "t5gemma_9b_encoder.json", "wan22_ti2v_vae.json", "oobleck_sao.json", "magihuman_dit.json")
# The dry run: 1/8 of the sides (as the engine's CPU tests), 16 prompt tokens; the steps stay the profile's.
DRY_RUN_OPTIONS = {"scale": 0.125, "text_length": 16}
# Published H100 seconds for 5 s (ENGINES.md, from the model's README), by the SR stage a case runs.
PUBLISHED_H100 = {"540p": "540p 8.0 s in all (256p alone: base 1.6 + decode 0.4)",
                  "1080p": "1080p 38.4 s in all: base ~1.6, SR 31.0, decode 5.8"}
WORDS = "a the horse gallops along beach at sunset waves crashing seagulls overhead".split()


@dataclass(frozen=True)
class Case:
    key: str
    mode: str
    resolution: str
    estimate: float  # seconds on one H200, before any is measured (the docstring's)

    def title(self, seconds: int) -> str:
        return f"magihuman {self.mode} {self.resolution} {seconds} s"


CASES = {case.key: case for case in (Case("t2v-720p", "t2v", "720p", 25.0), Case("t2v-1080p", "t2v", "1080p", 90.0),
                                     Case("i2v-720p", "i2v", "720p", 27.0), Case("i2v-1080p", "i2v", "1080p", 95.0))}
BUILD_SECONDS = 45.0  # imports, construction, warm-up
RESERVE_SECONDS = BUILD_SECONDS + CASES["t2v-720p"].estimate + CASES["t2v-1080p"].estimate


# -- the models ----------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    """A config file's constructor arguments (keys without a leading ``_``, which say where they come from)."""
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def word_tokenizer() -> Any:
    """A word-level tokenizer over the prompt's words: timing needs token ids, not T5Gemma's real ones."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>")


def dit_configs(dry_run: bool) -> tuple[dict[str, Any], int]:
    """The DiT architecture per engine key, and the frame receptive field, as the engine reads them."""
    from happyhorse.engines.magihuman.config import DiTConfig
    from happyhorse.engines.magihuman.engine import DEFAULT_FRAME_RECEPTIVE_FIELD

    if not dry_run:
        base = DiTConfig.real()
        return {"distilled": base, "sr_540p": base, "sr_1080p": DiTConfig.real(sr_1080p=True)}, \
            DEFAULT_FRAME_RECEPTIVE_FIELD
    tiny = json.loads((TINY_CONFIGS / TINY_DIT_FILE).read_text())
    base = DiTConfig.from_dict(tiny["arch_config"])
    return ({"distilled": base, "sr_540p": base, "sr_1080p": DiTConfig.from_dict(tiny["sr_1080p_arch_config"])},
            int(tiny["frame_receptive_field"]))


def build_components(directory: Path, dry_run: bool, device: str, dtype: Any) -> dict[str, Any]:
    """Every model of random weights, each tensor created where it will live (see the module docstring)."""
    import torch
    from diffusers import AutoencoderKLWan, AutoencoderOobleck
    from transformers import T5GemmaConfig, T5GemmaEncoderModel

    from happyhorse.engines.magihuman.dit import MagiDiT

    configs, frf = dit_configs(dry_run)
    text = read_config(directory / TEXT_FILE)
    previous = torch.get_default_dtype()
    with torch.device(device):
        torch.manual_seed(0)
        dits = {key: MagiDiT(config, compute_dtype=dtype).requires_grad_(False).eval()
                for key, config in configs.items()}
        torch.set_default_dtype(dtype)
        try:
            encoder = T5GemmaEncoderModel(T5GemmaConfig(encoder=text["encoder"], decoder=text["encoder"],
                                                        vocab_size=text["vocab_size"], is_encoder_decoder=False))
        finally:
            torch.set_default_dtype(previous)
        video_vae = AutoencoderKLWan(**read_config(directory / VIDEO_VAE_FILE))
        audio_vae = AutoencoderOobleck(**read_config(directory / AUDIO_VAE_FILE))
    for module in (encoder, video_vae, audio_vae):
        module.requires_grad_(False).eval()
    return {"dits": dits, "frame_receptive_field": frf, "encoder": encoder, "video_vae": video_vae,
            "audio_vae": audio_vae}


def wrap(parts: dict[str, Any], device: str, dtype: Any, text_length: int) -> tuple[Any, Any, Any]:
    """The engine's own wrappers (:mod:`~happyhorse.engines.magihuman.text`, ``vae``) around in-memory models."""
    import torch

    from happyhorse.engines.magihuman.text import TextEncoder
    from happyhorse.engines.magihuman.vae import AudioVAE, VideoVAE

    text = TextEncoder.__new__(TextEncoder)
    text.tokenizer, text.model, text.length = word_tokenizer(), parts["encoder"], text_length
    video = VideoVAE.__new__(VideoVAE)
    video.vae, video.device = parts["video_vae"], torch.device(device)
    shape = (1, video.vae.config.z_dim, 1, 1, 1)
    video.mean = torch.tensor(video.vae.config.latents_mean, dtype=torch.float32, device=device).view(shape)
    video.std = torch.tensor(video.vae.config.latents_std, dtype=torch.float32, device=device).view(shape)
    audio = AudioVAE.__new__(AudioVAE)
    audio.vae, audio.device = parts["audio_vae"], torch.device(device)
    return text, video, audio


def build(args: argparse.Namespace, device: str, dtype: Any) -> tuple[Any, dict[str, str]]:
    """The models and the engine, hooked for timing, with the header lines that say what was built."""
    import torch

    from happyhorse.engines.magihuman.engine import MagiHumanEngine

    directory = TINY_CONFIGS if args.dry_run else CONFIGS
    source = json.loads((directory / TEXT_FILE).read_text()).get("_source", "")
    started = time.perf_counter()
    parts = build_components(directory, args.dry_run, device, dtype)
    Meter(device).sync()
    options = {"profile": "distilled", "device": device, "dtype": str(dtype).removeprefix("torch."),
               **(DRY_RUN_OPTIONS if args.dry_run else {}), **dict(args.magihuman_option)}
    text, video_vae, audio_vae = wrap(parts, device, dtype, options.get("text_length", 640))
    engine = MagiHumanEngine.from_components(text=text, video_vae=video_vae, audio_vae=audio_vae, dits=parts["dits"],
                                             frame_receptive_field=parts["frame_receptive_field"], **options)
    dits = parts["dits"]
    print(f"built in {time.perf_counter() - started:.1f} s with random weights on {device}: DiTs (block linears "
          f"bf16, the rest fp32) distilled {size(dits['distilled'])}, 540p SR {size(dits['sr_540p'])}, 1080p SR "
          f"{size(dits['sr_1080p'])} ({len(dits['sr_1080p'].config.local_attn_layers)} local-attention layers); "
          f"T5Gemma encoder {size(parts['encoder'])} in {str(dtype).removeprefix('torch.')}; Wan 2.2 VAE "
          f"{size(parts['video_vae'])} and Oobleck VAE {size(parts['audio_vae'])} in float32 (as the engine runs them)")
    if not args.dry_run and not json.loads((directory / TEXT_FILE).read_text()).get("_confirmed", True):
        print(f"text encoder sizes NOT confirmed against google/t5gemma-9b-9b-ul2's config.json: {source}")
    if device == "cuda":
        print(f"resident: {torch.cuda.memory_allocated() / 2**30:.1f} GiB on the GPU")
    print(f"engine: magihuman, profile distilled ({engine.options.num_steps} steps + {engine.options.sr_steps} SR "
          f"steps){''.join(f', {k}={v}' for k, v in dict(args.magihuman_option).items())}")
    hook(parts["encoder"], "text encoding")
    hook(parts["video_vae"].encoder, "VAE encode")
    hook(dits["distilled"], "base steps", steps="base")
    hook(dits["sr_540p"], "SR steps", steps="SR")
    hook(dits["sr_1080p"], "SR steps", steps="SR")
    hook(parts["video_vae"].decoder, "video decode")
    hook(parts["audio_vae"].decoder, "audio decode")
    return engine, {"device": torch.cuda.get_device_name() if device == "cuda" else "CPU (dry run)",
                    "text_encoder_source": source}


# -- the cases -----------------------------------------------------------------------


def case_spec(case: Case, seconds: int) -> Any:
    """The request as the worker's spec: the rules' 16:9 frame size, 24 fps, seed 0."""
    from happyhorse.engines import GenerationSpec
    from happyhorse.rules import RULES

    width, height = RULES.frame_size("16:9", case.resolution)
    images = (source_image(width, height),) if case.mode == "i2v" else ()
    return GenerationSpec(mode=case.mode, prompt=PROMPT, width=width, height=height, seed=0, images=images,
                          num_frames=RULES.num_frames(seconds), options={"aspect_ratio": "16:9", "engine": "magihuman"})


@dataclass
class Outcome:
    title: str
    seconds: int
    key: str
    ours: Run | None = None
    skipped: str = ""
    sr_stage: str = ""


def stage_lines(clock: StageClock) -> list[str]:
    lines = [f"text encoding        {clock.seconds['text encoding']:8.2f} s"]
    if clock.seconds.get("VAE encode"):
        lines.append(f"VAE encode           {clock.seconds['VAE encode']:8.2f} s")
    for key, name in (("base", "base steps"), ("SR", "SR steps")):
        calls = clock.steps.get(key, [])
        if calls:
            lines.append(f"{name:<21}{sum(calls):8.2f} s   {len(calls)} steps x {sum(calls) / len(calls):.2f} s/step")
    lines.append(f"audio decode         {clock.seconds['audio decode']:8.2f} s")
    lines.append(f"video decode         {clock.seconds['video decode']:8.2f} s")
    return lines


def report_case(outcome: Outcome) -> None:
    ours = outcome.ours
    print("  ours: engine -> encoder -> storage, as the worker runs it")
    for line in stage_lines(ours.clock):
        print(f"    {line}")
    print(f"    H.264 encode         {ours.encode:8.2f} s   (frames retimed and resized, MP4 "
          f"{ours.mp4_bytes / 2**20:.1f} MiB + poster)")
    print(f"    store                {ours.store:8.2f} s")
    print(f"    end-to-end (MP4 stored) {ours.wall:.2f} s, wall ÷ video seconds {ours.wall / outcome.seconds:.2f}")
    print(f"    {memory_line(ours)}")
    print(f"  published, one H100, 5 s: {PUBLISHED_H100[outcome.sr_stage]}")


def run_case(check: Check, case: Case, seconds: int) -> Outcome:
    spec = case_spec(case, seconds)
    job = check.engine.plan(spec)
    outcome = Outcome(case.title(seconds), seconds, case.key, sr_stage=job.sr_stage or "")
    h, w = job.base_size
    sh, sw = job.sr_size
    print(f"\n== {outcome.title}: {spec.width}x{spec.height}, distilled: base {w}x{h}x{job.model_frames} -> "
          f"SR {job.sr_stage} DiT at {sw}x{sh} -> {spec.num_frames} frames at {spec.fps} fps")
    outcome.ours = ours_one_job(check, spec)
    report_case(outcome)
    return outcome


class Budget:
    """Wall seconds left for magihuman's cases; a case runs only if its estimate fits."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def why_not(self, case: Case, outcomes: list[Outcome]) -> str:
        """Why ``case`` must be skipped (empty if it fits): its estimate, scaled by t2v 720p's measured/estimated."""
        t2v = next((o for o in outcomes if o.key == "t2v-720p" and o.ours), None)
        scale = t2v.ours.wall / CASES["t2v-720p"].estimate if t2v else 1.0
        estimate = case.estimate * scale
        if self.left() > estimate:
            return ""
        return f"skipped: needs ~{estimate:.0f} s, {max(self.left(), 0):.0f} s left of the budget"


def summary(outcomes: list[Outcome]) -> None:
    print("\n== magihuman summary: case, ours end-to-end (MP4 stored), wall ÷ video seconds, peak GPU memory; "
          "published H100")
    for outcome in outcomes:
        if outcome.skipped:
            print(f"  {outcome.title:<28} {outcome.skipped}")
            continue
        ours = outcome.ours
        gpu = f"{ours.peak_gpu:.1f} GiB" if ours.peak_gpu is not None else "n/a"
        print(f"  {outcome.title:<28} {ours.wall:8.2f} s {ours.wall / outcome.seconds:6.2f} {gpu:>10}   "
              f"{PUBLISHED_H100[outcome.sr_stage]}")


def as_json(outcome: Outcome) -> dict[str, Any]:
    r = outcome.ours
    ours = None if r is None else {
        "wall": r.wall, "stages": {**r.clock.seconds, "steps": dict(r.clock.steps)}, "encode": r.encode,
        "store": r.store, "peak_gpu_gib": r.peak_gpu, "peak_rss_gib": r.peak_rss}
    return {"title": outcome.title, "skipped": outcome.skipped, "sr_stage": outcome.sr_stage, "ours": ours}


def run(args: argparse.Namespace, device: str, dtype: Any, budget: Budget) -> tuple[dict[str, Any], list[Outcome]]:
    """magihuman's check: build, warm up (a 1 s 720p job), its cases; everything is unreferenced on return."""
    seconds = 1 if args.dry_run else 5
    engine, header = build(args, device, dtype)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-magihuman-") as tmp:
        from happyhorse.storage.local import LocalStorage

        (Path(tmp) / "work").mkdir()
        check = Check(engine, Meter(device), LocalStorage(Path(tmp) / "storage"), Path(tmp) / "work")
        clip, _ = generate(check, case_spec(CASES["t2v-720p"], 1), None)
        finish(check, clip, None)
        for key in args.magihuman_cases.split(","):
            case = CASES[key]
            skipped = budget.why_not(case, outcomes)
            if skipped:
                outcome = Outcome(case.title(seconds), seconds, key, skipped=skipped)
                print(f"\n== {outcome.title}\n  {skipped}")
            else:
                try:
                    outcome = run_case(check, case, seconds)
                except Exception as exc:  # one case's failure (out of memory, say) must not cost the others
                    outcome = Outcome(case.title(seconds), seconds, key,
                                      skipped=f"failed: {type(exc).__name__}: {exc}"[:300])
                    print(f"  {outcome.skipped}")
                    check.meter.free()
            outcomes.append(outcome)
    summary(outcomes)
    return header, outcomes
