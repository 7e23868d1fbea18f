"""The dashboard's frame viewer on another host than the writer, through Azure Blob (Azurite)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.backtest.service import BacktestRequest, BacktestRun, run_request
from app.bootstrap import build_backtest_deps
from app.config import Settings
from tests.servers import Server, free_port

DASHBOARD = str(Path(__file__).resolve().parents[3] / "app" / "ui" / "dashboard.py")


@pytest.fixture
def published(make_settings: Callable[..., Settings], azurite: Server, tmp_path: Path) -> BacktestRun:
    """A backtest run on the "api" host, its frame published to a fresh container."""
    settings = make_settings(
        AZURE_STORAGE_CONNECTION_STRING=azurite.extra["connection_string"],
        BLOB_CONTAINER_DATA=f"frames-{uuid.uuid4().hex[:12]}",
        DATA_DIR=tmp_path / "api" / "var",
        ARTIFACTS_DIR=tmp_path / "api" / "artifacts",
        BACKTEST_NO_SAVE=True,
    )
    request = BacktestRequest(
        symbol="AAPL",
        start=date(2023, 1, 3),
        end=date(2023, 2, 3),
        strategy="momentum",
        dal_vendor="synthetic",
    )
    run = run_request(settings, request, build_backtest_deps(settings), source="api")
    assert run.frame.blob_path is not None
    return run


def _dashboard(
    monkeypatch: pytest.MonkeyPatch, root: Path, connection_string: str, container: str
) -> AppTest:
    monkeypatch.setenv("API_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("DATA_DIR", str(root / "var"))
    monkeypatch.setenv("ARTIFACTS_DIR", str(root / "artifacts"))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    monkeypatch.setenv("BLOB_CONTAINER_DATA", container)
    monkeypatch.setenv("FRAMES_BLOB_TIMEOUT_S", "2")
    app = AppTest.from_file(DASHBOARD, default_timeout=30)
    app.session_state["page"] = "Frames"
    app.run()
    assert not app.exception, app.exception
    return app


def _shown(app: AppTest) -> dict[str, str]:
    """The frame's source (the caption's first part) and the metrics the viewer shows."""
    caption = next(c.value for c in app.caption if "columns:" in c.value)
    return {"path": caption.split(" · columns:")[0]} | {m.label: str(m.value) for m in app.metric}


def test_the_viewer_lists_and_renders_a_frame_written_on_another_host(
    published: BacktestRun, azurite: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = published.frame.blob_path
    assert uri is not None
    container = uri.removeprefix("blob://").split("/", 1)[0]
    app = _dashboard(monkeypatch, tmp_path / "dashboard", azurite.extra["connection_string"], container)
    choice = app.selectbox(key="frame_choice")
    assert len(choice.options) == 2
    assert choice.options[1].endswith("· api · AAPL momentum synthetic 1Day · blob")
    choice.select(1).run()
    assert not app.exception and not app.error
    shown = _shown(app)
    assert shown["path"] == uri and shown["Bars"] == "24"
    equity = pd.read_parquet(published.frame.path)["equity"]
    assert shown["Total return"] == f"{equity.iloc[-1] / equity.iloc[0] - 1:.2%}"
    equity = equity.tail(20)
    assert list(app.dataframe[-1].value["equity"]) == list(equity)


def test_the_path_box_accepts_a_blob_uri(
    published: BacktestRun, azurite: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = published.frame.blob_path
    assert uri is not None
    container = uri.removeprefix("blob://").split("/", 1)[0]
    app = _dashboard(monkeypatch, tmp_path / "dashboard", azurite.extra["connection_string"], container)
    app.text_input(key="frame_path").input(uri).run()
    assert not app.exception and not app.error
    assert _shown(app)["path"] == uri and _shown(app)["Bars"] == "24"
    app.text_input(key="frame_path").input(f"blob://{container}/probabilistic/frames/none.parquet").run()
    assert "blob not found" in app.error[0].value


def test_blob_down_still_lists_local_frames_with_a_warning(
    published: BacktestRun, azurite: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_root = Path(published.frame.path).parents[3]
    dead = azurite.extra["connection_string"].replace(f":{azurite.port}/", f":{free_port()}/")
    app = _dashboard(monkeypatch, api_root, dead, "trader-data")
    assert any("blob frame manifest unavailable" in w.value for w in app.warning)
    choice = app.selectbox(key="frame_choice")
    assert len(choice.options) == 2 and choice.options[1].endswith("· local")
    choice.select(1).run()
    assert _shown(app)["path"] == Path(published.frame.path).name
    assert any("next try within" in w.value for w in app.warning)  # no second wait for the dead store
