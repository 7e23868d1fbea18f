"""Portfolio backtests: many symbols trading target weights on one shared pool of cash.

The single-symbol engine (:mod:`app.backtest.engine`) fixes a position's size at entry.
A portfolio trades the way the live router does: on each decision bar every symbol has a
target weight (the decision pipeline's ``target = side x frac``), and the order is the
difference between that target and what the book holds.

Rules, in the order the kernel applies them on each decision bar ``d`` (pinned by tests
against a plain-Python reference, :func:`reference_portfolio`):

1. **Targets.** ``w[s]`` is the symbol's target weight; shorts become 0 unless
   ``allow_short``; each weight is clipped to ``±max_weight``. A symbol without a price on
   ``d`` keeps its holding (no order).
2. **Positions cap.** When more than ``max_positions`` weights are non-zero, the largest
   ``|w|`` are kept (ties: the symbol listed first) and the rest set to 0.
3. **Gross cap.** When ``sum |w|`` exceeds ``max_gross``, every weight is scaled down by the
   same factor.
4. **Governor.** Equity is marked at ``d``'s close; once the drawdown from its high-water
   mark reaches ``max_drawdown`` the book is latched in REDUCING for the rest of the run:
   an order may only bring a holding towards zero (never past it).
5. **Orders.** The desired quantity is ``w x equity / close[d]``; the order is desired minus
   held. Orders whose notional is below ``max(min_trade_notional, band_fraction x equity)``
   are skipped, except those that close a holding completely.
6. **Fills.** At the next bar's open (or ``d``'s close with ``fill_close``): sells first,
   then buys, at ``price x (1 ∓ slippage)``, paying ``commission x notional``. When cash
   cannot pay for every buy, all buys are scaled down by the same factor (no borrowing
   unless ``max_gross > 1``).

Equity is ``cash + sum(qty x last known close)``; positions still open at the end are
valued at the last close (not liquidated). Kernels return status codes; the wrapper raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit

from app.decision.pipeline import decide
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.errors import InputError
from app.risk.sizing import RiskConfig
from app.strategies.base import Strategy

__all__ = [
    "FILL_FIELDS",
    "PortfolioLimits",
    "PortfolioResult",
    "align_bars",
    "backtest_portfolio",
    "decision_weights",
    "reference_portfolio",
    "run_portfolio",
    "simulate_portfolio_nb",
]

FILL_FIELDS = ("bar", "symbol", "qty", "price", "fee")
N_FILL_FIELDS = len(FILL_FIELDS)

STATUS_OK = 0
STATUS_SHAPE = 1
STATUS_BAD_PARAM = 2
STATUS_FILLS_FULL = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioLimits:
    """The caps a portfolio trades under (the live governor's limits, as numbers)."""

    max_weight: float = 0.25
    max_gross: float = 1.0
    max_positions: int = 20
    max_drawdown: float = 1.0
    """Drawdown from the high-water mark (0.2 = 20 %) that latches REDUCING; 1.0 never trips."""
    min_trade_notional: float = 0.0
    band_fraction: float = 0.0
    allow_short: bool = False

    def __post_init__(self) -> None:
        checks = (
            (0.0 < self.max_weight <= 1.0, f"max_weight must be in (0, 1], got {self.max_weight}"),
            (0.0 < self.max_gross <= 10.0, f"max_gross must be in (0, 10], got {self.max_gross}"),
            (1 <= self.max_positions <= 100_000, f"max_positions must be >= 1, got {self.max_positions}"),
            (0.0 < self.max_drawdown <= 1.0, f"max_drawdown must be in (0, 1], got {self.max_drawdown}"),
            (
                math.isfinite(self.min_trade_notional) and self.min_trade_notional >= 0.0,
                f"min_trade_notional must be finite and >= 0, got {self.min_trade_notional}",
            ),
            (0.0 <= self.band_fraction < 1.0, f"band_fraction must be in [0, 1), got {self.band_fraction}"),
        )
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@njit(cache=True)
def _order_targets_nb(w: np.ndarray, max_positions: int, max_gross: float) -> None:  # pragma: no cover
    s_count = w.shape[0]
    nonzero = 0
    for s in range(s_count):
        if w[s] != 0.0:
            nonzero += 1
    while nonzero > max_positions:
        # drop the smallest |w| (ties: the symbol listed last)
        worst = -1
        worst_abs = np.inf
        for s in range(s_count):
            a = abs(w[s])
            if w[s] != 0.0 and a <= worst_abs:
                worst_abs = a
                worst = s
        w[worst] = 0.0
        nonzero -= 1
    gross = 0.0
    for s in range(s_count):
        gross += abs(w[s])
    if gross > max_gross:
        scale = max_gross / gross
        for s in range(s_count):
            w[s] *= scale


@njit(cache=True)
def simulate_portfolio_nb(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    fill_close: bool,
    commission: float,
    slippage: float,
    initial_cash: float,
    max_weight: float,
    max_gross: float,
    max_positions: int,
    max_drawdown: float,
    min_trade_notional: float,
    band_fraction: float,
    allow_short: bool,
    equity_out: np.ndarray,
    gross_out: np.ndarray,
    qty_out: np.ndarray,
    fills_out: np.ndarray,
    state_out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Simulate the portfolio rules of the module docstring over (bars x symbols) arrays.

    ``equity_out`` and ``gross_out`` (length n) receive equity and gross exposure at each
    close; ``qty_out`` (n x symbols) the holdings after each bar; ``fills_out`` (k x 5) the
    fills in order. ``state_out`` receives [fills written, bar of the REDUCING latch or -1,
    final cash]. Returns a status code.
    """
    n = close.shape[0]
    m = close.shape[1]
    if open_.shape[0] != n or open_.shape[1] != m or weights.shape[0] != n or weights.shape[1] != m:
        return STATUS_SHAPE
    if equity_out.shape[0] != n or gross_out.shape[0] != n or qty_out.shape[0] != n or qty_out.shape[1] != m:
        return STATUS_SHAPE
    if fills_out.shape[1] != N_FILL_FIELDS or state_out.shape[0] < 3:
        return STATUS_SHAPE
    if not (0.0 <= commission < 1.0 and 0.0 <= slippage < 1.0 and initial_cash > 0.0):
        return STATUS_BAD_PARAM
    cash = initial_cash
    qty = np.zeros(m)
    last = np.full(m, np.nan)
    desired = np.zeros(m)
    w = np.zeros(m)
    order = np.zeros(m)
    peak = initial_cash
    reducing = False
    latch_bar = -1
    n_fills = 0
    full = False
    for t in range(n):
        # Which decision fills on this bar, and at what price.
        d = t if fill_close else t - 1
        if d >= 0:
            equity_d = cash
            for s in range(m):
                px = close[d, s]
                if px > 0.0 and px < np.inf:
                    equity_d += qty[s] * px
                elif last[s] > 0.0:
                    equity_d += qty[s] * last[s]
            if equity_d > peak:
                peak = equity_d
            if not reducing and peak > 0.0 and (peak - equity_d) / peak >= max_drawdown:
                reducing = True
                latch_bar = d
            for s in range(m):
                x = weights[d, s]
                if np.isnan(x) or not (close[d, s] > 0.0):
                    x = 0.0
                if not allow_short and x < 0.0:
                    x = 0.0
                if x > max_weight:
                    x = max_weight
                elif x < -max_weight:
                    x = -max_weight
                w[s] = x
            _order_targets_nb(w, max_positions, max_gross)
            band = max(min_trade_notional, band_fraction * max(equity_d, 0.0))
            for s in range(m):
                order[s] = 0.0
                px_d = close[d, s]
                fill_px = close[t, s] if fill_close else open_[t, s]
                if not (px_d > 0.0 and px_d < np.inf and fill_px > 0.0 and fill_px < np.inf):
                    continue  # no price to decide or to fill on: the holding stays
                desired[s] = w[s] * max(equity_d, 0.0) / px_d
                delta = desired[s] - qty[s]
                if reducing:
                    # only towards zero, never past it
                    if qty[s] > 0.0:
                        delta = min(max(delta, -qty[s]), 0.0)
                    elif qty[s] < 0.0:
                        delta = max(min(delta, -qty[s]), 0.0)
                    else:
                        delta = 0.0
                closes_all = qty[s] != 0.0 and qty[s] + delta == 0.0
                if delta != 0.0 and (closes_all or abs(delta) * px_d >= band):
                    order[s] = delta
            # Sells first: they raise the cash the buys spend.
            for s in range(m):
                if order[s] < 0.0:
                    fill_px = (close[t, s] if fill_close else open_[t, s]) * (1.0 - slippage)
                    notional = -order[s] * fill_px
                    fee = notional * commission
                    cash += notional - fee
                    qty[s] += order[s]
                    if n_fills < fills_out.shape[0]:
                        fills_out[n_fills, 0] = t
                        fills_out[n_fills, 1] = s
                        fills_out[n_fills, 2] = order[s]
                        fills_out[n_fills, 3] = fill_px
                        fills_out[n_fills, 4] = fee
                        n_fills += 1
                    else:
                        full = True
            need = 0.0
            for s in range(m):
                if order[s] > 0.0:
                    fill_px = (close[t, s] if fill_close else open_[t, s]) * (1.0 + slippage)
                    need += order[s] * fill_px * (1.0 + commission)
            scale = 1.0
            if need > 0.0 and max_gross <= 1.0 and need > cash:
                scale = max(cash, 0.0) / need
            for s in range(m):
                if order[s] > 0.0 and scale > 0.0:
                    buy = order[s] * scale
                    fill_px = (close[t, s] if fill_close else open_[t, s]) * (1.0 + slippage)
                    notional = buy * fill_px
                    fee = notional * commission
                    cash -= notional + fee
                    qty[s] += buy
                    if n_fills < fills_out.shape[0]:
                        fills_out[n_fills, 0] = t
                        fills_out[n_fills, 1] = s
                        fills_out[n_fills, 2] = buy
                        fills_out[n_fills, 3] = fill_px
                        fills_out[n_fills, 4] = fee
                        n_fills += 1
                    else:
                        full = True
        equity = cash
        gross = 0.0
        for s in range(m):
            px = close[t, s]
            if px > 0.0 and px < np.inf:
                last[s] = px
            if qty[s] != 0.0 and last[s] > 0.0:
                equity += qty[s] * last[s]
                gross += abs(qty[s] * last[s])
            qty_out[t, s] = qty[s]
        equity_out[t] = equity
        gross_out[t] = gross / equity if equity > 0.0 else np.inf
    state_out[0] = n_fills
    state_out[1] = latch_bar
    state_out[2] = cash
    return STATUS_FILLS_FULL if full else STATUS_OK


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    """Equity, exposure, holdings and fills of a portfolio backtest, as arrays."""

    index: pd.DatetimeIndex
    symbols: tuple[str, ...]
    equity: np.ndarray
    gross_exposure: np.ndarray
    holdings: np.ndarray
    fills: np.ndarray
    """(k x 5): bar, symbol index, signed quantity, price, fee."""
    reducing_since: pd.Timestamp | None
    final_cash: float
    initial_cash: float
    last_close: np.ndarray
    """Each symbol's last known close (0 where it never traded)."""

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    @property
    def total_return(self) -> float:
        return self.final_equity / self.initial_cash - 1.0

    @property
    def max_drawdown(self) -> float:
        peak = np.maximum.accumulate(self.equity)
        return float(np.min(self.equity / peak - 1.0))

    def fills_frame(self) -> pd.DataFrame:
        """The fills with timestamps and symbol names (a DataFrame only when asked)."""
        bars = self.fills[:, 0].astype(np.int64)
        return pd.DataFrame(
            {
                "timestamp": self.index[bars],
                "symbol": np.asarray(self.symbols, dtype=object)[self.fills[:, 1].astype(np.int64)],
                "qty": self.fills[:, 2],
                "price": self.fills[:, 3],
                "fee": self.fills[:, 4],
            }
        )

    def pnl_by_symbol(self) -> dict[str, float]:
        """Realised plus unrealised P&L per symbol, net of fees, at the last close."""
        out: dict[str, float] = {}
        for k, symbol in enumerate(self.symbols):
            rows = self.fills[self.fills[:, 1] == k]
            cash_flow = float(-(rows[:, 2] * rows[:, 3]).sum() - rows[:, 4].sum())
            out[symbol] = cash_flow + float(self.holdings[-1, k]) * float(self.last_close[k])
        return out


def align_bars(bars: Mapping[str, pd.DataFrame]) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Put each symbol's bars on the union of their timestamps: (index, open, close), NaN where missing.

    Raises:
        InputError: no symbols, or a frame without open/close columns.
    """
    if not bars:
        raise InputError("a portfolio backtest needs at least one symbol")
    index = pd.DatetimeIndex([])
    for symbol, frame in bars.items():
        missing = [c for c in ("open", "close") if c not in frame.columns]
        if missing:
            raise InputError(f"{symbol}: bars lack {', '.join(missing)}")
        index = index.union(pd.DatetimeIndex(frame.index))
    open_ = np.full((len(index), len(bars)), np.nan)
    close = np.full((len(index), len(bars)), np.nan)
    for k, frame in enumerate(bars.values()):
        positions = index.get_indexer(pd.DatetimeIndex(frame.index))
        open_[positions, k] = frame["open"].to_numpy(dtype=np.float64)
        close[positions, k] = frame["close"].to_numpy(dtype=np.float64)
    return index, open_, close


def run_portfolio(
    index: pd.DatetimeIndex,
    symbols: tuple[str, ...],
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    limits: PortfolioLimits,
    *,
    initial_cash: float = 100_000.0,
    commission: float = 0.0,
    slippage_bps: float = 0.0,
    fill_close: bool = False,
    max_fills: int = 5_000_000,
) -> PortfolioResult:
    """Run the compiled portfolio kernel on aligned (bars x symbols) arrays.

    Raises:
        InputError: shapes disagree, a cost or the cash is out of range, or more than
            ``max_fills`` fills would be needed.
    """
    shape = close.shape
    if close.ndim != 2 or open_.shape != shape or weights.shape != shape:
        raise InputError(f"open {open_.shape}, close {close.shape} and weights {weights.shape} must match")
    if len(index) != shape[0] or len(symbols) != shape[1]:
        raise InputError(f"{len(index)} timestamps and {len(symbols)} symbols for arrays of shape {shape}")
    if shape[0] == 0:
        raise InputError("no bars to backtest")
    if not (math.isfinite(initial_cash) and initial_cash > 0):
        raise InputError(f"initial cash must be a positive finite number, got {initial_cash}")
    slippage = slippage_bps / 10_000.0
    if not (0.0 <= commission < 1.0 and 0.0 <= slippage < 1.0):
        raise InputError(
            f"commission must be in [0, 1) and slippage in [0, 10000) bps, got {commission}, {slippage_bps}"
        )
    n, m = shape
    capacity = min(max_fills, max(1024, 2 * n * m))
    equity = np.empty(n)
    gross = np.empty(n)
    holdings = np.empty((n, m))
    fills = np.empty((capacity, N_FILL_FIELDS))
    state = np.zeros(3)
    status = simulate_portfolio_nb(
        np.ascontiguousarray(open_, dtype=np.float64),
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
        fill_close,
        commission,
        slippage,
        float(initial_cash),
        limits.max_weight,
        limits.max_gross,
        limits.max_positions,
        limits.max_drawdown,
        limits.min_trade_notional,
        limits.band_fraction,
        limits.allow_short,
        equity,
        gross,
        holdings,
        fills,
        state,
    )
    if status == STATUS_FILLS_FULL:
        raise InputError(
            f"the portfolio needs more than {capacity} fills: raise max_fills or trade less often"
        )
    if status != STATUS_OK:
        raise InputError(f"portfolio kernel refused its input (status {status})")
    latch = int(state[1])
    last_close = pd.DataFrame(close).ffill().to_numpy()[-1]
    return PortfolioResult(
        index=index,
        symbols=symbols,
        equity=equity,
        gross_exposure=gross,
        holdings=holdings,
        fills=fills[: int(state[0])].copy(),
        reducing_since=index[latch] if latch >= 0 else None,
        final_cash=float(state[2]),
        initial_cash=float(initial_cash),
        last_close=np.nan_to_num(last_close, nan=0.0),
    )


def reference_portfolio(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    limits: PortfolioLimits,
    *,
    initial_cash: float,
    commission: float,
    slippage: float,
    fill_close: bool,
) -> tuple[list[float], list[tuple[int, int, float, float, float]]]:
    """The module docstring's rules in plain Python (slow; for tests): equity per bar and fills."""
    n, m = close.shape
    cash = initial_cash
    qty = [0.0] * m
    last = [math.nan] * m
    peak = initial_cash
    reducing = False
    equity_curve: list[float] = []
    fills: list[tuple[int, int, float, float, float]] = []

    def ok(value: float) -> bool:
        return value == value and 0.0 < value < math.inf

    for t in range(n):
        d = t if fill_close else t - 1
        if d >= 0:
            equity_d = cash + sum(
                qty[s] * (close[d][s] if ok(close[d][s]) else (last[s] if ok(last[s]) else 0.0))
                for s in range(m)
            )
            peak = max(peak, equity_d)
            if not reducing and (peak - equity_d) / peak >= limits.max_drawdown:
                reducing = True
            w = []
            for s in range(m):
                x = weights[d][s]
                x = 0.0 if (x != x or not ok(close[d][s])) else float(x)
                if not limits.allow_short:
                    x = max(x, 0.0)
                w.append(min(max(x, -limits.max_weight), limits.max_weight))
            while sum(1 for x in w if x != 0.0) > limits.max_positions:
                candidates = [(abs(x), -s) for s, x in enumerate(w) if x != 0.0]
                _, neg = min(candidates)
                w[-neg] = 0.0
            gross = sum(abs(x) for x in w)
            if gross > limits.max_gross:
                w = [x * limits.max_gross / gross for x in w]
            band = max(limits.min_trade_notional, limits.band_fraction * max(equity_d, 0.0))
            orders = [0.0] * m
            for s in range(m):
                fill_px = close[t][s] if fill_close else open_[t][s]
                if not (ok(close[d][s]) and ok(fill_px)):
                    continue
                delta = w[s] * max(equity_d, 0.0) / close[d][s] - qty[s]
                if reducing:
                    if qty[s] > 0:
                        delta = min(max(delta, -qty[s]), 0.0)
                    elif qty[s] < 0:
                        delta = max(min(delta, -qty[s]), 0.0)
                    else:
                        delta = 0.0
                closes_all = qty[s] != 0.0 and qty[s] + delta == 0.0
                if delta != 0.0 and (closes_all or abs(delta) * close[d][s] >= band):
                    orders[s] = delta
            for s in range(m):
                if orders[s] < 0:
                    px = (close[t][s] if fill_close else open_[t][s]) * (1 - slippage)
                    fee = -orders[s] * px * commission
                    cash += -orders[s] * px - fee
                    qty[s] += orders[s]
                    fills.append((t, s, orders[s], px, fee))
            need = sum(
                orders[s] * (close[t][s] if fill_close else open_[t][s]) * (1 + slippage) * (1 + commission)
                for s in range(m)
                if orders[s] > 0
            )
            scale = max(cash, 0.0) / need if (need > 0 and limits.max_gross <= 1.0 and need > cash) else 1.0
            for s in range(m):
                if orders[s] > 0 and scale > 0:
                    buy = orders[s] * scale
                    px = (close[t][s] if fill_close else open_[t][s]) * (1 + slippage)
                    fee = buy * px * commission
                    cash -= buy * px + fee
                    qty[s] += buy
                    fills.append((t, s, buy, px, fee))
        for s in range(m):
            if ok(close[t][s]):
                last[s] = close[t][s]
        equity_curve.append(cash + sum(qty[s] * last[s] for s in range(m) if qty[s] != 0.0 and ok(last[s])))
    return equity_curve, fills


def decision_weights(
    bars: Mapping[str, pd.DataFrame],
    index: pd.DatetimeIndex,
    strategy: Strategy,
    risk: RiskConfig,
) -> np.ndarray:
    """Each symbol's decision-pipeline target (``side x frac``) on the shared ``index``.

    Every symbol is decided on its own bars, exactly as the live router decides it; a bar a
    symbol does not have holds NaN (no order for it on that bar).
    """
    weights = np.full((len(index), len(bars)), np.nan)
    for k, frame in enumerate(bars.values()):
        signals = compute_signals(frame)
        regimes = compute_regimes(frame, signals)
        frame_decisions = decide(frame, signals, regimes, strategy, risk)
        weights[index.get_indexer(pd.DatetimeIndex(frame.index)), k] = frame_decisions.target
    return weights


def backtest_portfolio(
    bars: Mapping[str, pd.DataFrame],
    strategy: Strategy,
    risk: RiskConfig,
    limits: PortfolioLimits,
    *,
    initial_cash: float = 100_000.0,
    commission: float = 0.0,
    slippage_bps: float = 0.0,
    fill_close: bool = False,
) -> PortfolioResult:
    """Decide every symbol with the shared pipeline, then trade them on one pool of cash."""
    index, open_, close = align_bars(bars)
    weights = decision_weights(bars, index, strategy, risk)
    return run_portfolio(
        index,
        tuple(bars),
        open_,
        close,
        weights,
        limits,
        initial_cash=initial_cash,
        commission=commission,
        slippage_bps=slippage_bps,
        fill_close=fill_close,
    )
