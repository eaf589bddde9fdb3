"""The storage options of ``serve``, ``api``, ``worker`` and ``storage sweep``, as real subprocesses.

S3 is moto's server on loopback (the ``s3_endpoint`` fixture puts dummy
credentials in the environment the subprocesses inherit).
"""

from __future__ import annotations

import boto3

STORAGE_OPTIONS = ["--storage", "--s3-bucket", "--s3-prefix", "--s3-endpoint-url", "--s3-region"]
STORAGE_ENV = ["HAPPYHORSE_STORAGE", "HAPPYHORSE_S3_BUCKET", "HAPPYHORSE_S3_PREFIX", "HAPPYHORSE_S3_ENDPOINT_URL",
               "HAPPYHORSE_S3_REGION"]


def test_help_documents_the_storage_options(hh) -> None:
    for done in hh.run_many(["worker", "--help"], ["api", "--help"], ["serve", "--help"], ["storage", "sweep", "--help"]):
        assert done.returncode == 0, done.stderr
        assert "Storage" in done.stdout
        for text in [*STORAGE_OPTIONS, *STORAGE_ENV]:
            assert text in done.stdout, (done.args, text)


def test_a_bucket_that_cannot_be_used_stops_the_start_with_exit_2(hh, tmp_path, s3_endpoint) -> None:
    data = str(tmp_path / "data")
    s3 = ["--storage", "s3", "--s3-endpoint-url", s3_endpoint, "--s3-region", "us-east-1"]
    worker, no_bucket, not_s3, bad_prefix = hh.run_many(
        ["worker", "--data-dir", data, *s3, "--s3-bucket", "no-such-bucket"],
        ["worker", "--data-dir", data, "--storage", "s3"],
        ["worker", "--data-dir", data, "--s3-bucket", "forgot-storage-s3"],
        ["worker", "--data-dir", data, *s3, "--s3-bucket", "b", "--s3-prefix", "../up"],
    )
    assert worker.returncode == 2, worker.stderr
    assert "cannot start" in worker.stderr and "s3://no-such-bucket/" in worker.stderr
    assert "does not exist" in worker.stderr and "Traceback" not in worker.stderr
    assert no_bucket.returncode == 2 and "--s3-bucket" in no_bucket.stderr
    assert not_s3.returncode == 2 and "--storage s3" in not_s3.stderr
    assert bad_prefix.returncode == 2 and "invalid S3 prefix" in bad_prefix.stderr


def test_environment_variables_configure_s3(hh, tmp_path, s3_endpoint) -> None:
    """``api`` configured by the environment alone; it exits before it would listen."""
    env = {"HAPPYHORSE_STORAGE": "s3", "HAPPYHORSE_S3_BUCKET": "env-bucket-missing",
           "HAPPYHORSE_S3_ENDPOINT_URL": s3_endpoint, "HAPPYHORSE_S3_REGION": "us-east-1"}
    (api,) = hh.run_many(["api", "--data-dir", str(tmp_path / "data"), "--port", "1"], env=env)
    assert api.returncode == 2, api.stderr
    assert "s3://env-bucket-missing/" in api.stderr and "does not exist" in api.stderr


def test_storage_sweep_runs_against_the_bucket(hh, tmp_path, s3_endpoint) -> None:
    bucket = "sweep-from-the-cli"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="fleet/uploads/upload_0orphan.png", Body=b"png")
    done = hh.run("storage", "sweep", "--grace", "0", "--data-dir", str(tmp_path / "data"), "--storage", "s3",
                  "--s3-bucket", bucket, "--s3-prefix", "fleet", "--s3-endpoint-url", s3_endpoint)
    assert "deleted uploads/upload_0orphan.png 3" in done.stdout
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert not (tmp_path / "data" / "files").exists()
