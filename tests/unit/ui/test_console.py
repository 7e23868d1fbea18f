"""The console's pure parts: login hashes, exposure refusal, fetch deadline, tables, frame rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from app.api.routes.status import schedule_day, trading_state
from app.cli.ui import exposure_refusal
from app.config import Settings
from app.errors import ConfigError, InputError, NotFoundError
from app.ui.auth import hash_password, is_loopback, verify_password
from app.ui.client import fetch_all
from app.ui.views.backtests import heatmap_frame, job_rows
from app.ui.views.frame_viewer import check_frame_path, frame_metrics, open_frame, trade_marks
from app.ui.views.orders import notional_of, order_rows

pytestmark = pytest.mark.unit

ET = ZoneInfo("America/New_York")


def test_a_password_verifies_against_its_hash_only() -> None:
    stored = hash_password("correct horse", salt=b"0123456789abcdef")
    assert stored.startswith("scrypt$16384$8$1$30313233")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsf", stored)
    assert not verify_password("", stored)
    assert hash_password("correct horse") != stored  # a fresh salt each time
    with pytest.raises(ConfigError, match="not an scrypt hash"):
        verify_password("x", "plain-text-password")
    with pytest.raises(ConfigError, match="out of range"):
        verify_password("x", "scrypt$3$8$1$00$00")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("10.0.0.5", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_dashboard_refuses_a_public_address_without_a_login(
    make_settings: Callable[..., Settings],
) -> None:
    assert exposure_refusal(make_settings(), "127.0.0.1") is None
    refusal = exposure_refusal(make_settings(), "0.0.0.0")
    assert refusal is not None and "UI_OPERATOR_PASSWORD_HASH" in refusal
    with_login = make_settings(UI_OPERATOR_PASSWORD_HASH=hash_password("pw"))
    assert exposure_refusal(with_login, "0.0.0.0") is None
    broken = make_settings(UI_OPERATOR_PASSWORD_HASH="scrypt$bad")
    assert "not an scrypt hash" in str(exposure_refusal(broken, "127.0.0.1"))


def test_fetch_all_answers_within_its_deadline() -> None:
    def slow() -> int:
        time.sleep(2.0)
        return 1

    def broken() -> int:
        raise NotFoundError("no such order")

    started = time.perf_counter()
    results = fetch_all({"fast": lambda: 42, "slow": slow, "broken": broken}, deadline_s=0.3)
    assert time.perf_counter() - started < 1.0
    assert results["fast"].value == 42 and results["fast"].ok
    assert results["slow"].error == "no answer within 0.3 s"
    assert results["broken"].error == "no such order"


def test_trading_state_maps_the_kill_switch() -> None:
    assert trading_state(True) == "HALTED"
    assert trading_state(False) == "ACTIVE"


def test_order_table_puts_key_columns_first_and_derives_notional() -> None:
    orders = [
        {
            "id": 7,
            "symbol": "AAPL",
            "side": "buy",
            "status": "filled",
            "qty": "3",
            "notional": None,
            "filled_qty": "3",
            "avg_fill_price": "185.5",
            "strategy": "breakout",
            "created_at": "2026-11-30T15:00:00Z",
        },
        {
            "id": 8,
            "symbol": "MSFT",
            "side": "sell",
            "status": "new",
            "qty": None,
            "notional": "2500",
            "filled_qty": "0",
            "avg_fill_price": None,
            "strategy": None,
            "created_at": "2026-11-30T15:01:00Z",
        },
    ]
    table = order_rows(orders, ET)
    assert list(table.columns[:4]) == ["symbol", "side", "status", "notional"]
    assert list(table["notional"]) == [556.5, 2500.0]
    assert list(table["time"]) == ["2026-11-30 10:00:00", "2026-11-30 10:01:00"]  # local (ET) time
    assert notional_of({"notional": None, "filled_qty": "0", "avg_fill_price": None}) is None


def test_jobs_table_shows_ok_failed_and_best() -> None:
    job = {
        "job_id": "abc123def4567890",
        "status": "failed",
        "strategy": "sma_cross",
        "symbol": "ZZZZ",
        "ok": 0,
        "failed": 144,
        "best": None,
        "config": {"objective": {"metric": "sharpe"}},
        "created_at": "2026-11-30T15:00:00Z",
        "error": "144 of 144 parameter sets failed",
    }
    row = job_rows([job], ET).iloc[0]
    assert (row["status"], row["ok"], row["failed"], row["objective"]) == ("failed", 0, 144, "sharpe")


def test_heatmap_pivots_two_parameters() -> None:
    board = [
        {"fast": 5, "slow": 20, "total_return": 0.1},
        {"fast": 10, "slow": 20, "total_return": 0.2},
        {"fast": 5, "slow": 30, "total_return": -0.05},
    ]
    grid = heatmap_frame(board, ["fast", "slow"], "total_return")
    assert grid is not None
    assert grid.loc[20, 10] == 0.2 and grid.loc[30, 5] == -0.05 and pd.isna(grid.loc[30, 10])
    assert heatmap_frame(board, ["fast"], "total_return") is None


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "close": [10.0, 11.0, 10.5, 10.0, 10.4],
            "position": [0.0, 2.0, 2.0, 0.0, -1.0],
            "equity": [100.0, 102.0, 101.0, 99.0, 99.2],
        },
        index=pd.date_range("2024-01-02", periods=5, tz="UTC"),
    )


def test_trade_marks_and_metrics_come_from_the_frame() -> None:
    frame = _frame()
    entries, exits = trade_marks(frame)
    assert list(entries) == [frame.index[1], frame.index[4]]
    assert list(exits) == [frame.index[3]]
    metrics = frame_metrics(frame)
    assert metrics["trades"] == 2 and metrics["bars"] == 5
    assert metrics["total_return"] == pytest.approx(-0.008)
    assert metrics["max_drawdown"] == pytest.approx(99.0 / 102.0 - 1)
    assert metrics["exposure"] == pytest.approx(0.6)


def test_only_frames_store_paths_open(tmp_path: Path) -> None:
    store = tmp_path / "frames"
    store.mkdir()
    assert check_frame_path("a.parquet", store, None) == str(store / "a.parquet")
    for bad in ("/etc/passwd", str(store / ".." / "x.parquet"), str(tmp_path / "cache" / "bars.parquet")):
        with pytest.raises(InputError, match="only frames under the frames store"):
            check_frame_path(bad, store, None)
    with pytest.raises(InputError, match=r"a frame is a \.parquet file"):
        check_frame_path(str(store / "notes.txt"), store, None)
    with pytest.raises(InputError, match="blob frames are not configured"):
        check_frame_path("blob://trader-data/probabilistic/frames/a.parquet", store, None)


def test_a_corrupt_file_is_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"PAR1garbage")
    with pytest.raises(InputError) as caught:
        open_frame(lambda: pd.read_parquet(corrupt))
    assert str(caught.value).startswith("not a readable frame (") and str(tmp_path) not in str(caught.value)


def test_schedule_day_marks_past_jobs_due_and_future_pending(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    day = schedule_day(settings, date(2026, 11, 30), datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # 10:00 ET
    statuses = {j.job: j.status for j in day.jobs}
    assert statuses["warm_up"] == "due" and statuses["intraday_refresh_1130"] == "pending"
    assert schedule_day(settings, date(2026, 11, 28), datetime(2026, 11, 28, tzinfo=UTC)).jobs == []


def test_robustness_rows_show_in_and_out_of_sample_figures() -> None:
    from app.ui.views.backtests import robustness_rows

    report = {
        "GOOG": {
            "trials": 144,
            "in_sample": {"deflated_sharpe": 0.91},
            "pbo": {"probability": 0.25},
            "walk_forward": {
                "oos": {"sharpe": 0.4, "total_return": 0.12},
                "oos_dsr": {"deflated_sharpe": 0.6},
            },
            "promotable": False,
            "reason": "out-of-sample DSR 0.60 below 0.95",
        }
    }
    row = robustness_rows(report).iloc[0]
    assert (row["trials"], row["in-sample DSR"], row["PBO"], row["OOS DSR"]) == (144, 0.91, 0.25, 0.6)
    assert (row["OOS sharpe"], row["OOS total_return"], row["promotable"]) == (0.4, 0.12, False)


def test_router_run_records_are_keyed_by_a_safe_order_id() -> None:
    from app.router.run_records import run_key

    assert run_key("rt-breakout-AAPL-20261006T0000-sell-a81550fa") == (
        "router-runs/orders/rt-breakout-AAPL-20261006T0000-sell-a81550fa.json"
    )
    assert run_key("../x/y") == "router-runs/orders/.._x_y.json"  # no folder escapes the prefix
