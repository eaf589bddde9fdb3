"""Reading an MP4 back: what it holds, its frames and its sound (checks and tests)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np


@dataclass(frozen=True)
class VideoProbe:
    """Facts about an MP4, measured by decoding it (not only read from headers)."""

    width: int
    height: int
    fps: float
    num_frames: int
    """Frames actually decoded."""
    duration: float
    """The container's duration, seconds."""
    video_codec: str
    profile: str | None
    pix_fmt: str
    has_audio: bool
    audio_codec: str | None
    audio_profile: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_duration: float | None
    """Decoded samples per channel / sample rate, seconds."""
    faststart: bool
    """True when the ``moov`` box comes before ``mdat`` (playback can start while downloading)."""


def probe(path: str | os.PathLike[str]) -> VideoProbe:
    """Decode every frame and audio sample of ``path`` once and describe the file."""
    with av.open(os.fspath(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        num_frames = 0
        audio_samples = 0
        streams = [video] + ([audio] if audio is not None else [])
        for frame in container.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                num_frames += 1
            else:
                audio_samples += frame.samples
        vctx = video.codec_context
        actx = audio.codec_context if audio is not None else None
        return VideoProbe(
            width=vctx.width,
            height=vctx.height,
            fps=float(video.average_rate or video.guessed_rate or 0),
            num_frames=num_frames,
            duration=(container.duration or 0) / av.time_base,
            video_codec=vctx.name,
            profile=vctx.profile,
            pix_fmt=vctx.pix_fmt or "",
            has_audio=actx is not None,
            audio_codec=actx.name if actx is not None else None,
            audio_profile=actx.profile if actx is not None else None,
            audio_sample_rate=actx.sample_rate if actx is not None else None,
            audio_channels=actx.channels if actx is not None else None,
            audio_duration=audio_samples / actx.sample_rate if actx is not None else None,
            faststart=is_faststart(path),
        )


def read_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """The video's frames in order, as uint8 ``[H, W, 3]`` RGB (converted with the
    colour matrix the stream is tagged with)."""
    with av.open(os.fspath(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """The first audio track, decoded: float32 ``[channels, samples]`` and its sample rate."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout)
        parts = [
            converted.to_ndarray()
            for frame in container.decode(stream)
            for converted in resampler.resample(frame)
        ]
        parts += [converted.to_ndarray() for converted in resampler.resample(None)]
        rate = stream.codec_context.sample_rate
    channels = stream.codec_context.channels
    if not parts:
        return np.zeros((channels, 0), dtype=np.float32), rate
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False), rate


def top_level_boxes(path: str | os.PathLike[str]) -> list[str]:
    """The types of the file's top-level ISO-BMFF boxes, in file order."""
    boxes = []
    with open(path, "rb") as f:
        size_total = os.fstat(f.fileno()).st_size
        offset = 0
        while offset + 8 <= size_total:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:  # 64-bit size follows the type
                (size,) = struct.unpack(">Q", f.read(8))
            elif size == 0:  # box runs to the end of the file
                size = size_total - offset
            if size < 8:
                break  # corrupt: stop rather than loop
            boxes.append(kind.decode("latin-1"))
            offset += size
    return boxes


def is_faststart(path: str | os.PathLike[str]) -> bool:
    """True when ``moov`` precedes ``mdat`` at the top level of the file."""
    boxes = top_level_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
