"""Property-based run of every API operation (schemathesis) against the ASGI app.

A bounded run (a few examples per operation) with and without the bearer token: no answer may
be a 5xx, and every answer must match the OpenAPI document (status, content type, schema,
headers). Vendor URLs point at a closed loopback port so nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from tests.servers import free_port

TOKEN = "schemathesis-token"
MAX_EXAMPLES = 15
"""Examples per operation and token mode: 32 operations x 2 modes x 15 = 960 requests (about 2 min)."""
VENDOR_URLS = (
    "ALPACA_DATA_BASE_URL",
    "ALPHAVANTAGE_BASE_URL",
    "YAHOO_BASE_URL",
    "TWELVEDATA_BASE_URL",
    "FINNHUB_BASE_URL",
    "ALPACA_TRADING_BASE_URL",
)
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
)


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    closed = f"http://127.0.0.1:{free_port()}"
    values = {
        "DATA_DIR": root / "var",
        "ARTIFACTS_DIR": root / "artifacts",
        "API_BEARER_TOKEN": TOKEN,
        "ROUTER_MAX_BARS": 2_000,
        "SWEEP_MAX_SETS": 1_000,
        "DAL_MAX_RETRIES": 0,
        "DAL_HTTP_TIMEOUT_S": 1,
        **dict.fromkeys(VENDOR_URLS, closed),
    }
    services = Container(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    services.db.upgrade()
    yield create_app(container=services)
    services.close()


def _served(app: FastAPI) -> ASGIApp:
    """``app`` as one long-running server sees it: the lifespan runs once (the fixture's), not per call."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return serve


def _operations(app: FastAPI) -> list[APIOperation]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _served(app))
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation: APIOperation, headers: dict[str, str]) -> None:
    """Run a bounded hypothesis search over one operation; every check must pass."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation_is_covered(api_app: FastAPI) -> None:
    operations = {(op.method.upper(), op.path) for op in _operations(api_app)}
    # 13 + the governor's 2 + the book's 6 (with realised P&L and the reconcile acknowledgement) +
    # the console's 11 (status, risk history, limits and limit use, schedule day, backtest runs,
    # sweep overview and configs, order cancel, order router run, models overview)
    assert len(operations) == 32
    assert ("POST", "/router/run") in operations and ("GET", "/orders/{ref}") in operations
    assert ("POST", "/kill-switch") in operations and ("GET", "/kill-switch") in operations
    assert {
        ("GET", "/positions"),
        ("GET", "/portfolio"),
        ("GET", "/portfolio/history"),
        ("POST", "/portfolio/reconcile"),
        ("GET", "/portfolio/pnl"),
        ("GET", "/risk/limit-use"),
        ("GET", "/models/overview"),
        ("POST", "/portfolio/reconcile/acknowledge"),
    } <= operations


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_no_5xx_and_no_schema_violation(api_app: FastAPI, with_token: bool) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
    failures: list[str] = []
    for operation in _operations(api_app):
        try:
            _fuzz(operation, headers)
        except Exception as exc:  # collect all operations' failures, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_stateful_links_are_declared_and_followed_without_5xx(api_app: FastAPI) -> None:
    """The OpenAPI links (a created sweep job to its detail, a listed order to its page) hold:
    schemathesis's state machine follows them for a bounded number of steps, with the token."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", _served(api_app))
    document = schema.raw_schema
    created = document["paths"]["/backtests/sweeps/jobs"]["post"]["responses"]["201"]["links"]
    assert created["GetSweepJob"]["parameters"] == {"job_id": "$response.body#/job_id"}
    listed = document["paths"]["/orders"]["get"]["responses"]["200"]["links"]
    assert "GetFirstOrder" in listed

    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {TOKEN}"}}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))

    Machine.run(
        settings=settings(
            max_examples=12,
            stateful_step_count=4,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
