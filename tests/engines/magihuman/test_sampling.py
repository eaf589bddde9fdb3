"""Schedules, update rules and the denoising loop against the reference's golden tensors (no DiT).

``C_sampler_schedules`` pins the schedules and each update rule on synthetic
velocities; the ``C_run_*`` files' recorded per-step velocities drive our loop
(replayed as the "model"), which must then feed the model the recorded
inputs and end at the recorded latents.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")

from happyhorse.engines.magihuman import schedules  # noqa: E402
from happyhorse.engines.magihuman.sampling import (  # noqa: E402
    StepInfo,
    TextCondition,
    base_guidance,
    denoise,
    gaussian_noise,
    initial_latents,
    make_solver,
)
from happyhorse.engines.magihuman.solvers import DDIMSolver, SDESolver, UniPCSolver  # noqa: E402
from happyhorse.engines.magihuman.sr import prepare_sr_inputs, super_resolve  # noqa: E402

from .conftest import load_fixture as load  # noqa: E402

# The update rules mirror the reference's float32 arithmetic (measured: bit-exact
# on these files); the fixtures' independent re-implementation got <= 2.4e-6.
# Replayed runs involve no model, only the same elementwise arithmetic.
UNIT_ATOL = 1e-5
REPLAY_ATOL = 1e-5


@pytest.fixture(scope="module")
def sched() -> dict[str, torch.Tensor]:
    return load("C_sampler_schedules")


class RecordedNoise:
    """A ``NoiseFn`` replaying the reference's recorded draws in order, checking each shape."""

    def __init__(self, draws: list[torch.Tensor]) -> None:
        self._draws: Iterator[torch.Tensor] = iter(draws)
        self.remaining = len(draws)

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        draw = next(self._draws, None)
        assert draw is not None, "the sampler drew more noise than the reference did"
        assert draw.shape == like.shape, f"noise drawn for {tuple(like.shape)}, reference drew {tuple(draw.shape)}"
        self.remaining -= 1
        return draw


def noises(data: dict[str, torch.Tensor], prefix: str = "noise.") -> list[torch.Tensor]:
    """The ``noise.NN.*`` draws of a run in their recorded order (initial latents included)."""
    return [data[k] for k in sorted(k for k in data if k.startswith(prefix))]


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float = 0.0, what: str = "") -> None:
    assert actual.shape == expected.shape, what
    torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}")


# --- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [8, 32, 5])
def test_flow_schedule_matches_the_reference(sched: dict[str, torch.Tensor], steps: int) -> None:
    schedule = schedules.flow_schedule(steps)
    assert schedule.sigmas.dtype == torch.float32 and schedule.timesteps.dtype == torch.int64
    close(schedule.sigmas, sched[f"sched.n{steps}.sigmas"], atol=1e-7, what="sigmas")
    assert torch.equal(schedule.timesteps, sched[f"sched.n{steps}.timesteps"])
    assert schedule.num_steps == steps and float(schedule.sigmas[-1]) == 0.0


def test_zero_snr_table_and_the_sr_renoise_sigma(sched: dict[str, torch.Tensor]) -> None:
    close(schedules.zero_snr_table(), sched["zerosnr.sigmas_1000_flipped"], atol=1e-7, what="zero-SNR")
    assert schedules.sr_renoise_sigma() == pytest.approx(0.838910, abs=1e-6)


def test_sde_noise_theta_schedule(sched: dict[str, torch.Tensor]) -> None:
    assert [schedules.sde_noise_theta(i, 8) for i in range(8)] == sched["sde.n8.noise_theta"].tolist()


def test_guidance_scales() -> None:
    assert [schedules.base_video_guidance(t) for t in (999, 501, 500, 138)] == [5.0, 5.0, 2.0, 2.0]
    per_frame = schedules.sr_video_guidance(19)
    assert per_frame.shape == (1, 1, 19, 1, 1)
    assert per_frame.flatten().tolist() == [2.0] * 13 + [3.5] * 6
    assert schedules.sr_video_guidance(7).flatten().tolist() == [2.0] * 7


# --- update rules on synthetic velocities ------------------------------------------------------


def run_rule(solver, velocities: torch.Tensor, start: torch.Tensor, noise=None) -> list[torch.Tensor]:
    x, out = start, [start]
    for i in range(velocities.shape[0]):
        x = solver.step(i, x, velocities[i], noise or _forbidden_noise)
        out.append(x)
    return out


def _forbidden_noise(like: torch.Tensor) -> torch.Tensor:
    raise AssertionError("a deterministic solver drew noise")


@pytest.mark.parametrize("steps", [32, 5])
def test_unipc_trajectory(sched: dict[str, torch.Tensor], steps: int) -> None:
    trajectory = sched[f"unipc.n{steps}.trajectory"]
    solver = UniPCSolver(schedules.flow_schedule(steps).sigmas)
    ours = run_rule(solver, sched[f"unipc.n{steps}.velocities"], trajectory[0])
    for i, x in enumerate(ours):
        close(x, trajectory[i], atol=UNIT_ATOL, what=f"x_{i}")


def test_ddim_trajectory(sched: dict[str, torch.Tensor]) -> None:
    trajectory, draws = sched["ddim.n8.trajectory"], list(sched["ddim.n8.noises"])
    noise = RecordedNoise(draws)
    ours = run_rule(DDIMSolver(schedules.flow_schedule(8).sigmas), sched["ddim.n8.velocities"], trajectory[0], noise)
    assert noise.remaining == 0
    for i, x in enumerate(ours):
        close(x, trajectory[i], atol=UNIT_ATOL, what=f"x_{i}")


def test_sde_trajectory(sched: dict[str, torch.Tensor]) -> None:
    trajectory = sched["sde.n8.trajectory"]
    solver = make_solver("sde", schedules.flow_schedule(8).sigmas)
    assert isinstance(solver, SDESolver)
    noise = RecordedNoise(list(sched["ddim.n8.noises"]))
    ours = run_rule(solver, sched["ddim.n8.velocities"], trajectory[0], noise)
    assert noise.remaining == 0
    for i, x in enumerate(ours):
        close(x, trajectory[i], atol=UNIT_ATOL, what=f"x_{i}")
    # theta differs between steps, so the SDE path must leave the DDIM one.
    assert not torch.allclose(trajectory[-1], sched["ddim.n8.trajectory"][-1], atol=1e-3)


def test_unipc_refuses_steps_out_of_order(sched: dict[str, torch.Tensor]) -> None:
    solver = UniPCSolver(schedules.flow_schedule(5).sigmas)
    x, v = sched["unipc.n5.trajectory"][0], sched["unipc.n5.velocities"]
    solver.step(0, x, v[0], _forbidden_noise)
    with pytest.raises(ValueError, match="expected step 1"):
        solver.step(2, x, v[1], _forbidden_noise)


# --- the loop, with the reference's recorded velocities as the model ---------------------------


class ReplayVelocity:
    """A velocity function returning the run's recorded (already guided) velocities, one step per call.

    It records what the loop fed it so the test can compare with the
    reference's per-step model inputs. Under CFG the loop calls it twice a
    step (prompt, then negative): both get the recorded velocity, so the
    guided result is exactly it.
    """

    def __init__(self, v_video: torch.Tensor, v_audio: torch.Tensor | None, prompt: TextCondition) -> None:
        self.v_video, self.v_audio, self.prompt = v_video, v_audio, prompt
        self.video_in: list[torch.Tensor] = []
        self.audio_in: list[torch.Tensor] = []
        self.step = -1

    def __call__(self, video: torch.Tensor, audio: torch.Tensor, text: TextCondition):
        if text is self.prompt:
            self.step += 1
            self.video_in.append(video.clone())
            self.audio_in.append(audio.clone())
        v_audio = self.v_audio[self.step] if self.v_audio is not None else torch.zeros_like(audio)
        return self.v_video[self.step].clone(), v_audio.clone()


def start_latents(data: dict[str, torch.Tensor], noise: RecordedNoise) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's initial latents, drawn (audio, then video) from its recorded noise."""
    video_shape = tuple(data["br.video_in"].shape[1:])
    return initial_latents(noise, video_shape=video_shape, audio_frames=data["br.audio_in"].shape[2])


def conditions(data: dict[str, torch.Tensor]) -> tuple[TextCondition, TextCondition]:
    return (
        TextCondition(data["cond.context"], int(data["cond.context_len"])),
        TextCondition(data["cond.context_null"], int(data["cond.context_null_len"])),
    )


@pytest.mark.parametrize("run", ["C_run_distill_t2v", "C_run_distill_ti2v"])
def test_distilled_loop_replays_the_reference(run: str) -> None:
    data = load(run)
    prompt, _ = conditions(data)
    noise = RecordedNoise(noises(data))
    video, audio = start_latents(data, noise)
    model = ReplayVelocity(data["br.v_video"], data["br.v_audio"], prompt)
    steps: list[StepInfo] = []
    video, audio = denoise(
        model, video, audio, prompt=prompt, num_steps=8, sampler="ddim",
        image=data.get("cond.image_latent_br"), noise=noise, callback=steps.append,
    )  # fmt: skip
    assert noise.remaining == 0
    assert [s.timestep for s in steps] == data["br.timesteps"].tolist()
    assert [(s.stage, s.index, s.num_steps) for s in steps] == [("base", i, 8) for i in range(8)]
    for i in range(8):
        close(model.video_in[i], data["br.video_in"][i], REPLAY_ATOL, 0.0, f"video in, step {i}")
        close(model.audio_in[i], data["br.audio_in"][i], REPLAY_ATOL, 0.0, f"audio in, step {i}")
    close(video, data["final.video_latent"], REPLAY_ATOL, 0.0, "final video")
    close(audio, data["final.audio_latent"], REPLAY_ATOL, 0.0, "final audio")


def test_base_unipc_loop_replays_the_reference_cfg_run() -> None:
    data = load("C_run_base_t2v_cfg")
    prompt, negative = conditions(data)
    noise = RecordedNoise(noises(data))
    video, audio = start_latents(data, noise)
    model = ReplayVelocity(data["br.v_video"], data["br.v_audio"], prompt)
    video, audio = denoise(
        model, video, audio, prompt=prompt, num_steps=32, sampler="unipc", guidance=base_guidance(negative), noise=noise
    )
    assert noise.remaining == 0 and model.step == 31
    for i in range(32):
        close(model.video_in[i], data["br.video_in"][i], REPLAY_ATOL, 0.0, f"video in, step {i}")
        close(model.audio_in[i], data["br.audio_in"][i], REPLAY_ATOL, 0.0, f"audio in, step {i}")
    close(video, data["final.video_latent"], REPLAY_ATOL, 0.0, "final video")
    close(audio, data["final.audio_latent"], REPLAY_ATOL, 0.0, "final audio")


def test_base_guidance_combines_step0_outputs_as_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded step-0 cond/uncond outputs, guided by our scales, give the recorded guided velocities."""
    import happyhorse.engines.magihuman.sampling as sampling

    data = load("C_run_base_t2v_cfg")
    prompt, negative = conditions(data)
    outputs = {
        id(prompt): (data["br.step0.v_cond_video"], data["br.step0.v_cond_audio"]),
        id(negative): (data["br.step0.v_uncond_video"], data["br.step0.v_uncond_audio"]),
    }
    guided: list[torch.Tensor] = []

    class Capture:
        def step(self, index, sample, velocity, noise):
            guided.append(velocity)
            return sample

    class Stop(Exception):
        pass

    def stop(info: StepInfo) -> None:
        raise Stop

    monkeypatch.setattr(sampling, "make_solver", lambda sampler, sigmas: Capture())
    with pytest.raises(Stop):
        denoise(lambda video, audio, text: outputs[id(text)], data["br.video_in"][0], data["br.audio_in"][0],
                prompt=prompt, num_steps=32, sampler="unipc", guidance=base_guidance(negative),
                callback=stop)  # fmt: skip
    video_v, audio_v = guided
    close(video_v, data["br.v_video"][0], 1e-5, 1e-5, "guided video velocity (g=5 at t=999)")
    close(audio_v, data["br.v_audio"][0], 1e-5, 1e-5, "guided audio velocity (g=5)")


def test_callback_can_stop_the_loop(sched: dict[str, torch.Tensor]) -> None:
    class Cancelled(Exception):
        pass

    calls: list[int] = []

    def model(video, audio, text):
        calls.append(1)
        return torch.zeros_like(video), torch.zeros_like(audio)

    def callback(info: StepInfo) -> None:
        if info.index == 2:
            raise Cancelled

    x = sched["unipc.n5.trajectory"][0]
    with pytest.raises(Cancelled):
        denoise(model, x, torch.zeros(1, 5, 64), prompt=TextCondition(torch.zeros(1, 2, 80), 2),
                num_steps=8, sampler="unipc", callback=callback)  # fmt: skip
    assert len(calls) == 3  # no model call after the raising callback


def test_ddim_without_a_noise_source_is_refused(sched: dict[str, torch.Tensor]) -> None:
    x = sched["unipc.n5.trajectory"][0]
    with pytest.raises(ValueError, match="draws noise"):
        denoise(lambda v, a, t: (v, a), x, torch.zeros(1, 5, 64), prompt=TextCondition(torch.zeros(1, 2, 80), 2),
                num_steps=8, sampler="ddim")  # fmt: skip


def test_seeded_noise_is_reproducible_and_ordered() -> None:
    def seeded():
        noise = gaussian_noise(torch.Generator().manual_seed(7))
        return initial_latents(noise, video_shape=(1, 4, 2, 4, 6), audio_frames=5)

    first, again = seeded(), seeded()
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    # Audio is drawn first, as in the reference: its first values are the generator's first.
    expected = torch.randn((1, 5, 64), generator=torch.Generator().manual_seed(7))
    assert torch.equal(first[1], expected)


# --- the super-resolution stage --------------------------------------------------------------


@pytest.mark.parametrize("run", ["C_run_base_sr_ti2v", "C_run_base_sr_ti2v_srcfg2_3s"])
def test_sr_inputs_match_the_reference(run: str) -> None:
    data = load(run)
    draws = [data["noise.02.sr_prep_video_noise"], data["noise.03.sr_prep_audio_noise"]]
    noise = RecordedNoise(draws)
    size = tuple(data["sr.initial_video_latent"].shape[-2:])
    base_video, base_audio = data["br.final_video_latent"], data["br.final_audio_latent"]
    video, audio = prepare_sr_inputs(base_video, base_audio, size=size, noise=noise)
    assert noise.remaining == 0
    close(video, data["sr.initial_video_latent"], REPLAY_ATOL, 0.0, "SR video input")
    close(audio, data["sr.initial_audio_latent"], REPLAY_ATOL, 0.0, "SR audio input")
    # The stage returns the base audio untouched.
    close(data["final.audio_latent"], data["br.final_audio_latent"], 0.0, 0.0, "returned audio")


def test_sr_loop_replays_the_reference() -> None:
    data = load("C_run_base_sr_ti2v")
    prompt, _ = conditions(data)
    noise = RecordedNoise([data["noise.02.sr_prep_video_noise"], data["noise.03.sr_prep_audio_noise"]])
    model = ReplayVelocity(data["sr.v_video"], None, prompt)
    steps: list[StepInfo] = []
    size = tuple(data["final.video_latent"].shape[-2:])
    video = super_resolve(
        model, data["br.final_video_latent"], data["br.final_audio_latent"], size=size, prompt=prompt,
        image=data["cond.image_latent_sr"], noise=noise, callback=steps.append,
    )  # fmt: skip
    assert [s.timestep for s in steps] == data["sr.timesteps"].tolist() and {s.stage for s in steps} == {"sr"}
    for i in range(5):
        close(model.video_in[i], data["sr.video_in"][i], REPLAY_ATOL, 0.0, f"SR video in, step {i}")
        # Audio is held at the SR input throughout.
        close(model.audio_in[i], data["sr.initial_audio_latent"], REPLAY_ATOL, 0.0, f"SR audio in, step {i}")
    close(video, data["final.video_latent"], REPLAY_ATOL, 0.0, "SR video")
