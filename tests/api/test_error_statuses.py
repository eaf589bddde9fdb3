"""Every status the API answers is a class of happyhorse.errors, never a status set on an instance."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.testclient import TestClient

import happyhorse
from happyhorse import errors
from happyhorse.api.errors import RequestIdMiddleware, install_error_handlers
from happyhorse.errors import ServiceError

SOURCE = Path(happyhorse.__file__).parent
ERRORS_MODULE = SOURCE / "errors.py"


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def _error_classes() -> list[type[ServiceError]]:
    import happyhorse.app  # noqa: F401  (imports the API and the dashboard: every error they raise)

    return [ServiceError, *_subclasses(ServiceError)]


@pytest.mark.parametrize("error", _error_classes(), ids=lambda error: error.__name__)
def test_status_and_type_are_class_attributes_of_happyhorse_errors(error: type[ServiceError]) -> None:
    assert error.__module__ == "happyhorse.errors", f"{error.__qualname__} belongs in happyhorse/errors.py"
    assert {"status", "type"} <= vars(error).keys()
    assert isinstance(error.status, int) and 400 <= error.status < 600
    assert isinstance(error.type, str) and error.type.endswith("_error")
    instance = error("some_code", "some message")
    assert {"status", "type"}.isdisjoint(vars(instance))


def test_the_docstring_draws_every_class_with_its_status_and_type() -> None:
    drawn = re.findall(r"^ *(?:[├└]── )?(\w+) +(\d{3}) (\w+)", errors.__doc__ or "", re.MULTILINE)
    classes = [error for error in vars(errors).values() if isinstance(error, type) and issubclass(error, ServiceError)]
    assert sorted(drawn) == sorted((error.__name__, str(error.status), error.type) for error in classes)


def _assigned_attributes(tree: ast.AST) -> list[tuple[int, str]]:
    targets: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets += node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets.append(node.target)
    flat: list[ast.expr] = []
    while targets:
        target = targets.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            targets += target.elts
        else:
            flat.append(target)
    return [(target.lineno, target.attr) for target in flat if isinstance(target, ast.Attribute)]


def test_no_module_sets_an_error_status_or_type_on_an_instance() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        # The SDK's own exceptions (happyhorse.client) read the type of an answer it received.
        banned = {"status"} if path.is_relative_to(SOURCE / "client") else {"status", "type"}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(SOURCE)}:{line} .{attr} =" for line, attr in _assigned_attributes(tree)
                      if attr in banned]
    assert offenders == []


def test_no_module_but_errors_py_declares_a_status() -> None:
    """A ``ServiceError`` subclass elsewhere (even one not imported by the app) would be a status outside the list."""
    names = {error.__name__ for error in vars(errors).values()
             if isinstance(error, type) and issubclass(error, ServiceError)}
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path == ERRORS_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ClassDef) and any(
                (base.id if isinstance(base, ast.Name) else getattr(base, "attr", None)) in names for base in node.bases
            ):
                offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno} class {node.name}")
    assert offenders == []


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/thing")
    def thing() -> dict:
        return {}

    @app.get("/http/{status}")
    def http_error(status: int) -> None:
        raise HTTPException(status)

    return TestClient(app)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["request_id"] == response.headers["x-request-id"]
    return {key: error[key] for key in ("type", "code", "message", "param")}


def test_an_unknown_route_is_404_route_not_found(client: TestClient) -> None:
    assert _error(client.get("/nothing"), 404) == {
        "type": "not_found_error", "code": "route_not_found", "message": "no route GET /nothing; see /docs",
        "param": None}


def test_a_method_the_route_lacks_is_405_with_allow(client: TestClient) -> None:
    response = client.post("/thing")
    assert _error(response, 405) == {
        "type": "invalid_request_error", "code": "http_error", "message": "Method Not Allowed", "param": None}
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(("raised", "status", "type_"), [
    (400, 400, "invalid_request_error"),
    (401, 401, "authentication_error"),
    (403, 403, "permission_error"),
    (409, 409, "conflict_error"),
    (413, 413, "invalid_request_error"),
    (429, 429, "rate_limit_error"),
    (418, 400, "invalid_request_error"),  # a status without its class here answers as the nearest one that has
    (502, 500, "api_error"),
])
def test_an_http_exception_answers_with_the_class_of_its_status(client: TestClient, raised: int, status: int,
                                                                  type_: str) -> None:
    error = _error(client.get(f"/http/{raised}"), status)
    assert (error["type"], error["code"]) == (type_, "http_error")
