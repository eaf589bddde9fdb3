"""The AsyncClient against a real server on a loopback port: every method."""

from __future__ import annotations

import pytest

import happyhorse
from happyhorse.media.probe import probe

pytestmark = pytest.mark.anyio


async def test_generate_and_wait_download_with_async_progress(service, tmp_path):
    seen: list[int] = []

    async def on_progress(job: happyhorse.Job) -> None:
        seen.append(job.progress)

    async with happyhorse.AsyncClient(api_key=service.api_key, base_url=service.base_url) as client:
        job = await client.videos.generate_and_wait(
            prompt="waves at night", duration=3, aspect_ratio="9:16", on_progress=on_progress, poll_interval=0.05
        )
        assert job.status == "completed" and seen[-1] == 100 and seen == sorted(seen)
        assert (await client.jobs.retrieve(job.job_id)).job_id == job.job_id
        path = await client.jobs.download(job, tmp_path / "waves.mp4")
        poster = await client.jobs.download(job, tmp_path, variant="poster")
    info = probe(path)
    assert (info.width, info.height, info.num_frames, info.has_audio) == (720, 1280, 72, True)
    assert poster.suffix == ".jpg" and poster.stat().st_size > 0


async def test_i2v_and_r2v_from_files_and_pil_upload_concurrently(service, image_file, pil_image, tmp_path):
    async with happyhorse.AsyncClient(api_key=service.api_key, base_url=service.base_url) as client:
        i2v = await client.videos.generate(prompt="the picture moves", image=image_file(700, 400), duration=3)
        r2v = await client.videos.generate(
            prompt="character1 waves at character2 and character3",
            image=[pil_image(400, 400, seed=1), image_file(500, 500, seed=2), pil_image(640, 360, seed=3)],
            aspect_ratio="4:3",
            duration=3,
        )
        assert (i2v.request.mode, r2v.request.mode, r2v.request.images) == ("i2v", "r2v", 3)
        done = [await client.jobs.wait(job, poll_interval=0.05) for job in (i2v, r2v)]
        sizes = [probe(await client.jobs.download(job, tmp_path)) for job in done]
    assert [(s.width, s.height) for s in sizes] == [(1280, 720), (1088, 832)]


async def test_uploads_models_and_failures(service, pil_image):
    async with happyhorse.AsyncClient(api_key=service.api_key, base_url=service.base_url) as client:
        upload = await client.uploads.create(pil_image(640, 640))
        assert await client.uploads.retrieve(upload.upload_id) == upload
        [card] = await client.models.list()
        assert card.engine.name == "preview" and (await client.models.retrieve()).id == card.id
        with pytest.raises(happyhorse.BadRequestError) as refused:  # image URLs are fetched at submit
            await client.videos.generate(prompt="from the network", image="http://127.0.0.1:9/x.png", duration=3)
        assert (refused.value.code, refused.value.param) == ("invalid_image", "image")
        lost = await client.uploads.create(pil_image(640, 640, seed=2))
        for listed in list(service.runtime.storage.list_objects(f"uploads/{lost.upload_id}.")):
            service.runtime.storage.delete(listed.key)  # the job is accepted; the worker fails it
        job = await client.videos.generate(prompt="lost input", image=lost.upload_id, duration=3)
        with pytest.raises(happyhorse.JobFailedError) as caught:
            await client.jobs.wait(job, poll_interval=0.05)
        assert caught.value.code == "generation_failed"
        with pytest.raises(happyhorse.BadRequestError) as bad:
            await client.videos.generate(prompt="too long", duration=20)
        assert (bad.value.code, bad.value.param) == ("duration_out_of_range", "duration")


async def test_list_paginates_cancel_and_timeout(idle_service):
    key = idle_service.new_account_key("async-pager")
    async with happyhorse.AsyncClient(api_key=key, base_url=idle_service.base_url) as client:
        ids = [(await client.videos.generate(prompt=f"job {n}", duration=3)).job_id for n in range(3)]
        assert [job.job_id async for job in client.jobs.list(limit=2)] == ids[::-1]
        assert [len(page.data) async for page in client.jobs.list(limit=2).pages()] == [2, 1]
        with pytest.raises(happyhorse.WaitTimeoutError):
            await client.jobs.wait(ids[0], timeout=0.2, poll_interval=0.05)
        assert (await client.jobs.cancel(ids[0])).status == "cancelled"
        with pytest.raises(happyhorse.JobCancelledError):
            await client.jobs.wait(ids[0])
        with pytest.raises(happyhorse.ConflictError):
            await client.jobs.cancel(ids[0])


async def test_account_retrieve(service):
    from decimal import Decimal

    key = service.new_account_key("sdk-account-async", credits="7.5")
    async with happyhorse.AsyncClient(api_key=key, base_url=service.base_url) as client:
        account = await client.account.retrieve()
    assert (account.name, account.balance_usd, account.available_usd) == ("sdk-account-async", Decimal("7.5"), Decimal("7.5"))
