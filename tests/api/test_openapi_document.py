"""The OpenAPI document says what the API does: regressions of what Schemathesis found.

Each error answer the API gives is documented on its operation, with its body
and headers; what the parser refuses, the document refuses too.
"""

from __future__ import annotations

import io
import re

import httpx
import pytest
import schemathesis
from PIL import Image

from happyhorse.settings import Settings
from happyhorse.testing import running_service

from .conftest import assert_error

V1_OPERATIONS = [
    ("post", "/v1/videos/generations"), ("get", "/v1/jobs/{job_id}"), ("get", "/v1/jobs"),
    ("post", "/v1/jobs/{job_id}/cancel"), ("get", "/v1/jobs/{job_id}/content"), ("get", "/v1/jobs/{job_id}/events"),
    ("post", "/v1/uploads"), ("get", "/v1/uploads/{upload_id}"), ("get", "/v1/models"),
    ("get", "/v1/models/{model_id}"), ("get", "/v1/account"),
    ("post", "/v1/videos/generations/quote"), ("delete", "/v1/jobs/{job_id}"),
    ("post", "/v1/webhook_endpoints"), ("get", "/v1/webhook_endpoints"),
    ("get", "/v1/webhook_endpoints/{endpoint_id}"), ("post", "/v1/webhook_endpoints/{endpoint_id}"),
    ("delete", "/v1/webhook_endpoints/{endpoint_id}"), ("post", "/v1/webhook_endpoints/{endpoint_id}/rotate_secret"),
    ("post", "/v1/webhook_endpoints/{endpoint_id}/test"), ("get", "/v1/webhook_endpoints/{endpoint_id}/deliveries"),
    ("post", "/v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver"),
    ("get", "/v1/webhook_event_types"),
    ("post", "/v1/videos"), ("get", "/v1/videos"), ("get", "/v1/videos/{video_id}"),
    ("delete", "/v1/videos/{video_id}"), ("post", "/v1/videos/{video_id}/cancel"),
    ("post", "/v1/videos/{video_id}/remix"), ("get", "/v1/videos/{video_id}/content"),
]


@pytest.fixture(scope="module")
def document(service) -> dict:
    return httpx.get(service.base_url + "/openapi.json").json()


def assert_documented(document: dict, method: str, path: str, response: httpx.Response) -> None:
    """``response`` is one that ``method path`` documents: its status, headers and body."""
    operation = document["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} does not document {response.status_code}"
    for name, header in documented.get("headers", {}).items():
        if header.get("required"):
            assert name in response.headers, f"{response.status_code} lacks the documented header {name}"
    response.request.read()  # a multipart request streams; Schemathesis reads its body
    schemathesis.openapi.from_dict(document)[path][method.upper()].validate_response(response)


def png(width: int = 400, height: int = 400) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_every_v1_operation_needs_the_bearer_key_and_documents_401_429_503(document):
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "an API key, `Authorization: Bearer hh_...`"
    }
    listed = {(method, path) for path, operations in document["paths"].items() for method in operations
              if path.startswith("/v1/")}
    assert listed == set(V1_OPERATIONS)
    for method, path in V1_OPERATIONS:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"apiKey": []}]
        for status in ("401", "429", "503"):
            assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"
            }, (method, path, status)
        for status in ("429", "503"):
            assert operation["responses"][status]["headers"]["Retry-After"]["required"] is True


def test_no_fastapi_422_and_submit_documents_every_status_it_answers(document):
    # FastAPI's own validation errors are answered 400 in the envelope: its 422 schema must not show.
    assert "HTTPValidationError" not in str(document)
    submit = document["paths"]["/v1/videos/generations"]["post"]["responses"]
    assert set(submit) == {"200", "202", "400", "401", "402", "409", "413", "422", "429", "503"}
    assert "422" not in document["paths"]["/v1/jobs"]["get"]["responses"]


def test_answers_match_their_documented_responses(service, document):
    base, headers = service.base_url, service.headers()
    job = httpx.post(base + "/v1/videos/generations", json={"prompt": "documented"}, headers=headers)
    assert_documented(document, "post", "/v1/videos/generations", job)  # 202 with Location
    job_id = job.json()["job_id"]
    checks = [
        ("get", "/v1/jobs/{job_id}", httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers)),
        ("get", "/v1/jobs/{job_id}/content", httpx.get(f"{base}/v1/jobs/{job_id}/content", headers=headers)),  # 409
        ("post", "/v1/jobs/{job_id}/cancel", httpx.post(f"{base}/v1/jobs/{job_id}/cancel", headers=headers)),
        ("post", "/v1/jobs/{job_id}/cancel", httpx.post(f"{base}/v1/jobs/{job_id}/cancel", headers=headers)),  # 409
        ("get", "/v1/jobs", httpx.get(f"{base}/v1/jobs", params={"limit": 0}, headers=headers)),  # 400
        ("get", "/v1/account", httpx.get(f"{base}/v1/account")),  # 401
        ("get", "/v1/models/{model_id}", httpx.get(f"{base}/v1/models/nope", headers=headers)),  # 404
        ("get", "/healthz", httpx.get(f"{base}/healthz")),
    ]
    for method, path, response in checks:
        assert_documented(document, method, path, response)
    assert [response.status_code for *_, response in checks] == [200, 409, 200, 409, 400, 401, 404, 200]


def test_replay_402_413_and_422_match_their_documented_responses(service, document):
    base, headers = service.base_url, service.headers()
    keyed = {**headers, "Idempotency-Key": "documented-replay"}
    first = httpx.post(base + "/v1/videos/generations", json={"prompt": "once"}, headers=keyed)
    replay = httpx.post(base + "/v1/videos/generations", json={"prompt": "once"}, headers=keyed)
    other = httpx.post(base + "/v1/videos/generations", json={"prompt": "another"}, headers=keyed)
    broke = service.headers(service.new_account_key("documented-broke", credits="0"))
    poor = httpx.post(base + "/v1/videos/generations", json={"prompt": "x"}, headers=broke)
    limit = service.runtime.settings.max_body_bytes
    huge = httpx.post(base + "/v1/videos/generations", content=b"{" + b" " * limit + b"}",
                      headers={**headers, "content-type": "application/json"})
    assert [r.status_code for r in (first, replay, other, poor, huge)] == [202, 200, 422, 402, 413]
    assert replay.headers["Idempotent-Replayed"] == "true"
    for response in (first, replay, other, poor, huge):
        assert_documented(document, "post", "/v1/videos/generations", response)


def test_rate_limited_answer_matches_its_documented_429(tmp_path, document):
    settings = Settings(data_dir=tmp_path, signing_secret="test-secret", rate_limit_per_second=0.01, rate_limit_burst=1)
    with running_service(settings, worker=False) as live:
        answers = [httpx.get(live.base_url + "/v1/models", headers=live.headers()) for _ in range(2)]
    assert [r.status_code for r in answers] == [200, 429]
    for response in answers:
        assert_documented(document, "get", "/v1/models", response)


def test_upload_answers_match_the_document(service, document):
    base, headers = service.base_url, service.headers()
    raw = httpx.post(base + "/v1/uploads", content=png(), headers={**headers, "content-type": "image/png"})
    extra = httpx.post(base + "/v1/uploads", files={"file": ("a.png", png(), "image/png")}, data={"note": "x"},
                       headers=headers)
    assert (raw.status_code, extra.status_code) == (201, 400)
    assert_documented(document, "post", "/v1/uploads", raw)
    assert_documented(document, "post", "/v1/uploads", extra)
    body = document["paths"]["/v1/uploads"]["post"]["requestBody"]["content"]
    # Unknown parts are refused (400 unknown_field), so the form admits none; raw bodies are the four formats.
    assert body["multipart/form-data"]["schema"]["additionalProperties"] is False
    assert sorted(body) == ["image/bmp", "image/jpeg", "image/png", "image/webp", "multipart/form-data"]


# --- multipart submit: its booleans are "true"/"false", as the document's boolean says ---


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False), ("True", True), (" false ", False)])
def test_form_watermark_accepts_true_and_false(api, text, expected):
    response = api.post("/v1/videos/generations", data={"prompt": "a form", "watermark": text})
    assert response.status_code == 202, response.text
    assert response.json()["request"]["watermark"] is expected


@pytest.mark.parametrize("text", ["0", "1", "yes", "on", ""])
def test_form_watermark_refuses_what_is_not_a_boolean(api, text):
    response = api.post("/v1/videos/generations", data={"prompt": "a form", "watermark": text})
    assert_error(response, 400, "invalid_type", "watermark")


def test_form_submit_schema_matches_the_form_parser(document):
    form = document["paths"]["/v1/videos/generations"]["post"]["requestBody"]["content"]["multipart/form-data"]
    schema = form["schema"]
    assert schema["properties"]["watermark"]["type"] == "boolean"
    assert schema["properties"]["seed"]["type"] == "integer"  # a form has no null: leave it out
    assert schema["additionalProperties"] is False
    assert schema["properties"]["image"]["maxItems"] == 9


# --- strings the parser refuses are refused by the document's patterns too ---


def _json_property(document: dict, name: str) -> dict:
    return document["paths"]["/v1/videos/generations"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"][name]


@pytest.mark.parametrize("prompt", [" ", "\x1c", " \x1f\t"])
def test_prompt_of_only_whitespace_is_refused_by_both(api, document, prompt):
    assert not re.search(_json_property(document, "prompt")["pattern"], prompt)
    assert_error(api.post("/v1/videos/generations", json={"prompt": prompt}), 400, "prompt_empty", "prompt")


@pytest.mark.parametrize("model", ["gpt-video", "happyhorse-1-2", "happyhorse"])
def test_unknown_models_are_refused_by_both(api, document, model):
    assert not re.search(_json_property(document, "model")["pattern"], model)
    assert_error(api.post("/v1/videos/generations", json={"prompt": "x", "model": model}), 400, "model_not_found",
                 "model")


@pytest.mark.parametrize("model", ["happyhorse-1-1", "HappyHorse-1.1", " happyhorse-1.1 "])
def test_model_aliases_are_admitted_by_both(api, document, model):
    assert re.search(_json_property(document, "model")["pattern"], model)
    assert api.post("/v1/videos/generations", json={"prompt": "x", "model": model}).status_code == 202


def test_image_references_are_urls_data_uris_or_upload_ids(api, document):
    reference = _json_property(document, "image")["anyOf"][0]
    patterns = [(option["pattern"], option.get("maxLength")) for option in reference["anyOf"]]

    def admitted(text: str) -> bool:
        return any(re.search(p, text) and (m is None or len(text) <= m) for p, m in patterns)

    for text in ("https://example.com/a.png", "HTTP://example.com/a.png", "data:image/png;base64,AA",
                 "upload_" + "0" * 26):
        assert admitted(text), text
    for text in ("example.com/a.png", "ftp://example.com/a.png", "upload_x", "https://" + "a" * 2048):
        assert not admitted(text), text
        assert_error(api.post("/v1/videos/generations", json={"prompt": "x", "image": text}), 400,
                     "invalid_image_reference", "image")


def test_idempotency_key_pattern_matches_what_the_server_accepts(api, document):
    parameters = document["paths"]["/v1/videos/generations"]["post"]["parameters"]
    pattern = next(p for p in parameters if p["name"] == "Idempotency-Key")["schema"]["pattern"]
    assert re.search(pattern, "3f1c-key") and re.search(pattern, "a b")
    assert not re.search(pattern, "café") and not re.search(pattern, " ")
    latin1 = {"Idempotency-Key": "café".encode("latin-1")}
    response = api.post("/v1/videos/generations", json={"prompt": "x"}, headers=latin1)
    assert_error(response, 400, "invalid_idempotency_key", "Idempotency-Key")
