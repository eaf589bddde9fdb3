"""``videos.quote`` and ``jobs.delete`` (SPEC §11), sync and async, against a real server on a loopback port."""

from __future__ import annotations

from decimal import Decimal

import pytest

import happyhorse


def test_quote_resolves_the_request_and_submits_nothing(idle_client, idle_service, image_file):
    before = idle_client.account.retrieve()
    quote = idle_client.videos.quote(prompt="a quote", duration=4, resolution="1080p")
    assert isinstance(quote, happyhorse.Quote) and quote.object == "video.generation.quote"
    assert quote.billed_seconds == 4 and quote.price_usd == quote.unit_price_usd * 4
    assert quote.affordable and quote.available_usd == before.available_usd
    assert quote.eta_seconds is None  # nothing ever completed here: no made-up number
    assert (quote.request.mode, quote.request.aspect_ratio, quote.request.width, quote.request.height) == \
        ("t2v", "16:9", 1920, 1080)
    assert quote.request.seed is None
    i2v = idle_client.videos.quote(prompt="from a file", image=image_file(400, 700), seed=3)
    assert (i2v.request.mode, i2v.request.aspect_ratio, i2v.request.seed) == ("i2v", "9:16", 3)
    assert (i2v.request.width, i2v.request.height) == (720, 1280)
    assert not [job for job in idle_client.jobs.list() if job.request.prompt in ("a quote", "from a file")]
    assert idle_client.account.retrieve().available_usd == before.available_usd
    assert not list(idle_service.runtime.storage.list_objects("uploads/"))  # the file went inline, not uploaded


def test_quote_fails_as_the_submit_would(idle_client):
    with pytest.raises(happyhorse.BadRequestError) as refused:
        idle_client.videos.quote(prompt="too long", duration=20)
    assert refused.value.code == "duration_out_of_range" and refused.value.param == "duration"


def test_quote_has_an_eta_once_a_job_completed(client, service):
    client.videos.generate_and_wait(prompt="history", duration=3, poll_interval=0.05)
    service.runtime.speed._cached = None  # the server caches its measured speed for a few seconds
    quote = client.videos.quote(prompt="next", duration=3)
    assert isinstance(quote.eta_seconds, int) and quote.eta_seconds >= 1


def test_delete_an_ended_job_then_it_is_gone(client, service):
    job = client.videos.generate_and_wait(prompt="to delete", duration=3, poll_interval=0.05)
    balance = client.account.retrieve().balance_usd
    deleted = client.jobs.delete(job)
    assert deleted == happyhorse.JobDeleted(id=job.job_id)
    with pytest.raises(happyhorse.NotFoundError):
        client.jobs.retrieve(job.job_id)
    with pytest.raises(happyhorse.NotFoundError):
        client.jobs.delete(job.job_id)
    assert job.job_id not in [listed.job_id for listed in client.jobs.list()]
    assert not list(service.runtime.storage.list_objects(f"outputs/{job.job_id}/"))
    assert client.account.retrieve().balance_usd == balance  # the charge stays


def test_delete_of_a_queued_job_is_a_conflict_until_cancelled(idle_client):
    job = idle_client.videos.generate(prompt="still queued", duration=3)
    with pytest.raises(happyhorse.ConflictError) as busy:
        idle_client.jobs.delete(job)
    assert busy.value.code == "job_not_ended"
    idle_client.jobs.cancel(job)
    assert idle_client.jobs.delete(job.job_id).deleted is True


@pytest.mark.anyio
async def test_async_quote_and_delete(service, idle_service):
    async with happyhorse.AsyncClient(api_key=service.api_key, base_url=service.base_url) as client:
        quote = await client.videos.quote(prompt="async quote", duration=5)
        assert quote.price_usd == Decimal(quote.unit_price_usd) * 5 and quote.request.mode == "t2v"
        with pytest.raises(happyhorse.BadRequestError):
            await client.videos.quote(prompt="bad", aspect_ratio="2:1")  # type: ignore[arg-type]
        job = await client.videos.generate_and_wait(prompt="async delete", duration=3, poll_interval=0.05)
        assert (await client.jobs.delete(job)).id == job.job_id
        with pytest.raises(happyhorse.NotFoundError):
            await client.jobs.retrieve(job.job_id)
    async with happyhorse.AsyncClient(api_key=idle_service.api_key, base_url=idle_service.base_url) as idle:
        queued = await idle.videos.generate(prompt="async queued", duration=3)
        with pytest.raises(happyhorse.ConflictError):
            await idle.jobs.delete(queued)
