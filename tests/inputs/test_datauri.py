"""data:image/...;base64, URIs."""

from __future__ import annotations

import base64
import tracemalloc

import pytest

from happyhorse.errors import InvalidRequest, PayloadTooLarge
from happyhorse.inputs import is_data_uri, parse_data_uri

PAYLOAD = bytes(range(256)) * 4


def uri(data: bytes = PAYLOAD, prefix: str = "data:image/png;base64,") -> str:
    return prefix + base64.b64encode(data).decode()


@pytest.mark.parametrize("prefix", ["data:image/png;base64,", "DATA:IMAGE/JPEG;BASE64,", "data:image/svg+xml;base64,"])
def test_decodes_the_payload(prefix):
    # The declared subtype is not judged here: the image checks read the bytes.
    assert parse_data_uri(uri(prefix=prefix), param="image", max_bytes=10_000) == PAYLOAD


def test_tolerates_folded_base64():
    text = base64.encodebytes(PAYLOAD).decode()  # 76-character lines
    assert "\n" in text
    assert parse_data_uri("data:image/png;base64," + text, param="image", max_bytes=10_000) == PAYLOAD


@pytest.mark.parametrize("size", [1, 2, 3, 100, 101, 102])
def test_exactly_at_the_cap_is_accepted(size):
    data = b"x" * size
    assert parse_data_uri(uri(data), param="image", max_bytes=size) == data
    with pytest.raises(PayloadTooLarge) as caught:
        parse_data_uri(uri(data), param="image[1]", max_bytes=size - 1)
    assert (caught.value.code, caught.value.param, caught.value.status) == ("image_too_large", "image[1]", 413)


def test_length_is_capped_before_decoding():
    huge = "data:image/png;base64," + "A" * 40_000_000  # would decode to 30 MB
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            parse_data_uri(huge, param="image", max_bytes=10 * 1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize(
    "bad",
    [
        "data:text/plain;base64,aGVsbG8=",
        "data:image/png,rawbytes",
        "data:image/png;charset=utf-8;base64,aGVsbG8=",
        "data:image/png;base64,",
        "data:image/png;base64,@@@@",
        "data:image/png;base64,aGVsbG8",  # missing padding
        "data:image/png;base64,aGVs-G8=",  # URL-safe alphabet
        "data:image/png;base64,aGVsbG8=\u00e9",
        "image/png;base64,aGVsbG8=",
        "https://example.com/a.png",
    ],
)
def test_malformed_uris_say_the_expected_form(bad):
    with pytest.raises(InvalidRequest) as caught:
        parse_data_uri(bad, param="image[2]", max_bytes=1000)
    err = caught.value
    assert (err.code, err.param, err.status) == ("invalid_data_uri", "image[2]", 400)
    assert "data:image/<type>;base64," in err.message


def test_is_data_uri():
    assert is_data_uri("data:image/png;base64,AAAA")
    assert is_data_uri("DATA:whatever")
    assert not is_data_uri("https://example.com/x.png")
    assert not is_data_uri("upl_123")
    assert not is_data_uri("")


def test_folded_payload_at_the_cap_is_accepted():
    data = b"y" * 3000
    text = base64.encodebytes(data).decode()  # ~2% of it is line breaks
    assert parse_data_uri("data:image/png;base64," + text, param="image", max_bytes=3000) == data
