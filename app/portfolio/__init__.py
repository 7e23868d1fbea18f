"""The position book, marking to market and reconciliation rules: pure domain, no I/O.

Storage (``trading.positions``, ``trading.portfolio_snapshots``) lives in the storage
repositories; this package only computes.
"""

from app.portfolio.book import MONEY_STEP, BookFill, FillOutcome, Position, PositionBook, clamp_exit, money
from app.portfolio.marking import DailyPnl, PortfolioSnapshot, daily_pnl, mark_to_market
from app.portfolio.reconcile import (
    AdjustingEntry,
    AverageCostMismatch,
    MissingAtBroker,
    MissingInBook,
    PositionDifference,
    QuantityMismatch,
    ReconcileTolerance,
    ReconciliationReport,
    apply_adjustments,
    reconcile,
)

__all__ = [
    "MONEY_STEP",
    "AdjustingEntry",
    "AverageCostMismatch",
    "BookFill",
    "DailyPnl",
    "FillOutcome",
    "MissingAtBroker",
    "MissingInBook",
    "PortfolioSnapshot",
    "Position",
    "PositionBook",
    "PositionDifference",
    "QuantityMismatch",
    "ReconcileTolerance",
    "ReconciliationReport",
    "apply_adjustments",
    "clamp_exit",
    "daily_pnl",
    "mark_to_market",
    "money",
    "reconcile",
]
