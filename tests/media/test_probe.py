"""probe, read_frames, read_audio and the box walker, on files made here."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from happyhorse.engines.base import Clip
from happyhorse.media.encode import encode_clip
from happyhorse.media.probe import is_faststart, probe, read_audio, read_frames, top_level_boxes


def test_probe_counts_what_it_decodes(make_clip, sine, tmp_path) -> None:
    video = tmp_path / "v.mp4"
    encode_clip(make_clip(320, 240, 1.5, audio=sine(1000, 1.5, 48_000)), video, tmp_path / "p.jpg", watermark=False)
    info = probe(video)
    assert (info.width, info.height, info.num_frames, info.fps) == (320, 240, 36, 24.0)
    assert info.duration == pytest.approx(1.5, abs=1e-3)
    assert info.has_audio and info.faststart


def test_read_frames_and_read_audio_return_the_content(make_clip, sine, tmp_path) -> None:
    video = tmp_path / "v.mp4"
    clip = make_clip(160, 128, 1, audio=sine(1000, 1, 48_000, level=0.25), as_array=True)
    encode_clip(clip, video, tmp_path / "p.jpg", watermark=False)
    frames = list(read_frames(video))
    assert len(frames) == 24
    assert all(f.shape == (128, 160, 3) and f.dtype == np.uint8 for f in frames)
    assert np.abs(frames[-1].astype(int) - clip.frames[-1]).mean() < 6
    audio, rate = read_audio(video)
    assert rate == 48_000 and audio.dtype == np.float32 and audio.shape[0] == 2
    # AAC shifts nothing in time once decoded: the sine lines up with the input.
    source = clip.audio[:, 2_000:40_000]
    assert np.abs(audio[:, 2_000:40_000] - source).max() < 0.05


def _write_mp4(path: Path, movflags: str | None) -> None:
    """A tiny video-only MP4, with or without faststart."""
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 50 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_faststart_is_false_when_mdat_comes_first(tmp_path) -> None:
    plain, fast = tmp_path / "plain.mp4", tmp_path / "fast.mp4"
    _write_mp4(plain, None)
    _write_mp4(fast, "+faststart")
    assert top_level_boxes(plain).index("mdat") < top_level_boxes(plain).index("moov")
    assert not is_faststart(plain) and not probe(plain).faststart
    assert is_faststart(fast)


def test_a_video_without_audio_probes_as_such(tmp_path) -> None:
    video = tmp_path / "silent.mp4"
    _write_mp4(video, "+faststart")
    info = probe(video)
    assert info.num_frames == 3
    assert not info.has_audio
    assert info.audio_codec is None and info.audio_duration is None


def test_box_walker_handles_64_bit_and_to_the_end_sizes(tmp_path) -> None:
    path = tmp_path / "boxes.bin"
    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
    moov = struct.pack(">I4sQ", 1, b"moov", 24) + b"\0" * 8  # size in the 64-bit field
    mdat = struct.pack(">I4s", 0, b"mdat") + b"\0" * 100  # size 0: runs to the end
    path.write_bytes(ftyp + moov + mdat)
    assert top_level_boxes(path) == ["ftyp", "moov", "mdat"]
    assert is_faststart(path)


def test_probe_of_encoded_clip_with_iterator_frames(make_clip, tmp_path) -> None:
    clip = make_clip(96, 64, 0.5)
    assert not isinstance(clip.frames, np.ndarray)
    video = tmp_path / "v.mp4"
    encode_clip(Clip(clip.frames, 24, clip.audio, 48_000, 12), video, tmp_path / "p.jpg", watermark=True)
    assert probe(video).num_frames == 12
