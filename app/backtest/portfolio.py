"""Portfolio backtests: many symbols trading target weights on one shared pool of cash.

The single-symbol engine (:mod:`app.backtest.engine`) fixes a position's size at entry.
A portfolio trades the way the live router does: on each decision bar every symbol has a
target weight (the decision pipeline's ``target = side x frac``), and the order is the
difference between that target and what the book holds.

Two ways to apply the caps (:attr:`PortfolioLimits.cap_mode`):

``governor`` (the default; :func:`simulate_governed_nb`): the live loop's. Each decision bar
``d`` is one routing pass over the symbols, as the intraday refresh routes its watchlist:

1. **Mark.** Before any symbol is sized, every symbol with a price on ``d`` is marked at its
   close on ``d`` (the pass marks the paper account at each symbol's newest completed close
   first), so every symbol is sized against an equity that values the whole book at ``d``. A
   symbol without a price on ``d`` keeps its older mark and is not routed (no order).

Then the symbols are routed one after another in the order they are listed (the router's
order: the watchlist's), each exactly as a target-mode router run does it; a fill changes
cash and holdings before the next symbol is sized:

2. **Size.** Equity is ``cash + sum(qty x mark)``; the target quantity is ``w x equity /
   close`` (``w`` = 0 for shorts unless ``allow_short``, and for a NaN target); the order is the
   target minus what is held (plus what is reserved, with next-open fills). Orders below
   ``max(min_trade_notional, band_fraction x equity)`` are skipped unless the target is flat.
3. **Govern.** An order that *reduces* (shrinks the holding without crossing zero) always
   passes. Any other order is refused whole (the refusal is recorded) when, after it, the
   symbol's ``|exposure| / equity`` exceeds ``max_weight``, ``sum |exposure| / equity``
   exceeds ``max_gross`` or more than ``max_positions`` symbols have a non-zero exposure
   (exposures at the marks, this symbol at its close: the governor's book), in that order;
   or when the book has latched REDUCING (rule 4 below, at ``d``'s closes); or when a buy
   costs more than the cash left (the paper broker's buying power; no borrowing).
4. **Fill.** With close fills the order fills at once at ``close x (1 ∓ slippage)``, before
   the next symbol is routed (the paper broker fills a market order at once). With next-open
   fills the admitted orders are reserved (they count in the governor's exposures) and fill
   at the next bar's open, sells first, each fill marking its symbol at that open.

``scale`` (:func:`simulate_portfolio_nb`): all symbols decided together on ``d``'s closes, the
weights clipped, cut and scaled to fit the caps. Rules, in the order the kernel applies them on
each decision bar ``d`` (pinned by tests against a plain-Python reference,
:func:`reference_portfolio`):

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

In both modes the reported equity is ``cash + sum(qty x last known close)`` at every close;
positions still open at the end are valued at the last close (not liquidated). Kernels
return status codes; the wrapper raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numba import njit

from app.decision.pipeline import ProbabilityModel, decide
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.errors import InputError
from app.risk.sizing import RiskConfig
from app.strategies.base import Strategy

__all__ = [
    "CAP_MODES",
    "FILL_FIELDS",
    "REFUSAL_REASONS",
    "PortfolioLimits",
    "PortfolioResult",
    "align_bars",
    "backtest_portfolio",
    "decision_weights",
    "reference_portfolio",
    "run_portfolio",
    "simulate_governed_nb",
    "simulate_portfolio_nb",
]

FILL_FIELDS = ("bar", "symbol", "qty", "price", "fee")
N_FILL_FIELDS = len(FILL_FIELDS)

STATUS_OK = 0
STATUS_SHAPE = 1
STATUS_BAD_PARAM = 2
STATUS_FILLS_FULL = 3

CAP_MODES = ("governor", "scale")
"""How the caps apply: the live governor's refusals (the default) or clipped and scaled weights."""

REFUSAL_REASONS = {
    1: "kill_switch_symbol_weight",
    2: "kill_switch_gross_exposure",
    3: "kill_switch_open_positions",
    4: "kill_switch_reducing",
    5: "insufficient_buying_power",
    6: "equity_unusable",
}
"""Codes of :attr:`PortfolioResult.refusals` (governor mode), named as the live loop names them."""
REFUSED_WEIGHT = 1
REFUSED_GROSS = 2
REFUSED_POSITIONS = 3
REFUSED_REDUCING = 4
REFUSED_CASH = 5
REFUSED_EQUITY = 6


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
    cap_mode: str = "governor"
    """``governor`` (refuse a whole order that would breach a cap, symbols in routing order) or
    ``scale`` (clip, cut and scale the weights); see the module docstring."""

    def __post_init__(self) -> None:
        checks = (
            (self.cap_mode in CAP_MODES, f"cap_mode must be governor or scale, got {self.cap_mode!r}"),
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
def _check_inputs_nb(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    commission: float,
    slippage: float,
    initial_cash: float,
    equity_out: np.ndarray,
    gross_out: np.ndarray,
    qty_out: np.ndarray,
    fills_out: np.ndarray,
    state_out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """The status the simulators return for inputs they cannot run on, else ``STATUS_OK``."""
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
    return STATUS_OK


@njit(cache=True)
def _equity_at_nb(
    d: int, close: np.ndarray, qty: np.ndarray, last: np.ndarray, cash: float
) -> float:  # pragma: no cover - compiled
    """The book's equity at bar ``d``'s closes (a symbol without one at its newest close)."""
    equity = cash
    for s in range(qty.shape[0]):
        px = close[d, s]
        if px > 0.0 and px < np.inf:
            equity += qty[s] * px
        elif last[s] > 0.0:
            equity += qty[s] * last[s]
    return equity


@njit(cache=True)
def _record_fill_nb(
    fills_out: np.ndarray, n_fills: int, t: int, s: int, qty: float, price: float, fee: float
) -> int:  # pragma: no cover - compiled
    """Write fill row ``n_fills`` (bar, symbol, signed qty, price, fee) and return the next
    count; past the buffer's end nothing is written and the count still grows, so the caller
    knows the buffer was full."""
    if n_fills < fills_out.shape[0]:
        fills_out[n_fills, 0] = t
        fills_out[n_fills, 1] = s
        fills_out[n_fills, 2] = qty
        fills_out[n_fills, 3] = price
        fills_out[n_fills, 4] = fee
    return n_fills + 1


@njit(cache=True)
def _mark_bar_nb(
    t: int,
    close: np.ndarray,
    qty: np.ndarray,
    last: np.ndarray,
    cash: float,
    qty_out: np.ndarray,
    equity_out: np.ndarray,
    gross_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Mark bar ``t``: each symbol at its newest finite close, the holdings, equity and gross
    exposure (a fraction of equity; infinite when equity is not positive) written out."""
    equity = cash
    gross = 0.0
    for s in range(qty.shape[0]):
        px = close[t, s]
        if px > 0.0 and px < np.inf:
            last[s] = px
        if qty[s] != 0.0 and last[s] > 0.0:
            equity += qty[s] * last[s]
            gross += abs(qty[s] * last[s])
        qty_out[t, s] = qty[s]
    equity_out[t] = equity
    gross_out[t] = gross / equity if equity > 0.0 else np.inf


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
    status = _check_inputs_nb(
        open_,
        close,
        weights,
        commission,
        slippage,
        initial_cash,
        equity_out,
        gross_out,
        qty_out,
        fills_out,
        state_out,
    )
    if status != STATUS_OK:
        return status
    n = close.shape[0]
    m = close.shape[1]
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
    for t in range(n):
        # Which decision fills on this bar, and at what price.
        d = t if fill_close else t - 1
        if d >= 0:
            equity_d = _equity_at_nb(d, close, qty, last, cash)
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
                    n_fills = _record_fill_nb(fills_out, n_fills, t, s, order[s], fill_px, fee)
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
                    n_fills = _record_fill_nb(fills_out, n_fills, t, s, buy, fill_px, fee)
        _mark_bar_nb(t, close, qty, last, cash, qty_out, equity_out, gross_out)
    state_out[0] = min(n_fills, fills_out.shape[0])
    state_out[1] = latch_bar
    state_out[2] = cash
    return STATUS_FILLS_FULL if n_fills > fills_out.shape[0] else STATUS_OK


@njit(cache=True)
def _set_exposure_nb(expo: np.ndarray, s: int, value: float, acc: np.ndarray) -> None:  # pragma: no cover
    """Set symbol ``s``'s signed exposure, keeping ``acc`` = [gross exposure, open positions]."""
    old = expo[s]
    acc[0] += abs(value) - abs(old)
    if old != 0.0:
        acc[1] -= 1.0
    if value != 0.0:
        acc[1] += 1.0
    expo[s] = value


@njit(cache=True)
def simulate_governed_nb(
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
    refused_out: np.ndarray,
    state_out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Simulate the governor-mode rules of the module docstring over (bars x symbols) arrays.

    Outputs as :func:`simulate_portfolio_nb`'s, plus ``refused_out`` (bars x symbols, int8):
    the code of a refused order (:data:`REFUSAL_REASONS`) on its decision bar's row, else 0.
    """
    status = _check_inputs_nb(
        open_,
        close,
        weights,
        commission,
        slippage,
        initial_cash,
        equity_out,
        gross_out,
        qty_out,
        fills_out,
        state_out,
    )
    if status != STATUS_OK:
        return status
    if refused_out.shape[0] != close.shape[0] or refused_out.shape[1] != close.shape[1]:
        return STATUS_SHAPE
    n = close.shape[0]
    m = close.shape[1]
    cash = initial_cash
    qty = np.zeros(m)
    last = np.full(m, np.nan)  # newest close (the reported equity)
    mark = np.zeros(m)  # the paper account's mark: newest routed close or fill price (0: none)
    book = 0.0  # sum(qty x mark)
    expo = np.zeros(m)  # the governor's signed exposure: (held + reserved) x mark
    acc = np.zeros(2)  # gross exposure, open positions
    pend = np.zeros(m)  # reserved (admitted, unfilled) quantities, next-open fills
    peak = initial_cash
    reducing = False
    latch_bar = -1
    n_fills = 0
    for t in range(n):
        d = t if fill_close else t - 1
        if d >= 0:
            # REDUCING latch: the drawdown of the book at d's closes
            equity_d = _equity_at_nb(d, close, qty, last, cash)
            if equity_d > peak:
                peak = equity_d
            if not reducing and peak > 0.0 and (peak - equity_d) / peak >= max_drawdown:
                reducing = True
                latch_bar = d
            # the routing pass marks the account with every symbol's close on d, then sizes
            for s in range(m):
                px = close[d, s]
                if px > 0.0 and px < np.inf:
                    book += qty[s] * (px - mark[s])
                    mark[s] = px
                    _set_exposure_nb(expo, s, (qty[s] + pend[s]) * px, acc)
            reserved_cash = 0.0
            for s in range(m):
                px = close[d, s]
                if not (px > 0.0 and px < np.inf):
                    continue  # no bar on d: not routed
                fill_px = close[t, s] if fill_close else open_[t, s]
                if not (fill_px > 0.0 and fill_px < np.inf):
                    continue  # nothing to fill on: the holding stays
                equity = cash + book
                x = weights[d, s]
                if np.isnan(x) or (not allow_short and x < 0.0):
                    x = 0.0
                held = qty[s] + pend[s]
                if not (equity > 0.0):
                    if x != 0.0 or held != 0.0:
                        refused_out[d, s] = REFUSED_EQUITY  # the router sizes nothing on it
                    continue
                target = x * equity / px
                delta = target - held
                if delta == 0.0:
                    continue
                band = max(min_trade_notional, band_fraction * equity)
                if abs(delta) * px < band and target != 0.0:
                    continue
                reduces = (held > 0.0 and delta < 0.0 and -delta <= held) or (
                    held < 0.0 and delta > 0.0 and delta <= -held
                )
                if not reduces:
                    after = (held + delta) * px
                    gross_after = acc[0] - abs(expo[s]) + abs(after)
                    open_after = acc[1] - (1.0 if expo[s] != 0.0 else 0.0) + (1.0 if after != 0.0 else 0.0)
                    buy_px = fill_px * (1.0 + slippage)
                    code = 0
                    if reducing:
                        code = REFUSED_REDUCING
                    elif abs(after) / equity > max_weight:
                        code = REFUSED_WEIGHT
                    elif gross_after / equity > max_gross:
                        code = REFUSED_GROSS
                    elif open_after > max_positions:
                        code = REFUSED_POSITIONS
                    elif delta > 0.0 and delta * buy_px * (1.0 + commission) > cash - reserved_cash:
                        code = REFUSED_CASH
                    if code != 0:
                        refused_out[d, s] = code
                        continue
                if fill_close:
                    price = fill_px * (1.0 + slippage if delta > 0.0 else 1.0 - slippage)
                    notional = abs(delta) * price
                    fee = notional * commission
                    cash += -notional - fee if delta > 0.0 else notional - fee
                    qty[s] += delta
                    book += delta * mark[s]
                    _set_exposure_nb(expo, s, qty[s] * mark[s], acc)
                    n_fills = _record_fill_nb(fills_out, n_fills, t, s, delta, price, fee)
                else:
                    pend[s] = delta
                    _set_exposure_nb(expo, s, (qty[s] + delta) * px, acc)
                    if delta > 0.0:
                        reserved_cash += delta * fill_px * (1.0 + slippage) * (1.0 + commission)
            if not fill_close:
                # the reserved orders fill at t's open: sells first, then buys
                for side in range(2):
                    for s in range(m):
                        delta = pend[s]
                        if delta == 0.0 or (side == 0) != (delta < 0.0):
                            continue
                        fill_px = open_[t, s]
                        price = fill_px * (1.0 + slippage if delta > 0.0 else 1.0 - slippage)
                        notional = abs(delta) * price
                        fee = notional * commission
                        cash += -notional - fee if delta > 0.0 else notional - fee
                        book += qty[s] * (fill_px - mark[s]) + delta * fill_px
                        mark[s] = fill_px
                        qty[s] += delta
                        pend[s] = 0.0
                        _set_exposure_nb(expo, s, qty[s] * fill_px, acc)
                        n_fills = _record_fill_nb(fills_out, n_fills, t, s, delta, price, fee)
        _mark_bar_nb(t, close, qty, last, cash, qty_out, equity_out, gross_out)
    state_out[0] = min(n_fills, fills_out.shape[0])
    state_out[1] = latch_bar
    state_out[2] = cash
    return STATUS_FILLS_FULL if n_fills > fills_out.shape[0] else STATUS_OK


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
    targets: np.ndarray | None = None
    """(bars x symbols) the decision pipeline's target weights, when the run decided them."""
    refusals: np.ndarray | None = None
    """(bars x symbols, governor mode) the code of the order refused on that decision bar
    (:data:`REFUSAL_REASONS`), 0 where none was; ``None`` in scale mode."""

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

    def refusal_counts(self) -> dict[str, int]:
        """How many orders each reason refused (governor mode; empty in scale mode)."""
        if self.refusals is None:
            return {}
        codes, counts = np.unique(self.refusals[self.refusals != 0], return_counts=True)
        return {REFUSAL_REASONS[int(c)]: int(k) for c, k in zip(codes, counts, strict=True)}

    def refusals_frame(self) -> pd.DataFrame:
        """The refused orders: decision bar's timestamp, symbol and reason (governor mode)."""
        if self.refusals is None:
            return pd.DataFrame({"timestamp": [], "symbol": [], "reason": []})
        rows, cols = np.nonzero(self.refusals)
        return pd.DataFrame(
            {
                "timestamp": self.index[rows],
                "symbol": np.asarray(self.symbols, dtype=object)[cols],
                "reason": [REFUSAL_REASONS[int(c)] for c in self.refusals[rows, cols]],
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
    o = np.ascontiguousarray(open_, dtype=np.float64)
    c = np.ascontiguousarray(close, dtype=np.float64)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    cash, lim = float(initial_cash), limits
    refusals: np.ndarray | None = None
    if limits.cap_mode == "governor":
        refusals = np.zeros((n, m), dtype=np.int8)
        status = simulate_governed_nb(
            o, c, w, fill_close, commission, slippage, cash, lim.max_weight, lim.max_gross,
            lim.max_positions, lim.max_drawdown, lim.min_trade_notional, lim.band_fraction,
            lim.allow_short, equity, gross, holdings, fills, refusals, state,
        )  # fmt: skip
    else:
        status = simulate_portfolio_nb(
            o, c, w, fill_close, commission, slippage, cash, lim.max_weight, lim.max_gross,
            lim.max_positions, lim.max_drawdown, lim.min_trade_notional, lim.band_fraction,
            lim.allow_short, equity, gross, holdings, fills, state,
        )  # fmt: skip
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
        refusals=refusals,
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
    """Scale mode's rules (module docstring) in plain Python (slow; for tests): equity per bar and fills."""
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
            if equity_d > peak:
                peak = equity_d
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
    probability: ProbabilityModel | None = None,
) -> np.ndarray:
    """Each symbol's decision-pipeline target (``side x frac``) on the shared ``index``.

    Every symbol is decided on its own bars, exactly as the live router decides it; a bar a
    symbol does not have holds NaN (no order for it on that bar).
    """
    weights = np.full((len(index), len(bars)), np.nan)
    for k, frame in enumerate(bars.values()):
        signals = compute_signals(frame)
        regimes = compute_regimes(frame, signals)
        frame_decisions = decide(frame, signals, regimes, strategy, risk, probability)
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
    trade_from: pd.Timestamp | None = None,
    probability: ProbabilityModel | None = None,
) -> PortfolioResult:
    """Decide every symbol with the shared pipeline, then trade them on one pool of cash.

    ``trade_from`` keeps the bars before it as warm-up: indicators, regimes and priors are
    formed on them, trading starts at the first shared bar at or after it. ``probability``
    sizes with a calibrated model's ``p`` instead of the Beta priors' (see ``decide``).

    Raises:
        InputError: no shared bar at or after ``trade_from``.
    """
    index, open_, close = align_bars(bars)
    weights = decision_weights(bars, index, strategy, risk, probability)
    first = 0 if trade_from is None else int(index.searchsorted(trade_from))
    if first >= len(index):
        raise InputError(f"no bar at or after {trade_from} to trade")
    index, open_, close, weights = index[first:], open_[first:], close[first:], weights[first:]
    result = run_portfolio(
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
    return replace(result, targets=weights)
