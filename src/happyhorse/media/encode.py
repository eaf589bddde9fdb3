"""Encoding a :class:`~happyhorse.engines.base.Clip` into the output of SPEC §4.

One MP4 (H.264 High, yuv420p, BT.709, ``+faststart``; AAC-LC 48 kHz stereo)
and one JPEG poster. Frames stream through: only the current frame and the
poster frame are held, so a 15 s 1080p clip costs a few frames of memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import (
    ColorPrimaries,
    ColorRange,
    Colorspace,
    ColorTrc,
    VideoReformatter,
)
from PIL import Image

from happyhorse.engines.base import Clip
from happyhorse.media.audio import AAC_FRAME_SIZE, SAMPLE_RATE, conform_audio
from happyhorse.media.watermark import Watermark
from happyhorse.rules import RULES

DEFAULT_PRESET = "ultrafast"
"""Measured on 2 cores: ~100 fps at 720p, ~54 fps at 1080p (superfast: ~70 / ~29)."""
CRF = 23
# ultrafast alone turns off CABAC, the 8x8 transform and deblocking, which makes
# the stream Constrained Baseline and blocky. Turning those three back on costs
# ~15% speed, saves ~35% of the bytes and makes the stream High profile. They
# are the defaults of every slower preset, so this is a no-op there.
X264_PARAMS = "cabac=1:8x8dct=1:deblock=0,0"
AUDIO_BIT_RATE = 128_000
POSTER_QUALITY = 90


@dataclass(frozen=True)
class EncodedVideo:
    """What :func:`encode_clip` wrote."""

    width: int
    height: int
    fps: int
    num_frames: int
    duration: float
    """Seconds: ``num_frames / fps``, which is also the container's duration."""
    has_audio: bool
    bytes: int
    """Size of the MP4 file."""
    poster_width: int
    poster_height: int
    poster_bytes: int


def encode_clip(
    clip: Clip,
    video_path: str | os.PathLike[str],
    poster_path: str | os.PathLike[str],
    *,
    watermark: bool,
    preset: str = DEFAULT_PRESET,
) -> EncodedVideo:
    """Encode ``clip`` to an MP4 at ``video_path`` and a JPEG poster at ``poster_path``.

    The MP4 has exactly ``clip.num_frames`` frames at ``clip.fps`` and lasts
    ``num_frames / fps`` seconds; its AAC track (always present; silence when
    the clip has none) is resampled to 48 kHz stereo and padded or trimmed to
    the same length. The poster is the frame at 1 s or the middle frame,
    whichever is earlier, watermarked like the video.

    Raises ``ValueError`` for frames of the wrong shape or dtype, or a frame
    count other than ``num_frames``. If anything fails, including the frame
    iterator raising (e.g. ``JobCancelled``), the exception propagates and no
    file is left at either path.
    """
    if clip.num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {clip.num_frames}")
    if clip.fps < 1:
        raise ValueError(f"fps must be at least 1, got {clip.fps}")
    if isinstance(clip.frames, np.ndarray) and clip.frames.shape[:1] != (clip.num_frames,):
        raise ValueError(
            f"frames array has shape {clip.frames.shape}, expected {clip.num_frames} frames"
        )
    audio = conform_audio(clip.audio, clip.sample_rate, RULES.audio_samples(clip.num_frames, clip.fps))
    try:
        poster = _write_mp4(clip, audio, video_path, watermark=watermark, preset=preset)
        Image.fromarray(poster).save(poster_path, format="JPEG", quality=POSTER_QUALITY)
    except BaseException:
        for path in (video_path, poster_path):
            _remove(path)
        raise
    height, width = poster.shape[:2]
    return EncodedVideo(
        width=width,
        height=height,
        fps=clip.fps,
        num_frames=clip.num_frames,
        duration=clip.num_frames / clip.fps,
        has_audio=True,
        bytes=os.path.getsize(video_path),
        poster_width=width,
        poster_height=height,
        poster_bytes=os.path.getsize(poster_path),
    )


def _write_mp4(
    clip: Clip, audio: np.ndarray, path: str | os.PathLike[str], *, watermark: bool, preset: str
) -> np.ndarray:
    """Mux the video and audio; returns the (watermarked) poster frame."""
    frames = _checked_frames(clip)
    first = next(frames)
    height, width = first.shape[:2]
    poster_index = min(clip.fps, clip.num_frames // 2)
    poster: np.ndarray | None = None
    overlay = Watermark(width, height) if watermark else None
    reformatter = VideoReformatter()

    with av.open(os.fspath(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = _add_video_stream(out, width, height, clip.fps, preset)
        sound = _AudioTrack(out, audio)
        for index, rgb in enumerate(_chain(first, frames)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if overlay is not None:
                # Blend into the frame's own copy of the pixels, never the engine's array.
                overlay.apply(_rgb_plane(frame, width, height))
            if index == poster_index:
                poster = frame.to_ndarray(format="rgb24")
            frame = reformatter.reformat(
                frame, format="yuv420p",
                dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG,
            )
            frame.pts = index
            frame.time_base = Fraction(1, clip.fps)
            out.mux(video.encode(frame))
            # Interleave: keep the audio written up to the end of this frame.
            sound.write_until((index + 1) * SAMPLE_RATE // clip.fps)
        out.mux(video.encode(None))
        sound.finish()
    assert poster is not None  # every index up to num_frames - 1 was seen
    return poster


def _add_video_stream(
    out: av.container.OutputContainer, width: int, height: int, fps: int, preset: str
) -> av.VideoStream:
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {
        "preset": preset, "crf": str(CRF), "profile": "high", "x264-params": X264_PARAMS,
    }
    ctx = stream.codec_context
    ctx.thread_count = 0  # x264's own frame threads overlap encoding with our frame production
    # Tag BT.709 (what HD players assume anyway) to match the conversion matrix we use.
    ctx.colorspace = Colorspace.ITU709
    ctx.color_primaries = ColorPrimaries.BT709
    ctx.color_trc = ColorTrc.BT709
    ctx.color_range = ColorRange.MPEG
    return stream


class _AudioTrack:
    """Feeds the conformed audio to an AAC stream, one AAC frame at a time."""

    def __init__(self, out: av.container.OutputContainer, audio: np.ndarray) -> None:
        self._out = out
        self._audio = audio
        self._cursor = 0
        self._stream = out.add_stream("aac", rate=SAMPLE_RATE)
        self._stream.layout = "stereo"
        self._stream.format = "fltp"
        self._stream.bit_rate = AUDIO_BIT_RATE

    def write_until(self, sample: int) -> None:
        """Encode whole AAC frames that end at or before ``sample``."""
        while self._cursor + AAC_FRAME_SIZE <= min(sample, self._audio.shape[1]):
            self._encode(self._cursor + AAC_FRAME_SIZE)

    def finish(self) -> None:
        """Encode what is left (the last frame may be short) and flush the encoder."""
        if self._cursor < self._audio.shape[1]:
            self._encode(self._audio.shape[1])
        self._out.mux(self._stream.encode(None))

    def _encode(self, end: int) -> None:
        chunk = np.ascontiguousarray(self._audio[:, self._cursor : end])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._cursor
        frame.time_base = Fraction(1, SAMPLE_RATE)
        self._out.mux(self._stream.encode(frame))
        self._cursor = end


def _checked_frames(clip: Clip) -> Iterator[np.ndarray]:
    """Clip's frames, each checked for dtype, shape and count as it passes."""
    shape: tuple[int, ...] | None = None
    count = 0
    for frame in clip.frames:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            raise ValueError(f"frame {count}: expected a uint8 numpy array, got {_describe(frame)}")
        if shape is None:
            _check_first_frame(frame)
            shape = frame.shape
        elif frame.shape != shape:
            raise ValueError(
                f"frame {count}: shape {list(frame.shape)} differs from frame 0's {list(shape)}"
            )
        count += 1
        if count > clip.num_frames:
            raise ValueError(f"got more frames than num_frames={clip.num_frames}")
        yield frame
    if count != clip.num_frames:
        raise ValueError(f"got {count} frames, expected num_frames={clip.num_frames}")


def _check_first_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame 0: expected shape [H, W, 3], got {list(frame.shape)}")
    height, width = frame.shape[:2]
    # yuv420p stores colour at half resolution: odd sizes cannot be encoded.
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(f"frame size must be even (yuv420p), got {width}x{height}")


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _rgb_plane(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """A writable ``[H, W, 3]`` view of an rgb24 frame's pixels (rows may be padded)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(height, plane.line_size)
    return rows[:, : width * 3].reshape(height, width, 3)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array of {value.dtype}"
    return type(value).__name__


def _remove(path: str | os.PathLike[str]) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
