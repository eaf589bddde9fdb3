from __future__ import annotations

import pytest

from happyhorse.storage import checked_storage_key


@pytest.mark.parametrize("key", ["outputs/job_x/video.mp4", "a", "a/b/c.d.e", "job_01jd/poster.jpg", "ünïcode/名前.mp4"])
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert checked_storage_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../b",
        "a/..",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "a\\b",
        "..\\x",
        "a/.hidden",
        "a/b\x00c",
        "a/b\nc",
        "x" * 1025,
    ],
)
def test_unsafe_keys_are_rejected(key: str) -> None:
    with pytest.raises(ValueError):
        checked_storage_key(key)


def test_non_string_is_rejected() -> None:
    with pytest.raises(ValueError):
        checked_storage_key(b"a/b")  # type: ignore[arg-type]
