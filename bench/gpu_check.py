"""The one GPU check of the ltx2 engine (issue 12): full-size LTX-2.3, random weights, run as the worker runs it.

    bash bench/gpu_check.sh                 # on the GPU machine: installs .gpu-wheels/ offline, then runs this
    python bench/gpu_check.py [--engine ltx2|magihuman|both] [--family ltx23|ltx2] [--cases t2v,two-stage,i2v]
                              [--option KEY=VALUE] [--magihuman-cases ...] [--magihuman-option KEY=VALUE]
                              [--budget-seconds S] [--json PATH]
    python bench/gpu_check.py --dry-run     # tiny shapes, CPU, float32: the same code path in seconds (CI runs it)

Families (``--engine``, default ``both``): ltx2 is described here; magihuman in ``gpu_check_magihuman.py``
(issue 13). ``both`` runs ltx2 first, shrunk to t2v 720p without the back-to-back pair and two-stage 1080p
within the budget less magihuman's reserve, frees it (del, ``gc``, ``torch.cuda.empty_cache``), then builds
and runs magihuman in what is left. The ltx2 time estimate below is for ``--engine ltx2``.

What it builds. The full-size architecture with random weights, directly on the GPU in bfloat16 (speed and
memory do not depend on weight values, and nothing may be downloaded): LTX-2.3 (22B: the 19B transformer
plus its 3.2B text connectors), the Gemma 3 12B text encoder, the video and audio VAEs, the vocoder with
bandwidth extension (48 kHz) and the x2 latent upsampler, from ``bench/configs/ltx23_22b_*.json`` (each file
says where its numbers come from). If the installed diffusers cannot build LTX-2.3 it builds LTX-2 (19B,
``ltx2_19b_*.json``) and says why; ``--family`` chooses.

What it runs, all on the distilled profile (8 steps, no guidance; 1080p adds the 3 stage-2 steps):

- t2v 720p 5 s: two jobs back to back through ``LTX2Engine.generate`` → ``media.encode.encode_clip`` →
  ``LocalStorage.put_file``, the second generating while the first is encoded and stored on a finisher
  thread (the worker's pipelining); then the stock diffusers call for the same request, twice.
- two-stage 1080p 5 s: one job (the engine goes two-stage by itself at 1080p on the distilled profile
  with an upsampler), then the stock stage-1 → ``LTX2LatentUpsamplePipeline`` → stage-2 calls, diffusers'
  documented recipe.
- i2v 720p 5 s: one job, then the stock call. Last because it costs what t2v costs and tells least, so it
  is what the budget drops first.

The stock calls are the engine's own pipelines and arguments (``engine.plan_stages``) replayed as a user's
script would call them (``stages.run_stages``), so both sides run the same settings; they keep their
frames in memory (``output_type="np"``) where ours ends with the MP4 and poster stored. Stage times come
from hooks on the pipeline's modules (text encoder and connectors, transformer, latent upsampler, VAE
decoder, audio decoder and vocoder), each fenced by ``torch.cuda.synchronize``, so they mean the same for
both sides; the H.264 time is ``encode_clip``'s wall less the module time spent inside it (the chunked VAE
decode the encoder pulls). It prints per stage, peak GPU memory (``torch.cuda.max_memory_allocated``), peak
host RSS (``getrusage``, reset per run), wall ÷ video seconds, and ours ÷ stock for one job, for the two
back-to-back jobs, and in steady state (many jobs: the GPU's share, each finish hidden behind the next
job's generation). The goal is ≤ 1.0 back to back. ``--option KEY=VALUE`` passes an engine option
(attention backend, step cache, compile...) to try what speeds it up.

Time estimate on one H200 (written before any run; conservative). Basis: LTX-2 generates 768x512x121 with
8 distilled steps in 9.5 s on one H100 in bf16 (a published figure); take it all as denoising:
1.19 s per step at 6144 video tokens, and the H200 no faster (same compute). A step costs about
T·(35 600 + T) for T video tokens (2·14B·T FLOPs of the video stream's matrices against 4·48·4096·T² of
attention). So 720p (1280x736x121, 14 720 tokens) takes ~3.4 s/step, 27 s for 8 steps, ~33 s a job with
decode and encode; two-stage 1080p (8 steps at 960x544 = 8 160 tokens, 1.7 s/step; 3 at 1920x1088 =
32 640 tokens, 10.3 s/step) ~58 s a job. Total: ~15 s for the wheels and imports, ~60 s building 35B
random parameters on the GPU, ~10 s warm-up (a 1 s job), t2v ~125 s (2 jobs + 2 stock calls), two-stage
~115 s, i2v ~66 s: ~390 s, 6.5 min of the 8. ``--budget-seconds`` (the wrapper passes what is left of 450 s
after installing the wheels) skips a case whose estimate, scaled from the t2v figures measured in the same
run, would not fit, and says so; a case that fails (out of memory, say) is reported and the next one runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).parent))
from _common import reset_peak_rss  # noqa: E402
from _gpu import (  # noqa: E402
    PROMPT, Check, Meter, Run, StageClock, engine_option, finish, generate, hook, memory_line,
    ours_one_job, quiet_libraries, size, source_image, video_tokens,
)
import gpu_check_magihuman as magihuman  # noqa: E402

CONFIGS = Path(__file__).parent / "configs"
TINY_CONFIGS = CONFIGS / "tiny"
TEXT_ENCODER_FILE = "gemma3_12b_text_encoder.json"
PARTS = {  # component -> its diffusers class, unless its config names another (``_class_name``)
    "transformer": "LTX2VideoTransformer3DModel",
    "connectors": "LTX2TextConnectors",
    "vae": "AutoencoderKLLTX2Video",
    "audio_vae": "AutoencoderKLLTX2Audio",
    "vocoder": "LTX2Vocoder",
    "latent_upsampler": "LTX2LatentUpsamplerModel",
}
# How much more than a t2v 720p job (ours + stock) a case costs, from the cost model in the docstring:
# two-stage denoising 1.6x, decode and encode 2.25x (pixels); i2v adds one image encode.
CASE_COST = {"t2v": 1.0, "two-stage": 2.3, "i2v": 1.1}


# -- the models -------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    prefix: str


FAMILIES = {
    "ltx23": Family("ltx23", "LTX-2.3 (22B)", "ltx23_22b_"),
    "ltx2": Family("ltx2", "LTX-2 (19B)", "ltx2_19b_"),
}


def read_config(path: Path) -> tuple[str | None, dict[str, Any]]:
    """A config file's class name (``_class_name``) and constructor arguments (keys without a leading ``_``)."""
    config = json.loads(path.read_text())
    return config.get("_class_name"), {k: v for k, v in config.items() if not k.startswith("_")}


def build_parts(directory: Path, family: Family) -> dict[str, Any]:
    """Every diffusers component of ``family``, constructed on the current default device and dtype."""
    import diffusers
    from diffusers.pipelines import ltx2

    parts = {}
    for part, default_class in PARTS.items():
        class_name, kwargs = read_config(directory / f"{family.prefix}{part}.json")
        name = class_name or default_class
        parts[part] = (getattr(ltx2, name, None) or getattr(diffusers, name))(**kwargs)
    return parts


def choose_family(requested: str | None, directory: Path) -> tuple[Family, str]:
    """LTX-2.3 unless asked otherwise or the installed diffusers cannot build it (tried on the meta device: free)."""
    import torch

    if requested:
        return FAMILIES[requested], "chosen with --family"
    try:
        with torch.device("meta"):
            build_parts(directory, FAMILIES["ltx23"])
    except (TypeError, AttributeError) as exc:
        return FAMILIES["ltx2"], (f"the installed diffusers cannot build LTX-2.3 ({type(exc).__name__}: {exc}), "
                                  "so LTX-2's published configuration instead")
    return FAMILIES["ltx23"], ("LTX-2.3's published configuration (bench/configs/ltx23_22b_*.json: the values of "
                               "diffusers' conversion script, checked against diffusers' own classes)")


def char_tokenizer() -> Any:
    """A character-level Gemma tokenizer: timing needs token ids in the vocabulary, not Gemma's real ones."""
    from transformers import GemmaTokenizer

    vocab = {token: i for i, token in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789.,\u2581":
        vocab[char] = len(vocab)
    return GemmaTokenizer(vocab=vocab, merges=[])


def build_models(directory: Path, family: Family, device: str, dtype: Any) -> tuple[Any, Any]:
    """``(LTX2Pipeline, latent upsampler)`` of random weights, each tensor created where it will live.

    Built under ``torch.device(device)`` with ``dtype`` as the default: no float32 copy of 35B parameters
    on the host first, which would take minutes and more memory than the machine has.
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            torch.manual_seed(0)
            parts = build_parts(directory, family)
            _, text_config = read_config(directory / TEXT_ENCODER_FILE)
            parts["text_encoder"] = Gemma3ForConditionalGeneration(Gemma3Config(**text_config)).eval()
    finally:
        torch.set_default_dtype(previous)
    upsampler = parts.pop("latent_upsampler").eval()
    pipeline = LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), tokenizer=char_tokenizer(), **parts)
    return pipeline, upsampler


def build_engine(pipeline: Any, upsampler: Any, device: str, dtype: str, dry_run: bool, options: dict[str, Any]) -> Any:
    """The engine on the distilled profile with the latent upsampler (1080p then runs in two stages).

    The dry run generates at 1/20 of the output's sides (the engine's ``scale``, as the CPU tests do) and
    reads 16 prompt tokens: the rules' real sizes still pick the cases' stages and the encoder's work.
    """
    from happyhorse.engines.ltx2.engine import LTX2Engine

    tiny = {"scale": 0.05, "max_sequence_length": 16} if dry_run else {}
    return LTX2Engine.from_pipeline(pipeline, upsampler=upsampler, **{
        "profile": "distilled", "device": device, "dtype": dtype, **tiny, **options})


# -- timing from outside the engine ------------------------------------------------

def instrument(pipeline: Any, upsampler: Any) -> None:
    """Hooks on the modules whose time the report names (they are shared by every pipeline built from them)."""
    hook(pipeline.text_encoder, "text encoding")
    hook(pipeline.connectors, "text encoding")
    hook(pipeline.vae.encoder, "VAE encode")
    hook(pipeline.transformer, "denoising", steps=video_tokens)
    hook(upsampler, "upsampling")
    hook(pipeline.vae.decoder, "VAE decode")
    hook(pipeline.audio_vae.decoder, "audio decode")
    hook(pipeline.vocoder, "audio decode")


# -- the runs ----------------------------------------------------------------------


def ours_back_to_back(check: Check, spec: Any) -> tuple[Run, dict[str, float]]:
    """Two jobs as the pipelining worker runs them: job 2 generates while job 1 is finished on another thread.

    Returns job 1's generation and job 2's finish joined into one job's figures (each ran with nothing
    else running, so their stages are clean), and the pair's seconds: both jobs' wall; job 2's generation,
    which shared the GPU with job 1's chunked decode as every generation does in a steady stream of jobs;
    job 2's finish (decode, encode, store).
    """
    first = check.clock()
    check.meter.reset()
    start = time.perf_counter()
    clip_1, generated_1 = generate(check, spec, first)
    with ThreadPoolExecutor(1, thread_name_prefix="finisher") as finisher:
        finishing_1 = finisher.submit(finish, check, clip_1, None)
        clip_2, generated_2 = generate(check, spec, None)
        finishing_1.result()
        done_2 = finisher.submit(finish, check, clip_2, first).result()
    wall = time.perf_counter() - start
    one = Run(wall=generated_1 + done_2.wall, clock=first, encode=done_2.encode, store=done_2.store,
              mp4_bytes=done_2.mp4_bytes)
    return check.meter.peaks(one), {"ours": wall, "generate": generated_2, "finish": done_2.wall}


def stock_call(check: Check, spec: Any) -> Run:
    """The stock diffusers call(s) a user would script for ``spec``, frames kept in memory.

    The engine's own pipelines and arguments (``engine.plan_stages``), replayed with ``run_stages`` asking
    the last call for frames: for two-stage 1080p that is diffusers' documented recipe (stage 1 at half
    size to latents, ``LTX2LatentUpsamplePipeline``, the stage-2 sigmas at full size).
    """
    import torch
    from happyhorse.engines.ltx2.stages import run_stages

    _, stages = check.engine.plan_stages(spec)
    clock = check.clock()
    check.meter.reset()
    with clock.on():
        start = time.perf_counter()
        frames, _ = run_stages(stages, generator=torch.Generator("cpu").manual_seed(spec.seed), output_type="np")
        check.meter.sync()
    del frames
    return check.meter.peaks(Run(wall=time.perf_counter() - start, clock=clock))


def warm_up(check: Check) -> None:
    """A 1 s job first (kernel loading, the allocator's pools, the encoder), not counted."""
    clip, _ = generate(check, case_spec(CASES["t2v"], 1), None)
    finish(check, clip, None)


# -- the cases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    mode: str
    resolution: str

    def title(self, seconds: int) -> str:
        kind = "two-stage " if self.key == "two-stage" else f"{self.mode} "
        return f"{kind}{self.resolution} {seconds} s"


CASES = {case.key: case for case in (Case("t2v", "t2v", "720p"), Case("two-stage", "t2v", "1080p"),
                                     Case("i2v", "i2v", "720p"))}


def case_spec(case: Case, seconds: int) -> Any:
    """The request as the worker's spec: the rules' 16:9 frame size, 24 fps, seed 0."""
    from happyhorse.engines import GenerationSpec
    from happyhorse.rules import RULES

    width, height = RULES.frame_size("16:9", case.resolution)
    images = (source_image(width, height),) if case.mode == "i2v" else ()
    return GenerationSpec(mode=case.mode, prompt=PROMPT, width=width, height=height, seed=0, images=images,
                          num_frames=RULES.num_frames(seconds), options={"aspect_ratio": "16:9", "engine": "ltx2"})


@dataclass
class Outcome:
    """What one case measured (for the summary and ``--json``)."""

    title: str
    seconds: int
    ours: Run | None = None
    stock: Run | None = None
    pair: dict[str, float] = field(default_factory=dict)
    skipped: str = ""


def describe_stages(stages: list[Any]) -> str:
    """``960x544x121 (8 steps) -> upsample -> 1920x1088x121 (3 steps)``: what the engine's calls generate."""
    return " -> ".join("upsample" if stage.kind == "upsample" else
                       f"{stage.arguments['width']}x{stage.arguments['height']}x{stage.arguments['num_frames']} "
                       f"({stage.steps} steps)" for stage in stages)


def run_case(check: Check, case: Case, spec: Any, pair: bool = True) -> Outcome:
    outcome = Outcome(case.title(round(spec.duration)), round(spec.duration))
    _, stages = check.engine.plan_stages(spec)
    print(f"\n== {outcome.title}: {spec.width}x{spec.height}, distilled: {describe_stages(stages)}")
    if case.key == "two-stage" and not any(stage.kind == "upsample" for stage in stages):
        outcome.skipped = "skipped: the engine runs this 1080p job in one stage (no latent upsampler taken)"
        print(f"  {outcome.skipped}")
        return outcome
    if case.key == "t2v" and pair:
        outcome.ours, outcome.pair = ours_back_to_back(check, spec)
        stock_runs = [stock_call(check, spec), stock_call(check, spec)]
        outcome.stock = stock_runs[0]
        outcome.pair["stock"] = sum(run.wall for run in stock_runs)
    else:
        outcome.ours = ours_one_job(check, spec)
        outcome.stock = stock_call(check, spec)
    report_case(outcome)
    return outcome


# -- the report --------------------------------------------------------------------


def stage_lines(clock: StageClock) -> list[str]:
    lines = [f"text encoding        {clock.seconds['text encoding']:8.2f} s"]
    if clock.seconds.get("VAE encode"):
        lines.append(f"VAE encode           {clock.seconds['VAE encode']:8.2f} s")
    groups = list(clock.steps.items())
    for number, (tokens, calls) in enumerate(groups, 1):
        name = f"denoising stage {number}" if len(groups) > 1 else "denoising"
        lines.append(f"{name:<21}{sum(calls):8.2f} s   {len(calls)} steps x {sum(calls) / len(calls):.2f} s/step "
                     f"({tokens} video tokens)")
        if number == 1 and clock.seconds.get("upsampling"):
            lines.append(f"upsampling           {clock.seconds['upsampling']:8.2f} s")
    lines.append(f"VAE decode           {clock.seconds['VAE decode']:8.2f} s")
    lines.append(f"audio decode         {clock.seconds['audio decode']:8.2f} s")
    return lines


def report_case(outcome: Outcome) -> None:
    ours, stock, seconds = outcome.ours, outcome.stock, outcome.seconds
    alone = " (job 1's generation + job 2's finish, each with nothing else running)" if outcome.pair else ""
    print(f"  ours: engine -> encoder -> storage, as the worker runs it{alone}")
    for line in stage_lines(ours.clock):
        print(f"    {line}")
    print(f"    H.264 encode         {ours.encode:8.2f} s   "
          f"(frames fitted, MP4 {ours.mp4_bytes / 2**20:.1f} MiB + poster)")
    print(f"    store                {ours.store:8.2f} s")
    print(f"    end-to-end (MP4 stored) {ours.wall:.2f} s, wall ÷ video seconds {ours.wall / seconds:.2f}")
    print(f"    {memory_line(ours)}{' (over both jobs)' if outcome.pair else ''}")
    print('  stock diffusers call(s): frames in memory (output_type="np")')
    for line in stage_lines(stock.clock):
        print(f"    {line}")
    print(f"    total {stock.wall:.2f} s, wall ÷ video seconds {stock.wall / seconds:.2f}")
    print(f"    {memory_line(stock)}")
    print(f"  ours ÷ stock, one job: {ours.wall / stock.wall:.2f}")
    if outcome.pair:
        pair = outcome.pair
        print(f"  back-to-back, 2 jobs: ours {pair['ours']:.2f} s (job 1 finished while job 2 generated) vs stock "
              f"{pair['stock']:.2f} s (2 calls): ours ÷ stock {pair['ours'] / pair['stock']:.2f} (goal ≤ 1.0)")
        steady = max(pair["generate"], pair["finish"])
        print(f"  steady state, many jobs: max(generate {pair['generate']:.2f} s, "
              f"finish {pair['finish']:.2f} s) per job "
              f"vs stock {stock.wall:.2f} s: ours ÷ stock {steady / stock.wall:.2f}")


def summary(outcomes: list[Outcome]) -> None:
    print("\n== summary: case, ours end-to-end (MP4 stored), stock (frames in memory), ours ÷ stock, "
          "wall ÷ video seconds")
    for outcome in outcomes:
        if outcome.skipped:
            print(f"  {outcome.title:<22} {outcome.skipped}")
            continue
        ours, stock = outcome.ours.wall, outcome.stock.wall
        print(f"  {outcome.title:<22} {ours:8.2f} s {stock:8.2f} s   {ours / stock:5.2f}   "
              f"{ours / outcome.seconds:5.2f}")
        if outcome.pair:
            print(f"  {'  2 jobs back to back':<22} {outcome.pair['ours']:8.2f} s {outcome.pair['stock']:8.2f} s   "
                  f"{outcome.pair['ours'] / outcome.pair['stock']:5.2f}")


def as_json(outcome: Outcome) -> dict[str, Any]:
    def run(r: Run | None) -> dict[str, Any] | None:
        if r is None:
            return None
        stages = {**r.clock.seconds, "denoising": {str(t): calls for t, calls in r.clock.steps.items()}}
        return {"wall": r.wall, "stages": stages, "encode": r.encode, "store": r.store,
                "peak_gpu_gib": r.peak_gpu, "peak_rss_gib": r.peak_rss}

    return {"title": outcome.title, "skipped": outcome.skipped, "ours": run(outcome.ours),
            "stock": run(outcome.stock), "back_to_back": outcome.pair}


# -- the check ---------------------------------------------------------------------


class Budget:
    """Wall seconds left for the check; a case runs only if its estimate fits."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def why_not(self, case: Case, outcomes: list[Outcome]) -> str:
        """Why ``case`` must be skipped (empty if it fits), its cost scaled from t2v's measured figures."""
        t2v = next((o for o in outcomes if o.title.startswith("t2v") and o.ours), None)
        estimate = CASE_COST[case.key] * (t2v.ours.wall + t2v.stock.wall) if t2v else 0.0
        if self.left() > estimate and self.left() > 0:
            return ""
        return (f"skipped: needs ~{estimate:.0f} s, {max(self.left(), 0):.0f} s left of --budget-seconds "
                f"{self.seconds:.0f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("ltx2", "magihuman", "both"), default="both",
                        help="which family to check; both: ltx2 first (its t2v without the back-to-back pair, "
                             "no i2v), freed, then magihuman")
    parser.add_argument("--family", choices=sorted(FAMILIES), help="default: LTX-2.3 if diffusers can build it")
    parser.add_argument("--cases", help="ltx2's cases, comma-separated, run in this order "
                                        "(default: t2v,two-stage,i2v; with --engine both: t2v,two-stage)")
    parser.add_argument("--magihuman-cases", default=",".join(magihuman.CASES),
                        help="magihuman's cases, comma-separated, run in this order")
    parser.add_argument("--magihuman-option", type=engine_option, action="append", default=[], metavar="KEY=VALUE",
                        help="a magihuman engine option (cpu_offload=model, decode_chunk=2, sr_720p=720p...)")
    parser.add_argument("--option", type=engine_option, action="append", default=[], metavar="KEY=VALUE",
                        help="an ltx2 engine option (attention_backend=_flash_3, cache=taylorseer, compile=true, "
                             "decode_chunk=4...); those that change shared modules apply to the stock calls too")
    parser.add_argument("--budget-seconds", type=float, default=450.0,
                        help="skip a case whose estimate would not fit in what is left of this many seconds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny configs on the CPU in float32: checks the code path, says nothing about speed")
    args = parser.parse_args(argv)
    args.cases = args.cases or ("t2v,two-stage" if args.engine == "both" else "t2v,two-stage,i2v")
    for given, known in ((args.cases, CASES), (args.magihuman_cases, magihuman.CASES)):
        unknown = set(given.split(",")) - set(known)
        if unknown:
            parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return args


def build(args: argparse.Namespace, device: str, dtype: Any) -> tuple[Any, dict[str, str]]:
    """The models and the engine, with the header lines that say what was built and why."""
    import diffusers
    import torch
    import transformers

    directory = TINY_CONFIGS if args.dry_run else CONFIGS
    family, why = choose_family(args.family, directory)
    where = torch.cuda.get_device_name() if device == "cuda" else "CPU (dry run: tiny shapes, says nothing about speed)"
    print(f"gpu_check on {where}; torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"family: {family.name}, because {why}")
    started = time.perf_counter()
    pipeline, upsampler = build_models(directory, family, device, dtype)
    Meter(device).sync()
    name = str(dtype).removeprefix("torch.")
    print(f"built in {time.perf_counter() - started:.1f} s with random weights in {name} on {device}: "
          f"transformer {size(pipeline.transformer)} + text connectors {size(pipeline.connectors)}, text encoder "
          f"{size(pipeline.text_encoder)}, video VAE {size(pipeline.vae)}, audio VAE {size(pipeline.audio_vae)}, "
          f"{type(pipeline.vocoder).__name__} {size(pipeline.vocoder)}, latent upsampler {size(upsampler)}")
    options = dict(args.option)
    engine = build_engine(pipeline, upsampler, device, name, args.dry_run, options)
    print(f"engine: ltx2, profile distilled{''.join(f', {k}={v}' for k, v in options.items())}; peak host RSS "
          f"{'per run' if reset_peak_rss() else 'since start (this kernel cannot reset it)'}")
    instrument(pipeline, upsampler)
    return engine, {"device": where, "family": family.name, "why": why}


def run_cases(check: Check, args: argparse.Namespace, seconds: int, budget: Budget) -> list[Outcome]:
    """Every case asked for, in order, unless the budget says it would not fit or it fails (both said)."""
    outcomes: list[Outcome] = []
    for key in args.cases.split(","):
        case = CASES[key]
        skipped = budget.why_not(case, outcomes)
        if skipped:
            outcome = Outcome(case.title(seconds), seconds, skipped=skipped)
            print(f"\n== {outcome.title}\n  {skipped}")
        else:
            try:
                outcome = run_case(check, case, case_spec(case, seconds), pair=args.engine == "ltx2")
            except Exception as exc:  # one case's failure (e.g. out of memory) must not cost the others
                outcome = Outcome(case.title(seconds), seconds, skipped=f"failed: {type(exc).__name__}: {exc}"[:300])
                print(f"  {outcome.skipped}")
                check.meter.free()
        outcomes.append(outcome)
    return outcomes


def run_ltx2(args: argparse.Namespace, device: str, dtype: Any, budget: Budget) -> tuple[dict[str, Any], list[Outcome]]:
    """ltx2's check: build, warm up, its cases; everything it built is unreferenced when it returns."""
    seconds = 1 if args.dry_run else 5
    engine, header = build(args, device, dtype)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        from happyhorse.storage.local import LocalStorage

        (Path(tmp) / "work").mkdir()
        check = Check(engine, Meter(device), LocalStorage(Path(tmp) / "storage"), Path(tmp) / "work")
        warm_up(check)
        outcomes = run_cases(check, args, seconds, budget)
    summary(outcomes)
    return header, outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()  # from the start: building the models counts
    import torch

    if not torch.cuda.is_available() and not args.dry_run:
        print("gpu_check: no CUDA GPU here; run it on a GPU machine (bash bench/gpu_check.sh), or --dry-run "
              "to check the code path on the CPU.", file=sys.stderr)
        return 2
    quiet_libraries()
    device, dtype = ("cpu", torch.float32) if args.dry_run else ("cuda", torch.bfloat16)
    report: dict[str, Any] = {}
    failed = False
    if args.engine in ("ltx2", "both"):
        # With both, ltx2 leaves magihuman what its build and must-run cases are estimated to take.
        reserve = magihuman.RESERVE_SECONDS if args.engine == "both" else 0.0
        print(f"\n#### ltx2{f' (leaving magihuman ~{reserve:.0f} s of the budget)' if reserve else ''}")
        header, outcomes = run_ltx2(args, device, dtype, Budget(args.budget_seconds - reserve))
        report["ltx2"] = {**header, "cases": [as_json(o) for o in outcomes]}
        failed |= any(o.skipped.startswith("failed") for o in outcomes)
        print(f"ltx2 freed: {Meter(device).release()}")
    if args.engine in ("magihuman", "both"):
        print("\n#### magihuman")
        left = args.budget_seconds - (time.perf_counter() - start)
        header, outcomes = magihuman.run(args, device, dtype, magihuman.Budget(left))
        report["magihuman"] = {**header, "cases": [magihuman.as_json(o) for o in outcomes]}
        failed |= any(o.skipped.startswith("failed") for o in outcomes)
        print(f"magihuman freed: {Meter(device).release()}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
