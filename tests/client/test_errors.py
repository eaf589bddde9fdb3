"""Each status maps to its exception class, carrying code, param, message and request_id."""

from __future__ import annotations

import httpx
import pytest

import happyhorse

CLASSES = [
    (400, happyhorse.BadRequestError), (401, happyhorse.AuthenticationError),
    (402, happyhorse.InsufficientCreditsError), (403, happyhorse.PermissionDeniedError),
    (404, happyhorse.NotFoundError), (409, happyhorse.ConflictError), (413, happyhorse.PayloadTooLargeError),
    (422, happyhorse.UnprocessableEntityError), (429, happyhorse.RateLimitError),
    (500, happyhorse.InternalServerError), (503, happyhorse.InternalServerError), (418, happyhorse.APIStatusError),
]


def answering(response: httpx.Response) -> happyhorse.Client:
    transport = httpx.MockTransport(lambda request: response)
    return happyhorse.Client(api_key="k", base_url="http://api.test", max_retries=0,
                             http_client=httpx.Client(transport=transport))


@pytest.mark.parametrize(("status", "error_class"), CLASSES)
def test_each_status_raises_its_class(status, error_class):
    body = {"error": {"type": "t", "code": f"code_{status}", "message": "what to change", "param": "duration",
                      "request_id": "req_envelope"}}
    with pytest.raises(error_class) as caught:
        answering(httpx.Response(status, json=body, headers={"x-request-id": "req_header"})).jobs.retrieve("job_1")
    error = caught.value
    assert type(error) is error_class and isinstance(error, happyhorse.APIStatusError)
    assert (error.status_code, error.code, error.param, error.message) == (status, f"code_{status}", "duration", "what to change")
    assert error.request_id == "req_envelope" and error.type == "t" and error.response.status_code == status
    assert str(error) == f"{status} code_{status}: what to change (param: duration) [request_id: req_envelope]"


def test_payload_too_large_is_a_bad_request():
    assert issubclass(happyhorse.PayloadTooLargeError, happyhorse.BadRequestError)
    assert issubclass(happyhorse.APITimeoutError, happyhorse.APIConnectionError)
    assert issubclass(happyhorse.APIConnectionError, happyhorse.APIError)
    assert issubclass(happyhorse.JobFailedError, happyhorse.HappyHorseError)


def test_request_id_falls_back_to_the_header_and_a_non_json_body_still_maps():
    with pytest.raises(happyhorse.InternalServerError) as caught:
        answering(httpx.Response(502, text="bad gateway", headers={"x-request-id": "req_h"})).models.list()
    assert caught.value.request_id == "req_h" and caught.value.code is None and caught.value.message == "bad gateway"


def test_an_unexpected_2xx_body_is_a_response_validation_error():
    with pytest.raises(happyhorse.APIResponseValidationError):
        answering(httpx.Response(200, json={"job_id": 1})).jobs.retrieve("job_1")


def test_no_api_key_is_a_configuration_error(monkeypatch):
    monkeypatch.delenv("HAPPYHORSE_API_KEY", raising=False)
    with pytest.raises(happyhorse.HappyHorseError, match="HAPPYHORSE_API_KEY"):
        happyhorse.Client()


def test_environment_configures_the_client(monkeypatch):
    monkeypatch.setenv("HAPPYHORSE_API_KEY", "hh_env")
    monkeypatch.setenv("HAPPYHORSE_BASE_URL", "http://example.test:9000/")
    with happyhorse.Client() as client:
        assert (client.api_key, client.base_url, client.max_retries) == ("hh_env", "http://example.test:9000", 2)
    monkeypatch.delenv("HAPPYHORSE_BASE_URL")
    assert happyhorse.Client().base_url == "http://127.0.0.1:8000"


def test_real_server_errors_carry_code_param_and_request_id(client, service, tmp_path):
    with pytest.raises(happyhorse.BadRequestError) as bad:
        client.videos.generate(prompt="x", aspect_ratio="2:1")  # type: ignore[arg-type]
    assert bad.value.param == "aspect_ratio" and bad.value.code and bad.value.request_id.startswith("req_")
    assert bad.value.request_id == bad.value.response.headers["x-request-id"]
    with pytest.raises(happyhorse.BadRequestError) as small:
        client.uploads.create(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    assert small.value.param == "file"
    with pytest.raises(happyhorse.PayloadTooLargeError) as big:
        client.uploads.create(b"\xff\xd8\xff" + b"0" * (11 * 1024 * 1024))
    assert big.value.status_code == 413 and big.value.code
    with pytest.raises(happyhorse.NotFoundError) as missing:
        client.jobs.retrieve("job_01nosuchjob")
    assert missing.value.code and missing.value.request_id
    with happyhorse.Client(api_key="hh_live_wrong", base_url=service.base_url) as stranger:
        with pytest.raises(happyhorse.AuthenticationError) as denied:
            stranger.models.list()
    assert denied.value.status_code == 401 and denied.value.code


def test_nothing_listening_is_a_connection_error():
    from happyhorse.testing import free_port

    with happyhorse.Client(api_key="k", base_url=f"http://127.0.0.1:{free_port()}", max_retries=0) as client:
        with pytest.raises(happyhorse.APIConnectionError):
            client.models.list()
