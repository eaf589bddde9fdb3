"""The SSRF-safe image fetcher.

No test here sends a packet anywhere but loopback: names are resolved by
injected resolvers, SSRF vectors run with a transport that fails the test when
reached, and the vectors that point at loopback also run over the real
network stack against canary listeners that must see 0 connections.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from happyhorse.errors import InvalidRequest
from happyhorse.inputs import FetchError, default_resolver, fetch_url, inspect_image, validate_image_url

PUBLIC_IP = "93.184.216.34"  # only ever given to fake transports
MB = 1024 * 1024


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 320), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


PNG = _png()


# --- loopback helpers ---------------------------------------------------------


class Canary:
    """Listeners on 127.0.0.1 and ::1 that count every connection they get."""

    def __init__(self) -> None:
        self.hits = 0
        self._stop = threading.Event()
        self._socks = [socket.create_server(("127.0.0.1", 0))]
        try:
            self._socks.append(socket.create_server(("::1", 0), family=socket.AF_INET6))
        except OSError:  # no IPv6 loopback here; the IPv6 vectors still use the fake transport
            pass
        self.port = self._socks[0].getsockname()[1]
        self.port6 = self._socks[-1].getsockname()[1] if len(self._socks) > 1 else self.port
        self._threads = [threading.Thread(target=self._accept, args=(s,), daemon=True) for s in self._socks]
        for thread in self._threads:
            thread.start()

    def _accept(self, sock: socket.socket) -> None:
        sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for sock in self._socks:
            sock.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()
    assert listener.hits == 0, "a refused URL reached a loopback listener"


class Unreachable(httpx.MockTransport):
    """A transport that fails the test when any request reaches it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        super().__init__(self._fail)

    def _fail(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        pytest.fail(f"request reached the network: {request.url}")


def never_resolve(host: str, port: int) -> list[str]:
    pytest.fail(f"resolver called for {host!r}; IP literals must not be resolved")


def resolving_to(*answers: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(answers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ImageServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        url = urlsplit(self.path)
        name, _, arg = url.path.strip("/").partition("/")
        try:
            getattr(self, f"_{name}", self._missing)(arg, parse_qs(url.query))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as the test intended

    def _head(self, status: int, length: int | None, **headers: str) -> None:
        self.send_response(status)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()

    def _img(self, arg: str, query: dict) -> None:
        self._head(200, len(PNG), Content_Type="image/png")
        self.wfile.write(PNG)

    def _redirect(self, arg: str, query: dict) -> None:
        self._head(302, 0, Location=query["to"][0])

    def _chain(self, arg: str, query: dict) -> None:
        self._head(302, 0, Location=f"/chain/{int(arg) - 1}" if int(arg) else "/img")

    def _slowchain(self, arg: str, query: dict) -> None:
        self.server.stop.wait(0.4)
        self._head(302, 0, Location=f"/slowchain/{int(arg) - 1}" if int(arg) else "/img")

    def _missing(self, arg: str, query: dict) -> None:
        self._head(404, 0)

    def _endless(self, arg: str, query: dict) -> None:
        self._head(200, None, Transfer_Encoding="chunked", Content_Type="image/png")
        chunk = b"\x00" * 65536
        while not self.server.stop.is_set():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    def _trickle(self, arg: str, query: dict) -> None:
        self._head(200, 100_000, Content_Type="image/png")
        while not self.server.stop.wait(0.05):
            self.wfile.write(b"x")
            self.wfile.flush()

    def _stall(self, arg: str, query: dict) -> None:
        # A gap longer than the budget left: only a total deadline stops it in time.
        self._head(200, 1000, Content_Type="image/png")
        self.wfile.write(b"x" * 10)
        self.wfile.flush()
        self.server.stop.wait(0.7)
        self.wfile.write(b"x" * 10)
        self.wfile.flush()
        self.server.stop.wait(5)


class ImageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []
        self.stop = threading.Event()
        self.port = self.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[ImageServer]:
    srv = ImageServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()
    thread.join()


def refused(
    url: str,
    *,
    resolver: Callable[[str, int], list[str]] = never_resolve,
    transport: httpx.BaseTransport | None = None,
    max_bytes: int = MB,
    **kw: object,
) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch_url(url, max_bytes=max_bytes, resolver=resolver, transport=transport, **kw)
    return caught.value


# --- happy path over real loopback (allow_private) ---------------------------


def test_fetches_an_image_over_loopback(server):
    got = fetch_url(f"{server.base}/img", max_bytes=MB, allow_private=True, resolver=never_resolve)
    assert got.bytes == PNG
    assert got.content_type == "image/png"
    assert got.final_url == f"{server.base}/img"
    assert inspect_image(got.bytes, param="image").format == "png"


def test_a_name_keeps_its_host_header_while_the_address_is_pinned(server):
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["127.0.0.1"]

    url = f"http://images.test:{server.port}/img"
    got = fetch_url(url, max_bytes=MB, allow_private=True, resolver=resolver)
    assert got.bytes == PNG and got.final_url == url
    assert calls == [("images.test", server.port)]
    assert server.seen == [("/img", f"images.test:{server.port}")]


def test_follows_relative_redirects(server):
    got = fetch_url(f"{server.base}/chain/2", max_bytes=MB, allow_private=True, resolver=never_resolve)
    assert got.bytes == PNG and got.final_url == f"{server.base}/img"
    assert [path for path, _ in server.seen] == ["/chain/2", "/chain/1", "/chain/0", "/img"]


def test_more_than_3_redirects_are_refused_even_when_private_is_allowed(server):
    err = refused(f"{server.base}/chain/3", allow_private=True)
    assert err.code == "too_many_redirects"
    assert len(server.seen) == 4


def test_http_errors_name_the_status(server):
    err = refused(f"{server.base}/missing", allow_private=True)
    assert err.code == "image_fetch_failed" and "404" in err.message


def test_connection_refused_is_a_fetch_failure():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    err = refused(f"http://127.0.0.1:{port}/img", allow_private=True)
    assert err.code == "image_fetch_failed"


def test_streamed_body_over_the_cap_is_cut_off(server):
    start = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_url(f"{server.base}/endless", max_bytes=MB, allow_private=True, resolver=never_resolve)
    assert caught.value.code == "image_too_large"
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("path", ["/trickle", "/stall", "/slowchain/3"])
def test_the_time_budget_is_a_total(server, path):
    # /trickle keeps every read short, /stall has a gap longer than the budget
    # left, /slowchain spends 0.4 s on each of 4 hops: none may run past ~1 s.
    start = time.monotonic()
    err = refused(server.base + path, allow_private=True, timeout_seconds=1.0)
    elapsed = time.monotonic() - start
    assert err.code == "image_fetch_timeout"
    assert 0.9 <= elapsed < 1.5  # without a total deadline /stall takes ~1.7 s


# --- SSRF vectors ---------------------------------------------------------------

LOOPBACK_LITERALS = [
    "http://127.0.0.1:{p}/",
    "http://127.0.0.1.:{p}/",
    "http://2130706433:{p}/",
    "http://0x7f.1:{p}/",
    "http://0x7f000001:{p}/",
    "http://017700000001:{p}/",
    "http://127.1:{p}/",
    "http://127.0.1:{p}/",
    "http://0:{p}/",
    "http://0.0.0.0:{p}/",
    "http://[::1]:{p6}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "http://[::ffff:7f00:1]:{p}/",
    "http://[::127.0.0.1]:{p}/",
    "https://127.0.0.1:{p}/",
]

OTHER_LITERALS = [
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[::ffff:10.0.0.1]/",
]

# Dotted quads with leading zeros: httpx itself refuses to parse them.
UNPARSABLE = ["http://0177.0.0.1:{p}/", "http://127.000.000.001:{p}/", "http://0127.0.0.1:{p}/"]


def test_the_canary_sees_what_gets_through():
    # Proves the canary can count: with the address check off, an inet_aton
    # spelling of loopback connects, and to the normalised address.
    listener = Canary()
    try:
        err = refused(f"http://0x7f.1:{listener.port}/", allow_private=True)
        assert err.code == "image_fetch_failed"  # the canary hangs up without answering
        deadline = time.monotonic() + 2
        while listener.hits == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert listener.hits == 1
    finally:
        listener.close()


@pytest.mark.parametrize("template", LOOPBACK_LITERALS)
def test_loopback_literals_are_refused_over_the_real_stack(template, canary):
    url = template.format(p=canary.port, p6=canary.port6)
    assert refused(url).code == "image_url_forbidden"  # real transport: the canary would count it
    unreachable = Unreachable()
    assert refused(url, transport=unreachable).code == "image_url_forbidden"
    assert unreachable.requests == []


@pytest.mark.parametrize("url", OTHER_LITERALS)
def test_private_literals_are_refused(url, canary):
    unreachable = Unreachable()
    err = refused(url, transport=unreachable)
    assert err.code == "image_url_forbidden"
    assert "public internet" in err.message


@pytest.mark.parametrize("template", UNPARSABLE)
def test_zero_padded_dotted_quads_are_invalid_urls(template, canary):
    url = template.format(p=canary.port)
    assert refused(url).code == "invalid_image_url"
    assert refused(url, transport=Unreachable()).code == "invalid_image_url"


@pytest.mark.parametrize("url", ["http://1.2.3.4.5/", "http://256.1.1.1/", "http://1.2.3.0x100/", "http://example.08/"])
def test_numeric_hosts_that_are_no_address_are_invalid_urls(url, canary):
    assert refused(url, transport=Unreachable()).code == "invalid_image_url"
    with pytest.raises(InvalidRequest):
        validate_image_url(url, param="image")


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        [PUBLIC_IP, "127.0.0.1"],
        ["127.0.0.1", PUBLIC_IP],
        ["fd00::5", "2606:4700::1111"],
    ],
)
def test_names_resolving_to_any_private_address_are_refused(answers, canary):
    url = f"http://evil.test:{canary.port}/img"
    err = refused(url, resolver=resolving_to(*answers), transport=Unreachable())
    assert err.code == "image_url_forbidden"
    assert "evil.test" in err.message
    assert not any(a in err.message for a in answers)  # internal DNS answers are not echoed
    if all(a in ("127.0.0.1", "::ffff:127.0.0.1") for a in answers):
        assert refused(url, resolver=resolving_to(*answers)).code == "image_url_forbidden"


def test_localhost_is_refused_through_the_default_resolver(canary):
    # "localhost" comes from /etc/hosts: the one name the real resolver may see.
    assert refused(f"http://localhost:{canary.port}/", resolver=default_resolver).code == "image_url_forbidden"


class Recorder(httpx.MockTransport):
    """A fake network that answers from a script and records every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        super().__init__(lambda request: (self.requests.append(request), answer(request))[1])


def test_rebinding_cannot_move_the_connection():
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])
    resolver = lambda host, port: next(answers)  # noqa: E731
    recorder = Recorder(lambda request: httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"}))
    got = fetch_url("https://rebind.test/cat.png?x=1", max_bytes=MB, resolver=resolver, transport=recorder)
    assert got.bytes == PNG and got.final_url == "https://rebind.test/cat.png?x=1"
    [request] = recorder.requests
    assert request.url == httpx.URL(f"https://{PUBLIC_IP}/cat.png?x=1")
    assert request.headers["Host"] == "rebind.test"
    assert request.extensions["sni_hostname"] == "rebind.test"


def test_rebinding_on_a_redirect_hop_is_caught(canary):
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])
    recorder = Recorder(lambda request: httpx.Response(302, headers={"Location": "/next"}))
    err = refused("http://rebind.test/first", resolver=lambda host, port: next(answers), transport=recorder)
    assert err.code == "image_url_forbidden"
    assert len(recorder.requests) == 1


def test_ip_literal_https_sends_no_sni():
    recorder = Recorder(lambda request: httpx.Response(200, content=PNG))
    fetch_url(f"https://{PUBLIC_IP}:8443/a.png", max_bytes=MB, resolver=never_resolve, transport=recorder)
    [request] = recorder.requests
    assert request.headers["Host"] == f"{PUBLIC_IP}:8443" and "sni_hostname" not in request.extensions


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{p}/",
        "http://2130706433:{p}/",
        "http://0x7f.1:{p}/",
        "http://[::1]:{p6}/",
        "http://169.254.169.254/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{p}/",
    ],
)
def test_redirects_to_private_or_odd_urls_are_refused(location, canary):
    target = location.format(p=canary.port, p6=canary.port6)
    recorder = Recorder(lambda request: httpx.Response(302, headers={"Location": target}))
    err = refused("http://public.test/a.png", resolver=resolving_to(PUBLIC_IP), transport=recorder)
    assert err.code == "image_url_forbidden"
    assert len(recorder.requests) == 1


def test_redirect_hops_are_counted():
    def answer(request: httpx.Request) -> httpx.Response:
        n = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, content=PNG) if n == 0 else httpx.Response(301, headers={"Location": f"/r/{n - 1}"})

    ok = Recorder(answer)
    got = fetch_url("http://public.test/r/3", max_bytes=MB, resolver=resolving_to(PUBLIC_IP), transport=ok)
    assert got.bytes == PNG and got.final_url == "http://public.test/r/0"
    assert len(ok.requests) == 4
    too_many = Recorder(answer)
    err = refused("http://public.test/r/4", resolver=resolving_to(PUBLIC_IP), transport=too_many)
    assert err.code == "too_many_redirects"
    assert len(too_many.requests) == 4


# --- byte cap with a fake network -----------------------------------------------


class CountingStream(httpx.SyncByteStream):
    def __init__(self, chunk: bytes, count: int | None) -> None:
        self.chunk, self.count, self.served = chunk, count, 0

    def __iter__(self) -> Iterator[bytes]:
        while self.count is None or self.served < self.count:
            self.served += 1
            yield self.chunk


def test_content_length_over_the_cap_is_refused_unread():
    body = CountingStream(b"x" * 1000, 5)
    recorder = Recorder(lambda request: httpx.Response(200, headers={"Content-Length": "5000"}, stream=body))
    err = refused("http://public.test/big", resolver=resolving_to(PUBLIC_IP), transport=recorder, max_bytes=1000)
    assert err.code == "image_too_large" and body.served == 0


@pytest.mark.parametrize("declared", [None, "10"])
def test_a_body_past_the_cap_is_cut_off_whatever_it_declared(declared):
    body = CountingStream(b"x" * 1000, None)  # endless
    headers = {"Content-Length": declared} if declared else {}
    recorder = Recorder(lambda request: httpx.Response(200, headers=headers, stream=body))
    err = refused("http://public.test/big", resolver=resolving_to(PUBLIC_IP), transport=recorder, max_bytes=5000)
    assert err.code == "image_too_large" and body.served == 6


def test_compressed_bodies_are_refused():
    recorder = Recorder(lambda request: httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"\x1f\x8b"))
    err = refused("http://public.test/a", resolver=resolving_to(PUBLIC_IP), transport=recorder)
    assert err.code == "image_fetch_failed"
    assert recorder.requests[0].headers["Accept-Encoding"] == "identity"


# --- URL syntax -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.png",
        "http://example.com:8080/a?b=c",
        "https://[2606:4700::1111]/x",
        "https://bücher.de/b.jpg",
    ],
)
def test_validate_accepts_http_urls(url):
    validate_image_url(url, param="image")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/a.png",
        "/a.png",
        "http://",
        "https://user:pw@example.com/a.png",
        "http://exa mple.com/",
        "http://127%2e0%2e0%2e1/",
        "https://example.com/" + "a" * 2048,
    ],
)
def test_validate_refuses_other_urls(url):
    with pytest.raises(InvalidRequest) as caught:
        validate_image_url(url, param="image[1]")
    assert (caught.value.code, caught.value.param, caught.value.status) == ("invalid_image_url", "image[1]", 400)
    assert caught.value.message.startswith("image[1] ")


def test_fetch_refuses_bad_syntax_before_anything_else(canary):
    err = refused(f"gopher://127.0.0.1:{canary.port}/", transport=Unreachable())
    assert err.code == "invalid_image_url"


def test_a_name_that_does_not_resolve_and_one_that_resolves_privately_are_refused_alike() -> None:
    """Issue 10: telling "no such name" from "a private address" would map the server's internal DNS."""

    def no_such_name(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    url = "http://db.internal.example/cat.png"
    answers = [
        refused(url, resolver=resolver, transport=Unreachable())
        for resolver in (no_such_name, resolving_to("10.1.2.3"), resolving_to("127.0.0.1"),
                         resolving_to("169.254.169.254"), resolving_to(), resolving_to("not an address"))
    ]
    assert {(err.code, err.message) for err in answers} == {(answers[0].code, answers[0].message)}
    assert answers[0].code == "image_url_forbidden" and "db.internal.example" in answers[0].message
    assert "10.1.2.3" not in answers[1].message
