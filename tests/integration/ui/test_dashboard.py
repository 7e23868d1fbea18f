"""The dashboard's page logic against a real API (uvicorn on loopback) and real files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from tests.factories import record_filled_order
from tests.servers import asgi_server

DASHBOARD = str(Path(__file__).resolve().parents[3] / "app" / "ui" / "dashboard.py")


@pytest.fixture
def platform(make_settings: Callable[..., Settings]) -> Iterator[tuple[Container, str]]:
    services = Container(make_settings())
    services.db.upgrade()
    with asgi_server(create_app(container=services)) as url:
        yield services, url


def _run(monkeypatch: pytest.MonkeyPatch, url: str, settings: Settings) -> AppTest:
    monkeypatch.setenv("API_BASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(settings.DATA_DIR))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.ARTIFACTS_DIR))
    app = AppTest.from_file(DASHBOARD, default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    return app


def test_orders_and_fills_come_from_the_api_without_database_url(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    record_filled_order(services.db)
    app = _run(monkeypatch, url, services.settings)
    assert app.title[0].value == "ai-trader"
    assert [m.label for m in app.metric][:2] == ["database", "blob"]
    assert "read from the api" in app.caption[0].value
    orders = app.dataframe[0].value
    assert list(orders["client_order_id"]) == ["AAPL-breakout-20250102"]
    assert list(orders["status"]) == ["filled"]
    fills = app.dataframe[1].value
    assert list(fills["venue_fill_id"]) == ["AAPL-breakout-20250102-f1"]


def test_frame_viewer_renders_a_manifest_entry(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    frames = services.settings.frames_dir
    frames.mkdir(parents=True)
    frame = pd.DataFrame(
        {"close": [10.0, 10.5], "prob": [0.55, 0.6], "frac": [0.1, 0.12], "equity": [1000.0, 1010.0]},
        index=pd.date_range("2023-01-03", periods=2, tz="UTC", name="timestamp"),
    )
    path = frames / "AAPL_momentum_yahoo_1day.parquet"
    frame.to_parquet(path)
    entry = {
        "path": str(path),
        "symbol": "AAPL",
        "strategy": "momentum",
        "vendor": "yahoo",
        "interval": "1Day",
        "source": "cli",
        "created_at": "2026-11-25T10:00:00+00:00",
    }
    (frames / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    app = _run(monkeypatch, url, services.settings)
    app.selectbox(key="frame_choice").select(1).run()
    assert not app.exception
    shown = app.json[0].value
    assert '"rows": 2' in shown or '"rows":2' in shown
    assert any("prob" in c.value for c in app.caption)


def test_unreachable_api_shows_a_warning_not_a_crash(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.servers import free_port

    app = _run(monkeypatch, f"http://127.0.0.1:{free_port()}", make_settings())
    assert any("unavailable" in w.value for w in app.warning)
