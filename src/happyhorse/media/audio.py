"""Bringing an engine's audio to the output's format: 48 kHz stereo float32, exact length."""

from __future__ import annotations

import av
import numpy as np

from happyhorse.rules import RULES

SAMPLE_RATE = RULES.sample_rate
CHANNELS = RULES.audio_channels
AAC_FRAME_SIZE = 1024
"""Samples per channel in one AAC-LC frame."""


def conform_audio(audio: np.ndarray | None, sample_rate: int, num_samples: int) -> np.ndarray:
    """``audio`` (float ``[channels, samples]``, or ``[samples]`` for mono) as float32
    ``[2, num_samples]`` at 48 kHz in [-1, 1].

    Mono is copied to both channels; of more than two channels the first two
    (left, right) are kept. Other rates are resampled. The result is cut or
    padded with silence to exactly ``num_samples``. ``None`` or an empty array
    gives silence.
    """
    if audio is None or audio.size == 0:
        return np.zeros((CHANNELS, num_samples), dtype=np.float32)
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2:
        raise ValueError(f"audio must be [channels, samples], got shape {list(audio.shape)}")
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    audio = np.clip(audio.astype(np.float32, copy=False), -1.0, 1.0)
    # Done here, not by the resampler: swresample's mono upmix lowers the level by 3 dB.
    stereo = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio[:2]
    if sample_rate != SAMPLE_RATE:
        stereo = _resample(stereo, sample_rate)
    out = np.zeros((CHANNELS, num_samples), dtype=np.float32)
    kept = min(num_samples, stereo.shape[1])
    out[:, :kept] = stereo[:, :kept]
    return out


def _resample(stereo: np.ndarray, sample_rate: int) -> np.ndarray:
    """Stereo float32 at ``sample_rate`` to 48 kHz with swresample."""
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo), format="fltp", layout="stereo")
    frame.sample_rate = sample_rate
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    parts = [f.to_ndarray() for f in resampler.resample(frame) + resampler.resample(None)]
    if not parts:
        return np.zeros((CHANNELS, 0), dtype=np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)
