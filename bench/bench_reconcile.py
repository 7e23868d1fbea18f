"""Reconciliation of 500 positions against a local server speaking Alpaca's trading API.

The broker side is a loopback HTTP server in its own process (``tests/unit/execution/
alpaca_replay.py``, the server the Alpaca unit tests use) serving ``GET /v2/positions`` (500
positions shaped like the captured ``position_aapl.json``, longs and shorts), ``GET /v2/orders``
(120 open orders shaped like the captured ``trade_update`` order) and ``GET /v2/account``. The
book is ``trading.positions`` of account ``alpaca-paper`` in SQLite: 490 of the broker's
symbols (10 of them with another quantity) and 5 symbols the broker does not hold, so every
run finds 20 differences of three kinds.

Sides, interleaved round by round, one thread, after one warm-up call each:

* ai-trader ``reconcile_book`` (what ``ai-trader portfolio reconcile`` runs): the Alpaca broker
  through alpaca-py on ``ALPACA_TRADING_BASE_URL``, the book read through the repository, the
  differences typed and each given its open orders and an adjusting entry;
* the same with ``apply=True``: the 20 adjusting entries written in one transaction (the book
  is put back outside the timed call before the next round);
* floor: the same two HTTP reads with a bare ``requests.Session`` and ``json``, the book's
  three columns with bare ``sqlite3``, and a dictionary comparison of the quantities.

Run alone: ``.venv/bin/python -m bench.bench_reconcile``.
"""

from __future__ import annotations

import copy
import json
import logging
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.report import Goal, Section
from bench.timing import Stat

REPO = Path(__file__).resolve().parents[1]
POSITIONS = 500
OPEN_ORDERS = 120
CHANGED = 10  # book quantity differs from the broker's
BROKER_ONLY = 5  # the broker holds it, the book does not
BOOK_ONLY = 5  # the book holds it, the broker does not
ACCOUNT = "alpaca-paper"

_SERVER = """
import json, sys, time
sys.path.insert(0, {repo!r})
from tests.unit.execution.alpaca_replay import alpaca_replay_server
state_in = json.loads(sys.stdin.readline())
with alpaca_replay_server() as (url, state):
    state.positions = state_in["positions"]
    state.open_orders = state_in["open_orders"]
    print(url, flush=True)
    sys.stdin.readline()  # serve until the parent closes stdin
"""


def _symbol(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "Z" + letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26]


def broker_positions() -> dict[str, dict[str, Any]]:
    """The broker's 500 positions, each the captured ``position_aapl.json`` with its own numbers."""
    from tests.unit.execution.alpaca_replay import load

    template = load("position_aapl.json")
    out: dict[str, dict[str, Any]] = {}
    for i in range(POSITIONS):
        short = i % 7 == 3
        qty = Decimal(5 + i % 90) + (Decimal("0.5") if i % 11 == 0 else 0)
        price = Decimal(20 + (i * 37) % 400) + Decimal(i % 100) / 100
        mark = price * Decimal("1.01")
        item = copy.deepcopy(template)
        item.update(
            symbol=_symbol(i),
            asset_id=f"00000000-0000-4000-8000-{i:012d}",
            qty=str(-qty if short else qty),
            qty_available=str(-qty if short else qty),
            side="short" if short else "long",
            avg_entry_price=str(price),
            current_price=str(mark),
            market_value=str((-qty if short else qty) * mark),
            cost_basis=str((-qty if short else qty) * price),
            unrealized_pl=str((-qty if short else qty) * (mark - price)),
        )
        out[item["symbol"]] = item
    return out


def open_orders() -> list[dict[str, Any]]:
    from tests.unit.execution.alpaca_replay import load

    template = load("real_trade_update_new_aapl.json")["data"]["order"]
    start = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
    out = []
    for i in range(OPEN_ORDERS):
        order = copy.deepcopy(template)
        stamp = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        order.update(
            id=f"10000000-0000-4000-8000-{i:012d}",
            client_order_id=f"bench-{i:05d}",
            symbol=_symbol(i * 4 % POSITIONS),
            qty=str(1 + i % 9),
            submitted_at=stamp,
            created_at=stamp,
            updated_at=stamp,
        )
        out.append(order)
    return out


def book_positions(broker: dict[str, dict[str, Any]]) -> list[Any]:
    """The book: the broker's positions minus ``BROKER_ONLY``, ``CHANGED`` quantities, ``BOOK_ONLY`` more."""
    from app.execution.alpaca.parsing import parse_position

    items = list(broker.values())
    kept = items[BROKER_ONLY:]
    book = []
    for k, raw in enumerate(kept):
        item = dict(raw)
        if k < CHANGED:
            item["qty"] = str(Decimal(item["qty"]) + (1 if item["side"] == "long" else -1))
        book.append(parse_position(item))
    for j in range(BOOK_ONLY):
        extra = dict(items[0], symbol=f"Y{_symbol(j)[1:]}", side="long", qty="3")
        book.append(parse_position(extra))
    return book


@contextmanager
def replay_server(positions: dict[str, dict[str, Any]], orders: list[dict[str, Any]]) -> Iterator[str]:
    """The replay server in a child process; yields its base URL."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(repo=str(REPO))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(json.dumps({"positions": positions, "open_orders": orders}) + "\n")
        child.stdin.flush()
        url = child.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the replay server did not start (said {url!r})")
        yield url
    finally:
        try:
            child.stdin.close()
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _set_book(container: Any, target: list[Any]) -> None:
    """Make the book equal ``target`` (outside any timed call): reconcile against it, apply."""
    from app.portfolio import reconcile
    from app.storage.repositories.portfolio import PortfolioRepository

    repository = PortfolioRepository(container.db)
    report = reconcile(
        ACCOUNT, repository.positions(ACCOUNT), target, [], who="bench", why="reset", at=datetime.now(UTC)
    )
    if report.entries:
        repository.apply_adjustments(report.entries)


def _floor(url: str, db_path: Path) -> Callable[[], int]:
    import requests

    session = requests.Session()
    headers = {"APCA-API-KEY-ID": "PKBENCHKEY", "APCA-API-SECRET-KEY": "bench-secret"}
    connection = sqlite3.connect(db_path)

    def call() -> int:
        positions = session.get(f"{url}/v2/positions", headers=headers, timeout=10).json()
        orders = session.get(
            f"{url}/v2/orders",
            params={"status": "open", "direction": "asc", "limit": 500},
            headers=headers,
            timeout=10,
        ).json()
        broker = {}
        for item in positions:  # Alpaca sends a short's qty negative; a positive one is negated
            qty = Decimal(item["qty"])
            broker[item["symbol"]] = -qty if item["side"] == "short" and qty > 0 else qty
        rows = connection.execute(
            "SELECT symbol, qty, avg_cost FROM positions WHERE account = ?", (ACCOUNT,)
        ).fetchall()
        book = {symbol: Decimal(qty) for symbol, qty, _ in rows if Decimal(qty)}  # text on SQLite
        working: dict[str, list[dict[str, Any]]] = {}
        for order in orders:
            working.setdefault(order["symbol"], []).append(order)
        differ = [
            (symbol, working.get(symbol, []))
            for symbol in sorted(broker.keys() | book.keys())
            if broker.get(symbol, 0) != book.get(symbol, 0)
        ]
        return len(differ)

    return call


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(quick: bool = False) -> Section:
    from app.bootstrap import Container
    from app.config import Settings
    from app.workers.portfolio import reconcile_book

    rounds = 3 if quick else 9
    # each round finds and applies 20 differences: keep their warnings out of the bench output
    logging.getLogger("app.workers.portfolio").setLevel(logging.ERROR)
    positions = broker_positions()
    orders = open_orders()
    book = book_positions(positions)
    differences = CHANGED + BROKER_ONLY + BOOK_ONLY
    samples: dict[str, list[float]] = {"compare": [], "apply": [], "floor": []}
    cpu: dict[str, list[float]] = {"compare": [], "apply": [], "floor": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp,
        replay_server(positions, orders) as url,
    ):
        root = Path(tmp)
        db_path = root / "book.db"
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            DATA_DIR=root / "var",
            ARTIFACTS_DIR=root / "art",
            DATABASE_URL=f"sqlite:///{db_path}",
            BROKER="alpaca",
            ALPACA_PAPER=True,
            ALPACA_API_KEY="PKBENCHKEY",
            ALPACA_API_SECRET="bench-secret",
            ALPACA_TRADING_BASE_URL=url,
        )
        container = Container(settings)
        try:
            container.db.upgrade()
            _set_book(container, book)
            floor = _floor(url, db_path)

            def compare() -> int:
                outcome = reconcile_book(container, apply=False, who="bench", why="benchmark")
                return len(outcome.report.differences)

            def apply() -> int:
                outcome = reconcile_book(container, apply=True, who="bench", why="benchmark")
                return len(outcome.report.entries)

            sides: dict[str, Callable[[], int]] = {"compare": compare, "apply": apply, "floor": floor}
            for name, side in sides.items():  # warm-up: connections, statement caches, imports
                found = side()
                if found != differences:
                    raise RuntimeError(f"{name}: {found} differences, expected {differences}")
                if name == "apply":
                    _set_book(container, book)
            for _ in range(rounds):
                for name, side in sides.items():
                    cpu_before = _cpu()
                    started = time.perf_counter()
                    found = side()
                    samples[name].append(time.perf_counter() - started)
                    cpu[name].append(_cpu() - cpu_before)
                    if found != differences:
                        raise RuntimeError(f"{name}: {found} differences, expected {differences}")
                    if name == "apply":
                        _set_book(container, book)
        finally:
            container.close()
    stats = {name: Stat.of(samples[name], cpu=cpu[name]) for name in samples}
    return _section(stats, rounds, differences)


def _section(stats: dict[str, Stat], rounds: int, differences: int) -> Section:
    floor = stats["floor"]
    rows = [
        (
            "ai-trader `reconcile_book` (alpaca-py broker, book through the repository, typed differences"
            " with their open orders and adjusting entries)",
            stats["compare"],
        ),
        (
            "ai-trader `reconcile_book(apply=True)`: + the adjusting entries written in one transaction",
            stats["apply"],
        ),
        (
            "floor: bare `requests` + `json` for the two reads, bare `sqlite3` for the book, a dict diff",
            floor,
        ),
    ]
    lines = [
        f"{POSITIONS} broker positions (longs and shorts, shaped like the captured `position_aapl.json`) and"
        f" {OPEN_ORDERS} open orders (shaped like the captured `trade_update` order) served by the Alpaca"
        " replay server of the unit tests, in its own process on loopback; the book (`trading.positions`,"
        f" SQLite) differs in {differences} symbols ({CHANGED} quantities, {BROKER_ONLY} positions only at"
        f" the broker, {BOOK_ONLY} only in the book). {rounds} interleaved rounds after one warm-up call"
        " per side, one thread; median (min-max) wall time and median CPU time of this process (the"
        " server's CPU is not counted).",
        "",
        "| side | wall time | CPU time | x floor (wall) |",
        "|---|---:|---:|---:|",
    ]
    for label, stat in rows:
        lines.append(f"| {label} | {stat.cell()} | {stat.cpu_cell()} | {stat.median / floor.median:.1f}x |")
    compare = stats["compare"]
    apply = stats["apply"]
    return Section(
        name="reconcile",
        title="Reconciliation (500 positions, Alpaca format, local server)",
        body="\n".join(lines),
        ratios={"reconcile.floor_over_ours": floor.median / compare.median},
        goals=[
            Goal(
                f"reconcile {POSITIONS} positions against a local server under 1 s (with --apply)",
                f"{apply.cell()} ({compare.cell()} without writing)",
                apply.median < 1.0,
            )
        ],
    )


if __name__ == "__main__":
    print(run().body)
