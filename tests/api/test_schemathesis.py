"""Schemathesis against the running API: no 5xx, no answer outside the OpenAPI document.

The schema is read from ``/openapi.json`` of a real server on a loopback port
(``running_service``, without a worker: submitted jobs stay queued), once on
SQLite and once on PostgreSQL. Every
operation is called with generated requests, valid and invalid ones, by an
account with plenty of credit; each answer must not be a 5xx and must match
what the document says of that operation: a documented status, its content
type, its body schema and its headers. Invalid input must be rejected (4xx),
valid input accepted.

Hypothesis is bounded and derandomized, so a run is reproducible and short
(about 10 s per database, some 840 requests each).
"""

from __future__ import annotations

import io
import itertools
import os
import re
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from happyhorse.settings import Settings
from happyhorse.testing import running_service

MAX_EXAMPLES = int(os.environ.get("HAPPYHORSE_SCHEMATHESIS_EXAMPLES", "25"))
"""Hypothesis examples per operation (the coverage phase adds its own boundary cases).
Raise it, and set ``HAPPYHORSE_SCHEMATHESIS_RANDOM=1`` for fresh seeds, to search harder locally."""


IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/bmp": "BMP"}


@st.composite
def _images(draw, image_format: str) -> bytes:
    """Images the upload rules accept (SPEC §3: each side >= 300 px, aspect within 1:2.5..2.5:1)."""
    width = draw(st.integers(300, 600))
    height = draw(st.integers(max(300, int(width / 2.5) + 1), int(width * 2.5)).filter(lambda h: h <= 600))
    color = draw(st.tuples(*[st.integers(0, 255)] * 3))
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, image_format)
    return buffer.getvalue()


# Schemathesis's own image bodies are 1x1 pixels, which the upload rules reject: send real ones.
for _media_type, _format in IMAGE_FORMATS.items():
    schemathesis.openapi.media_type(_media_type, _images(_format))


POSTGRES_ADMIN_URL = os.environ.get("HAPPYHORSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> Iterator[str | None]:
    """The embedded default (SQLite) and a fresh PostgreSQL database: each refuses other inputs
    (PostgreSQL text cannot hold NUL, for one)."""
    if request.param == "sqlite":
        yield None
        return
    if os.environ.get("HAPPYHORSE_TEST_POSTGRES", "1") == "0":
        pytest.skip("HAPPYHORSE_TEST_POSTGRES=0")
    import psycopg

    name = f"hh_schemathesis_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def live(tmp_path_factory, database_url):
    # The rate limit stays on (its 429 is documented), high enough that generated traffic never meets it.
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("hh-schemathesis"),
        database_url=database_url,
        signing_secret="test-secret",
        rate_limit_per_second=10_000,
        rate_limit_burst=100_000,
        # Image URLs are fetched at submit: generated URLs would send traffic off this machine.
        accept_image_urls=False,
    )
    with running_service(settings, worker=False) as service:
        yield service


@pytest.fixture(scope="module")
def api_key(live):
    return live.new_account_key("schemathesis", credits="1000000")


@pytest.fixture(scope="module")
def api_schema(live, api_key):
    # The key goes to the document's bearer scheme. Invalid requests keep it
    # (no generated security parameters): otherwise most of them would test only the
    # missing key. The `ignored_auth` check still sends requests without it and expects 401.
    config = SchemathesisConfig.from_dict({
        "auth": {"openapi": {"apiKey": {"bearer": api_key}}},
        "generation": {"with-security-parameters": False},
    })
    return schemathesis.openapi.from_url(f"{live.base_url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # Schemathesis's lazy schemas read and rename ``node._nodeid``, which pytest 9.2
    # no longer has (the id lives in ``node._id``): give it the attribute to work on.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("HAPPYHORSE_SCHEMATHESIS_RANDOM") != "1",  # CI: the same cases every run
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, live):
    _unique_idempotency_key(case)
    case.call_and_validate(
        base_url=live.base_url,
        excluded_checks=_beyond_the_schema(case),
        timeout=30,
    )


_KEYS = itertools.count()


def _unique_idempotency_key(case) -> None:
    """Make a generated ``Idempotency-Key`` unique to its case.

    Generated keys repeat ("0", "a"...) across cases with different bodies, and the same key
    with another body is rightly a 422: that rule is tested on its own (billing tests).
    The key stays as generated otherwise, and within its schema."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and re.fullmatch(r"[!-~]([ -~]*[!-~])?", key) and len(key) <= 255:
        prefix = f"{next(_KEYS)}-"
        case.headers["Idempotency-Key"] = prefix + key[-(255 - len(prefix)):]


def _beyond_the_schema(case) -> list:
    """Checks that do not apply to ``case`` because its answer depends on more than its schema.

    A schema-valid submit (or quote) with images (or an explicit i2v/r2v mode) may still be a 400 for a
    rule of SPEC §3 that a JSON Schema does not state: the mode must fit the image count,
    ``characterN`` must name an image, a data URI must hold a valid image, an upload id must
    exist; a webhook URL must resolve to public addresses. Those rules have their own tests (test_submit_rules.py); here such a request is
    still checked for everything else (no 5xx, a documented status and shape)."""
    body = case.body if isinstance(case.body, dict) else {}
    # A webhook URL must resolve to public addresses (the egress guard, SPEC §10): the generated
    # ones do not, and that rule has its own tests (tests/webhooks/test_routes.py).
    if case.operation.label.startswith("POST /v1/webhook_endpoints") and "url" in body:
        return [positive_data_acceptance]
    # The OpenAI-compatible create (SPEC §9) applies the submit's rules too, and the image behind
    # input_reference must be a valid one; size and aspect_ratio/resolution must agree.
    if case.operation.label == "POST /v1/videos" and (
        any(body.get(name) is not None for name in ("image", "input_reference", "input_reference[image_url]"))
        or body.get("mode") in ("i2v", "r2v")
        or ("size" in body and ("aspect_ratio" in body or "resolution" in body))
    ):
        return [positive_data_acceptance]
    # The quote applies exactly the submit's rules (SPEC §11).
    submit_like = ("POST /v1/videos/generations", "POST /v1/videos/generations/quote")
    if case.operation.label in submit_like and (
        body.get("image") is not None or body.get("mode") in ("i2v", "r2v")
    ):
        return [positive_data_acceptance]
    return []
