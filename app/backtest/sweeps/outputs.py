"""A sweep's output folder: ``summary.jsonl``, ``leaderboard.csv`` and ``run.json``.

``summary.jsonl`` holds one JSON object per (symbol, parameter set): ``symbol``, ``set_id``,
``params``, ``status`` (``ok`` / ``failed``), ``metrics``, ``trades``, ``error``. Lines are
appended as chunks finish, so an interrupted sweep keeps what it computed; the file is
rewritten in grid order when the sweep ends. ``run.json`` records the config fingerprint that
makes a rerun resumable: a rerun with the same fingerprint skips sets already ``ok``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from app.backtest.sweeps.config import SweepConfig

__all__ = [
    "LEADERBOARD",
    "RUN_FILE",
    "SUMMARY",
    "SummaryWriter",
    "config_fingerprint",
    "read_finished",
    "write_leaderboard",
    "write_run_file",
]

log = logging.getLogger("app.backtest.sweeps")

SUMMARY = "summary.jsonl"
LEADERBOARD = "leaderboard.csv"
RUN_FILE = "run.json"


def config_fingerprint(config: SweepConfig) -> str:
    """Hash of everything that changes results (not name, execution or leaderboard size)."""
    data = config.model_dump(mode="json", exclude={"name", "execution", "leaderboard_size"})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _row_key(row: dict[str, Any]) -> tuple[str, str]:
    return str(row["symbol"]), str(row["set_id"])


def read_finished(output_dir: Path, fingerprint: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows already ``ok`` from an earlier run of the same config; a different config is set aside.

    When ``run.json`` names another fingerprint, the old ``summary.jsonl`` is renamed to
    ``summary.<old fingerprint>.jsonl`` and nothing is resumed.
    """
    summary = output_dir / SUMMARY
    if not summary.is_file():
        return {}
    previous = None
    run_file = output_dir / RUN_FILE
    if run_file.is_file():
        with contextlib.suppress(ValueError, OSError):
            previous = json.loads(run_file.read_text(encoding="utf-8")).get("config_fingerprint")
    if previous != fingerprint:
        kept = output_dir / f"summary.{previous or 'unknown'}.jsonl"
        summary.replace(kept)
        log.info("output dir held another sweep; its summary was moved aside", extra={"moved_to": str(kept)})
        return {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    with summary.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if row.get("status") == "ok":
                rows[_row_key(row)] = row
            else:
                rows.pop(_row_key(row), None)
    return rows


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""``json.dumps(..., separators=(",", ":"), allow_nan=False)`` built once (the same text)."""


def _dumps(row: dict[str, Any]) -> str:
    # metrics arrive with NaN / infinity already replaced by None (Evaluation.rows)
    return _ENCODER.encode(row)


_KEYS: dict[str, str] = {}


def _key_text(name: str) -> str:
    """A dict key as JSON text (kept: a sweep writes the same few keys thousands of times)."""
    text = _KEYS.get(name)
    if text is None:
        text = _KEYS[name] = _ENCODER.encode(name)
    return text


def _value_text(value: Any) -> str:
    """``_dumps(value)``, with a flat dict of finite floats and ``None`` written directly.

    Such a dict (a walk-forward row's ``validation``) is the text the encoder gives: finite
    floats as ``float.__repr__``, ``None`` as ``null``, keys as JSON strings, ``,`` and ``:``
    between them; anything else (or a non-finite float, which the encoder refuses) goes through
    the encoder.
    """
    if value.__class__ is dict:
        inf = math.inf
        parts = []
        for name, item in value.items():
            if name.__class__ is not str:
                return _dumps(value)
            if item is None:
                parts.append(f"{_key_text(name)}:null")
            elif item.__class__ is float and -inf < item < inf:
                parts.append(f"{_key_text(name)}:{float.__repr__(item)}")
            else:
                return _dumps(value)
        return "{" + ",".join(parts) + "}"
    return _dumps(value)


class SummaryWriter:
    """Appends result rows to ``summary.jsonl`` and flushes after each chunk.

    The serialised line of every row is kept, so :meth:`compact` rewrites the file in grid
    order without serialising again.
    """

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / SUMMARY
        self._fh: IO[str] = self.path.open("a", encoding="utf-8")
        self._lines: dict[tuple[str, str], str] = {}

    def remember(self, rows: Iterable[dict[str, Any]]) -> None:
        """Keep the lines of rows already in the file (a resumed run)."""
        for row in rows:
            self._lines[_row_key(row)] = _dumps(row)

    def add_field(self, row: dict[str, Any], name: str, value: Any) -> None:
        """Set ``row[name] = value`` and update the row's kept line to match.

        A field the row did not have goes last in the dict, so its line is the kept line
        with ``,"name":value`` spliced in before the closing brace: the same text as
        serialising the whole row again (a row without a kept line, or that had the field
        already, is serialised again).
        """
        key = _row_key(row)
        line = self._lines.get(key)
        fresh = name not in row
        row[name] = value
        if fresh and line is not None and line.endswith("}") and len(row) > 1:
            self._lines[key] = f"{line[:-1]},{_key_text(name)}:{_value_text(value)}}}"
        else:
            self._lines[key] = _dumps(row)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        lines = []
        for row in rows:
            line = _dumps(row)
            self._lines[_row_key(row)] = line
            lines.append(line)
        self._fh.write("\n".join(lines) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def compact(self, keys: Sequence[tuple[str, str]]) -> None:
        """Rewrite the file with the latest line of each key, in the order given."""
        self.close()
        tmp = self.path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("".join(self._lines[key] + "\n" for key in keys))
        tmp.replace(self.path)


def rank_rows(rows: Sequence[dict[str, Any]], metric: str, maximize: bool) -> list[dict[str, Any]]:
    """``ok`` rows sorted by ``metric`` (best first); missing or NaN values last."""

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = (row.get("metrics") or {}).get(metric)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return (1, 0.0)
        return (0, -float(value) if maximize else float(value))

    return sorted((r for r in rows if r.get("status") == "ok"), key=key)


def write_leaderboard(
    output_dir: Path, ranked: Sequence[dict[str, Any]], param_names: Sequence[str], limit: int | None = None
) -> Path:
    """Write ``leaderboard.csv``: rank, symbol, set_id, one column per parameter and per metric,
    then the in-sample / out-of-sample columns of a walk-forward sweep when present."""
    metric_names: list[str] = []
    validation_names: list[str] = []
    for row in ranked[:1]:
        metric_names = list((row.get("metrics") or {}).keys())
        validation_names = list((row.get("validation") or {}).keys())
    path = output_dir / LEADERBOARD
    tmp = path.with_suffix(".csv.tmp")
    header = ["rank", "symbol", "set_id", *param_names, *metric_names, "trades", *validation_names]
    # Each row is formatted by one ``%`` of a template of ``%s`` cells: the text ``csv.writer``
    # gives (it writes ``str`` of a value and an empty cell for ``None``) unless a cell needs
    # quoting, i.e. holds a comma, a double quote or a line break; such a row (seen as more
    # commas than cells, or one of those characters anywhere) goes through ``csv.writer``.
    template = ",".join(["%s"] * len(header)) + "\r\n"
    commas = len(header) - 1
    inf = math.inf
    buffer = io.StringIO()
    quoted = csv.writer(buffer)
    lines: list[str] = []
    for rank, row in enumerate(ranked[:limit] if limit else ranked, start=1):
        params, metrics = row.get("params") or {}, row.get("metrics") or {}
        validation = row.get("validation") or {}
        trades = row.get("trades")
        # an empty cell for a missing or non-finite metric (``-inf < NaN`` is False too)
        cells: list[Any] = [rank, row["symbol"], row["set_id"]]
        cells += ["" if v is None else v for v in map(params.get, param_names)]
        cells += [
            "" if v is None or (isinstance(v, float) and not -inf < v < inf) else v
            for v in map(metrics.get, metric_names)
        ]
        cells.append("" if trades is None else trades)
        cells += [
            "" if v is None or (isinstance(v, float) and not -inf < v < inf) else v
            for v in map(validation.get, validation_names)
        ]
        line = template % tuple(cells)
        if line.count(",") != commas or '"' in line or "\n" in line[:-2] or "\r" in line[:-2]:
            buffer.seek(0)
            buffer.truncate()
            quoted.writerow(cells)
            line = buffer.getvalue()
        lines.append(line)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(header)
        fh.write("".join(lines))
    tmp.replace(path)
    return path


def write_run_file(output_dir: Path, data: dict[str, Any]) -> Path:
    path = output_dir / RUN_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path
