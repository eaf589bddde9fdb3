from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from happyhorse.storage import SignatureExpired, SignatureInvalid, UrlSigner

KEY = "outputs/job_x/video.mp4"
NOW = 1_800_000_000


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(b"test-secret-0123456789abcdef")


def _query(signer: UrlSigner, key: str = KEY, expires_at: int = NOW + 60) -> tuple[str, str]:
    q = parse_qs(signer.sign(key, expires_at=expires_at))
    return q["expires"][0], q["sig"][0]


def test_sign_format(signer: UrlSigner) -> None:
    query = signer.sign(KEY, expires_at=NOW)
    expires, sig = query.split("&")
    assert expires == f"expires={NOW}"
    sig = sig.removeprefix("sig=")
    assert "=" not in sig and "+" not in sig and "/" not in sig
    assert len(base64.urlsafe_b64decode(sig + "=")) == 32  # an HMAC-SHA256 digest


def test_round_trip(signer: UrlSigner) -> None:
    expires, sig = _query(signer)
    assert signer.verify(KEY, expires, sig, now=NOW) == NOW + 60
    assert signer.verify(KEY, int(expires), sig, now=NOW + 59.9) == NOW + 60


def test_signed_path(signer: UrlSigner) -> None:
    path, expires_at = signer.signed_path("outputs/a b/vidéo.mp4", 3600, now=NOW + 0.7)
    assert expires_at == NOW + 3600
    parts = urlsplit(path)
    assert parts.path == "/files/outputs/a%20b/vid%C3%A9o.mp4"
    q = parse_qs(parts.query)
    signer.verify("outputs/a b/vidéo.mp4", q["expires"][0], q["sig"][0], now=NOW)


def test_expiry_is_rounded_up_to_the_minute_so_polls_see_one_url(signer: UrlSigner) -> None:
    first, expires_at = signer.signed_path(KEY, 3600, now=NOW + 1.2)
    assert expires_at == NOW + 3660 and expires_at % 60 == 0  # at least the TTL, at most a minute more
    assert signer.signed_path(KEY, 3600, now=NOW + 59.9) == (first, expires_at)
    later, later_expiry = signer.signed_path(KEY, 3600, now=NOW + 61.5)
    assert later != first and later_expiry == NOW + 3720


def test_signed_path_needs_positive_ttl(signer: UrlSigner) -> None:
    with pytest.raises(ValueError):
        signer.signed_path(KEY, 0)


@pytest.mark.parametrize(
    ("key", "expires", "sig"),
    [
        ("outputs/job_y/video.mp4", None, None),  # another key
        (KEY, str(NOW + 61), None),  # a later expiry
        (KEY, None, "AAAA"),  # a made-up signature
        (KEY, None, ""),  # an empty one
        (KEY, None, "ü-not-ascii"),
        (KEY, "+" + str(NOW + 60), None),  # same number, other spelling
        (KEY, " " + str(NOW + 60), None),
        (KEY, "1e12", None),
    ],
)
def test_tampering_is_rejected(signer: UrlSigner, key: str, expires: str | None, sig: str | None) -> None:
    good_expires, good_sig = _query(signer)
    with pytest.raises(SignatureInvalid):
        signer.verify(key, expires or good_expires, good_sig if sig is None else sig, now=NOW)


def test_tampered_sig_bit_is_rejected(signer: UrlSigner) -> None:
    expires, sig = _query(signer)
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
    with pytest.raises(SignatureInvalid):
        signer.verify(KEY, expires, flipped, now=NOW)


def test_missing_parts_are_rejected(signer: UrlSigner) -> None:
    expires, sig = _query(signer)
    with pytest.raises(SignatureInvalid):
        signer.verify(KEY, None, sig, now=NOW)
    with pytest.raises(SignatureInvalid):
        signer.verify(KEY, expires, None, now=NOW)


def test_other_secret_is_rejected(signer: UrlSigner) -> None:
    expires, sig = _query(UrlSigner(b"another-secret"))
    with pytest.raises(SignatureInvalid):
        signer.verify(KEY, expires, sig, now=NOW)


def test_expired_is_rejected(signer: UrlSigner) -> None:
    expires, sig = _query(signer, expires_at=NOW)
    with pytest.raises(SignatureExpired) as info:
        signer.verify(KEY, expires, sig, now=NOW)
    assert info.value.expires_at == NOW


def test_forgery_is_invalid_not_expired(signer: UrlSigner) -> None:
    # A forged URL must not learn anything about expiry.
    with pytest.raises(SignatureInvalid):
        signer.verify(KEY, "1", "AAAA", now=NOW)


def test_signature_is_the_documented_hmac(signer: UrlSigner) -> None:
    expires, sig = _query(signer)
    message = b"happyhorse.files.v1\n" + KEY.encode() + b"\n" + expires.encode()
    digest = hmac.new(b"test-secret-0123456789abcdef", message, hashlib.sha256).digest()
    assert sig == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_secret_must_be_non_empty_bytes() -> None:
    with pytest.raises(ValueError):
        UrlSigner(b"")
    with pytest.raises(ValueError):
        UrlSigner("text")  # type: ignore[arg-type]
    assert repr(UrlSigner(b"do-not-print")) == "UrlSigner(secret=<hidden>)"
