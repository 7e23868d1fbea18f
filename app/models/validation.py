"""Purged and embargoed cross-validation for samples ordered in time.

A sample at bar ``t`` with a label horizon ``h`` depends on bars ``t..t+h``. When a
contiguous block of samples is the test fold, training on a sample whose label window
overlaps the block would leak the test outcome into the fit (purging removes those), and
training on samples right after the block leaks through serial correlation (the embargo
removes the ``embargo`` bars that follow it). Folds are contiguous in time and every sample
is tested exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from app.errors import InputError

__all__ = ["PurgedKFold"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgedKFold:
    """K contiguous test folds with purging and an embargo, measured in bars."""

    folds: int = 5
    horizon: int = 1
    """Bars after a sample's own bar that its label uses."""
    embargo: int = 5
    """Bars after a test fold whose samples are kept out of training."""

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise InputError(f"folds must be >= 2, got {self.folds}")
        if self.horizon < 0 or self.embargo < 0:
            raise InputError(f"horizon and embargo must be >= 0, got {self.horizon}, {self.embargo}")

    def split(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train, test) positions into ``rows``, the samples' bar indices in time order.

        Several samples may share a bar (one per symbol on a shared calendar); a sample on the
        same bar as a test sample is never trained on.

        Raises:
            InputError: ``rows`` decreases somewhere or has fewer samples than folds.
        """
        bars = np.asarray(rows, dtype=np.int64)
        n = bars.shape[0]
        if n < self.folds:
            raise InputError(f"{n} samples are too few for {self.folds} folds")
        if n > 1 and not bool(np.all(np.diff(bars) >= 0)):
            raise InputError(
                "sample rows must be non-decreasing bar indices (several symbols may share a bar)"
            )
        edges = np.linspace(0, n, self.folds + 1).astype(np.int64)
        positions = np.arange(n)
        for fold in range(self.folds):
            start, stop = int(edges[fold]), int(edges[fold + 1])
            test = positions[start:stop]
            first_bar, last_bar = int(bars[start]), int(bars[stop - 1])
            # A training label window [t, t + horizon] must end before the fold's first bar
            # and the sample must start after the fold's last label and the embargo.
            before = bars + self.horizon < first_bar
            after = bars > last_bar + self.horizon + self.embargo
            train = positions[before | after]
            yield train, test
