"""The SDK in-process, without a socket: ``httpx.ASGITransport`` (async) and Starlette's
TestClient (sync) in front of the app. No worker runs, so jobs stay queued."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

import happyhorse
from happyhorse.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory) -> Iterator[tuple[object, str]]:
    from happyhorse.accounts import create_account, create_key
    from happyhorse.app import create_app
    from happyhorse.billing.ledger import grant_credits
    from happyhorse.runtime import Runtime

    runtime = Runtime.open(Settings(data_dir=tmp_path_factory.mktemp("hh-asgi"), signing_secret="s"))
    account = create_account(runtime.db, "asgi")
    grant_credits(runtime.db, account.id, Decimal("100"))  # every submit holds its price
    key = create_key(runtime.db, account.id).key
    try:
        yield create_app(runtime), key
    finally:
        runtime.close()


async def test_async_client_over_asgi_transport(app_and_key, pil_image):
    app, key = app_and_key
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))  # type: ignore[arg-type]
    async with http, happyhorse.AsyncClient(api_key=key, base_url="http://testserver", http_client=http) as client:
        job = await client.videos.generate(prompt="character1 in the rain", image=[pil_image(500, 500)], duration=3)
        assert job.status == "queued" and job.request.mode == "r2v"
        assert (await client.jobs.retrieve(job)).status == "queued"
        assert [j.job_id async for j in client.jobs.list()][0] == job.job_id
        assert (await client.models.retrieve()).engine.name == "preview"
        assert (await client.jobs.cancel(job)).status == "cancelled"
        with pytest.raises(happyhorse.NotFoundError) as caught:
            await client.jobs.retrieve("job_doesnotexist")
        assert caught.value.request_id == caught.value.response.headers["x-request-id"]


# Starlette asks for httpx2 in its TestClient; the httpx it still accepts is what this SDK uses.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_sync_client_over_starlette_test_client(app_and_key, image_file):
    from starlette.testclient import TestClient

    app, key = app_and_key
    with TestClient(app) as http, happyhorse.Client(api_key=key, base_url="http://testserver", http_client=http) as client:
        upload = client.uploads.create(image_file(640, 360))
        job = client.videos.generate(prompt="a city at night", image=upload, duration=3)
        assert job.request.mode == "i2v" and job.request.aspect_ratio == "16:9"
        assert client.jobs.retrieve(job.job_id).job_id == job.job_id
        assert job.job_id in [j.job_id for j in client.jobs.list(limit=1)]
        assert client.models.list()[0].id == "happyhorse-1-1"
        assert client.jobs.cancel(job).status == "cancelled"
