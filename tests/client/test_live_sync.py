"""The sync Client against a real server on a loopback port: every method."""

from __future__ import annotations

from decimal import Decimal

import pytest

import happyhorse
from happyhorse.media.probe import probe


def test_generate_wait_and_download_a_playable_mp4(client, tmp_path):
    seen: list[happyhorse.Job] = []
    submitted = client.videos.generate(prompt="a horse on a beach at dawn", duration=3, seed=11, watermark=True)
    assert submitted.status == "queued" and submitted.queue_position == 1
    assert submitted.request.mode == "t2v" and submitted.request.seed == 11 and submitted.request.watermark

    job = client.jobs.wait(submitted, on_progress=seen.append, poll_interval=0.05)

    assert job.status == "completed" and job.progress == 100 and job.is_terminal
    assert seen[0].status in ("queued", "running") and seen[-1].status == "completed"
    assert [j.progress for j in seen] == sorted(j.progress for j in seen)  # never goes down
    assert job.engine == "preview" and job.usage and job.usage.cost_usd == Decimal("0.42")
    assert job.video and (job.video.width, job.video.height, job.video.fps) == (1280, 720, 24)
    path = client.jobs.download(job, tmp_path / "horse.mp4")
    assert path == tmp_path / "horse.mp4" and path.stat().st_size == job.video.bytes
    info = probe(path)
    assert (info.width, info.height, info.num_frames, info.has_audio) == (1280, 720, 72, True)
    poster = client.jobs.download(job.job_id, tmp_path, variant="poster")
    assert poster == tmp_path / f"{job.job_id}.jpg" and poster.read_bytes()[:3] == b"\xff\xd8\xff"
    assert not list(tmp_path.glob(".*.part"))


def test_i2v_from_a_local_file_follows_the_image(client, image_file, tmp_path):
    job = client.videos.generate_and_wait(
        prompt="the scene comes alive", image=image_file(400, 700), duration=3, poll_interval=0.05
    )
    assert job.request.mode == "i2v" and job.request.images == 1 and job.request.aspect_ratio == "9:16"
    info = probe(client.jobs.download(job, tmp_path))
    assert (info.width, info.height) == (720, 1280)


def test_i2v_from_a_pil_image_and_r2v_from_file_and_pil(client, image_file, pil_image, tmp_path):
    i2v = client.videos.generate(prompt="slow push-in", image=pil_image(600, 600), duration=3)
    r2v = client.videos.generate(
        prompt="character1 meets character2 on a hill",
        image=[image_file(640, 480, seed=1), pil_image(500, 800, seed=2)],
        aspect_ratio="1:1",
        duration=3,
    )
    assert (i2v.request.mode, i2v.request.aspect_ratio) == ("i2v", "1:1")
    assert (r2v.request.mode, r2v.request.images) == ("r2v", 2)
    for job, size in ((i2v, (960, 960)), (r2v, (960, 960))):
        done = client.jobs.wait(job, poll_interval=0.05)
        info = probe(client.jobs.download(done, tmp_path))
        assert (info.width, info.height, info.num_frames) == (*size, 72)


def test_uploads_create_retrieve_and_reuse(client, image_file, pil_image):
    from_file = client.uploads.create(image_file(800, 600))
    from_bytes = client.uploads.create(image_file(800, 600, seed=3).read_bytes())
    with open(image_file(320, 320, seed=4), "rb") as handle:
        from_handle = client.uploads.create(handle)
    from_pil = client.uploads.create(pil_image(300, 700))
    assert from_file.upload_id.startswith("upload_") and (from_file.width, from_file.height) == (800, 600)
    assert from_file.content_type == "image/png" and from_bytes.bytes > 0 and from_handle.width == 320
    assert client.uploads.retrieve(from_pil.upload_id) == from_pil
    # An Upload or its id goes into `image` as it is.
    job = client.videos.generate(prompt="character1 and character2", image=[from_file, from_pil.upload_id], duration=3)
    assert job.request.mode == "r2v" and job.request.images == 2
    client.jobs.wait(job, poll_interval=0.05)


def test_an_image_url_refused_at_submit_raises_bad_request(client):
    # Image URLs are fetched at submit: a loopback one is a 400 and no job is made.
    with pytest.raises(happyhorse.BadRequestError) as caught:
        client.videos.generate(prompt="from the network", image="http://127.0.0.1:9/x.png", duration=3)
    assert (caught.value.code, caught.value.param) == ("invalid_image", "image")


def test_a_failed_job_raises_job_failed(client, service, image_file):
    job = client.videos.generate(prompt="lost input", image=upload_whose_file_is_lost(client, service, image_file),
                                 duration=3)
    with pytest.raises(happyhorse.JobFailedError) as caught:
        client.jobs.wait(job, poll_interval=0.05)
    assert caught.value.code == "generation_failed" and caught.value.error_message
    assert caught.value.job.status == "failed" and caught.value.job_id == job.job_id
    assert isinstance(caught.value, happyhorse.JobNotCompletedError)


def upload_whose_file_is_lost(client, service, image_file) -> str:  # type: ignore[no-untyped-def]
    """An upload id the API accepts but whose stored bytes are gone: the worker fails its job."""
    upload_id = client.uploads.create(image_file(640, 480)).upload_id
    for listed in list(service.runtime.storage.list_objects(f"uploads/{upload_id}.")):
        service.runtime.storage.delete(listed.key)
    return upload_id


def test_models_list_and_retrieve_name_the_engine(client):
    [card] = client.models.list()
    assert card.id == "happyhorse-1-1" and "t2v" in card.modes
    assert card.engine.name == "preview" and card.engine.neural is False and card.engine.description
    assert client.models.retrieve("HappyHorse-1.1") == card
    with pytest.raises(happyhorse.NotFoundError) as caught:
        client.models.retrieve("other-model")
    assert caught.value.code == "model_not_found"


def test_list_paginates_across_pages_newest_first(idle_service):
    key = idle_service.new_account_key("pager")
    with happyhorse.Client(api_key=key, base_url=idle_service.base_url) as client:
        ids = [client.videos.generate(prompt=f"job {n}", duration=3).job_id for n in range(5)]
        pages = list(client.jobs.list(limit=2).pages())
        assert [len(page.data) for page in pages] == [2, 2, 1]
        assert [page.has_more for page in pages] == [True, True, False]
        assert [job.job_id for job in client.jobs.list(limit=2)] == ids[::-1]
        assert [job.job_id for job in client.jobs.list(limit=100, after=ids[2])] == ids[1::-1]


def test_cancel_then_wait_raises_job_cancelled(idle_client):
    job = idle_client.videos.generate(prompt="never mind", duration=3)
    cancelled = idle_client.jobs.cancel(job)
    assert cancelled.status == "cancelled"
    with pytest.raises(happyhorse.JobCancelledError) as caught:
        idle_client.jobs.wait(job)
    assert caught.value.job.status == "cancelled"
    with pytest.raises(happyhorse.ConflictError):
        idle_client.jobs.cancel(job.job_id)


def test_wait_times_out_and_download_of_an_unfinished_job_is_a_conflict(idle_client, tmp_path):
    job = idle_client.videos.generate(prompt="stuck in the queue", duration=3)
    with pytest.raises(happyhorse.WaitTimeoutError) as caught:
        idle_client.jobs.wait(job, timeout=0.3, poll_interval=0.1)
    assert isinstance(caught.value, TimeoutError) and caught.value.job.status == "queued"
    with pytest.raises(happyhorse.ConflictError) as conflict:
        idle_client.jobs.download(job, tmp_path / "nothing.mp4")
    assert conflict.value.code == "job_not_completed" and not (tmp_path / "nothing.mp4").exists()
    assert not list(tmp_path.iterdir())
    idle_client.jobs.cancel(job)


def test_with_options_shares_the_pool(client):
    quick = client.with_options(timeout=5, max_retries=0)
    assert quick.max_retries == 0 and quick.timeout.read == 5 and quick._http is client._http
    assert quick.models.retrieve().id == "happyhorse-1-1"


def test_account_shows_the_hold_of_a_queued_job_and_its_release(idle_service):
    from decimal import Decimal

    key = idle_service.new_account_key("sdk-account", credits="5")
    with happyhorse.Client(api_key=key, base_url=idle_service.base_url) as client:
        before = client.account.retrieve()
        assert before.object == "account" and before.name == "sdk-account" and before.currency == "USD"
        assert (before.balance_usd, before.held_usd, before.available_usd) == (Decimal("5"), 0, Decimal("5"))
        job = client.videos.generate(prompt="a held horse", duration=3)  # 3 s at 720p: $0.42, held while queued
        held = client.account.retrieve()
        assert (held.held_usd, held.available_usd, held.pending_holds) == (Decimal("0.42"), Decimal("4.58"), 1)
        assert held.balance_usd == Decimal("5") and isinstance(held.available_usd, Decimal)
        client.jobs.cancel(job)
        after = client.account.retrieve()
        assert (after.held_usd, after.available_usd, after.pending_holds) == (0, Decimal("5"), 0)
        assert after.spent_this_month_usd == 0 and len(after.month) == 7
