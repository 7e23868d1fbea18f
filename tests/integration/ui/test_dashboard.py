"""The console's pages against a real API (uvicorn on loopback) and real files: the numbers shown."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.storage.repositories.kill_switch import KillSwitchRepository
from app.workers.schedule import occurrences
from app.workers.scheduler import Ledger
from tests.factories import record_filled_order
from tests.servers import asgi_server, free_port

DASHBOARD = str(Path(__file__).resolve().parents[3] / "app" / "ui" / "dashboard.py")

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(make_settings: Callable[..., Settings]) -> Iterator[tuple[Container, str]]:
    services = Container(make_settings())
    services.db.upgrade()
    with asgi_server(create_app(container=services)) as url:
        yield services, url


def _run(monkeypatch: pytest.MonkeyPatch, url: str, settings: Settings, page: str = "Orders") -> AppTest:
    monkeypatch.setenv("API_BASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(settings.DATA_DIR))
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.ARTIFACTS_DIR))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = AppTest.from_file(DASHBOARD, default_timeout=30)
    app.session_state["page"] = page
    app.run()
    assert not app.exception, app.exception
    return app


def _metric(app: AppTest, label: str) -> str:
    return next(str(m.value) for m in app.metric if m.label == label)


def _banner(app: AppTest) -> str:
    return next(m.value for m in app.markdown if "trading-banner" in m.value)


def test_orders_page_shows_the_apis_orders_and_fills(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    record_filled_order(services.db)
    record_filled_order(services.db, client_order_id="MSFT-1", symbol="MSFT", qty="2", price="400")
    api = httpx.get(f"{url}/orders").json()["items"]
    app = _run(monkeypatch, url, services.settings)
    assert app.title[0].value == "ai-trader"
    assert 'data-state="ACTIVE"' in _banner(app)
    orders = app.dataframe[0].value
    assert list(orders.columns[:4]) == ["symbol", "side", "status", "notional"]
    assert list(orders["symbol"]) == [o["symbol"] for o in api] == ["MSFT", "AAPL"]
    assert list(orders["notional"]) == [800.0, 556.5]  # filled qty x average price
    assert _metric(app, "Orders shown") == "2"
    assert _metric(app, "Filled") == "2"
    assert _metric(app, "Notional") == "1,356.50"
    fills = app.dataframe[1].value
    assert list(fills["price"]) == [400.0, 185.5]
    app.text_input(key="orders_symbol").input("aapl").run()
    assert list(app.dataframe[0].value["symbol"]) == ["AAPL"]
    app.selectbox(key="order_detail").select(api[1]["id"]).run()
    assert not app.exception
    assert list(app.dataframe[1].value["qty"]) == [3.0]  # the detail's fills
    app.text_input(key="orders_symbol").input("NONE").run()
    assert [i.value for i in app.info][:1] == ["No orders match these filters."]


def test_status_bar_turns_halted_with_reason_and_actor(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    app = _run(monkeypatch, url, services.settings, page="Risk")
    assert _metric(app, "Trading") == "ACTIVE"
    app.text_input(key="risk_reason").input("desk halt")
    app.button[0].click().run()  # the form's only action: Halt trading
    assert not app.exception
    status = httpx.get(f"{url}/status").json()["trading"]
    assert status["state"] == "HALTED" and status["reason"] == "desk halt" and status["actor"] == "console"
    banner = _banner(app)
    assert 'data-state="HALTED"' in banner and "desk halt" in banner and "by console" in banner
    assert _metric(app, "Trading") == "HALTED"
    history = app.dataframe[-1].value
    assert list(history["what"])[:1] == ["on"] and list(history["by"])[:1] == ["console"]


def test_backtests_page_counts_jobs_and_lists_runs(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    overview = httpx.get(f"{url}/backtests/sweeps/overview").json()
    app = _run(monkeypatch, url, services.settings, page="Backtests")
    for name in ("queued", "running", "completed", "failed"):
        assert _metric(app, name) == str(overview["counts"][name])
    assert "No sweep jobs yet." in [i.value for i in app.info]


def test_schedule_page_shows_a_sessions_jobs_with_the_ledger(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    from datetime import datetime

    from app.workers.schedule import EXCHANGE_ZONE

    session = date(2026, 11, 30)  # a Monday
    first = next(occurrences(services.settings, datetime(2026, 11, 30, tzinfo=EXCHANGE_ZONE), days=0))
    Ledger(services.settings.DATA_DIR / "schedule" / "ledger.jsonl").record(
        first, "ok", {"duration_s": 0.25, "checks": 3}
    )
    app = _run(monkeypatch, url, services.settings, page="Schedule")
    app.date_input(key="schedule_day").set_value(session).run()
    assert not app.exception
    table = app.dataframe[0].value
    api = httpx.get(f"{url}/schedule/day", params={"day": session.isoformat()}).json()
    assert list(table["job"]) == [j["job"] for j in api["jobs"]]
    assert table.iloc[0]["ET"] == "03:58" and table.iloc[0]["PT"] == "00:58"
    assert table.iloc[0]["status"] == "ok" and table.iloc[0]["duration s"] == 0.25
    assert json.loads(table.iloc[0]["output"]) == {"checks": 3}
    assert _metric(app, "Ok") == "1"


def test_frame_viewer_metrics_and_refusals(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    frames = services.settings.frames_dir
    frames.mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "close": [10.0, 10.5, 10.2, 10.8],
            "prob": [0.55, 0.6, 0.5, 0.58],
            "frac": [0.1, 0.12, 0.0, 0.1],
            "position": [0.0, 5.0, 0.0, 4.0],
            "regime": ["bull", "bull", "bear", "bull"],
            "equity": [1000.0, 1010.0, 992.0, 1001.0],
        },
        index=pd.date_range("2023-01-03", periods=4, tz="UTC", name="timestamp"),
    )
    path = frames / "AAPL_momentum_yahoo_1day.parquet"
    frame.to_parquet(path)
    entry = {
        "path": str(path),
        "symbol": "AAPL",
        "strategy": "momentum",
        "vendor": "yahoo",
        "interval": "1Day",
    }
    entry |= {"source": "cli", "created_at": "2026-11-25T10:00:00+00:00"}
    (frames / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    (frames / "corrupt.parquet").write_bytes(b"PAR1 not really a parquet file")
    app = _run(monkeypatch, url, services.settings, page="Frames")
    app.selectbox(key="frame_choice").select(1).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert _metric(app, "Bars") == "4"
    assert _metric(app, "Total return") == "0.10%"
    assert _metric(app, "Max drawdown") == "-1.78%"  # 992 / 1010 - 1
    assert _metric(app, "Trades") == "2"
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    equity_axis = chart["layout"]["yaxis3"]["range"]  # the third row: equity
    assert 980 < equity_axis[0] < 992 and 1010 < equity_axis[1] < 1020  # fits the data, not from 0
    app.selectbox(key="frame_choice").select(0).run()
    for bad, words in [
        ("/etc/passwd", "only frames under the frames store"),
        (str(frames / ".." / ".." / "elsewhere.parquet"), "only frames under the frames store"),
        (str(frames / "corrupt.parquet"), "not a readable frame"),
    ]:
        app.text_input(key="frame_path").input(bad).run()
        assert not app.exception
        assert len(app.error) == 1 and words in app.error[0].value, (bad, [e.value for e in app.error])
        assert "/" not in app.error[0].value.split(":", 1)[1].replace("frames/", "")  # no server path


def test_unreachable_api_shows_one_message_per_panel(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _run(monkeypatch, f"http://127.0.0.1:{free_port()}", make_settings())
    errors = [e.value for e in app.error]
    assert any(e.startswith("orders unavailable:") for e in errors)
    assert any(e.startswith("fills unavailable:") for e in errors)
    assert not [i.value for i in app.info if "No orders" in i.value or "No fills" in i.value]
    assert 'data-state="UNKNOWN"' in _banner(app)


@pytest.fixture
def hung_api() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("page", ["Portfolio", "Orders", "Backtests", "Risk", "Models", "Schedule", "Frames"])
def test_a_hung_api_keeps_each_page_under_three_seconds(
    hung_api: str, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    started = time.perf_counter()
    app = _run(monkeypatch, hung_api, make_settings(), page=page)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, elapsed
    assert "did not answer within 1.5 s" in _banner(app) or "no answer within" in _banner(app)


def test_kill_switch_state_unreadable_is_unknown_not_active(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, url = platform
    KillSwitchRepository(services.db).set(True, reason="maintenance", actor="ops")
    app = _run(monkeypatch, url, services.settings)
    assert 'data-state="HALTED"' in _banner(app) and "maintenance" in _banner(app)


def test_the_operator_login_guards_every_page(
    platform: tuple[Container, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.ui.auth import hash_password

    services, url = platform
    monkeypatch.setenv("UI_OPERATOR_PASSWORD_HASH", hash_password("s3cret"))
    app = _run(monkeypatch, url, services.settings)
    assert not [m for m in app.markdown if "trading-banner" in m.value]  # nothing before the login
    assert not app.dataframe
    app.text_input(key="login_password").input("wrong")
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["Wrong password."]
    assert not [m for m in app.markdown if "trading-banner" in m.value]
    app.text_input(key="login_password").input("s3cret")
    app.button[0].click().run()
    assert not app.exception
    assert 'data-state="ACTIVE"' in _banner(app)
