"""End to end with S3 storage: a live service whose uploads and outputs live in a bucket.

The bucket is on moto's S3 server on loopback (the ``s3_bucket`` fixture);
the service builds its own boto3 client from the settings, as a deployment does.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from happyhorse.media.probe import probe
from happyhorse.settings import Settings
from happyhorse.testing import running_service

from .conftest import png_bytes, wait_for_job

pytestmark = pytest.mark.slow


def test_a_job_is_stored_in_the_bucket_and_served_from_it(tmp_path, s3_bucket, s3_endpoint, s3_client):
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, signing_secret="test-secret", storage="s3", s3_bucket=s3_bucket,
                        s3_prefix="fleet", s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    image = "data:image/png;base64," + base64.b64encode(png_bytes(1280, 720, seed=4)).decode()
    with running_service(settings) as live, httpx.Client(base_url=live.base_url, headers=live.headers(),
                                                         timeout=60) as api:
        response = api.post("/v1/videos/generations", json={"prompt": "a horse in the rain", "image": image,
                                                             "duration": 3, "seed": 11})
        assert response.status_code == 202, response.text
        job = wait_for_job(api, response.json()["job_id"], timeout=120)
        assert job["status"] == "completed", job

        content = api.get(f"/v1/jobs/{job['job_id']}/content", follow_redirects=True)
        assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
        # Seeking in the player: a byte range of the same object, from the bucket.
        ranged = api.get(job["result"]["outputs"][0]["url"], headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == content.content[100:200]

    video = tmp_path / "video.mp4"
    video.write_bytes(content.content)
    info = probe(video)
    assert (info.width, info.height, info.num_frames, info.fps) == (1280, 720, 72, 24)
    assert info.has_audio and info.audio_codec == "aac"

    listed = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    keys = {item["Key"] for item in listed}
    outputs = {key for key in keys if key.startswith(f"fleet/outputs/{job['job_id']}/")}
    assert {key.rsplit("/", 1)[-1] for key in outputs} == {"video.mp4", "poster.jpg"}
    uploads = {key for key in keys if key.startswith("fleet/uploads/upload_")}
    assert len(uploads) == 1 and keys == outputs | uploads
    stored = next(key for key in outputs if key.endswith("/video.mp4"))
    assert s3_client.get_object(Bucket=s3_bucket, Key=stored)["Body"].read() == content.content
    # Nothing went to local disk (the worker's scratch folder is emptied after each job).
    assert not (data_dir / "files").exists()
    assert not any(path.is_file() for path in (data_dir / "tmp").rglob("*"))
