"""The SDK's models may not drift from the server's wire shapes (SPEC §5).

The server's response models (``happyhorse.api.schemas``) and the SDK's
(``happyhorse.client._models``) describe the same JSON twice; the SDK may not
import the server. So both are held to the published contract, the OpenAPI
document the app serves:

* every field the document names exists on the SDK model (none silently ends up
  in ``model_extra``), and every field the SDK declares is documented (none invented);
* a field is nullable on both sides or on neither; the SDK requires no field the
  server may leave out, and defaults none the server always sends (except to ``None``
  or to the documented constant);
* the JSON types agree, enumerations (``status``, ``mode``, ``object`` …) are the same
  ``Literal`` values, and a nested object is a nested SDK model, not a bare dict;

and the SDK parses real answers of a live server with no field left over or missing.
"""

from __future__ import annotations

import io
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import happyhorse
from happyhorse.client import _models as sdk
from happyhorse.settings import Settings

# --- the published document ----------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(tmp_path_factory) -> Iterator[dict]:
    from happyhorse.app import create_app
    from happyhorse.runtime import Runtime

    runtime = Runtime.open(Settings(data_dir=tmp_path_factory.mktemp("hh-openapi"), signing_secret="s"))
    try:
        yield create_app(runtime).openapi()
    finally:
        runtime.close()


def _resolve(schema: dict, doc: dict) -> dict:
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix), schema["$ref"]
        schema = doc["components"]["schemas"][schema["$ref"][len(prefix):]]
    return schema


def _split_null(schema: dict, doc: dict) -> tuple[bool, dict]:
    """(whether the schema admits null, the resolved schema of its one non-null branch)."""
    schema = _resolve(schema, doc)
    if "anyOf" in schema or "oneOf" in schema:
        branches = schema.get("anyOf", schema.get("oneOf"))
        others = [b for b in branches if b != {"type": "null"}]
        assert len(others) == 1, f"a union of several non-null shapes is not compared here: {schema}"
        return len(others) != len(branches), _resolve(others[0], doc)
    if isinstance(schema.get("type"), list) and "null" in schema["type"]:
        rest = [t for t in schema["type"] if t != "null"]
        return True, {**schema, "type": rest[0] if len(rest) == 1 else rest}
    return False, schema


def _response_schema(doc: dict, method: str, path: str, status: str) -> dict:
    response = doc["paths"][path][method]["responses"][status]
    return _resolve(response["content"]["application/json"]["schema"], doc)


def _locate(doc: dict, schema: dict, pointer: tuple[str, ...]) -> dict:
    """The object schema at ``pointer`` (property names; null and array levels are stepped through)."""
    for name in pointer:
        _, schema = _split_null(schema["properties"][name], doc)
        while schema.get("type") == "array":
            schema = _resolve(schema["items"], doc)
    return schema


# --- the SDK's annotations -----------------------------------------------------------------


def _split_none(annotation: Any) -> tuple[bool, Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        inner = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        return len(rest) != len(args), inner
    return False, annotation


_SCALARS: dict[Any, set[str]] = {
    str: {"string"},
    datetime: {"string"},  # ISO 8601 on the wire
    Decimal: {"string"},  # amounts are decimal strings, never floats (SPEC §7)
    int: {"integer"},
    float: {"number", "integer"},
    bool: {"boolean"},
}


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_problems(annotation: Any, schema: dict, doc: dict, where: str) -> list[str]:
    """Whether JSON of ``schema`` parses as ``annotation`` and the SDK keeps what the schema says."""
    nullable, schema = _split_null(schema, doc)
    if nullable:
        return [f"{where}: the server documents null inside a container, the SDK does not compare that"]
    documented = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    if typing.get_origin(annotation) is Literal:
        values = list(typing.get_args(annotation))
        if documented is None:
            return [f"{where}: the SDK accepts only {values}, the server documents any {schema.get('type')}"]
        if sorted(values) != sorted(documented):
            return [f"{where}: SDK Literal {sorted(values)} != documented {sorted(documented)}"]
        return []
    if documented is not None:
        return [f"{where}: the server documents the values {documented}; the SDK should say so with a Literal"]
    if annotation is Any:
        return []
    if _is_model(annotation):
        if schema.get("type") == "object" and "properties" in schema:
            return []
        return [f"{where}: the SDK expects an object ({annotation.__name__}), the server documents {schema}"]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        if schema.get("type") != "array":
            return [f"{where}: the SDK expects a list, the server documents {schema.get('type')}"]
        return _type_problems(args[0], schema.get("items", {}), doc, f"{where}[]")
    if origin is dict:
        if schema.get("type") != "object":
            return [f"{where}: the SDK expects an object, the server documents {schema.get('type')}"]
        if "properties" in schema:
            return [f"{where}: the server documents the object's fields; the SDK should have a model for it"]
        values = schema.get("additionalProperties", True)
        if values is True or values == {}:
            return [] if args[1] is Any else [f"{where}: the server allows any values, the SDK only {args[1]}"]
        return _type_problems(args[1], values, doc, f"{where}{{}}")
    expected = _SCALARS.get(annotation)
    if expected is None:
        return [f"{where}: the SDK type {annotation!r} is not compared here (teach _SCALARS)"]
    if schema.get("type") not in expected:
        return [f"{where}: the SDK type {annotation.__name__} does not parse JSON {schema.get('type')}"]
    return []


def _field_problems(cls: type[BaseModel], schema: dict, doc: dict, where: str) -> list[str]:
    """One level: ``cls``'s fields against the object ``schema``'s properties."""
    assert schema.get("type") == "object" and "properties" in schema, schema
    properties: dict = schema["properties"]
    required = set(schema.get("required", ()))
    fields = {field.alias or name: field for name, field in cls.model_fields.items()}
    problems = [
        f"{where}.{name}: documented by the server but missing from {cls.__name__} (parsed into model_extra)"
        for name in sorted(properties.keys() - fields.keys())
    ] + [
        f"{where}.{name}: declared by {cls.__name__} but not in the server's document"
        for name in sorted(fields.keys() - properties.keys())
    ]
    for name in sorted(properties.keys() & fields.keys()):
        field, here = fields[name], f"{where}.{name}"
        doc_nullable, branch = _split_null(properties[name], doc)
        sdk_nullable, inner = _split_none(field.annotation)
        if doc_nullable != sdk_nullable:
            problems.append(f"{here}: nullable on the server: {doc_nullable}, in the SDK: {sdk_nullable}")
        if name not in required and field.is_required():
            problems.append(f"{here}: the server may leave it out but {cls.__name__} requires it")
        if name in required and not field.is_required():
            const = branch.get("const", ...)
            if not ((field.default is None and doc_nullable) or field.default == const):
                problems.append(f"{here}: always sent; the SDK's default {field.default!r} would hide its absence")
        problems += _type_problems(inner, branch, doc, here)
    return problems


def _nested(cls: type[BaseModel], schema: dict, doc: dict, where: str) -> Iterator[tuple[type[BaseModel], dict, str]]:
    """``(cls, schema, where)`` and every nested (SDK model, object schema) pair below it."""
    yield cls, schema, where
    for name, field in cls.model_fields.items():
        name = field.alias or name
        if name not in schema.get("properties", {}):
            continue  # reported by _field_problems
        _, inner = _split_none(field.annotation)
        _, branch = _split_null(schema["properties"][name], doc)
        here = f"{where}.{name}"
        while typing.get_origin(inner) is list and branch.get("type") == "array":
            inner, branch, here = typing.get_args(inner)[0], _resolve(branch.get("items", {}), doc), f"{here}[]"
        if _is_model(inner) and "properties" in branch:
            yield from _nested(inner, branch, doc, here)


# --- every wire object, one by one ---------------------------------------------------------

JOB = ("get", "/v1/jobs/{job_id}", "200")

WIRE_OBJECTS: dict[str, tuple[type[BaseModel], tuple[str, str, str], tuple[str, ...]]] = {
    "job": (sdk.Job, JOB, ()),
    "job request": (sdk.JobRequest, JOB, ("request",)),
    "job result": (sdk.JobResult, JOB, ("result",)),
    "video output": (sdk.VideoOutput, JOB, ("result", "outputs")),
    "usage": (sdk.Usage, JOB, ("usage",)),
    "job error": (sdk.JobError, JOB, ("error",)),
    "job list": (sdk.JobList, ("get", "/v1/jobs", "200"), ()),
    "model card": (sdk.Model, ("get", "/v1/models/{model_id}", "200"), ()),
    "engine info": (sdk.EngineInfo, ("get", "/v1/models/{model_id}", "200"), ("engine",)),
    "upload": (sdk.Upload, ("post", "/v1/uploads", "201"), ()),
    "account": (sdk.Account, ("get", "/v1/account", "200"), ()),
    "quote": (sdk.Quote, ("post", "/v1/videos/generations/quote", "200"), ()),
    "job deleted": (sdk.JobDeleted, ("delete", "/v1/jobs/{job_id}", "200"), ()),
}


@pytest.mark.parametrize("name", list(WIRE_OBJECTS))
def test_the_sdk_model_has_exactly_the_documented_fields(openapi, name):
    cls, operation, pointer = WIRE_OBJECTS[name]
    schema = _locate(openapi, _response_schema(openapi, *operation), pointer)
    assert _field_problems(cls, schema, openapi, name) == []


def test_every_public_sdk_model_is_compared():
    public = {getattr(sdk, name) for name in sdk.__all__ if _is_model(getattr(sdk, name, None))}
    assert public - {cls for cls, _, _ in WIRE_OBJECTS.values()} == set()


def test_literals_match_spec_section_5(openapi):
    """The enumerations the SDK exposes (``JobStatus`` is public) are the documented ones."""
    job = _response_schema(openapi, *JOB)
    assert sorted(typing.get_args(sdk.JobStatus)) == sorted(job["properties"]["status"]["enum"])
    assert sorted(typing.get_args(sdk.JobStatus)) == ["cancelled", "completed", "failed", "queued", "running"]
    assert set(sdk.TERMINAL_STATUSES) == {"completed", "failed", "cancelled"}


# --- every response the SDK parses, whole ----------------------------------------------------

# (method, path, status) -> the SDK model that parses that answer, and where in it (models.list
# keeps only ``data``).
RESPONSES: dict[tuple[str, str, str], tuple[type[BaseModel], tuple[str, ...]]] = {
    ("post", "/v1/videos/generations", "202"): (sdk.Job, ()),
    ("post", "/v1/videos/generations", "200"): (sdk.Job, ()),  # an Idempotency-Key replay
    ("get", "/v1/jobs/{job_id}", "200"): (sdk.Job, ()),
    ("post", "/v1/jobs/{job_id}/cancel", "200"): (sdk.Job, ()),
    ("get", "/v1/jobs", "200"): (sdk.JobList, ()),
    ("post", "/v1/uploads", "201"): (sdk.Upload, ()),
    ("post", "/v1/uploads", "200"): (sdk.Upload, ()),  # the same bytes uploaded again
    ("get", "/v1/uploads/{upload_id}", "200"): (sdk.Upload, ()),
    ("get", "/v1/models", "200"): (sdk.Model, ("data",)),
    ("get", "/v1/models/{model_id}", "200"): (sdk.Model, ()),
    ("get", "/v1/account", "200"): (sdk.Account, ()),
    ("post", "/v1/videos/generations/quote", "200"): (sdk.Quote, ()),
    ("delete", "/v1/jobs/{job_id}", "200"): (sdk.JobDeleted, ()),
}

NOT_IN_THE_SDK = {("get", "/healthz", "200")}
"""Documented JSON answers the SDK has no method for (and the webhook endpoints below: the
``openai`` package's ``webhooks`` resource drives them; our SDK has no webhooks methods yet)."""
WEBHOOK_ENDPOINTS = ("/v1/webhook_endpoints", "/v1/webhook_event_types")
OPENAI_VIDEOS = ("/v1/videos", "/v1/videos/{")
"""The OpenAI-compatible videos surface (SPEC §9): the ``openai`` package's ``videos`` resource drives it
(tests/openai_compat/); our SDK has the native job methods for the same jobs, and no videos-surface methods."""


def test_every_documented_json_answer_is_parsed_by_some_sdk_model(openapi):
    documented = {
        (method, path, status)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2") and "schema" in response.get("content", {}).get("application/json", {})
    }
    webhooks = {operation for operation in documented if operation[1].startswith(WEBHOOK_ENDPOINTS)}
    assert webhooks  # documented, so the exemption below exempts something
    videos = {operation for operation in documented
              if operation[1] == OPENAI_VIDEOS[0] or operation[1].startswith(OPENAI_VIDEOS[1])}
    assert videos
    assert documented - NOT_IN_THE_SDK - webhooks - videos == set(RESPONSES)


@pytest.mark.parametrize("operation", list(RESPONSES), ids=lambda op: f"{op[0].upper()} {op[1]} {op[2]}")
def test_the_answer_matches_the_sdk_model_at_every_level(openapi, operation):
    cls, pointer = RESPONSES[operation]
    root = _locate(openapi, _response_schema(openapi, *operation), pointer)
    problems = []
    for nested_cls, schema, where in _nested(cls, root, openapi, cls.__name__):
        problems += _field_problems(nested_cls, schema, openapi, where)
    assert problems == []


def test_the_comparison_catches_drift(openapi):
    """The checks themselves: a dropped, an invented, a retyped and a loosened field are all reported."""

    class Dropped(BaseModel):
        billed_seconds: int
        unit_price_usd: str

    class Invented(BaseModel):
        code: str
        message: str
        hint: str | None = None

    class Retyped(BaseModel):
        code: int
        message: str

    class Loosened(BaseModel):
        code: str
        message: str | None = None

    class StatusAsStr(sdk.Job):
        status: str  # type: ignore[assignment]

    usage = _resolve({"$ref": "#/components/schemas/Usage"}, openapi)
    error = _resolve({"$ref": "#/components/schemas/JobError"}, openapi)
    job = _response_schema(openapi, *JOB)
    dropped = _field_problems(Dropped, usage, openapi, "u")
    assert any("cost_usd: documented by the server but missing" in p for p in dropped)
    assert any("hint: declared by" in p for p in _field_problems(Invented, error, openapi, "e"))
    assert any("code: the SDK type int" in p for p in _field_problems(Retyped, error, openapi, "e"))
    assert any("message: nullable" in p for p in _field_problems(Loosened, error, openapi, "e"))
    assert any("status: the server documents the values" in p for p in _field_problems(StatusAsStr, job, openapi, "j"))


# --- what the SDK sends --------------------------------------------------------------------


def test_generate_takes_every_documented_body_field_and_no_other(openapi):
    import inspect

    from happyhorse.client.resources import videos

    body = openapi["paths"]["/v1/videos/generations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    properties = _resolve(body, openapi)["properties"]
    for method in (videos.Videos.generate, videos.AsyncVideos.generate):
        arguments = set(inspect.signature(method).parameters) - {"self", "idempotency_key"}
        assert arguments == set(properties), method.__qualname__
    assert sorted(typing.get_args(videos.Mode)) == sorted(properties["mode"]["enum"])
    assert sorted(typing.get_args(videos.AspectRatio)) == sorted(properties["aspect_ratio"]["enum"])
    # The server also takes 720P/1080P; the SDK offers the canonical spelling, the one jobs echo back.
    resolutions = typing.get_args(videos.Resolution)
    assert set(resolutions) <= set(properties["resolution"]["enum"])
    assert sorted(resolutions) == sorted(typing.get_args(sdk.JobRequest.model_fields["resolution"].annotation))


def test_list_takes_the_documented_query_parameters(openapi):
    import inspect

    from happyhorse.client.resources import jobs

    documented = {p["name"] for p in openapi["paths"]["/v1/jobs"]["get"]["parameters"] if p["in"] == "query"}
    for method in (jobs.Jobs.list, jobs.AsyncJobs.list):
        assert set(inspect.signature(method).parameters) - {"self"} == documented, method.__qualname__


# --- real answers of a live server ---------------------------------------------------------


def _leftovers(value: object, where: str = "") -> list[str]:
    """Every place in a parsed answer where the server sent a field the model does not declare
    (``model_extra``) or left out one it declares (filled from a default)."""
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _leftovers(item, f"{where}[{i}]")]
    if not isinstance(value, BaseModel):
        return []
    name = where or type(value).__name__
    problems = [f"{name}: undeclared {sorted(value.model_extra)}"] if value.model_extra else []
    missing = set(type(value).model_fields) - value.model_fields_set
    if missing:
        problems.append(f"{name}: not sent {sorted(missing)}")
    for field in type(value).model_fields:
        problems += _leftovers(getattr(value, field), f"{name}.{field}")
    return problems


def test_leftovers_reports_undeclared_and_unsent_fields():
    usage = sdk.Usage.model_validate({"billed_seconds": 3, "unit_price_usd": "0.14", "cost_usd": "0.42", "tax": "0"})
    error = sdk.JobError.model_validate({"code": "invalid_image", "message": "no"})
    listing = sdk.JobList.model_validate({"data": [], "has_more": False, "last_id": None})
    assert _leftovers(usage) == ["Usage: undeclared ['tax']"] and _leftovers(error) == []
    assert _leftovers([listing]) == ["[0]: not sent ['object']"]


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from happyhorse.testing import running_service

    with running_service(Settings(data_dir=tmp_path_factory.mktemp("hh-wire"), signing_secret="s")) as live:
        yield live


@pytest.fixture(scope="module")
def idle_service(tmp_path_factory):
    from happyhorse.testing import running_service

    settings = Settings(data_dir=tmp_path_factory.mktemp("hh-wire-idle"), signing_secret="s")
    with running_service(settings, worker=False) as live:
        yield live


def test_real_answers_parse_with_nothing_left_over(service):
    with happyhorse.Client(api_key=service.api_key, base_url=service.base_url) as client:
        upload = client.uploads.create(_png(400, 320))
        completed = client.videos.generate_and_wait(
            prompt="the horse trots along the beach", image=upload, duration=3, poll_interval=0.05
        )
        lost = client.uploads.create(_png(400, 320))
        for listed in list(service.runtime.storage.list_objects(f"uploads/{lost.upload_id}.")):
            service.runtime.storage.delete(listed.key)  # accepted, then failed by the worker
        doomed = client.videos.generate(prompt="lost input", image=lost, duration=3)
        with pytest.raises(happyhorse.JobFailedError) as caught:
            client.jobs.wait(doomed, poll_interval=0.05)
        failed = client.jobs.retrieve(doomed)
        answers = {
            "submitted": doomed,
            "completed": completed,
            "failed": failed,
            "failed, as JobFailedError.job": caught.value.job,
            "list": next(client.jobs.list(limit=10).pages()),
            "upload": upload,
            "upload, retrieved": client.uploads.retrieve(upload.upload_id),
            "model card": client.models.retrieve(),
            "models": client.models.list(),
            "account": client.account.retrieve(),
        }

    # The answers carry what they should (so every nested object was really checked) …
    assert completed.status == "completed" and completed.result and completed.usage and completed.video
    assert completed.request.mode == "i2v" and completed.error is None
    stamps = (completed.created_at, completed.started_at, completed.completed_at, completed.video.url_expires_at)
    assert all(stamp is not None and stamp.tzinfo is not None for stamp in stamps)  # timezone-aware
    assert failed.status == "failed" and failed.error and failed.error.code == "generation_failed"
    assert {job.job_id for job in answers["list"].data} == {completed.job_id, failed.job_id}
    assert answers["model card"].engine.name == "preview" and answers["account"].pending_holds == 0
    # … and each parses into its SDK model with no field undeclared and none missing.
    assert {label: _leftovers(value) for label, value in answers.items()} == {label: [] for label in answers}


def test_queued_and_cancelled_jobs_parse_with_nothing_left_over(idle_service):
    with happyhorse.Client(api_key=idle_service.api_key, base_url=idle_service.base_url) as client:
        queued = client.videos.generate(prompt="stays in the queue", duration=3)
        first = client.jobs.retrieve(queued)
        cancelled = client.jobs.cancel(client.videos.generate(prompt="never mind", duration=3))
        answers = {
            "queued": first,
            "cancelled": cancelled,
            "list": next(client.jobs.list(limit=10).pages()),
            "account with holds": client.account.retrieve(),
        }
        client.jobs.cancel(queued)

    assert first.status == "queued" and first.queue_position == 1 and first.started_at is None
    assert cancelled.status == "cancelled" and answers["account with holds"].pending_holds == 1
    assert {label: _leftovers(value) for label, value in answers.items()} == {label: [] for label in answers}
