"""The OpenAPI document as the API really answers: problem details for every error status.

FastAPI declares only ``422`` (with its own ``HTTPValidationError`` shape, which this API never
sends). :func:`install_openapi` replaces that and adds every status an operation can answer
with an ``application/problem+json`` body: 400 (a malformed request), 401 (protected routes),
404, 413 (body limit), 422, and the 5xx a dependency failure maps to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from app.api.auth import require_bearer

__all__ = ["PROBLEM_MEDIA_TYPE", "Problem", "install_openapi", "iter_routes", "problem_responses"]

PROBLEM_MEDIA_TYPE = "application/problem+json"

_COMMON: dict[int, str] = {
    400: "Malformed request (e.g. a bad Content-Length).",
    404: "Not found.",
    413: "Request body above API_MAX_BODY_BYTES.",
    422: "Invalid input; `errors` names each field.",
    500: "Unexpected error; `request_id` identifies it in the server log.",
    503: "A dependency (database, blob store, bus) is unavailable.",
}
_PROTECTED: dict[int, str] = {
    401: "Missing or invalid bearer token.",
    409: "Refused by a guard or the broker (`reason` says which).",
    502: "A vendor or broker refused the request.",
}


class ProblemError(BaseModel):
    field: str
    location: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = Field(default=None, description="The X-Request-ID of the request.")
    errors: list[ProblemError] | None = Field(default=None, description="422: one entry per invalid field.")
    reason: str | None = Field(default=None, description="409: the guard reason (kill_switch_*).")


def iter_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every leaf route, descending into included routers (which FastAPI may keep nested)."""
    for route in routes:
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested is not None:
            yield from iter_routes(nested)
        else:
            yield route


def _is_protected(route: APIRoute, dependencies: Sequence[Any]) -> bool:
    chain = [*dependencies, *route.dependencies]
    return any(getattr(dep, "dependency", None) is require_bearer for dep in chain) or any(
        dep.call is require_bearer for dep in route.dependant.dependencies
    )


LINKS: tuple[tuple[str, str, str, str, str, dict[str, str]], ...] = (
    # (path, method, status, link name, target path, parameters from the response)
    ("/backtests/sweeps/jobs", "post", "201", "GetSweepJob", "/backtests/sweeps/jobs/{job_id}",
     {"job_id": "$response.body#/job_id"}),
    ("/backtests/sweeps/jobs", "get", "200", "GetFirstSweepJob", "/backtests/sweeps/jobs/{job_id}",
     {"job_id": "$response.body#/items/0/job_id"}),
    ("/orders", "get", "200", "GetFirstOrder", "/orders/{ref}",
     {"ref": "$response.body#/items/0/client_order_id"}),
)  # fmt: skip
"""How one response leads to the next request (OpenAPI ``links``): what stateful clients and
schemathesis's state machine follow, e.g. a created sweep job to its detail."""


def _declare_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for path, method, status, name, target, parameters in LINKS:
        source = paths.get(path, {}).get(method)
        operation = paths.get(target, {}).get("get")
        if source is None or operation is None or status not in source.get("responses", {}):
            continue  # the route is not mounted in this app
        links = source["responses"][status].setdefault("links", {})
        links[name] = {"operationId": operation["operationId"], "parameters": dict(parameters)}


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each error status it documents, answered as problem details
    (``application/problem+json``, the :class:`Problem` schema), with what it means there."""
    return {
        status: {
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, description in descriptions.items()
    }


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare the problem responses of every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in components["Problem"].pop("$defs", {}).items():
            components[name] = definition
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        routes: dict[tuple[str, str], bool] = {}
        for top in app.routes:
            context = getattr(top, "include_context", None)
            inherited = list(getattr(context, "dependencies", None) or [])
            for route in iter_routes([top]):
                if isinstance(route, APIRoute):
                    for method in route.methods or ():
                        routes[(route.path_format, method.lower())] = _is_protected(route, inherited)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                statuses = dict(_COMMON)
                if routes.get((path, method), False):
                    statuses.update(_PROTECTED)
                responses = operation.setdefault("responses", {})
                for status, description in statuses.items():
                    key = str(status)
                    if key == "422" or key not in responses:
                        responses[key] = {"description": description, "content": problem}
        _declare_links(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
