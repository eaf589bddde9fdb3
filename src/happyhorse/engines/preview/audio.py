"""The preview engine's soundtrack: a soft chord bed plus hits locked to the visual events.

Every :class:`~happyhorse.engines.preview.plan.Event` gets a hit whose attack
starts at exactly sample ``round(frame * SAMPLE_RATE / fps)``: a kick, a
noise crash and a plucked note on a cut, a kick and a chime on a flash, a
short tick on a beat. Under them a chord per shot (from the prompt's key)
fades in and out smoothly, so the only sharp onsets are the events and A/V
sync can be measured from the audio alone.
"""

from __future__ import annotations

import numpy as np

from happyhorse.engines.base import AUDIO_CHANNELS, SAMPLE_RATE
from happyhorse.engines.preview.plan import Event, PreviewPlan, rng_for

PEAK = 0.85
"""Loudest sample after mixing; the mix is scaled down to it, never clipped."""

# (semitones above the key's root, chord intervals): I V vi IV and i VI III VII.
_MAJOR_PROGRESSION = ((0, (0, 4, 7)), (7, (0, 4, 7)), (9, (0, 3, 7)), (5, (0, 4, 7)))
_MINOR_PROGRESSION = ((0, (0, 3, 7)), (8, (0, 4, 7)), (3, (0, 4, 7)), (10, (0, 4, 7)))
_FADE = 0.04  # seconds: bed chords cross-fade this long, too slow to read as an onset


def midi_hz(note: float) -> float:
    """Frequency of a MIDI note number."""
    return 440.0 * 2.0 ** ((note - 69) / 12)


def event_sample(frame: int, fps: int) -> int:
    """The sample where a hit for an event at ``frame`` starts."""
    return round(frame * SAMPLE_RATE / fps)


def render_soundtrack(plan: PreviewPlan, num_frames: int, fps: int) -> np.ndarray:
    """float32 ``[2, round(num_frames / fps * 48000)]`` in [-PEAK, PEAK]: bed plus event hits."""
    total = round(num_frames / fps * SAMPLE_RATE)
    mix = np.zeros((AUDIO_CHANNELS, total), np.float64)
    rng = rng_for(plan.seed, "audio")
    _add_bed(mix, plan, fps)
    for event in plan.events:
        _add(mix, _hit(event, plan, rng), event_sample(event.frame, fps))
    peak = float(np.abs(mix).max()) if total else 0.0
    if peak > PEAK:
        mix *= PEAK / peak
    return mix.astype(np.float32)


def _add(mix: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Mix ``sound`` ([2, n]) into ``mix`` from sample ``start``, cut at the end of the clip."""
    length = min(sound.shape[1], mix.shape[1] - start)
    if length > 0:
        mix[:, start : start + length] += sound[:, :length]


def _chord(plan: PreviewPlan, shot_index: int) -> list[float]:
    progression = _MINOR_PROGRESSION if plan.look.minor else _MAJOR_PROGRESSION
    offset, intervals = progression[shot_index % len(progression)]
    root = plan.look.root + (offset if offset <= 6 else offset - 12)
    return [midi_hz(root - 12)] + [midi_hz(root + i) for i in intervals] + [midi_hz(root + 12)]


def _add_bed(mix: np.ndarray, plan: PreviewPlan, fps: int) -> None:
    """One sustained chord per shot, detuned left/right for width, with a slow swell."""
    fade = round(_FADE * SAMPLE_RATE)
    for shot in plan.shots:
        start = event_sample(shot.start, fps)
        end = min(mix.shape[1], event_sample(shot.end, fps) + fade)
        n = end - start
        if n <= 0:
            continue
        t = np.arange(start, end) / SAMPLE_RATE
        envelope = np.ones(n)
        ramp = min(fade, n // 2)
        if ramp:
            envelope[:ramp] = np.linspace(0, 1, ramp)
            envelope[n - ramp :] = np.linspace(1, 0, ramp)
        envelope *= 1 + 0.2 * np.sin(2 * np.pi * 0.25 * t)
        for k, hz in enumerate(_chord(plan, shot.index)):
            for channel, detune in enumerate((0.9985, 1.0015)):
                phase = 2 * np.pi * hz * detune * t + k
                tone = np.sin(phase) + 0.25 * np.sin(2 * phase)
                mix[channel, start:end] += 0.035 * tone * envelope


def _hit(event: Event, plan: PreviewPlan, rng: np.random.Generator) -> np.ndarray:
    """The sound for one event, [2, n], with its attack on its first sample."""
    if event.kind == "beat":
        return _tick(rng, pan=0.3 if event.frame % 2 else -0.3)
    sound = _kick(rng)
    if event.kind == "cut":
        root = plan.look.root + 12
        sound = _layer(sound, _crash(rng), _pluck(midi_hz(root)))
    else:
        sound = _layer(sound, _chime([midi_hz(plan.look.root + 24 + i) for i in (0, 7, 12)]))
    return sound


def _layer(*sounds: np.ndarray) -> np.ndarray:
    out = np.zeros((AUDIO_CHANNELS, max(s.shape[1] for s in sounds)))
    for sound in sounds:
        out[:, : sound.shape[1]] += sound
    return out


def _times(seconds: float) -> np.ndarray:
    return np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _kick(rng: np.random.Generator) -> np.ndarray:
    t = _times(0.4)
    pitch = 48 + 110 * np.exp(-t / 0.03)  # the falling pitch is what makes it a kick
    body = np.sin(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE) * np.exp(-t / 0.12)
    click = rng.standard_normal(t.size) * np.exp(-t / 0.003)
    mono = 0.55 * body + 0.2 * click
    return np.stack([mono, mono])


def _crash(rng: np.random.Generator) -> np.ndarray:
    t = _times(1.0)
    noise = np.diff(rng.standard_normal((AUDIO_CHANNELS, t.size + 1)), axis=1)  # high-passed
    return 0.05 * noise * np.exp(-t / 0.3)


def _pluck(hz: float) -> np.ndarray:
    t = _times(0.8)
    mono = 0.12 * (np.sin(2 * np.pi * hz * t) + 0.3 * np.sin(4 * np.pi * hz * t)) * np.exp(-t / 0.25)
    return np.stack([mono, mono])


def _chime(notes: list[float]) -> np.ndarray:
    t = _times(1.0)
    mono = sum(np.sin(2 * np.pi * hz * t) for hz in notes) * 0.06 * np.exp(-t / 0.35)
    return np.stack([mono, mono])


def _tick(rng: np.random.Generator, pan: float) -> np.ndarray:
    t = _times(0.08)
    mono = 0.14 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t / 0.015)
    return np.stack([mono * (1 - pan), mono * (1 + pan)])
