"""The compiled backtest engine: one bar loop in Numba, a thin Python wrapper around it.

Conventions (documented in docs/backtest.md and pinned by tests):

* ``target[t]`` is decided on bar ``t``'s close. Its sign is the side (+1 long, -1 short,
  0 flat); its magnitude is the fraction of equity to commit when a position is opened.
* Fills happen at bar ``t+1``'s open (``fill_close=False``, the default) or at bar ``t``'s
  close (``fill_close=True``). With next-open fills the decision on the last bar has no
  next open and is dropped.
* Trades happen only when the side changes: a size change while on the same side is not
  rebalanced (the size is fixed at entry, as in backtesting.py). A reversal closes the
  position, then opens the other side with the cash after closing.
* Buys fill at ``price x (1 + slippage)``, sells at ``price x (1 - slippage)``; commission
  is ``commission x traded notional`` on each side. Quantities are fractional; an entry
  with fraction ``f`` spends ``f x cash`` including its commission, so ``f = 1`` buys
  ``cash / (price x (1 + commission))``, as vectorbt's ``size=inf`` does.
* A short is opened with ``f x cash / (price x (1 + commission))`` units; the proceeds
  are credited to cash and equity is ``cash + qty x close`` (``qty`` negative).
* With close fills, a decision on the last bar may close a position but opens none (it
  would be closed again at the same price).
* A position still open after the last bar is closed at the last close (commission and
  slippage charged) and counted as a trade, so the last equity value is all cash.
* If equity reaches zero or below, the position is liquidated and trading stops
  (:data:`STATUS_RUINED`, reported, not raised).

Kernels never raise on bad input; they return a status code and :func:`run_backtest` turns
it into an :class:`~app.errors.InputError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from numba import njit

from app.errors import InputError
from app.strategies.base import BarArrays
from app.strategies.kernels import cross_side_nb

__all__ = [
    "METRIC_NAMES",
    "N_METRICS",
    "N_TRADE_FIELDS",
    "STATUS_BAD_PARAM",
    "STATUS_BAD_PRICE",
    "STATUS_BAD_TARGET",
    "STATUS_EMPTY",
    "STATUS_OK",
    "STATUS_RUINED",
    "STATUS_SHAPE",
    "TRADE_FIELDS",
    "BacktestResult",
    "EngineConfig",
    "first_bad_price_nb",
    "periods_per_year",
    "run_backtest",
    "simulate_core_nb",
    "simulate_metrics_nb",
    "simulate_nb",
    "status_message",
]

STATUS_OK = 0
STATUS_SHAPE = 1
STATUS_EMPTY = 2
STATUS_BAD_PARAM = 3
STATUS_BAD_PRICE = 4
STATUS_BAD_TARGET = 5
STATUS_RUINED = 6

METRIC_NAMES = (
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "exposure",
    "num_trades",
)
N_METRICS = len(METRIC_NAMES)
M_FINAL, M_TOTAL_RETURN, M_CAGR, M_SHARPE, M_SORTINO, M_MAX_DD, M_WIN_RATE, M_EXPOSURE, M_TRADES = range(9)

TRADE_FIELDS = ("entry_bar", "exit_bar", "side", "qty", "entry_price", "exit_price", "pnl", "fees")
N_TRADE_FIELDS = len(TRADE_FIELDS)


@njit(cache=True)
def _record_trade(
    trades_out: np.ndarray,
    k: int,
    entry_bar: int,
    exit_bar: int,
    side: int,
    qty: float,
    entry_price: float,
    exit_price: float,
    pnl: float,
    fees: float,
) -> None:  # pragma: no cover - compiled
    if k < trades_out.shape[0]:
        trades_out[k, 0] = entry_bar
        trades_out[k, 1] = exit_bar
        trades_out[k, 2] = side
        trades_out[k, 3] = qty
        trades_out[k, 4] = entry_price
        trades_out[k, 5] = exit_price
        trades_out[k, 6] = pnl
        trades_out[k, 7] = fees


@njit(inline="always")
def _close_trade_nb(
    trades_out: np.ndarray,
    n_trades: int,
    n_wins: int,
    exposed: int,
    cash: float,
    qty: float,
    side: int,
    entry_bar: int,
    exit_bar: int,
    at_close: bool,
    entry_price: float,
    entry_fee: float,
    price: float,
    commission: float,
    slippage: float,
) -> tuple[float, int, int, int]:  # pragma: no cover - compiled
    """Close the open position at ``price`` on bar ``exit_bar`` and record the trade.

    Every exit (a reversal at the fill price, the end of the data or a ruin at the close) goes
    through here. Returns the cash after the exit and the updated trade, win and exposure
    counts: the position was held at the closes of ``entry_bar`` up to ``exit_bar - 1``, or up
    to ``exit_bar`` itself when it exits ``at_close``. The pnl recorded is net of both fees.
    The caller clears the position.
    """
    if side > 0:
        exit_price = price * (1.0 - slippage)
        notional = qty * exit_price
        fee = notional * commission
        cash = cash + notional - fee
        pnl = qty * (exit_price - entry_price) - fee
    else:
        exit_price = price * (1.0 + slippage)
        notional = -qty * exit_price
        fee = notional * commission
        cash = cash - notional - fee
        pnl = -qty * (entry_price - exit_price) - fee
    pnl -= entry_fee
    _record_trade(
        trades_out,
        n_trades,
        entry_bar,
        exit_bar,
        side,
        abs(qty),
        entry_price,
        exit_price,
        pnl,
        entry_fee + fee,
    )
    held = exit_bar - entry_bar + 1 if at_close else exit_bar - entry_bar
    return cash, n_trades + 1, n_wins + 1 if pnl > 0.0 else n_wins, exposed + held


@njit(cache=True)
def _close_out_nb(
    trades_out: np.ndarray,
    n_trades: int,
    n_wins: int,
    exposed: int,
    cash: float,
    qty: float,
    side: int,
    entry_bar: int,
    t: int,
    entry_price: float,
    entry_fee: float,
    close: float,
    commission: float,
    slippage: float,
) -> tuple[float, int, int, int]:  # pragma: no cover - compiled
    """The end of the data or a ruin: :func:`_close_trade_nb` at bar ``t``'s close.

    A called function, not inlined: it runs at most once per simulation, and one compiled copy
    serves both places the loop closes out (inlining it twice made the loop slower to compile).
    """
    return _close_trade_nb(
        trades_out, n_trades, n_wins, exposed, cash, qty, side, entry_bar, t, True, entry_price,
        entry_fee, close, commission, slippage,
    )  # fmt: skip


@njit(cache=True)
def first_bad_price_nb(open_: np.ndarray, close: np.ndarray) -> int:  # pragma: no cover - compiled
    """Index of the first bar whose open or close is missing, zero, negative or infinite (``n`` if none)."""
    n = min(open_.shape[0], close.shape[0])
    for t in range(n):
        o = open_[t]
        c = close[t]
        if not (o > 0.0 and c > 0.0 and o < np.inf and c < np.inf):
            return int(t)
    return int(n)


@njit(inline="always")
def simulate_core_nb(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    cross_fast: np.ndarray,
    cross_slow: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    from_cross: bool,
    first_bad: int,
    fill_close: bool,
    commission: float,
    slippage: float,
    initial_cash: float,
    periods_per_year: float,
    years: float,
    equity_out: np.ndarray,
    trades_out: np.ndarray,
    metrics_out: np.ndarray,
    whole: bool = False,
) -> int:  # pragma: no cover - compiled
    """The one simulation loop behind :func:`simulate_nb` and the crossover sweep kernel.

    With ``from_cross`` False the decision of bar ``d`` is ``target[d]`` (``cross_*`` and
    ``scale_*`` are ignored). With ``from_cross`` True it is derived on the fly, without a
    target array: the side of ``cross_fast`` against ``cross_slow`` at ``d`` (as
    :func:`app.strategies.kernels.cross_target_nb` writes it), sized with ``scale_long[d]``
    / ``scale_short[d]`` (as :func:`app.backtest.sweeps.kernels.size_target_nb` does), so
    both modes give the same numbers for the same decisions, bit for bit.

    ``first_bad`` is :func:`first_bad_price_nb` of the prices when the caller already knows it
    (a sweep checks its prices once for every set), or -1 to compute it here. In crossover mode
    no equity curve is written (sweeps keep none). ``whole`` (crossover mode; pass a constant)
    says every ``scale_long`` and ``scale_short`` value is at least 1, so each side is taken
    whole and the loop reads neither array (``min(1.0, scale)`` would be 1.0 on every bar):
    the same numbers without two loads and two comparisons per bar. The function is inlined into
    its callers, so each gets a copy specialised for its mode.
    """
    for m in range(metrics_out.shape[0]):
        metrics_out[m] = np.nan
    n = close.shape[0]
    if open_.shape[0] != n:
        return STATUS_SHAPE
    if from_cross:
        if cross_fast.shape[0] != n or cross_slow.shape[0] != n:
            return STATUS_SHAPE
        if scale_long.shape[0] != n or scale_short.shape[0] != n:
            return STATUS_SHAPE
    elif target.shape[0] != n:
        return STATUS_SHAPE
    if equity_out.shape[0] != 0 and equity_out.shape[0] != n:
        return STATUS_SHAPE
    if metrics_out.shape[0] < N_METRICS:
        return STATUS_SHAPE
    if n == 0:
        return STATUS_EMPTY
    if not (0.0 <= commission < 1.0) or not (0.0 <= slippage < 1.0) or not (initial_cash > 0.0):
        return STATUS_BAD_PARAM
    if not (periods_per_year > 0.0):
        return STATUS_BAD_PARAM

    cash = initial_cash
    qty = 0.0  # signed units held
    side = 0
    entry_bar = -1
    entry_price = 0.0
    entry_fee = 0.0
    n_trades = 0
    n_wins = 0
    prev_eq = initial_cash
    peak = initial_cash
    trough = initial_cash  # lowest equity since the current peak was set
    max_dd = 0.0
    sum_r = 0.0
    sum_r2 = 0.0
    sum_down2 = 0.0
    n_r = 0
    exposed = 0
    status = STATUS_OK
    ruined = False
    eq = initial_cash
    # the crossover mode serves sweeps, which keep no curve (a constant once inlined)
    record_equity = not from_cross and equity_out.shape[0] != 0
    last = n - 1
    cross_state = 0.0
    # loop invariants as values, not tests in the bar loop (a test per bar costs measurably):
    # the decision filled on a bar is the previous close's (next-open fills) or its own close's,
    # and a crossover below takes the short side only when shorts are allowed
    lag = 0 if fill_close else 1
    below = -1 if allow_short else 0

    # Prices are checked in one tight pass first; the bar loop then stops where the first bad
    # price is, which returns the same status at the same point as checking bar by bar.
    bad_at = first_bad_price_nb(open_, close) if first_bad < 0 else first_bad
    for t in range(min(n, bad_at)):
        o = open_[t]
        c = close[t]
        d = t - lag  # the decision that fills on this bar
        if d >= 0:
            if from_cross and whole:
                fv = cross_fast[d]
                sv = cross_slow[d]
                desired = 1 if fv > sv else (below if fv < sv else 0)
                tv = float(desired)
            else:
                if from_cross:
                    cross_state = cross_side_nb(cross_fast[d], cross_slow[d])
                    if cross_state > 0:
                        tv = min(1.0, scale_long[d])
                    elif cross_state < 0 and allow_short:
                        tv = -min(1.0, scale_short[d])
                    else:
                        tv = 0.0
                else:
                    tv = target[d]
                desired = 1 if tv > 0.0 else (-1 if tv < 0.0 else 0)  # NaN -> 0
            # after a ruin nothing trades again; the flag is read only when the side would change
            if desired != side and not ruined:
                if tv > 1.0 + 1e-12 or tv < -1.0 - 1e-12:
                    return STATUS_BAD_TARGET
                price = c if fill_close else o
                if side != 0:
                    cash, n_trades, n_wins, exposed = _close_trade_nb(
                        trades_out, n_trades, n_wins, exposed, cash, qty, side, entry_bar, t, False,
                        entry_price, entry_fee, price, commission, slippage,
                    )  # fmt: skip
                    qty = 0.0
                    side = 0
                # with close fills a decision on the last bar opens nothing: it would close at once
                if desired != 0 and cash > 0.0 and not (fill_close and t == last):
                    budget = abs(tv) * cash
                    if desired > 0:
                        entry_price = price * (1.0 + slippage)
                        spend = budget / (1.0 + commission)
                        qty = spend / entry_price
                        entry_fee = budget - spend
                        cash -= budget
                    else:
                        entry_price = price * (1.0 - slippage)
                        units = budget / (entry_price * (1.0 + commission))
                        proceeds = units * entry_price
                        entry_fee = proceeds * commission
                        cash += proceeds - entry_fee
                        qty = -units
                    if qty != 0.0:
                        side = desired
                        entry_bar = t

        eq = cash + qty * c
        # The end of the data (or a ruin) closes the position at this close. A ruin (equity at or
        # below zero) can only be below the peak, which is positive, so it is tested in that
        # branch of the drawdown update, not as one more test on every bar.
        if t == last and side != 0:
            ruin_now = eq <= 0.0
            cash, n_trades, n_wins, exposed = _close_out_nb(
                trades_out, n_trades, n_wins, exposed, cash, qty, side, entry_bar, t, entry_price,
                entry_fee, c, commission, slippage,
            )  # fmt: skip
            qty = 0.0
            side = 0
            eq = cash
            if ruin_now:
                ruined = True
                status = STATUS_RUINED
        # Drawdown without a division per bar: eq / peak - 1 is monotonic in eq for a fixed
        # peak, so the deepest point under one peak is its lowest equity; it is divided once,
        # when a new peak closes the stretch (and after the loop). Same value, bit for bit.
        if eq > peak:
            if trough < peak:
                max_dd = min(max_dd, trough / peak - 1.0)
            peak = eq
            trough = eq
        else:
            if eq <= 0.0 and side != 0:
                cash, n_trades, n_wins, exposed = _close_out_nb(
                    trades_out, n_trades, n_wins, exposed, cash, qty, side, entry_bar, t, entry_price,
                    entry_fee, c, commission, slippage,
                )  # fmt: skip
                qty = 0.0
                side = 0
                eq = cash
                ruined = True
                status = STATUS_RUINED
            trough = min(trough, eq)
        if record_equity:
            equity_out[t] = eq
        # Branch-free accumulation: a data-dependent branch per bar (is the return negative?)
        # mispredicts about half the time. min(r, 0)^2 adds exactly 0.0 when r >= 0.
        if prev_eq > 0.0:
            r = eq / prev_eq - 1.0
            sum_r += r
            sum_r2 += r * r
            down = min(r, 0.0)
            sum_down2 += down * down
            n_r += 1
        prev_eq = eq

    if bad_at < n:
        return STATUS_BAD_PRICE
    if trough < peak:
        max_dd = min(max_dd, trough / peak - 1.0)
    metrics_out[M_FINAL] = eq
    metrics_out[M_TOTAL_RETURN] = eq / initial_cash - 1.0
    if years > 0.0 and eq > 0.0:
        metrics_out[M_CAGR] = (eq / initial_cash) ** (1.0 / years) - 1.0
    if n_r > 1:
        mean = sum_r / n_r
        var = (sum_r2 - n_r * mean * mean) / (n_r - 1)
        if var > 0.0:
            metrics_out[M_SHARPE] = mean / math.sqrt(var) * math.sqrt(periods_per_year)
        down = math.sqrt(sum_down2 / n_r)
        if down > 0.0:
            metrics_out[M_SORTINO] = mean / down * math.sqrt(periods_per_year)
    metrics_out[M_MAX_DD] = max_dd
    if n_trades > 0:
        metrics_out[M_WIN_RATE] = n_wins / n_trades
    metrics_out[M_EXPOSURE] = exposed / n
    metrics_out[M_TRADES] = n_trades
    return status


@njit(cache=True)
def simulate_nb(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    fill_close: bool,
    commission: float,
    slippage: float,
    initial_cash: float,
    periods_per_year: float,
    years: float,
    equity_out: np.ndarray,
    trades_out: np.ndarray,
    metrics_out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Simulate one instrument and write metrics into ``metrics_out`` (length :data:`N_METRICS`).

    ``equity_out`` (length ``n`` or 0) receives the equity at each close when non-empty;
    ``trades_out`` (shape ``(k, N_TRADE_FIELDS)``, ``k`` may be 0) receives closed trades in
    order while rows remain. ``slippage`` is a fraction (bps / 10,000). ``years`` is the
    span used for CAGR (NaN when unknown). Returns a status code (``STATUS_OK`` = 0).
    Nothing is allocated per bar, so this is safe to call inside ``numba.prange``.
    """
    unused = np.empty(0, dtype=np.float64)
    return simulate_core_nb(
        open_,
        close,
        target,
        unused,
        unused,
        unused,
        unused,
        False,
        False,
        -1,
        fill_close,
        commission,
        slippage,
        initial_cash,
        periods_per_year,
        years,
        equity_out,
        trades_out,
        metrics_out,
    )


@njit(cache=True)
def simulate_metrics_nb(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    fill_close: bool,
    commission: float,
    slippage: float,
    initial_cash: float,
    periods_per_year: float,
    years: float,
    metrics_out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """:func:`simulate_nb` without the equity curve and trade list (for sweeps)."""
    no_equity = np.empty(0, dtype=np.float64)
    no_trades = np.empty((0, N_TRADE_FIELDS), dtype=np.float64)
    return simulate_nb(
        open_,
        close,
        target,
        fill_close,
        commission,
        slippage,
        initial_cash,
        periods_per_year,
        years,
        no_equity,
        no_trades,
        metrics_out,
    )


_STATUS_MESSAGES = {
    STATUS_SHAPE: "open, close and target arrays differ in length",
    STATUS_EMPTY: "no bars to backtest",
    STATUS_BAD_PARAM: "commission and slippage must be in [0, 1) and initial cash above 0",
    STATUS_BAD_PRICE: "a bar has a missing, zero, negative or infinite open or close price",
    STATUS_BAD_TARGET: "a target position is larger than 1 in magnitude",
    STATUS_RUINED: "equity reached zero; the position was liquidated and trading stopped",
}


def status_message(status: int) -> str:
    """Return the explanation of a kernel status code."""
    return _STATUS_MESSAGES.get(status, "ok" if status == STATUS_OK else f"unknown status {status}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Execution conventions for one backtest.

    Attributes:
        fill: ``"next_open"`` fills a decision at the next bar's open, ``"close"`` at the same close.
        commission: fraction of traded notional charged on each side (0.002 = 0.2 %).
        slippage_bps: adverse price move per fill, in basis points.
        initial_cash: starting cash.
        periods_per_year: bars per year for Sharpe and Sortino; ``None`` infers it from the index.
    """

    fill: Literal["next_open", "close"] = "next_open"
    commission: float = 0.0
    slippage_bps: float = 0.0
    initial_cash: float = 10_000.0
    periods_per_year: float | None = None

    def __post_init__(self) -> None:
        if self.fill not in ("next_open", "close"):
            raise InputError(f"fill must be 'next_open' or 'close', got {self.fill!r}")
        if not 0.0 <= self.commission < 1.0:
            raise InputError(f"commission must be in [0, 1), got {self.commission}")
        if not 0.0 <= self.slippage_bps < 10_000.0:
            raise InputError(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if not self.initial_cash > 0.0:
            raise InputError(f"initial_cash must be above 0, got {self.initial_cash}")
        if self.periods_per_year is not None and not self.periods_per_year > 0.0:
            raise InputError(f"periods_per_year must be above 0, got {self.periods_per_year}")


@dataclass(frozen=True)
class BacktestResult:
    """Equity curve, closed trades and metrics of one backtest.

    The raw arrays are kept as computed; :attr:`equity` and :attr:`trades` build their
    pandas views on first access, so a caller that only needs metrics pays nothing for them.
    """

    index: pd.Index
    equity_values: np.ndarray
    trade_records: np.ndarray
    metrics: dict[str, float]
    status: int = STATUS_OK
    config: EngineConfig = field(default_factory=EngineConfig)

    @property
    def final_equity(self) -> float:
        return self.metrics["final_equity"]

    @property
    def num_trades(self) -> int:
        return int(self.metrics["num_trades"])

    @cached_property
    def equity(self) -> pd.Series:
        """Equity at each bar's close (after the final close-out on the last bar)."""
        return pd.Series(self.equity_values, index=self.index, name="equity")

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per closed trade: bars, times, side, qty, prices, pnl (net of fees) and fees."""
        rows = self.trade_records
        entry_bar = rows[:, 0].astype(np.int64)
        exit_bar = rows[:, 1].astype(np.int64)
        return pd.DataFrame(
            {
                "entry_bar": entry_bar,
                "exit_bar": exit_bar,
                "entry_time": self.index[entry_bar],
                "exit_time": self.index[exit_bar],
                "side": np.where(rows[:, 2] > 0, "long", "short"),
                "qty": rows[:, 3],
                "entry_price": rows[:, 4],
                "exit_price": rows[:, 5],
                "pnl": rows[:, 6],
                "fees": rows[:, 7],
            }
        )


_NANOS_PER_UNIT = {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}


def _index_nanos(index: pd.Index) -> tuple[np.ndarray, float] | None:
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    return index.asi8, _NANOS_PER_UNIT.get(str(index.unit), 1.0)


def periods_per_year(index: pd.Index) -> float:
    """Infer bars per year from a DatetimeIndex: 252 for daily bars, scaled for intraday.

    Uses the median spacing of the first 65 bars. Intraday bars assume 6.5 trading hours
    a day; weekly bars give 52, monthly 12; anything else (or no DatetimeIndex) gives 252.
    """
    found = _index_nanos(index)
    if found is None:
        return 252.0
    stamps, per_unit = found
    steps = np.diff(stamps[:65])
    steps.sort()
    step = float(steps[len(steps) // 2]) * per_unit / 1e9  # seconds
    day = 86_400.0
    if step <= 0:
        return 252.0
    if step < 0.75 * day:
        return 252.0 * 6.5 * 3600.0 / step
    if step < 4 * day:
        return 252.0
    if step < 20 * day:
        return 52.0
    return 12.0


def _years(index: pd.Index) -> float:
    found = _index_nanos(index)
    if found is None:
        return math.nan
    stamps, per_unit = found
    span = float(stamps[-1] - stamps[0]) * per_unit / 1e9
    return span / (365.25 * 86_400.0) if span > 0 else math.nan


def run_backtest(
    bars: pd.DataFrame, target: np.ndarray, config: EngineConfig | None = None
) -> BacktestResult:
    """Backtest ``target`` (one value per bar, see the module conventions) on ``bars``.

    ``bars`` (a frame, or a :class:`~app.strategies.base.BarArrays` shared with the
    strategy so columns are extracted once) needs ``open`` and ``close`` columns. Its
    index labels the equity curve and the trades (a DatetimeIndex also sets CAGR's span
    and, by default, the annualisation).

    Raises:
        InputError: the arrays do not line up, a price is invalid, a parameter is out of
            range, or a target exceeds 1 in magnitude.
    """
    config = config or EngineConfig()
    arrays = BarArrays.of(bars)
    open_ = arrays.column("open")
    close = arrays.column("close")
    target_arr = np.ascontiguousarray(target, dtype=np.float64)
    n = close.shape[0]
    ppy = config.periods_per_year if config.periods_per_year is not None else periods_per_year(arrays.index)
    equity = np.empty(n, dtype=np.float64)
    trades = np.empty((n + 1, N_TRADE_FIELDS), dtype=np.float64)
    metrics = np.empty(N_METRICS, dtype=np.float64)
    status = simulate_nb(
        open_,
        close,
        target_arr,
        config.fill == "close",
        config.commission,
        config.slippage_bps / 10_000.0,
        config.initial_cash,
        ppy,
        _years(arrays.index),
        equity,
        trades,
        metrics,
    )
    if status not in (STATUS_OK, STATUS_RUINED):
        raise InputError(f"backtest rejected its input: {status_message(status)}")
    metric_values = dict(zip(METRIC_NAMES, metrics.tolist(), strict=True))
    return BacktestResult(
        index=arrays.index,
        equity_values=equity,
        trade_records=trades[: int(metrics[M_TRADES])],
        metrics=metric_values,
        status=status,
        config=config,
    )
