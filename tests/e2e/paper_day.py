"""Harness of the paper-trading day: a recorded market, a replayed clock, the platform's processes.

The platform runs as ``ai-trader up`` starts it (the same component command lines, from
:func:`app.cli.up.components`), every process reading the same replayed "now" from
``REPLAY_CLOCK_FILE`` and the same recorded bars from ``REPLAY_DIR`` through the ``replay``
vendor. The test moves the clock; the scheduler notices and runs the job that fell due. What
the processes wrote (ledger, artifacts, database) is read back here to check each step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.bootstrap import Container
from app.cli.up import components
from app.config import Settings
from app.domain.clock import set_clock_file
from app.observability import COMPONENT_ENV
from app.storage.repositories.orders import FillView, OrderView
from app.workers.scheduler import Ledger
from tests.replay_recording import Recording, record_market

__all__ = ["ET", "PLATFORM", "PaperDay", "et", "signed_fills"]

ET = ZoneInfo("America/New_York")
PLATFORM = ("order-consumer", "scheduler", "venue-updates")
"""The components of ``ai-trader up`` the day runs: every process that trades or books (the
HTTP surfaces and the sweep consumer are left out; everything is read from the database and
the artifacts)."""


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ET)


@dataclass
class PaperDay:
    """One replayed session: recording, settings, clock and the running processes."""

    root: Path
    recording: Recording
    values: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    generation: int = 0

    @classmethod
    def create(cls, root: Path, database_url: str | None = None, **overrides: str) -> PaperDay:
        recording = record_market(root / "recording")
        clock = root / "clock"
        set_clock_file(clock, et(recording.session, 3, 50))
        values = {
            "DATA_DIR": str(root / "var"),
            "ARTIFACTS_DIR": str(root / "artifacts"),
            "REPLAY_DIR": str(recording.root),
            "REPLAY_CLOCK_FILE": str(clock),
            "SCHEDULE_DAL_VENDOR": "replay",
            "DAL_AUTO_ORDER": "replay",
            "WATCHLIST": ",".join(recording.symbols),
            "WATCHLIST_SIZE": str(len(recording.symbols)),
            "SCHEDULE_INTRADAY_INTERVAL": "5Min",
            "SCHEDULE_PUBLISH_ORDERS": "true",
            "SCHEDULE_EXECUTE_ORDERS": "true",
            # every job the test's clock steps over (at most 3 h 10 at once) is still due, and
            # nothing of the previous session is (its 18:00 report is 9 h 50 before 03:50)
            "SCHEDULE_GRACE_MINUTES": "240",
            # a SIGKILLed scheduler keeps its lease until it expires: its successor waits that long
            "SCHEDULE_LEASE_S": "6",
            "BROKER": "simulated",
            "SIM_INITIAL_CASH": "100000",
            "RISK_ACCOUNT_EQUITY": "100000",
            "SIM_SLIPPAGE_BPS": "0",
            "SIM_COMMISSION_BPS": "0",
            "SIM_FEE_PER_ORDER": "0",
            "LOG_LEVEL": "INFO",
        }
        if database_url is not None:
            values["DATABASE_URL"] = database_url
        values.update(overrides)
        return cls(root=root, recording=recording, values=values)

    # --- settings, clock ------------------------------------------------------------------
    @property
    def session(self) -> date:
        return self.recording.session

    def settings(self) -> Settings:
        known = {k: v for k, v in self.values.items() if k in Settings.model_fields}
        return Settings(_env_file=None, **known)  # type: ignore[call-arg]

    def env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_", "API_", "SCHEDULE_", "RISK_"))
        }
        return {**inherited, **self.values}

    def move_clock(self, hour: int, minute: int = 0) -> datetime:
        when = et(self.session, hour, minute)
        set_clock_file(Path(self.values["REPLAY_CLOCK_FILE"]), when)
        return when

    # --- processes --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the platform's processes (a new generation after a kill)."""
        self.generation += 1
        present = {c.name: c for c in components(self.settings(), "127.0.0.1")}
        missing = [name for name in PLATFORM if name not in present]
        assert not missing, f"`ai-trader up` no longer starts {missing}"
        for name in PLATFORM:
            component = present[name]
            log = self.root / f"{name}.{self.generation}.log"
            self.logs[name] = log
            with log.open("wb") as sink:
                self.procs[name] = subprocess.Popen(
                    component.argv,
                    env={**self.env(), COMPONENT_ENV: name},
                    cwd=self.root,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )

    def running(self) -> list[str]:
        return sorted(self.procs)

    def kill_all(self) -> None:
        """SIGKILL every process at once (no clean shutdown, nothing flushed)."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait(timeout=30)
        self.procs.clear()

    def stop(self) -> dict[str, int]:
        """SIGTERM every process and return their exit codes."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait(timeout=10)
        self.procs.clear()
        return codes

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"platform process(es) died: {dead}\n{self.tail_logs()}")

    def tail_logs(self, lines: int = 25) -> str:
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
            parts.append(f"--- {name} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    # --- the schedule -----------------------------------------------------------------------
    def ledger(self) -> list[dict[str, Any]]:
        return Ledger(Path(self.values["DATA_DIR"]) / "schedule" / "ledger.jsonl").entries()

    def wait_job(self, job: str, timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until the ledger records ``job`` for the session; return its entry."""
        key = f"{self.session.isoformat()}/{job}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            entry = next((e for e in self.ledger() if e["key"] == key), None)
            if entry is not None:
                return entry
            self.check_alive()
            time.sleep(0.2)
        raise AssertionError(f"the scheduler did not record {key} in {timeout_s:.0f} s\n{self.tail_logs()}")

    def artifact(self, job: str) -> dict[str, Any]:
        path = Path(self.values["ARTIFACTS_DIR"]) / "daily" / self.session.isoformat() / f"{job}.json"
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded

    # --- what the platform wrote ------------------------------------------------------------
    @contextmanager
    def services(self) -> Iterator[Container]:
        with Container(self.settings()) as container:
            yield container

    def orders(self) -> list[OrderView]:
        with self.services() as c:
            return list(c.orders.list_orders(limit=500).items)

    def fills(self) -> list[FillView]:
        with self.services() as c:
            return list(c.orders.list_fills(limit=500).items)

    def book(self) -> dict[str, Decimal]:
        """Signed quantity per symbol in ``trading.positions`` (flat ones left out)."""
        from app.storage.repositories.portfolio import PortfolioRepository

        with self.services() as c:
            return {
                p.symbol: p.quantity for p in PortfolioRepository(c.db).positions("simulated") if p.quantity
            }

    def broker_positions(self) -> dict[str, Decimal]:
        """What the simulated paper account (the broker) holds, read as any process reads it."""
        with self.services() as c:
            return {p.symbol: p.quantity for p in c.broker.list_positions() if p.quantity}

    def wait_consumed(self, timeout_s: float = 30.0) -> None:
        """Wait until every order the broker filled is in the database with its fills."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.services() as c:
                broker = {o.client_order_id: o for o in c.broker.orders()}
                stored = {o.client_order_id: o for o in c.orders.list_orders(limit=500).items}
            behind = [cid for cid, o in broker.items() if cid not in stored or stored[cid].status != o.status]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the order consumer did not store {behind}\n{self.tail_logs()}")
            self.check_alive()
            time.sleep(0.2)


def signed_fills(fills: list[FillView], orders: list[OrderView]) -> dict[str, Decimal]:
    """Signed filled quantity per symbol (buys positive), summed over every stored fill."""
    side = {o.client_order_id: o.side for o in orders}
    total: dict[str, Decimal] = {}
    for fill in fills:
        sign = Decimal(1) if side[fill.client_order_id] == "buy" else Decimal(-1)
        total[fill.symbol] = total.get(fill.symbol, Decimal(0)) + sign * fill.qty
    return {s: q for s, q in total.items() if q}
