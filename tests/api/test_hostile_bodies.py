"""Bodies streamed without a ``Content-Length`` stop at their cap (issue 10, finding 3), and the small
rules of the body readers: JSON depth, one charset, ASCII numbers in forms (finding 11).

The streaming test talks raw HTTP/1.1 to a real server on loopback: a chunked
body (no ``Content-Length``) far over the route's cap, sent until the server
answers. A counter in front of the app records how many body bytes the app
pulled from the server before answering: about the cap, not the whole stream.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from happyhorse.accounts import create_account, create_key
from happyhorse.app import create_app
from happyhorse.api.body import data_uri_bytes
from happyhorse.billing.ledger import grant_credits
from happyhorse.runtime import Runtime
from happyhorse.settings import Settings
from happyhorse.testing import serve_app_in_thread

from .conftest import assert_error

IMAGE_CAP = 1024 * 1024  # max_image_bytes: /v1/uploads takes this + 64 KiB
SUBMIT_CAP = 2 * 1024 * 1024  # max_body_bytes
DASHBOARD_CAP = 64 * 1024
STREAMED = 48 * 1024 * 1024  # what the client offers: far past every cap
SLACK = 512 * 1024  # a few of the server's read chunks past the cap
PNG_HEADER = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


class ConsumedBytes:
    """ASGI middleware: how many body bytes the app received, per request path."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.by_path: dict[str, int] = {}

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        self.by_path[path] = 0

        async def counting_receive():  # type: ignore[no-untyped-def]
            message = await receive()
            self.by_path[path] += len(message.get("body", b""))
            return message

        await self.app(scope, counting_receive, send)


@dataclass
class Server:
    base_url: str
    key: str
    consumed: ConsumedBytes
    runtime: Runtime = field(repr=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("hh-bodies")), signing_secret="s",
                        max_image_bytes=IMAGE_CAP, max_body_bytes=SUBMIT_CAP)
    runtime = Runtime.open(settings)
    account = create_account(runtime.db, "streamer")
    grant_credits(runtime.db, account.id, Decimal(100), memo="test credit")
    key = create_key(runtime.db, account.id).key
    consumed = ConsumedBytes(create_app(runtime))
    try:
        with serve_app_in_thread(consumed) as base_url:
            yield Server(base_url, key, consumed, runtime)
    finally:
        runtime.close()


def stream_chunked(base_url: str, path: str, headers: dict[str, str], first: bytes) -> tuple[int, bytes]:
    """POST ``first`` then zeros, chunked, until the server answers (or ``STREAMED`` bytes went);
    the answer's status and the start of its body."""
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Transfer-Encoding: chunked",
            *(f"{name}: {value}" for name, value in headers.items())]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"%x\r\n%s\r\n" % (len(first), first))
    zeros = b"\x00" * 65536
    frame = b"%x\r\n%s\r\n" % (len(zeros), zeros)
    sock.setblocking(False)
    pending, offered = b"", len(first)
    try:
        while offered < STREAMED:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable or not writable:
                break
            if not pending:
                pending, offered = frame, offered + len(zeros)
            pending = pending[sock.send(pending):]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: its answer is in our receive buffer
    sock.setblocking(True)
    sock.settimeout(30)
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or len(answer) < 256:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 "), (offered, answer[:200])
    return int(answer.split(b" ", 2)[1]), answer.partition(b"\r\n\r\n")[2]


def _multipart(field_name: str, filename: str | None, content: bytes) -> bytes:
    """One part's start: its headers and ``content`` (a file part if it has a ``filename``)."""
    disposition = f'form-data; name="{field_name}"' + (f'; filename="{filename}"' if filename else "")
    part_type = "\r\nContent-Type: image/png" if filename else ""
    return f"--hostile\r\nContent-Disposition: {disposition}{part_type}\r\n\r\n".encode() + content


MULTIPART = "multipart/form-data; boundary=hostile"

# path, content type, the body's first bytes, the cap it must stop at, whether it needs the API key
STREAMS = {
    # A file part stops at the image cap, before the body's (the image cap + 64 KiB).
    "upload_multipart": ("/v1/uploads", MULTIPART, _multipart("file", "a.png", PNG_HEADER), IMAGE_CAP, True),
    "upload_raw": ("/v1/uploads", "image/png", PNG_HEADER, IMAGE_CAP + 64 * 1024, True),
    "submit_multipart_image": ("/v1/videos/generations", MULTIPART,
                               _multipart("prompt", None, b"a horse") + b"\r\n"
                               + _multipart("image", "a.png", PNG_HEADER), IMAGE_CAP, True),
    # A text part stops at the longest text a form needs (an image at the cap as a data URI).
    "submit_multipart_text": ("/v1/videos/generations", MULTIPART, _multipart("prompt", None, b"a horse"),
                              data_uri_bytes(IMAGE_CAP), True),
    "submit_urlencoded": ("/v1/videos/generations", "application/x-www-form-urlencoded", b"prompt=a+horse",
                          SUBMIT_CAP, True),
    "submit_json": ("/v1/videos/generations", "application/json", b'{"prompt": "a horse', SUBMIT_CAP, True),
    "dashboard_json": ("/dashboard/api/keys", "application/json", b'{"name": "k', DASHBOARD_CAP, False),
    "signin_urlencoded": ("/signin", "application/x-www-form-urlencoded", b"email=a%40b.c&password=", DASHBOARD_CAP,
                          False),
    "signin_multipart": ("/signin", MULTIPART, _multipart("email", None, b"a@b.c"), DASHBOARD_CAP, False),
}


@pytest.mark.parametrize("case", list(STREAMS))
def test_a_chunked_body_stops_at_its_cap(server: Server, case: str) -> None:
    path, content_type, first, cap, with_key = STREAMS[case]
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {server.key}"} if with_key else {})}
    status, body = stream_chunked(server.base_url, path, headers, first)
    assert status == 413, body[:300]
    assert any(b'"code":"%s"' % code in body for code in (b"body_too_large", b"image_too_large",
                                                            b"field_too_large")), body[:300]
    consumed = server.consumed.by_path[path]
    # The old readers pulled the whole stream (48 MiB) into memory or a spool before answering.
    assert cap <= consumed <= cap + SLACK, (case, consumed, cap)


def test_parallel_streamed_uploads_each_stop_at_the_cap(server: Server) -> None:
    """The issue's attack: three uploads of a PNG header and zeros at once."""
    from concurrent.futures import ThreadPoolExecutor

    path, content_type, first, _, _ = STREAMS["upload_multipart"]
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {server.key}"}
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: stream_chunked(server.base_url, path, headers, first), range(3)))
    assert [status for status, _ in answers] == [413, 413, 413]


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.key}"}, timeout=30) as c:
        yield c


def _nested(depth: int) -> bytes:
    return b'{"prompt": "a horse", "seed": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_json_nested_too_deep_is_a_400(api: httpx.Client, depth: int) -> None:
    response = api.post("/v1/videos/generations", content=_nested(depth), headers={"Content-Type": "application/json"})
    assert_error(response, 400, "json_too_deep", "seed" if depth < 500 else None)


def test_json_nesting_within_the_cap_reaches_the_request_rules(api: httpx.Client) -> None:
    response = api.post("/v1/videos/generations", content=_nested(63), headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_type", "seed")


def test_dashboard_json_nested_too_deep_is_a_400(api: httpx.Client) -> None:
    response = api.post("/dashboard/api/keys", content=b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                        headers={"Content-Type": "application/json"})
    assert_error(response, 400, "json_too_deep", None)


def test_json_nan_and_infinity_are_not_json(api: httpx.Client) -> None:
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        response = api.post("/v1/videos/generations", content=b'{"prompt": "x", "seed": ' + constant + b"}",
                            headers={"Content-Type": "application/json"})
        assert_error(response, 400, "invalid_json", None)


@pytest.mark.parametrize("content_type", [
    "multipart/form-data; boundary=b; charset=utf-7",
    "application/x-www-form-urlencoded; charset=utf-7",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/json; charset=utf-16",
])
def test_only_utf8_is_read(api: httpx.Client, content_type: str) -> None:
    body = (b'{"prompt": "a horse"}' if "json" in content_type else
            b"prompt=a+horse" if "urlencoded" in content_type else
            b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na horse\r\n--b--\r\n')
    response = api.post("/v1/videos/generations", content=body, headers={"Content-Type": content_type})
    error = assert_error(response, 400, "unsupported_charset", None)
    assert content_type in error["message"] and "utf-8" in error["message"].lower()


def test_a_multipart_text_part_with_another_charset_is_refused(api: httpx.Client) -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="prompt"\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n'
            b"+AGE- horse\r\n--b--\r\n")
    response = api.post("/v1/videos/generations", content=body,
                        headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert_error(response, 400, "unsupported_charset", None)


def test_utf8_charset_is_fine(api: httpx.Client) -> None:
    response = api.post("/v1/videos/generations", content="prompt=caf%C3%A9+horse&duration=3",
                        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert response.status_code == 202, response.text
    assert response.json()["request"]["prompt"] == "café horse"


@pytest.mark.parametrize("value", ["1_0", "١٠", "１０", "0x10", "inf", "nan", "1e999", "10 0", "+", "1" * 5000])
def test_form_numbers_are_ascii_digits_only(api: httpx.Client, value: str) -> None:
    for name in ("duration", "seed"):
        response = api.post("/v1/videos/generations", files={"prompt": (None, "a horse"), name: (None, value)})
        assert_error(response, 400, "invalid_type", name)


@pytest.mark.parametrize(("value", "duration"), [("10", 10), (" 7 ", 7), ("5.0", 5), ("+4", 4), ("1e1", 10)])
def test_form_numbers_in_ascii_still_work(api: httpx.Client, value: str, duration: int) -> None:
    response = api.post("/v1/videos/generations", files={"prompt": (None, "a horse"), "duration": (None, value)})
    assert response.status_code == 202, response.text
    assert response.json()["request"]["duration"] == duration


def test_a_multipart_body_without_its_closing_boundary_is_a_400(api: httpx.Client) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na horse'
    response = api.post("/v1/videos/generations", content=body,
                        headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert_error(response, 400, "invalid_form", None)
