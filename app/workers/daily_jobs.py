"""What each scheduled job does. Every job writes its result as JSON under
``ARTIFACTS_DIR/daily/<session date>/<job>.json`` and returns a short summary for the ledger.

* scans rank ``WATCHLIST`` by risk-adjusted momentum (momentum / realised volatility) on daily
  bars from ``SCHEDULE_DAL_VENDOR``, recording each symbol's regime and RSI;
* ``finalize_watchlist`` keeps the ``WATCHLIST_SIZE`` best-ranked symbols of the premarket scan;
* ``warm_up`` runs every strategy's decision pipeline once so compiled kernels are loaded;
* ``startup_check`` also reconciles the book with the broker (:mod:`app.workers.reconciliation`);
* intraday refreshes reconcile first (a reconciliation that cannot read the broker stops the
  refresh: nothing is routed), then route the watchlist in one routing pass
  (:meth:`app.router.service.RouterService.run_pass`) on ``SCHEDULE_INTRADAY_INTERVAL`` bars
  from the configured vendors: every symbol's bars are read and the paper account is marked
  at every symbol's newest completed close before the symbols are sized and routed in order
  (publish / execute as ``SCHEDULE_PUBLISH_ORDERS`` / ``SCHEDULE_EXECUTE_ORDERS`` say; the
  governor still guards).
  With ``SCHEDULE_DAL_VENDOR=synthetic`` they run the offline drill on synthetic daily bars
  instead, and say so in the log. After routing, each refresh marks the book to market and
  stores a portfolio snapshot (and the day's first refresh marks it before routing too, when
  the day has no snapshot yet, so the day's P&L has its opening reference);
* ``after_hours_scan`` (the close job) also stores a snapshot marked at the session's last bars;
* ``retrain`` runs the (walk-forward) sweep in ``SCHEDULE_RETRAIN_CONFIG``, promotes its best set
  only when the sweep says it is promotable, then fits, registers and decides on a
  win-probability model (:mod:`app.workers.retrain`);
* ``reports`` marks the book to the latest closes (a stored portfolio snapshot) and summarises
  the session's orders, fills, positions, the day's P&L, the governor's state and each
  limit's use against that book, and scores
  the router's probabilities against the outcomes realised on the session's bar, per regime
  (:mod:`app.models.live`; drift above ``MODEL_CALIBRATION_DRIFT_MAX`` is logged as an error).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import AiTraderError, InputError

if TYPE_CHECKING:
    from app.bootstrap import Container

__all__ = ["DailyJobs", "RefreshNotRouted", "RetrainFailed"]

SCAN_LOOKBACK_DAYS = 200
INTRADAY_LOOKBACK_DAYS = 10
"""Calendar days of intraday bars a refresh reads (enough warm-up for every strategy)."""
CALIBRATION_LOOKBACK_DAYS = 7
"""Router runs of the sessions this many days back are read to find today's realised outcomes."""

log = logging.getLogger("app.workers.daily_jobs")


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class RefreshNotRouted(AiTraderError):
    """An intraday refresh stopped before routing: its reconciliation could not read the broker."""


class RetrainFailed(AiTraderError):
    """The retrain sweep ran but too many of its runs failed (``SWEEP_FAILURE_RATIO``)."""


class DailyJobs:
    """The schedule's jobs, bound to one process's container (its clients and router)."""

    def __init__(self, services: Container, *, clock: Callable[[], datetime] | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.clock = clock or (lambda: datetime.now(UTC))

    def startup_reconcile(self) -> dict[str, Any]:
        """Reconcile when the scheduler starts leading (``ai-trader up``); a failure is logged,
        not raised: each refresh reconciles again and fails closed on its own."""
        from app.workers.reconciliation import auto_reconcile

        try:
            result = auto_reconcile(self.services, trigger="startup", at=self.clock()).to_dict()
        except AiTraderError as exc:
            log.error("start-up reconciliation failed: %s", exc, extra={"error": str(exc)})
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        return {"status": "ok", **result}

    # --- dispatch -----------------------------------------------------------------------
    def run(self, name: str, session: date) -> dict[str, Any]:
        handlers: dict[str, Callable[[date], dict[str, Any]]] = {
            "startup_check": self.startup_check,
            "premarket_scan": lambda d: self.scan(d, "premarket_scan"),
            "finalize_watchlist": self.finalize_watchlist,
            "warm_up": self.warm_up,
            "after_hours_scan": self.after_hours_scan,
            "retrain": self.retrain,
            "reports": self.reports,
        }
        if name.startswith("intraday_refresh"):
            result = self.intraday_refresh(session, name)
        elif name in handlers:
            result = handlers[name](session)
        else:
            raise InputError(f"unknown scheduled job {name!r}")
        path = self.output_path(session, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        return {
            "output": str(path),
            **{k: v for k, v in result.items() if k in ("count", "status", "symbols")},
        }

    def output_path(self, session: date, name: str) -> Path:
        return self.settings.ARTIFACTS_DIR / "daily" / session.isoformat() / f"{name}.json"

    # --- jobs ---------------------------------------------------------------------------
    def startup_check(self, session: date) -> dict[str, Any]:
        checks: dict[str, str] = {}
        for name, check in self.services.readiness_checks().items():
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}: {exc}"
        from app.workers.reconciliation import auto_reconcile

        try:
            reconciled: dict[str, Any] = auto_reconcile(
                self.services, trigger="startup_check", at=self.clock()
            ).to_dict()
            checks["reconcile"] = (
                "ok" if reconciled["latched"] is None else f"latched: {reconciled['latched']}"
            )
        except AiTraderError as exc:
            reconciled = {"error": f"{type(exc).__name__}: {exc}"}
            checks["reconcile"] = f"error: {type(exc).__name__}: {exc}"
        failing = sorted(k for k, v in checks.items() if not v.startswith(("ok", "latched")))
        if failing:
            raise AiTraderError(f"platform not ready: {', '.join(failing)} ({checks})")
        return {"status": "ok", "checks": checks, "reconcile": reconciled}

    def scan(self, session: date, label: str) -> dict[str, Any]:
        from app.decision import compute_regimes, compute_signals

        market = self.services.market_data
        rows: list[dict[str, Any]] = []
        errors: dict[str, str] = {}
        for symbol in self.settings.WATCHLIST.split(","):
            try:
                result = market.fetch(
                    self.settings.SCHEDULE_DAL_VENDOR,
                    symbol,
                    session - timedelta(days=SCAN_LOOKBACK_DAYS),
                    session,
                    interval="1Day",
                )
                signals = compute_signals(result.bars)
                regimes = compute_regimes(result.bars, signals)
            except AiTraderError as exc:
                errors[symbol] = str(exc)
                continue
            last = signals.iloc[-1]
            momentum, vol = _finite(last.get("momentum")), _finite(last.get("realised_vol"))
            score = momentum / vol if momentum is not None and vol else None
            rows.append(
                {
                    "symbol": symbol,
                    "as_of": result.bars.index[-1].isoformat(),
                    "close": float(result.bars["close"].iloc[-1]),
                    "momentum": momentum,
                    "realised_vol": vol,
                    "rsi": _finite(last.get("rsi")),
                    "regime": str(regimes["regime"].iloc[-1]),
                    "score": score,
                    "vendor": result.vendor,
                }
            )
        rows.sort(key=lambda r: -math.inf if r["score"] is None else r["score"], reverse=True)
        return {
            "job": label,
            "session": session.isoformat(),
            "count": len(rows),
            "ranked": rows,
            "errors": errors,
        }

    def finalize_watchlist(self, session: date) -> dict[str, Any]:
        premarket = self.output_path(session, "premarket_scan")
        if premarket.exists():
            ranked = json.loads(premarket.read_text(encoding="utf-8"))["ranked"]
        else:
            ranked = self.scan(session, "premarket_scan")["ranked"]
        chosen = [r["symbol"] for r in ranked if r["score"] is not None][: self.settings.WATCHLIST_SIZE]
        return {"session": session.isoformat(), "symbols": chosen, "count": len(chosen)}

    def watchlist(self, session: date) -> list[str]:
        final = self.output_path(session, "finalize_watchlist")
        if final.exists():
            symbols: list[str] = json.loads(final.read_text(encoding="utf-8"))["symbols"]
            return symbols
        return self.settings.WATCHLIST.split(",")[: self.settings.WATCHLIST_SIZE]

    def warm_up(self, session: date) -> dict[str, Any]:
        from app.decision import compute_regimes, compute_signals
        from app.decision.pipeline import decide
        from app.strategies import STRATEGIES, get_strategy

        bars = self.services.market_data.fetch(
            "synthetic", "WARMUP", session - timedelta(days=SCAN_LOOKBACK_DAYS), session
        ).bars
        signals = compute_signals(bars)
        regimes = compute_regimes(bars, signals)
        risk = self.services.router_risk
        timings: dict[str, float] = {}
        for name in sorted(STRATEGIES):
            started = time.perf_counter()
            decide(bars, signals, regimes, get_strategy(name), risk)
            timings[name] = round((time.perf_counter() - started) * 1000, 2)
        return {"status": "ok", "timings_ms": timings, "count": len(timings)}

    def intraday_refresh(self, session: date, label: str) -> dict[str, Any]:
        from app.router.schemas import RouterRunRequest
        from app.workers.reconciliation import auto_reconcile

        try:
            reconciled = auto_reconcile(self.services, trigger=label, at=self.clock()).to_dict()
        except AiTraderError as exc:
            reason = f"reconciliation failed closed: {type(exc).__name__}: {exc}"
            record = {"job": label, "session": session.isoformat(), "routed": False, "reason": reason}
            path = self.output_path(session, label)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2), encoding="utf-8")
            log.error("schedule: %s not routed: %s", label, reason, extra={"job": label, "reason": reason})
            raise RefreshNotRouted(f"{label} not routed: {reason}") from exc
        offline = self.settings.SCHEDULE_DAL_VENDOR == "synthetic"
        interval = "1Day" if offline else self.settings.SCHEDULE_INTRADAY_INTERVAL
        lookback = SCAN_LOOKBACK_DAYS if offline else INTRADAY_LOOKBACK_DAYS
        if offline:
            log.warning(
                "schedule: %s runs the offline drill on synthetic daily bars "
                "(SCHEDULE_DAL_VENDOR=synthetic); set a vendor for decisions on %s bars",
                label,
                self.settings.SCHEDULE_INTRADAY_INTERVAL,
                extra={"job": label, "vendor": "synthetic", "interval": interval},
            )
        else:
            log.info(
                "schedule: %s decides on %s bars from the configured vendors",
                label,
                interval,
                extra={"job": label, "interval": interval},
            )
        opening = self._opening_mark(session, label, interval)
        runs: list[dict[str, Any]] = []
        start = datetime.combine(session - timedelta(days=lookback), datetime.min.time(), tzinfo=UTC)
        requests = [
            RouterRunRequest(
                symbol=symbol,
                start=start,
                strategy=self.settings.SCHEDULE_STRATEGY,
                offline_mode=offline,
                interval=interval,
                publish_orders=self.settings.SCHEDULE_PUBLISH_ORDERS,
                execute_orders=self.settings.SCHEDULE_EXECUTE_ORDERS,
            )
            for symbol in self.watchlist(session)
        ]
        # one pass: every symbol's bars read and the paper account marked before any is sized
        for routed in self.services.router.run_pass(requests):
            symbol, result = routed.request.symbol, routed.result
            if result is None:
                runs.append({"symbol": symbol, "error": str(routed.error)})
                continue
            # prob, regime, side and signal bar: what the 18:00 report scores against the outcome
            runs.append(
                result.model_dump(
                    mode="json",
                    include={
                        "run_id",
                        "events",
                        "fallback_reason",
                        "published",
                        "strategy",
                        "prob",
                        "regime",
                        "position",
                        "signal_bar_time",
                        "prior",
                    },
                )
            )
            runs[-1]["symbol"] = symbol
            runs[-1]["interval"] = interval  # the bars decided on: the outcome is the next of them
        # the routing above stands whatever happens here: a failed mark is recorded, not raised
        snapshot = self._mark(label, interval)
        return {
            "job": label,
            "session": session.isoformat(),
            "routed": True,
            "interval": interval,
            "offline_mode": offline,
            "reconcile": reconciled,
            "count": len(runs),
            "runs": runs,
            **({"opening_snapshot": opening} if opening is not None else {}),
            "snapshot": snapshot,
        }

    def _mark_interval(self) -> str:
        """The bars the book is marked at during the day: the refreshes' own interval, or daily
        bars in the offline drill (``SCHEDULE_DAL_VENDOR=synthetic``)."""
        if self.settings.SCHEDULE_DAL_VENDOR == "synthetic":
            return "1Day"
        return self.settings.SCHEDULE_INTRADAY_INTERVAL

    def _mark(self, label: str, interval: str) -> dict[str, Any]:
        """Mark the book at the platform clock's now on ``interval`` bars and store the snapshot.

        Never raises for a vendor, price or database failure: the job's output records the
        snapshot as ``skipped`` with the reason (a held symbol without a usable price is never
        given a guessed one) and the error is logged.
        """
        from app.workers.portfolio import snapshot_dict, take_snapshot

        try:
            at = self.clock()
            snapshot = take_snapshot(self.services, at, interval=interval)
        except AiTraderError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error(
                "schedule: %s stored no portfolio snapshot: %s",
                label,
                reason,
                extra={"job": label, "interval": interval, "reason": reason},
            )
            return {"status": "skipped", "interval": interval, "reason": reason}
        return {"status": "ok", "interval": interval, **snapshot_dict(snapshot)}

    def _opening_mark(self, session: date, label: str, interval: str) -> dict[str, Any] | None:
        """Before the day's first routing: mark the book once when the session's UTC day has no
        snapshot yet, so the day's P&L measures from the book as it stood before any of the
        day's orders (``None`` when the day already has one)."""
        from app.execution.factory import broker_label
        from app.storage.repositories.portfolio import PortfolioRepository

        day_start = datetime.combine(session, datetime.min.time(), tzinfo=UTC)
        try:
            known = PortfolioRepository(self.services.db).first_snapshot_since(
                broker_label(self.settings), day_start
            )
        except AiTraderError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error("schedule: %s could not read the day's snapshots: %s", label, reason)
            return {"status": "skipped", "interval": interval, "reason": reason}
        return None if known is not None else self._mark(label, interval)

    def after_hours_scan(self, session: date) -> dict[str, Any]:
        """The close job: the scan again, and the book marked at the session's last bars."""
        result = self.scan(session, "after_hours_scan")
        result["snapshot"] = self._mark("after_hours_scan", self._mark_interval())
        return result

    def retrain(self, session: date) -> dict[str, Any]:
        """Run the retrain sweep; raise when it failed (the schedule ledger records an error)."""
        from app.backtest.sweeps import run_sweep

        config = self.settings.SCHEDULE_RETRAIN_CONFIG
        if config is None:
            raise InputError("retrain is disabled: SCHEDULE_RETRAIN_CONFIG is not set")
        from app.backtest.sweeps.config import load_sweep_config
        from app.backtest.sweeps.runner import dal_loader
        from app.models.params import champion_parameters, record_parameters
        from app.models.registry import ModelRegistry, PromotionPolicy
        from app.models.training import TrainingConfig
        from app.workers.retrain import retrain_model

        out = self.settings.ARTIFACTS_DIR / "daily" / session.isoformat() / "retrain"
        sweep_config = load_sweep_config(config)
        result = run_sweep(sweep_config, out, settings=self.settings, deps=self.services.sweep_deps)
        if not result.succeeded:
            first = "; ".join(result.errors) or "no error recorded"
            raise RetrainFailed(f"retrain sweep failed: {result.failed} of {result.total} runs; {first}")
        now = datetime.now(UTC)
        blob = self.services.blob
        container = self.settings.BLOB_CONTAINER_MODELS
        run = json.loads((result.output_dir / "run.json").read_text(encoding="utf-8"))
        params_decision = record_parameters(blob, sweep_config.strategy, run, now=now, container=container)
        champion = champion_parameters(blob, sweep_config.strategy, container)
        params = (champion or {}).get("params") or (result.best or {}).get("params") or {}
        loader = dal_loader(self.services.market_data)
        markets = [loader(sweep_config, symbol) for symbol in sweep_config.symbols]
        try:
            model = retrain_model(
                sweep_config,
                params,
                markets,
                ModelRegistry(blob, container),
                policy=PromotionPolicy(min_brier_improvement=self.settings.MODEL_MIN_BRIER_IMPROVEMENT),
                training=TrainingConfig(estimator=self.settings.MODEL_ESTIMATOR),
                now=now,
            )
        except InputError as exc:
            model = {"promoted": False, "reason": f"no model fitted: {exc}"}
        return {
            "status": "ok" if result.failed == 0 else "partial",
            "output_dir": str(result.output_dir),
            "count": result.ok,
            "failed": result.failed,
            "best": result.best,
            "frame_path": result.frame_path,
            "sweep_promotable": result.promotable,
            "parameters": params_decision,
            "model": model,
        }

    def _book(self, session: date) -> dict[str, Any]:
        """Snapshot the book at the report's time and summarise it (errors are reported, not raised:
        a vendor outage must not cost the day's order summary)."""
        from app.workers.portfolio import portfolio_summary, position_dict, snapshot_dict, take_snapshot

        try:
            snapshot = take_snapshot(self.services, self.clock(), prices_on=session)
            summary = portfolio_summary(self.services, session)
        except AiTraderError as exc:
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        today = summary.today
        return {
            "status": "ok",
            "account": summary.account,
            "snapshot": snapshot_dict(snapshot),
            "limits": self._limits(session, snapshot, summary),
            "positions": [position_dict(p) for p in summary.positions],
            "day_pnl": None
            if today is None
            else {
                "total": str(today.total),
                "realised": str(today.realised),
                "unrealised": str(today.unrealised),
                "fraction": str(today.fraction),
            },
        }

    def _limits(self, session: date, snapshot: Any, summary: Any) -> dict[str, Any]:
        """Each governor limit's use by the marked book (errors reported, not raised)."""
        from dataclasses import replace

        from app.risk.limits import limit_use
        from app.storage.repositories.portfolio import PortfolioRepository
        from app.workers.portfolio import latest_closes

        guard = self.services.guard_limits
        limits = replace(guard.governor, max_open_orders=guard.max_open_orders)
        try:
            prices = latest_closes(self.services, [p.symbol for p in summary.positions], session)
            open_orders = PortfolioRepository(self.services.db).open_order_count()
        except AiTraderError as exc:
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        use = limit_use(
            snapshot, summary.positions, prices, limits, day=summary.today, open_orders=open_orders
        )
        return {
            "status": "ok",
            "use": use.use,
            "measures": use.measures,
            "limits": use.limits,
            "warnings": use.warnings,
            "unmeasured": use.unmeasured,
        }

    @staticmethod
    def _book_markdown(book: dict[str, Any]) -> list[str]:
        if book["status"] != "ok":
            return [f"- book: not marked ({book['error']})"]
        snap = book["snapshot"]
        lines = [
            f"- book ({book['account']}): equity {Decimal(snap['equity']):,.2f}, "
            f"cash {Decimal(snap['cash']):,.2f}, gross exposure {Decimal(snap['gross_exposure']):,.2f}, "
            f"drawdown {Decimal(snap['drawdown']):.2%}",
        ]
        day = book["day_pnl"]
        if day is not None:
            lines.append(
                f"- day's P&L: {Decimal(day['total']):,.2f} (realised {Decimal(day['realised']):,.2f}, "
                f"unrealised {Decimal(day['unrealised']):,.2f})"
            )
        limits = book.get("limits") or {}
        if limits.get("status") == "ok":
            if limits["use"]:
                used = ", ".join(
                    f"{name} {use:.0%}{' (warning)' if name in limits['warnings'] else ''}"
                    for name, use in sorted(limits["use"].items())
                )
                lines.append(f"- limits used: {used}")
            else:
                lines.append("- limits used: no portfolio limit is set")
        elif limits:
            lines.append(f"- limits used: not measured ({limits['error']})")
        for position in book["positions"]:
            lines.append(
                f"  - {position['symbol']}: {position['qty']} @ {Decimal(position['avg_cost']):,.4f}, "
                f"realised {Decimal(position['realised_pnl']):,.2f}"
            )
        return lines

    def reports(self, session: date) -> dict[str, Any]:
        since = datetime.combine(session, datetime.min.time(), tzinfo=UTC)
        orders_service = self.services.orders
        orders = orders_service.list_orders(limit=500, since=since).items
        fills = orders_service.list_fills(limit=500, since=since).items
        by_status: dict[str, int] = {}
        for order in orders:
            by_status[order.status] = by_status.get(order.status, 0) + 1
        notional = sum(float(f.qty * f.price) for f in fills)
        switch = self.services.kill_switch.status()
        book = self._book(session)
        report = {
            "session": session.isoformat(),
            "orders": len(orders),
            "orders_by_status": by_status,
            "fills": len(fills),
            "filled_notional": round(notional, 2),
            "kill_switch": {
                "active": switch.active,
                "state": switch.state,
                "latched_reason": switch.latched_reason,
                "reason": switch.reason,
                "trips": switch.trips,
            },
            "book": book,
            "count": len(orders),
        }
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
        markdown = [
            f"# ai-trader daily report {session.isoformat()}",
            "",
            f"- orders: {len(orders)} ({statuses or 'none'})",
            f"- fills: {len(fills)}, filled notional {notional:,.2f}",
            f"- kill switch: {'ACTIVE' if switch.active else 'off'} (governor {switch.state}"
            f"{', latched by ' + switch.latched_reason if switch.latched_reason else ''}); "
            f"trips {switch.trips_total}",
            *self._book_markdown(book),
        ]
        calibration = self.live_calibration(session)
        report["calibration"] = calibration
        markdown += _calibration_markdown(calibration)
        path = self.output_path(session, "reports").with_suffix(".md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(markdown) + "\n", encoding="utf-8")
        return report

    def live_calibration(self, session: date) -> dict[str, Any]:
        """Score the router decisions whose outcome bar is the session's against the
        probabilities they used, per regime; log drift loudly.

        Each decision's outcome is measured on the bars of the interval it was decided on (an
        intraday refresh's ``SCHEDULE_INTRADAY_INTERVAL`` bars, the daily drill's daily bars):
        holding its side over the next bar of that interval."""
        from app.domain.intervals import NEW_YORK
        from app.models.live import DAILY, bars_needed, calibration_report, realised_outcomes

        runs: list[dict[str, Any]] = []
        for back in range(CALIBRATION_LOOKBACK_DAYS + 1):
            folder = self.settings.ARTIFACTS_DIR / "daily" / (session - timedelta(days=back)).isoformat()
            for path in sorted(folder.glob("intraday_refresh*.json")):
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                    found = [dict(r) for r in record.get("runs", [])]
                except (OSError, ValueError, AttributeError, TypeError) as exc:
                    log.warning("router runs in %s not read: %s", path, exc)
                    continue
                # records written before each run named its interval: the refresh's own
                interval = record.get("interval")
                if isinstance(interval, str) and interval:
                    for run in found:
                        run.setdefault("interval", interval)
                runs += found
        bars: dict[tuple[str, str], Any] = {}
        errors: dict[str, str] = {}
        for (symbol, interval), earliest in sorted(bars_needed(runs).items()):
            daily = interval == DAILY
            # daily: the lookback's bars; intraday: from the oldest decision's day to the session's end
            start = (
                session - timedelta(days=CALIBRATION_LOOKBACK_DAYS + 10)
                if daily
                else min(earliest.tz_convert(NEW_YORK).date(), session)
            )
            try:
                bars[(symbol, interval)] = self.services.market_data.fetch(
                    self.settings.SCHEDULE_DAL_VENDOR, symbol, start, session, interval=interval
                ).bars
            except AiTraderError as exc:
                errors[symbol if daily else f"{symbol}@{interval}"] = str(exc)
        realised, pending = realised_outcomes(runs, bars)
        today = [d for d in realised if d.outcome_day == session]
        report = calibration_report(
            today,
            pending=pending,
            drift_max=self.settings.MODEL_CALIBRATION_DRIFT_MAX,
            min_samples=self.settings.MODEL_CALIBRATION_MIN_SAMPLES,
        )
        report["errors"] = errors
        for regime in report["drifting"]:
            scores = report["regimes"][regime]
            log.error(
                "CALIBRATION DRIFT: regime %s expected calibration error %.3f above %.3f over %d outcomes "
                "(Brier %.4f, mean p %.3f, win rate %.3f)",
                regime,
                scores["ece"],
                self.settings.MODEL_CALIBRATION_DRIFT_MAX,
                scores["samples"],
                scores["brier"],
                scores["mean_prob"],
                scores["base_rate"],
            )
        return report


def _calibration_markdown(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Live calibration (router probabilities vs realised next-bar outcomes)", ""]
    if not report["scored"]:
        return [*lines, f"- no realised decision today ({report['pending']} waiting for their next bar)"]
    overall = report["overall"]
    intervals = ", ".join(f"{n} on {i} bars" for i, n in report.get("intervals", {}).items())
    lines += [
        f"- scored {report['scored']} decisions ({report['pending']} pending): Brier {overall['brier']:.4f}, "
        f"ECE {overall['ece']:.3f}, mean p {overall['mean_prob']:.3f}, win rate {overall['base_rate']:.3f}",
        f"- each against the next bar of its own interval: {intervals}",
        "",
        "| regime | n | Brier | ECE | mean p | win rate | drift |",
        "|---|---|---|---|---|---|---|",
    ]
    for regime, scores in report["regimes"].items():
        drift = "DRIFT" if scores["drift"] else ("ok" if scores["judged"] else "too few")
        lines.append(
            f"| {regime} | {scores['samples']} | {scores['brier']:.4f} | {scores['ece']:.3f} | "
            f"{scores['mean_prob']:.3f} | {scores['base_rate']:.3f} | {drift} |"
        )
    lines += ["", "Reliability (forecast -> observed, count):", ""]
    for regime, scores in report["regimes"].items():
        curve = scores["reliability"]
        points = ", ".join(
            f"{f:.2f}->{o:.2f} ({int(c)})"
            for f, o, c in zip(curve["forecast"], curve["observed"], curve["count"], strict=True)
        )
        lines.append(f"- {regime}: {points}")
    return lines
