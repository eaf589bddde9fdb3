"""Full denoising runs with the tiny DiTs against the reference's ``MagiEvaluator.evaluate`` (fp32).

Each run starts from the recorded initial noise, replays the recorded
per-step and SR noise, and drives our loop with our DiT (loaded from the
fixture checkpoints through our loader, fp32 compute) wrapped by our packing.
Tolerances are the fixtures README's: 1e-4 for 8-step runs, 5e-4 for CFG and
SR runs (rtol 1e-4).
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from happyhorse.engines.magihuman.checkpoint import load_dit  # noqa: E402
from happyhorse.engines.magihuman.config import DiTConfig  # noqa: E402
from happyhorse.engines.magihuman.packing import PackingConfig  # noqa: E402
from happyhorse.engines.magihuman.sampling import (  # noqa: E402
    StepInfo,
    TextCondition,
    VelocityFn,
    base_guidance,
    denoise,
    dit_velocity,
    initial_latents,
)
from happyhorse.engines.magihuman.sr import super_resolve  # noqa: E402

from .conftest import MAGI_DATA  # noqa: E402
from .conftest import load_fixture as load  # noqa: E402

ATOL_8_STEPS = 1e-4
ATOL_CFG_SR = 5e-4
RTOL = 1e-4
# The tiny configs' data proxy: each video token sees one latent frame each side in local layers.
BASE_PACKING = PackingConfig(frame_receptive_field=1, coords_style="v2")
SR_PACKING = PackingConfig(frame_receptive_field=1, coords_style="v1")


def load_tiny_dit(directory: str, arch_key: str):
    """A fixture checkpoint through our real loader, computing in fp32 (the fixtures' ``out_fp32`` numerics)."""
    arch = json.loads((MAGI_DATA / "config_tiny.json").read_text())[arch_key]
    return load_dit(MAGI_DATA / directory, config=DiTConfig.from_dict(arch), compute_dtype=torch.float32,
                    device="cpu")


@pytest.fixture(scope="module")
def base_velocity() -> VelocityFn:
    return dit_velocity(load_tiny_dit("dit_tiny", "arch_config"), BASE_PACKING)


@pytest.fixture(scope="module")
def sr_velocity() -> VelocityFn:
    return dit_velocity(load_tiny_dit("dit_tiny_sr", "sr_arch_config"), SR_PACKING)


class RecordedNoise:
    """Replays a run's recorded ``noise.NN.*`` draws in order, checking each shape."""

    def __init__(self, data: dict[str, torch.Tensor]) -> None:
        self._draws = [data[k] for k in sorted(k for k in data if k.startswith("noise."))]

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        assert self._draws, "the pipeline drew more noise than the reference did"
        draw = self._draws.pop(0)
        assert draw.shape == like.shape, f"noise drawn for {tuple(like.shape)}, reference drew {tuple(draw.shape)}"
        return draw

    @property
    def remaining(self) -> int:
        return len(self._draws)


class Recording:
    """Wraps a velocity function and keeps the video it was given under the prompt, step by step."""

    def __init__(self, velocity: VelocityFn, prompt: TextCondition) -> None:
        self.velocity, self.prompt = velocity, prompt
        self.video_in: list[torch.Tensor] = []

    def __call__(self, video: torch.Tensor, audio: torch.Tensor, text: TextCondition):
        if text is self.prompt:
            self.video_in.append(video.clone())
        return self.velocity(video, audio, text)


def conditions(data: dict[str, torch.Tensor]) -> tuple[TextCondition, TextCondition]:
    return (
        TextCondition(data["cond.context"], int(data["cond.context_len"])),
        TextCondition(data["cond.context_null"], int(data["cond.context_null_len"])),
    )


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float, what: str) -> None:
    assert actual.shape == expected.shape, what
    torch.testing.assert_close(actual, expected, atol=atol, rtol=RTOL, msg=lambda m: f"{what}: {m}")


def run_base(velocity: VelocityFn, data: dict[str, torch.Tensor], noise: RecordedNoise, *, distilled: bool):
    """The base stage as ``evaluate`` runs it: initial latents from the noise, then 8 DDIM or 32 UniPC+CFG steps."""
    prompt, negative = conditions(data)
    video, audio = initial_latents(
        noise,
        video_shape=tuple(data["noise.01.initial_video_latent"].shape),
        audio_frames=data["noise.00.initial_audio_latent"].shape[1],
    )
    recording = Recording(velocity, prompt)
    steps: list[StepInfo] = []
    video, audio = denoise(
        recording, video, audio, prompt=prompt,
        num_steps=8 if distilled else 32, sampler="ddim" if distilled else "unipc",
        guidance=None if distilled else base_guidance(negative),
        image=data.get("cond.image_latent_br"), noise=noise, callback=steps.append,
    )  # fmt: skip
    assert [s.timestep for s in steps] == data["br.timesteps"].tolist()
    return video, audio, recording.video_in


@pytest.mark.parametrize("run", ["C_run_distill_t2v", "C_run_distill_ti2v"])
def test_distilled_run(base_velocity: VelocityFn, run: str) -> None:
    data = load(run)
    noise = RecordedNoise(data)
    video, audio, video_in = run_base(base_velocity, data, noise, distilled=True)
    assert noise.remaining == 0
    for i, x in enumerate(video_in):
        close(x, data["br.video_in"][i], ATOL_8_STEPS, f"DiT video input, step {i}")
    close(video, data["final.video_latent"], ATOL_8_STEPS, "final video")
    close(audio, data["final.audio_latent"], ATOL_8_STEPS, "final audio")


def test_base_run_with_cfg(base_velocity: VelocityFn) -> None:
    data = load("C_run_base_t2v_cfg")
    noise = RecordedNoise(data)
    video, audio, video_in = run_base(base_velocity, data, noise, distilled=False)
    assert noise.remaining == 0 and len(video_in) == 32
    for i, x in enumerate(video_in):
        close(x, data["br.video_in"][i], ATOL_CFG_SR, f"DiT video input, step {i}")
    close(video, data["final.video_latent"], ATOL_CFG_SR, "final video")
    close(audio, data["final.audio_latent"], ATOL_CFG_SR, "final audio")


@pytest.mark.parametrize(
    ("run", "sr_cfg"),
    [("C_run_base_sr_ti2v", False), ("C_run_base_sr_ti2v_srcfg2_3s", True)],
    ids=["sr-no-cfg", "sr-cfg-3s"],
)
def test_base_then_super_resolution(base_velocity: VelocityFn, sr_velocity: VelocityFn, run: str, sr_cfg: bool) -> None:
    """TI2V base (32 steps, CFG) then SR (5 steps): the 3 s run's SR CFG crosses the frame-13 boundary."""
    data = load(run)
    prompt, negative = conditions(data)
    noise = RecordedNoise(data)
    base_video, base_audio, _ = run_base(base_velocity, data, noise, distilled=False)
    close(base_video, data["br.final_video_latent"], ATOL_CFG_SR, "base video")
    close(base_audio, data["br.final_audio_latent"], ATOL_CFG_SR, "base audio")

    recording = Recording(sr_velocity, prompt)
    steps: list[StepInfo] = []
    video = super_resolve(
        recording, base_video, base_audio, size=tuple(data["final.video_latent"].shape[-2:]), prompt=prompt,
        negative=negative if sr_cfg else None, image=data["cond.image_latent_sr"], noise=noise, callback=steps.append,
    )  # fmt: skip
    assert noise.remaining == 0
    assert [s.timestep for s in steps] == data["sr.timesteps"].tolist()
    first_input = data["sr.initial_video_latent"].clone()
    first_input[:, :, :1] = data["cond.image_latent_sr"]  # TI2V pins the SR image latent too
    close(recording.video_in[0], first_input, ATOL_CFG_SR, "SR step-0 DiT input")
    if "sr.video_in" in data:
        for i, x in enumerate(recording.video_in):
            close(x, data["sr.video_in"][i], ATOL_CFG_SR, f"SR DiT video input, step {i}")
    close(video, data["final.video_latent"], ATOL_CFG_SR, "final SR video")
    # The pipeline returns the base audio alongside the SR video.
    close(base_audio, data["final.audio_latent"], ATOL_CFG_SR, "final audio")


def test_sr_cfg_step0_velocity(sr_velocity: VelocityFn) -> None:
    """Our SR DiT's cond/uncond outputs at SR step 0 match the reference's (the inputs of the cfg trick)."""
    data = load("C_run_base_sr_ti2v_srcfg2_3s")
    prompt, negative = conditions(data)
    video = data["sr.initial_video_latent"].clone()
    video[:, :, :1] = data["cond.image_latent_sr"]
    audio = data["sr.initial_audio_latent"]
    v_cond, _ = sr_velocity(video, audio, prompt)
    v_uncond, _ = sr_velocity(video, audio, negative)
    close(v_cond, data["sr.step0.v_cond_video"], ATOL_8_STEPS, "SR step-0 conditional velocity")
    close(v_uncond, data["sr.step0.v_uncond_video"], ATOL_8_STEPS, "SR step-0 unconditional velocity")
