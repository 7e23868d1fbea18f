"""``run_sweep``: evaluate a sweep config's parameter sets and write the output folder.

Data is fetched once per symbol (through the DAL and its cache), then the parameter sets
are evaluated in chunks by one of three backends:

* ``local``: in this process; strategies with a batch kernel run all sets of a chunk in one
  ``numba.prange`` loop over the cores (the default);
* ``process``: a pool of worker processes, each evaluating whole chunks;
* ``ray``: chunks as Ray tasks on the cluster at ``RAY_ADDRESS`` (``auto`` picks it when set).

Each finished chunk is appended to ``summary.jsonl`` at once, so a crash loses at most the
chunks in flight and a rerun of the same config resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from app.backtest.engine import STATUS_OK, STATUS_RUINED
from app.backtest.sweeps.config import SweepConfig, load_sweep_config
from app.backtest.sweeps.evaluate import (
    Evaluation,
    MarketArrays,
    SizingArrays,
    evaluate_sets,
    has_batch_kernel,
)
from app.backtest.sweeps.grid import ParameterSet, check_sweep_size, expand_grid
from app.backtest.sweeps.outputs import (
    SummaryWriter,
    config_fingerprint,
    rank_rows,
    read_finished,
    write_leaderboard,
    write_run_file,
)
from app.backtest.sweeps.progress import make_progress
from app.backtest.sweeps.robustness import RobustnessReport, analyse_symbol
from app.config import Settings, load_settings
from app.decision.pipeline import ProbabilityModel
from app.errors import AiTraderError, ConfigError
from app.models.selection import PriorModels
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy, strategy_class
from app.strategies.base import coerce_param

if TYPE_CHECKING:
    from app.backtest.frames import BlobFrames
    from app.dal import MarketData

__all__ = ["MarketLoader", "SweepDeps", "SweepResult", "dal_loader", "run_sweep"]

log = logging.getLogger("app.backtest.sweeps")

MarketLoader = Callable[[SweepConfig, str], MarketArrays]
"""Loads one symbol's data for a config (the DAL by default; tests may pass their own)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepDeps:
    """The process's clients a sweep uses (built once by ``app.bootstrap.Container``).

    Attributes:
        loader: loads one symbol's bars, signals and regimes (:func:`dal_loader` on the
            process's market data).
        risk_defaults: sizing defaults from settings; the config's ``risk`` block replaces
            the agent, fraction and flags.
        frames: where the best run's frame is published besides ``frames_dir`` (``None``:
            not published).
    """

    loader: MarketLoader
    risk_defaults: RiskConfig
    frames: BlobFrames | None = None
    prior_models: PriorModels | None = None
    """Resolves the config's ``risk.prior_model`` (``None``: Beta only; ``promoted`` falls back)."""


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What a sweep produced and where it wrote it."""

    name: str
    output_dir: Path
    backend: str
    total: int
    evaluated: int
    resumed: int
    ok: int
    failed: int
    elapsed_s: float
    best: dict[str, Any] | None
    frame_path: str | None
    files: dict[str, str] = field(default_factory=dict)
    status: str = "completed"
    """``failed`` when the failed share of runs reached ``SWEEP_FAILURE_RATIO`` (default: all)."""
    errors: list[str] = field(default_factory=list)
    """The first distinct errors of failed runs."""
    promotable: bool = False
    """Whether the best set's out-of-sample deflated Sharpe cleared ``promotion.min_oos_deflated_sharpe``."""
    robustness: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per symbol: deflated Sharpe, PBO, walk-forward (see :mod:`.robustness`)."""

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


def _resolve_backend(config: SweepConfig, settings: Settings) -> str:
    backend = config.execution.backend
    if backend == "auto":
        return "ray" if settings.RAY_ADDRESS else "local"
    if backend == "ray" and not settings.RAY_ADDRESS:
        raise ConfigError("execution.backend is 'ray' but RAY_ADDRESS is not set")
    return backend


def dal_loader(market_data: MarketData) -> MarketLoader:
    """Fetch bars through ``market_data`` (cached) and compute signals and regimes once."""

    def load(config: SweepConfig, symbol: str) -> MarketArrays:
        from app.decision import compute_regimes, compute_signals

        fetched = market_data.fetch(
            config.vendor, symbol, config.start, config.end, interval=config.interval, path=config.data_path
        )
        signals = compute_signals(fetched.bars)
        regimes = compute_regimes(fetched.bars, signals)
        log.info(
            "sweep data loaded",
            extra={
                "symbol": symbol,
                "vendor": fetched.vendor,
                "bars": len(fetched.bars),
                "signals": len(signals),
                "regimes": len(regimes),
                "from_cache": fetched.from_cache,
            },
        )
        return MarketArrays.from_frames(symbol, fetched.bars, signals, regimes)

    return load


def risk_config_for(config: SweepConfig, risk_defaults: RiskConfig) -> RiskConfig:
    """The pipeline's risk config for a sweep (per-position cap and regime multipliers from the defaults)."""
    try:
        return replace(
            risk_defaults,
            agent=config.risk.agent,
            fraction=config.risk.fraction,
            regime_aware=config.risk.regime_aware,
            use_probabilistic=config.risk.use_probabilistic,
            allow_short=config.allow_short,
        )
    except AiTraderError as exc:
        raise ConfigError(f"sweep {config.name!r}: risk: {exc}") from None


_MISSING = object()


def _validate_sets(strategy: str, sets: Sequence[ParameterSet]) -> dict[str, str]:
    """Set id -> error for the sets the strategy refuses (unknown or out-of-range parameters).

    The same checks as building each set with :func:`get_strategy`, with each distinct
    (parameter, value) converted once instead of once per set: a grid repeats every value of
    an axis across the other axes. A set that fails this path is built by :func:`get_strategy`
    itself, so its error is that function's, word for word.
    """
    errors: dict[str, str] = {}
    try:
        cls = strategy_class(strategy)
    except AiTraderError:
        cls = None
    kinds = {f.name: f.type for f in dataclasses.fields(cls)} if cls is not None else {}
    coerced: dict[tuple[str, type, Any], Any] = {}
    for item in sets:
        if cls is not None:
            try:
                values = {}
                for key, raw in item.params.items():
                    # floats by their bits: -0.0 and 0.0 are equal keys but distinct values
                    memo = (key, type(raw), raw.hex() if isinstance(raw, float) else raw)
                    value = coerced.get(memo, _MISSING)
                    if value is _MISSING:
                        value = coerced[memo] = coerce_param(cls.name, key, kinds[key], raw)
                    values[key] = value
                cls(**values).validate()
                continue
            except (AiTraderError, KeyError, TypeError):
                pass  # the full build below names the error (or accepts the set)
        try:
            get_strategy(strategy, item.params)
        except AiTraderError as exc:
            errors[item.set_id] = str(exc)
    return errors


def _rows(symbol: str, chunk: Sequence[ParameterSet], evaluation: Evaluation) -> list[dict[str, Any]]:
    metrics = evaluation.rows()
    out = []
    for i, item in enumerate(chunk):
        code = int(evaluation.status[i])
        ok = code in (STATUS_OK, STATUS_RUINED)
        row_metrics = metrics[i] if ok else None
        out.append(
            {
                "symbol": symbol,
                "set_id": item.set_id,
                "params": item.params,
                "status": "ok" if ok else "failed",
                "metrics": row_metrics,
                "trades": int(row_metrics["num_trades"] or 0) if row_metrics else None,
                "error": evaluation.errors[i] if not ok else None,
            }
        )
    return out


def _failed_rows(symbol: str, chunk: Sequence[ParameterSet], error: str) -> list[dict[str, Any]]:
    return [
        {
            "symbol": symbol,
            "set_id": item.set_id,
            "params": item.params,
            "status": "failed",
            "metrics": None,
            "trades": None,
            "error": error,
        }
        for item in chunk
    ]


def _chunks(items: Sequence[ParameterSet], size: int) -> Iterator[Sequence[ParameterSet]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _engine_kwargs(config: SweepConfig) -> dict[str, Any]:
    return {
        "fill": config.fill,
        "commission": config.costs.commission,
        "slippage_bps": config.costs.slippage_bps,
        "initial_cash": config.initial_cash,
    }


# --- backends ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shared:
    """Everything a chunk needs besides its parameter sets (sent once per worker)."""

    market: MarketArrays
    risk: RiskConfig
    sizing: SizingArrays | None
    strategy: str
    engine: dict[str, Any]
    probability: ProbabilityModel | None = None
    with_returns: bool = False
    """Keep each set's per-bar returns from the evaluation (in this process only)."""

    def evaluate(self, params: list[dict[str, Any]]) -> Evaluation:
        return evaluate_sets(
            self.market,
            self.strategy,
            params,
            self.risk,
            sizing=self.sizing,
            probability=self.probability,
            with_returns=self.with_returns,
            **self.engine,
        )


_WORKER: dict[str, _Shared] = {}


def _init_worker(shared: _Shared) -> None:
    import numba

    numba.set_num_threads(1)
    _WORKER["shared"] = shared


def _worker_evaluate(params: list[dict[str, Any]]) -> Evaluation:
    return _WORKER["shared"].evaluate(params)


def _ray_evaluate(shared: _Shared, params: list[dict[str, Any]]) -> Evaluation:
    return shared.evaluate(params)


Outcome = tuple[Sequence[ParameterSet], Evaluation | str]


class _Evaluator:
    """Runs chunks on the chosen backend and yields ``(chunk, evaluation or error)`` as they finish."""

    def __init__(self, backend: str, config: SweepConfig, settings: Settings) -> None:
        self.backend = backend
        self.config = config
        self.settings = settings
        cores = os.cpu_count() or 1
        self.workers = min(config.execution.workers or cores, cores)

    def run(
        self,
        market: MarketArrays,
        risk: RiskConfig,
        chunks: list[Sequence[ParameterSet]],
        probability: ProbabilityModel | None = None,
        with_returns: bool = False,
    ) -> Iterator[Outcome]:
        """``with_returns``: the local backend keeps each set's per-bar returns (others ignore it)."""
        sizing = None if risk.needs_priors else SizingArrays.from_risk(risk, market)
        # a plain dict instead of the read-only mapping proxy, so the config pickles to workers
        risk = dataclasses.replace(risk, regime_multipliers=dict(risk.regime_multipliers))
        shared = _Shared(
            market,
            risk,
            sizing,
            self.config.strategy,
            _engine_kwargs(self.config),
            probability,
            with_returns=with_returns and self.backend == "local",
        )
        if self.backend == "local":
            import numba

            limit = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
            previous = numba.get_num_threads()
            numba.set_num_threads(max(1, min(self.workers, limit)))
            try:
                for chunk in chunks:
                    try:
                        yield chunk, shared.evaluate([c.params for c in chunk])
                    except AiTraderError as exc:
                        yield chunk, f"{type(exc).__name__}: {exc}"
            finally:
                # the thread count is process-wide: the caller's setting is back once the chunks are done
                numba.set_num_threads(previous)
        elif self.backend == "process":
            yield from self._run_pool(shared, chunks)
        else:
            yield from self._run_ray(shared, chunks)

    def _run_pool(self, shared: _Shared, chunks: list[Sequence[ParameterSet]]) -> Iterator[Outcome]:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_init_worker, initargs=(shared,)
        ) as pool:
            futures: dict[Future[Evaluation], Sequence[ParameterSet]] = {
                pool.submit(_worker_evaluate, [c.params for c in chunk]): chunk for chunk in chunks
            }
            for future in as_completed(futures):
                chunk = futures[future]
                try:
                    yield chunk, future.result()
                except Exception as exc:
                    yield chunk, f"{type(exc).__name__}: {exc}"

    def _run_ray(self, shared: _Shared, chunks: list[Sequence[ParameterSet]]) -> Iterator[Outcome]:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "RAY_ADDRESS is set but ray is not installed: pip install 'ai-trader[ray]'"
            ) from exc
        if not ray.is_initialized():
            address = self.settings.RAY_ADDRESS
            # "local" starts a throwaway single-machine instance; skip its web dashboard
            extra: dict[str, Any] = {"include_dashboard": False} if address == "local" else {}
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, **extra)
        remote = ray.remote(_ray_evaluate)
        shared_ref = ray.put(shared)
        pending = {remote.remote(shared_ref, [c.params for c in chunk]): chunk for chunk in chunks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                chunk = pending.pop(ref)
                try:
                    yield chunk, ray.get(ref)
                except Exception as exc:
                    yield chunk, f"{type(exc).__name__}: {exc}"


def _chunk_size(config: SweepConfig, risk: RiskConfig, pending: int, backend: str, workers: int) -> int:
    if config.execution.chunk_size is not None:
        return config.execution.chunk_size
    if backend != "local":
        # enough chunks to keep every worker busy, not so many that overhead dominates
        return max(1, math.ceil(pending / (workers * 4)))
    if has_batch_kernel(config.strategy) and not risk.needs_priors:
        # one kernel call per chunk; rolling windows are recomputed per chunk
        return max(4096, math.ceil(pending / 20))
    return 256  # the decision path holds a (chunk x bars) target matrix


def run_sweep(
    config: SweepConfig | str | Path,
    output_dir: str | Path,
    *,
    deps: SweepDeps,
    settings: Settings | None = None,
    loader: MarketLoader | None = None,
    resume: bool = True,
    progress_stream: IO[str] | None = None,
    write_frame: bool = True,
) -> SweepResult:
    """Evaluate every parameter set of ``config`` on every symbol and write the output folder.

    Writes ``summary.jsonl``, ``leaderboard.csv`` (ranked by the config's objective),
    ``run.json`` and, with ``write_frame``, the best run's probabilistic frame (registered in
    the frame manifest with source ``sweep``). A parameter set that fails is recorded as
    ``failed`` with its error and the sweep goes on; a symbol whose data cannot be loaded
    fails all its sets the same way. ``deps`` are the process's clients (``Container.sweep_deps``);
    ``loader``, when given, replaces ``deps.loader``.

    Raises:
        ConfigError: invalid config, unknown strategy, no parameter set left after constraints.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    settings = settings if settings is not None else load_settings()
    if not isinstance(config, SweepConfig):
        config = load_sweep_config(config)
    try:
        get_strategy(config.strategy)
    except AiTraderError as exc:
        raise ConfigError(f"sweep {config.name!r}: {exc}") from None
    check_sweep_size(config, settings.SWEEP_MAX_SETS)
    risk = risk_config_for(config, deps.risk_defaults)
    prior = (deps.prior_models or PriorModels(None)).resolve(config.strategy, config.risk.prior_model)
    if prior.fallback_reason is not None and config.risk.prior_model != "beta":
        log.warning("sweep %s sizes with the Beta priors: %s", config.name, prior.fallback_reason)
    sets = expand_grid(config)
    invalid = _validate_sets(config.strategy, sets)
    valid = [s for s in sets if s.set_id not in invalid]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = config_fingerprint(config)
    finished = read_finished(out, fingerprint) if resume else {}
    backend = _resolve_backend(config, settings)
    loader = loader if loader is not None else deps.loader
    evaluator = _Evaluator(backend, config, settings)
    base_info = {
        "name": config.name,
        "strategy": config.strategy,
        "symbols": config.symbols,
        "config_fingerprint": fingerprint,
        "objective": {"metric": config.objective.metric, "maximize": config.objective.maximize},
        "backend": backend,
        "parameter_sets": len(sets),
        "started_at": started_at.isoformat(),
        "config": config.model_dump(mode="json"),
        "prior": prior.as_dict(),
    }
    write_run_file(out, {**base_info, "status": "running"})
    writer = SummaryWriter(out)
    writer.remember(finished.values())
    results: dict[tuple[str, str], dict[str, Any]] = dict(finished)
    total = len(sets) * len(config.symbols)
    resumed = len(finished)
    evaluated = 0
    log.info(
        "sweep started",
        extra={"sweep": config.name, "sets": len(sets), "symbols": len(config.symbols), "backend": backend,
               "resumed": resumed, "output_dir": str(out)},
    )  # fmt: skip
    markets: dict[str, MarketArrays] = {}
    kept_returns: dict[str, _KeptReturns] = {}
    try:
        with make_progress(total, config.name, progress_stream) as progress:
            progress.advance(resumed)
            for symbol in config.symbols:
                bad = [s for s in sets if s.set_id in invalid and (symbol, s.set_id) not in results]
                rows = [{**row, "error": invalid[row["set_id"]]} for row in _failed_rows(symbol, bad, "")]
                if rows:
                    writer.write(rows)
                    results.update({(symbol, r["set_id"]): r for r in rows})
                    progress.advance(len(rows), len(rows))
                pending = [s for s in valid if (symbol, s.set_id) not in results]
                if not pending:
                    continue
                try:
                    market = loader(config, symbol)
                except AiTraderError as exc:
                    log.error("sweep data load failed", extra={"symbol": symbol, "error": str(exc)})
                    rows = _failed_rows(symbol, pending, f"data: {type(exc).__name__}: {exc}")
                    writer.write(rows)
                    results.update({(symbol, r["set_id"]): r for r in rows})
                    progress.advance(len(rows), len(rows))
                    continue
                markets[symbol] = market
                size = _chunk_size(config, risk, len(pending), backend, evaluator.workers)
                # the statistics read every set's per-bar returns: keep them from the evaluation
                # (one simulation per set) unless the matrix is over the limit the statistics enforce
                keep = len(pending) * len(market) <= config.promotion.max_return_cells
                kept = _KeptReturns() if keep else None
                if kept is not None:
                    kept_returns[symbol] = kept
                for chunk, outcome in evaluator.run(
                    market, risk, list(_chunks(pending, size)), prior.model, with_returns=keep
                ):
                    if isinstance(outcome, str):
                        rows = _failed_rows(symbol, chunk, outcome)
                    else:
                        rows = _rows(symbol, chunk, outcome)
                        if kept is not None:
                            kept.add(chunk, outcome)
                    writer.write(rows)
                    evaluated += len(rows)
                    for row in rows:
                        results[(symbol, row["set_id"])] = row
                    progress.advance(len(rows), sum(1 for r in rows if r["status"] != "ok"))
    finally:
        writer.close()
    keys = [(symbol, s.set_id) for symbol in config.symbols for s in sets if (symbol, s.set_id) in results]
    ordered = [results[key] for key in keys]
    ranked = rank_rows(ordered, config.objective.metric, config.objective.maximize)
    best = ranked[0] if ranked else None
    robustness = _robustness(config, risk, ranked, markets, loader, kept_returns)
    kept_returns.clear()
    for report in robustness.values():
        for set_id, values in report.per_set.items():
            # only walk-forward rows gain a column; the others keep their line
            writer.add_field(results[(report.symbol, set_id)], "validation", values)
    writer.compact(keys)
    leaderboard = write_leaderboard(out, ranked, list(config.params), config.leaderboard_size)
    best_report = robustness.get(str(best["symbol"])) if best is not None else None
    frame_path = None
    if best is not None and write_frame:
        frame_path = _write_best_frame(
            config, settings, risk, best, markets.get(best["symbol"]), loader, deps.frames, prior.model
        )
    ok = sum(1 for r in ordered if r["status"] == "ok")
    failed = len(ordered) - ok
    errors = first_errors(ordered)
    status = "failed" if ordered and failed / len(ordered) >= settings.SWEEP_FAILURE_RATIO else "completed"
    if not ordered:
        status = "failed"
        errors = ["no parameter set was evaluated"]
    elapsed = time.perf_counter() - started
    files = {
        "summary": str(out / "summary.jsonl"),
        "leaderboard": str(leaderboard),
        "run": str(out / "run.json"),
    }
    write_run_file(
        out,
        {
            **base_info,
            "status": status,
            "errors": errors,
            "finished_at": datetime.now(UTC).isoformat(),
            "elapsed_s": round(elapsed, 3),
            "evaluated": evaluated,
            "resumed": resumed,
            "ok": ok,
            "failed": len(ordered) - ok,
            "best": best,
            "promotable": bool(best_report is not None and best_report.promotable),
            "promotion_reason": best_report.reason if best_report is not None else "no successful set",
            "robustness": {symbol: report.as_dict() for symbol, report in robustness.items()},
            "frame_path": frame_path,
            "files": files,
        },
    )
    (log.error if status == "failed" else log.info)(
        "sweep finished",
        extra={
            "sweep": config.name,
            "status": status,
            "errors": errors,
            "ok": ok,
            "failed": len(ordered) - ok,
            "evaluated": evaluated,
            "resumed": resumed,
            "elapsed_s": round(elapsed, 3),
            "best_set": best["set_id"] if best else None,
        },
    )
    return SweepResult(
        name=config.name,
        output_dir=out,
        backend=backend,
        total=total,
        evaluated=evaluated,
        resumed=resumed,
        ok=ok,
        failed=len(ordered) - ok,
        elapsed_s=elapsed,
        best=best,
        frame_path=frame_path,
        files=files,
        status=status,
        errors=errors,
        promotable=bool(best_report is not None and best_report.promotable),
        robustness={symbol: report.as_dict() for symbol, report in robustness.items()},
    )


def _robustness(
    config: SweepConfig,
    risk: RiskConfig,
    ranked: Sequence[dict[str, Any]],
    markets: Mapping[str, MarketArrays],
    loader: MarketLoader,
    kept: Mapping[str, _KeptReturns] | None = None,
) -> dict[str, RobustnessReport]:
    """Walk-forward and overfitting statistics per symbol (see :mod:`.robustness`).

    A symbol whose statistics cannot be computed is reported with the reason, never silently
    skipped; a configuration error (too many return cells, windows that do not fit) stops the
    sweep as any other configuration error does.
    """
    reports: dict[str, RobustnessReport] = {}
    for symbol in config.symbols:
        rows = [row for row in ranked if row["symbol"] == symbol]
        if not rows:
            continue
        try:
            market = markets[symbol] if symbol in markets else loader(config, symbol)
            found = (kept or {}).get(symbol)
            matrix = found.matrix(rows) if found is not None else None
            returns, columns = matrix if matrix is not None else (None, None)
            reports[symbol] = analyse_symbol(
                config, market, risk, rows, str(rows[0]["set_id"]), returns, columns
            )
        except ConfigError:
            raise
        except AiTraderError as exc:
            log.error("sweep statistics failed", extra={"symbol": symbol, "error": str(exc)})
            reports[symbol] = RobustnessReport(
                symbol=symbol,
                trials=len(rows),
                in_sample={"deflated_sharpe": None, "error": str(exc)},
                pbo={"probability": None, "error": str(exc)},
                walk_forward=None,
                promotable=False,
                reason=f"statistics failed: {exc}",
                per_set={},
            )
    return reports


class _KeptReturns:
    """One symbol's per-bar returns kept from its evaluation, chunk by chunk (sets x bars each)."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.where: dict[str, tuple[int, int]] = {}
        self.complete = True

    def add(self, chunk: Sequence[ParameterSet], evaluation: Evaluation) -> None:
        returns = evaluation.returns
        if returns is None:
            self.complete = False  # a chunk on the decision path: the statistics simulate again
            return
        failed = np.flatnonzero((evaluation.status != STATUS_OK) & (evaluation.status != STATUS_RUINED))
        returns[failed] = 0.0  # never a statistic's input; zeros keep every pass over the matrix finite
        block = len(self.blocks)
        self.blocks.append(returns)
        for i, item in enumerate(chunk):
            self.where[item.set_id] = (block, i)

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray] | None:
        """The (bars x sets) returns and, per row of ``rows``, its column (``None`` if one is missing).

        One chunk's matrix is used as it is (no copy of its bars x sets values); several chunks
        are joined in evaluation order.
        """
        if not self.complete or not self.blocks:
            return None
        try:
            located = np.array([self.where[str(row["set_id"])] for row in rows], dtype=np.int64)
        except KeyError:
            return None
        if located.size == 0:
            return None
        if len(self.blocks) == 1:
            return self.blocks[0].T, np.ascontiguousarray(located[:, 1])
        offsets = np.cumsum([0] + [block.shape[0] for block in self.blocks[:-1]])
        joined = np.concatenate(self.blocks, axis=0)
        return joined.T, offsets[located[:, 0]] + located[:, 1]


def first_errors(rows: Sequence[dict[str, Any]], limit: int = 3) -> list[str]:
    """The first ``limit`` distinct errors of failed rows, in row order."""
    found: list[str] = []
    for row in rows:
        error = str(row.get("error") or "")
        if row.get("status") != "ok" and error and error not in found:
            found.append(error[:500])
            if len(found) == limit:
                break
    return found


def _write_best_frame(
    config: SweepConfig,
    settings: Settings,
    risk: RiskConfig,
    best: Mapping[str, Any],
    market: MarketArrays | None,
    loader: MarketLoader,
    frames: BlobFrames | None,
    probability: ProbabilityModel | None = None,
) -> str | None:
    """Re-run the best set through the pipeline and register its frame (source ``sweep``)."""
    import pandas as pd

    from app.backtest.engine import EngineConfig, run_backtest
    from app.backtest.frames import frame_filename, write_frame
    from app.backtest.service import build_frame
    from app.decision.pipeline import decide

    symbol = str(best["symbol"])
    try:
        market = market if market is not None else loader(config, symbol)
        bars = market.bars
        signals = market.signals if market.signals is not None else pd.DataFrame(index=bars.index)
        decisions = decide(
            bars,
            market.signals,
            market.regimes,
            get_strategy(config.strategy, best["params"]),
            risk,
            probability,
        )
        engine = EngineConfig(**_engine_kwargs(config))
        result = run_backtest(bars, decisions.target, engine)
        regimes = market.regimes if market.regimes is not None else pd.DataFrame(index=bars.index)
        default_name = frame_filename(symbol, config.strategy, config.vendor, config.interval)
        record = write_frame(
            build_frame(bars, signals, regimes, decisions, result.equity),
            frames_dir=settings.frames_dir,
            symbol=symbol,
            strategy=config.strategy,
            vendor=config.vendor,
            interval=config.interval,
            source="sweep",
            filename=f"sweep_{config.name}_{default_name}",
            extra={
                "sweep": config.name,
                "set_id": best["set_id"],
                "params": best["params"],
                "objective": config.objective.metric,
                "job_id": settings.SWEEP_JOB_ID,
            },
            blob=frames,
        )
    except AiTraderError as exc:
        log.error("cannot write the best run's frame", extra={"symbol": symbol, "error": str(exc)})
        return None
    log.info("prob_frame_path=%s rows=%d", record.path, record.rows, extra={"sweep": config.name})
    if record.blob_path is not None:
        log.info("prob_frame_blob_uri=%s", record.blob_path, extra={"sweep": config.name})
    return record.path
