"""encode_clip: real MP4s, decoded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from happyhorse.engines.base import Clip, JobCancelled
from happyhorse.media.encode import EncodedVideo, encode_clip
from happyhorse.media.probe import probe, read_audio, read_frames, top_level_boxes
from happyhorse.rules import RULES

AAC_FRAME_SECONDS = 1024 / 48_000


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "video.mp4", tmp_path / "poster.jpg"


@pytest.mark.parametrize(
    ("aspect", "resolution", "seconds"),
    [
        ("16:9", "720p", 2),
        ("9:16", "720p", 1),
        ("4:3", "720p", 1),
        ("1:1", "1080p", 1),
        ("16:9", "1080p", 1),
    ],
)
def test_table_sizes_decode_back_exactly(make_clip, paths, aspect, resolution, seconds) -> None:
    width, height = RULES.frame_size(aspect, resolution)
    video, poster = paths
    result = encode_clip(make_clip(width, height, seconds), video, poster, watermark=True)

    info = probe(video)
    assert (info.width, info.height) == (width, height)
    assert info.num_frames == seconds * 24
    assert info.fps == 24
    assert info.duration == pytest.approx(seconds, abs=1e-3)
    assert (info.video_codec, info.profile, info.pix_fmt) == ("h264", "High", "yuv420p")
    assert info.faststart
    assert (info.audio_codec, info.audio_profile) == ("aac", "LC")
    assert (info.audio_sample_rate, info.audio_channels) == (48_000, 2)
    assert abs(info.audio_duration - seconds) <= AAC_FRAME_SECONDS
    assert result == EncodedVideo(
        width=width,
        height=height,
        fps=24,
        num_frames=seconds * 24,
        duration=float(seconds),
        has_audio=True,
        bytes=video.stat().st_size,
        poster_width=width,
        poster_height=height,
        poster_bytes=poster.stat().st_size,
    )


def test_moov_box_comes_before_mdat(make_clip, paths) -> None:
    video, poster = paths
    encode_clip(make_clip(128, 96, 0.5), video, poster, watermark=False)
    boxes = top_level_boxes(video)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")


def test_array_input_works_like_an_iterator(make_clip, paths) -> None:
    video, poster = paths
    clip = make_clip(160, 96, 0.5, as_array=True)
    encode_clip(clip, video, poster, watermark=False)
    decoded = list(read_frames(video))
    assert len(decoded) == 12
    # Lossy, but close to the source frames.
    assert np.abs(decoded[5].astype(int) - clip.frames[5]).mean() < 6


def test_colours_survive_the_round_trip(paths) -> None:
    frame = np.zeros((64, 64, 3), np.uint8)
    colours = [(255, 0, 0), (0, 200, 0), (30, 60, 220), (128, 128, 128)]
    for i, colour in enumerate(colours):
        frame[:, i * 16 : (i + 1) * 16] = colour
    video, poster = paths
    clip = Clip(np.stack([frame] * 4), 24, np.zeros((2, 0), np.float32), 48_000, 4)
    encode_clip(clip, video, poster, watermark=False)
    decoded = next(read_frames(video))
    for i, colour in enumerate(colours):
        assert np.abs(decoded[32, i * 16 + 8].astype(int) - colour).max() <= 3


@pytest.mark.parametrize(
    ("channels", "rate"), [(1, 48_000), (2, 24_000), (1, 24_000), (2, 44_100), (6, 48_000)]
)
def test_audio_is_resampled_to_48k_stereo(sine, make_clip, paths, channels, rate) -> None:
    video, poster = paths
    clip = make_clip(64, 64, 1, audio=sine(440, 1, rate, channels=channels), sample_rate=rate)
    encode_clip(clip, video, poster, watermark=False)
    audio, out_rate = read_audio(video)
    assert out_rate == 48_000 and audio.shape[0] == 2
    assert abs(audio.shape[1] - 48_000) <= 1024
    middle = audio[:, 4_000:44_000]
    spectrum = np.abs(np.fft.rfft(middle[0]))
    assert np.argmax(spectrum) * 48_000 / middle.shape[1] == pytest.approx(440, abs=2)
    # Both channels carry the sound, at the input's level (no -3 dB mono upmix).
    assert np.allclose(middle[0], middle[1], atol=0.02)
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("audio_seconds", [0.0, 0.3, 1.0, 2.7])
def test_audio_is_padded_or_trimmed_to_the_video(sine, make_clip, paths, audio_seconds) -> None:
    video, poster = paths
    clip = make_clip(64, 64, 1, audio=sine(440, audio_seconds, 48_000))
    encode_clip(clip, video, poster, watermark=False)
    info = probe(video)
    assert info.has_audio
    assert info.duration == pytest.approx(1.0, abs=1e-3)
    assert abs(info.audio_duration - 1.0) <= AAC_FRAME_SECONDS
    audio, _ = read_audio(video)
    if audio_seconds < 1:
        # The tail is silence.
        assert np.abs(audio[:, round(audio_seconds * 48_000) + 2048 :]).max() < 0.01


def test_poster_is_a_jpeg_of_the_frame_at_one_second(paths) -> None:
    # Flat frames whose brightness is their index * 4: the poster tells which one it is.
    frames = (np.full((96, 128, 3), i * 4, np.uint8) for i in range(48))
    video, poster = paths
    result = encode_clip(Clip(frames, 24, np.zeros((2, 0), np.float32), 48_000, 48), video, poster, watermark=False)
    with Image.open(poster) as image:
        assert image.format == "JPEG"
        assert image.size == (128, 96) == (result.poster_width, result.poster_height)
        assert np.asarray(image).mean() == pytest.approx(24 * 4, abs=2)


def test_poster_of_a_short_clip_is_the_middle_frame(paths) -> None:
    frames = (np.full((64, 64, 3), i * 10, np.uint8) for i in range(10))
    video, poster = paths
    encode_clip(Clip(frames, 24, np.zeros((2, 0), np.float32), 48_000, 10), video, poster, watermark=False)
    with Image.open(poster) as image:
        assert np.asarray(image).mean() == pytest.approx(5 * 10, abs=2)


@pytest.mark.parametrize(
    "bad_frame",
    [
        np.zeros((64, 64, 4), np.uint8),
        np.zeros((64, 64, 3), np.float32),
        np.zeros((64, 64), np.uint8),
        np.zeros((32, 64, 3), np.uint8),
    ],
    ids=["rgba", "float", "grey", "other-size"],
)
def test_a_wrong_frame_raises_and_leaves_no_files(make_clip, paths, bad_frame) -> None:
    good = make_clip(64, 64, 0.5)

    def frames():
        yield from list(good.frames)[:3]
        yield bad_frame

    video, poster = paths
    with pytest.raises(ValueError):
        encode_clip(Clip(frames(), 24, good.audio, 48_000, 12), video, poster, watermark=True)
    assert not video.exists() and not poster.exists()


def test_odd_frame_sizes_are_refused(paths) -> None:
    video, poster = paths
    clip = Clip(iter([np.zeros((63, 64, 3), np.uint8)]), 24, np.zeros((2, 0), np.float32), 48_000, 1)
    with pytest.raises(ValueError, match="even"):
        encode_clip(clip, video, poster, watermark=False)


@pytest.mark.parametrize("produced", [0, 11, 13, 40])
def test_a_wrong_frame_count_raises_and_leaves_no_files(make_clip, paths, produced) -> None:
    pulled = 0

    def frames():
        nonlocal pulled
        for frame in make_clip(64, 64, produced / 24).frames:
            pulled += 1
            yield frame

    clip = Clip(frames(), 24, np.zeros((2, 0), np.float32), 48_000, 12)
    video, poster = paths
    with pytest.raises(ValueError, match="frames"):
        encode_clip(clip, video, poster, watermark=False)
    assert pulled <= 13  # stops at the first frame too many
    assert not video.exists() and not poster.exists()


def test_an_array_of_the_wrong_length_raises(make_clip, paths) -> None:
    clip = make_clip(64, 64, 0.5, as_array=True)
    clip.num_frames = 13
    video, poster = paths
    with pytest.raises(ValueError):
        encode_clip(clip, video, poster, watermark=False)
    assert not video.exists()


def test_an_exception_from_the_frames_propagates_and_leaves_no_files(make_clip, paths) -> None:
    good = make_clip(64, 64, 2)

    def frames():
        for index, frame in enumerate(good.frames):
            if index == 30:  # past the poster frame: both files were under way
                raise JobCancelled()
            yield frame

    video, poster = paths
    with pytest.raises(JobCancelled):
        encode_clip(Clip(frames(), 24, good.audio, 48_000, 48), video, poster, watermark=True)
    assert not video.exists() and not poster.exists()


def test_the_engines_frames_are_not_modified(make_clip, paths) -> None:
    clip = make_clip(128, 128, 0.25, as_array=True)
    before = clip.frames.copy()
    video, poster = paths
    encode_clip(clip, video, poster, watermark=True)
    assert np.array_equal(clip.frames, before)
