"""The /files router, served by a real uvicorn server on loopback and read with httpx."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from happyhorse.api.files import parse_range, router
from happyhorse.errors import ServiceError
from happyhorse.storage import LocalStorage, MemoryStorage, S3Storage, Storage, UrlSigner
from happyhorse.storage.base import CHUNK_SIZE

KEY = "outputs/job_x/video.mp4"
# Longer than a few chunks, and no two aligned 256-byte blocks alike at a glance.
DATA = bytes((i * 7 + i // 256) % 256 for i in range(3 * CHUNK_SIZE + 123))
SIZE = len(DATA)


def _make_app(storage: Storage, signer: UrlSigner) -> FastAPI:
    app = FastAPI()
    app.state.storage = storage
    app.state.signer = signer
    app.include_router(router)

    # Stands in for the real app's handler, which does not exist yet.
    @app.exception_handler(ServiceError)
    async def _render(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.to_dict(None), status_code=exc.status, headers=exc.headers)

    return app


class _Served:
    def __init__(self, base_url: str, storage: Storage, signer: UrlSigner) -> None:
        self.base_url, self.storage, self.signer = base_url, storage, signer

    def url(self, key: str = KEY, ttl: int = 3600) -> str:
        return self.signer.signed_path(key, ttl)[0]


def _store(kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Storage:
    if kind == "local":
        return LocalStorage(tmp_path_factory.mktemp("files"))
    if kind == "memory":
        return MemoryStorage()
    # moto's S3 server on loopback; a bucket of this module's own.
    client, bucket = request.getfixturevalue("s3_client"), f"router-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3Storage(bucket, prefix="served", client=client)


@pytest.fixture(scope="module", params=["local", "memory", "s3"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Served]:
    storage = _store(request.param, request, tmp_path_factory)
    storage.put_bytes(KEY, DATA, "video/mp4")
    storage.put_bytes("outputs/job_x/empty.bin", b"", "application/octet-stream")
    signer = UrlSigner(b"router-test-secret")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with other tests
    port = sock.getsockname()[1]
    config = uvicorn.Config(_make_app(storage, signer), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield _Served(f"http://127.0.0.1:{port}", storage, signer)
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def client(served: _Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=10) as c:
        yield c


def test_full_get(served: _Served, client: httpx.Client) -> None:
    r = client.get(served.url())
    assert r.status_code == 200
    assert r.content == DATA
    h = r.headers
    assert h["content-length"] == str(SIZE)
    assert h["content-type"] == "video/mp4"
    assert h["accept-ranges"] == "bytes"
    assert h["etag"].startswith('"') and h["etag"] == served.storage.stat(KEY).etag
    assert h["content-disposition"] == "inline; filename*=UTF-8''video.mp4"
    assert 3590 <= int(h["cache-control"].removeprefix("private, max-age=")) <= 3660  # expiry rounded up to the minute
    assert "content-range" not in h


def test_head_has_headers_and_no_body(served: _Served, client: httpx.Client) -> None:
    r = client.head(served.url())
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(SIZE)
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "video/mp4"


def test_head_with_range(served: _Served, client: httpx.Client) -> None:
    r = client.head(served.url(), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 10-19/{SIZE}"
    assert r.headers["content-length"] == "10"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        (f"bytes={CHUNK_SIZE - 5}-{2 * CHUNK_SIZE + 5}", CHUNK_SIZE - 5, 2 * CHUNK_SIZE + 5),
        (f"bytes=1000-{SIZE + 5000}", 1000, SIZE - 1),  # last-pos past the end is clamped
        ("bytes=70000-", 70000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        (f"bytes=-{SIZE + 10}", 0, SIZE - 1),  # suffix longer than the file: all of it
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
        ("BYTES = 5 - 9", 5, 9),
    ],
)
def test_range_forms(served: _Served, client: httpx.Client, header: str, start: int, end: int) -> None:
    r = client.get(served.url(), headers={"Range": header})
    assert r.status_code == 206
    assert r.content == DATA[start : end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_unsatisfiable_range_is_416(served: _Served, client: httpx.Client, header: str) -> None:
    r = client.get(served.url(), headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{SIZE}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"


def test_any_range_of_an_empty_file_is_416(served: _Served, client: httpx.Client) -> None:
    url = served.url("outputs/job_x/empty.bin")
    r = client.get(url, headers={"Range": "bytes=0-"})
    assert (r.status_code, r.headers["content-range"]) == (416, "bytes */0")
    r = client.get(url)
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")


@pytest.mark.parametrize(
    "header",
    ["bytes=abc", "bytes=5-2", "bytes=-", "items=0-10", "bytes 0-10", "bytes=0-10,20-30", "bytes=--5", "bytes=1-2-3", ""],
)
def test_malformed_or_multiple_ranges_get_the_whole_file(served: _Served, client: httpx.Client, header: str) -> None:
    r = client.get(served.url(), headers={"Range": header})
    assert r.status_code == 200
    assert r.content == DATA
    assert "content-range" not in r.headers


def test_if_range_with_current_etag_honours_range(served: _Served, client: httpx.Client) -> None:
    etag = client.head(served.url()).headers["etag"]
    r = client.get(served.url(), headers={"Range": "bytes=10-19", "If-Range": etag})
    assert r.status_code == 206
    assert r.content == DATA[10:20]


@pytest.mark.parametrize("if_range", ['"stale-etag"', "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_if_range_mismatch_sends_whole_file(served: _Served, client: httpx.Client, if_range: str) -> None:
    r = client.get(served.url(), headers={"Range": "bytes=10-19", "If-Range": if_range})
    assert r.status_code == 200
    assert r.content == DATA


def test_weak_if_range_never_matches(served: _Served, client: httpx.Client) -> None:
    etag = client.head(served.url()).headers["etag"]
    r = client.get(served.url(), headers={"Range": "bytes=10-19", "If-Range": "W/" + etag})
    assert r.status_code == 200


def test_if_none_match_gives_304(served: _Served, client: httpx.Client) -> None:
    etag = client.head(served.url()).headers["etag"]
    r = client.get(served.url(), headers={"If-None-Match": f'"other", W/{etag}'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    assert client.get(served.url(), headers={"If-None-Match": '"other"'}).status_code == 200


def _assert_error(r: httpx.Response, status: int, type_: str, code: str) -> dict:
    assert r.status_code == status
    error = r.json()["error"]
    assert (error["type"], error["code"], error["param"], error["request_id"]) == (type_, code, None, None)
    return error


@pytest.mark.parametrize(
    "query",
    ["", "?expires=9999999999", "?sig=abc", "?expires=9999999999&sig=abc", "?expires=soon&sig=abc"],
)
def test_bad_signature_is_403(served: _Served, client: httpx.Client, query: str) -> None:
    r = client.get(f"/files/{KEY}{query}")
    error = _assert_error(r, 403, "permission_error", "invalid_signature")
    assert "/v1/jobs/{id}/content" in error["message"]


def test_signature_for_another_key_is_403(served: _Served, client: httpx.Client) -> None:
    query = served.url().split("?", 1)[1]
    r = client.get(f"/files/outputs/job_y/video.mp4?{query}")
    _assert_error(r, 403, "permission_error", "invalid_signature")


def test_expired_url_is_403_url_expired(served: _Served, client: httpx.Client) -> None:
    query = served.signer.sign(KEY, expires_at=int(time.time()) - 1)
    for method in ("GET", "HEAD"):
        r = client.request(method, f"/files/{KEY}?{query}")
        assert r.status_code == 403
    error = _assert_error(client.get(f"/files/{KEY}?{query}"), 403, "permission_error", "url_expired")
    assert "expired" in error["message"] and "/v1/jobs/{id}/content" in error["message"]


def test_missing_file_is_404(served: _Served, client: httpx.Client) -> None:
    r = client.get(served.url("outputs/job_x/nothing.mp4"))
    _assert_error(r, 404, "not_found_error", "file_not_found")


def test_deleted_file_is_404(served: _Served, client: httpx.Client) -> None:
    served.storage.put_bytes("outputs/tmp/gone.mp4", b"x", "video/mp4")
    url = served.url("outputs/tmp/gone.mp4")
    assert client.get(url).status_code == 200
    served.storage.delete("outputs/tmp/gone.mp4")
    _assert_error(client.get(url), 404, "not_found_error", "file_not_found")


def test_percent_encoded_keys(served: _Served, client: httpx.Client) -> None:
    key = "outputs/job x/vidéo.mp4"
    served.storage.put_bytes(key, b"spaced", "video/mp4")
    r = client.get(served.url(key))
    assert (r.status_code, r.content) == (200, b"spaced")
    assert r.headers["content-disposition"] == "inline; filename*=UTF-8''vid%C3%A9o.mp4"


def test_path_traversal_is_refused(served: _Served, client: httpx.Client) -> None:
    # Even a correctly signed traversal key is refused: the signer will not sign it at all.
    with pytest.raises(ValueError):
        served.signer.sign("../secret", expires_at=int(time.time()) + 60)
    r = client.get("/files/outputs/%2E%2E/%2E%2E/etc/passwd?expires=9999999999&sig=x")
    assert r.status_code in (403, 404)


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-9", 5) == (0, 4)
    assert parse_range("bytes=-3", 5) == (2, 4)
    assert parse_range("bytes=3-", 5) == (3, 4)
    assert parse_range("bytes=3-1", 5) is None
    assert parse_range("bytes=" + "9" * 30 + "-", 5) is None
