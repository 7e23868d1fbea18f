"""The output writers produce the same bytes as their plain per-row forms."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.backtest.sweeps.grid import param_set_id
from app.backtest.sweeps.outputs import SummaryWriter, write_leaderboard

pytestmark = pytest.mark.unit


def _reference_leaderboard(
    path: Path, ranked: list[dict[str, Any]], param_names: list[str], limit: int | None
) -> None:
    """The former writer: one ``writerow`` per row, non-finite metrics as empty cells."""

    def fmt(value: Any) -> Any:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        return value

    metric_names = list((ranked[0].get("metrics") or {}).keys()) if ranked else []
    validation_names = list((ranked[0].get("validation") or {}).keys()) if ranked else []
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["rank", "symbol", "set_id", *param_names, *metric_names, "trades", *validation_names]
        )
        for rank, row in enumerate(ranked[:limit] if limit else ranked, start=1):
            params, metrics = row.get("params") or {}, row.get("metrics") or {}
            writer.writerow(
                [
                    rank,
                    row["symbol"],
                    row["set_id"],
                    *(params.get(p) for p in param_names),
                    *(fmt(metrics.get(m)) for m in metric_names),
                    row.get("trades"),
                    *(fmt((row.get("validation") or {}).get(v)) for v in validation_names),
                ]
            )


def _rows(with_validation: bool) -> list[dict[str, Any]]:
    values: list[Any] = [
        0.1 + 0.2, -1e-05, 1e16, 3, None, math.nan, math.inf, -math.inf, 123456789.123456789, 0.0, -0.0,
        True, "a,b", 'say "hi"', 2.5e-310, np.float64(0.1), [1, 2], "line\nbreak", "cr\r", "",
    ]  # fmt: skip
    rows = []
    for k in range(40):
        row: dict[str, Any] = {
            "symbol": "GOOG" if k % 3 else "BRK.B",
            "set_id": f"{k:016x}",
            "params": {"fast": k, "slow": values[k % len(values)], "label": "x,y" if k == 5 else "plain"},
            "status": "ok",
            "metrics": {f"m{j}": values[(k + j) % len(values)] for j in range(6)},
            "trades": None if k == 7 else k * 2,
        }
        if k == 9:
            row["metrics"] = None  # read as no metrics
        if with_validation:
            row["validation"] = {"is_sharpe": values[(k * 5) % len(values)], "oos_sharpe": None}
            if k == 11:
                del row["validation"]
        rows.append(row)
    return rows


@pytest.mark.parametrize("with_validation", [False, True])
@pytest.mark.parametrize("limit", [None, 10])
def test_leaderboard_bytes_equal_the_per_row_writer(
    tmp_path: Path, with_validation: bool, limit: int | None
) -> None:
    rows = _rows(with_validation)
    names = ["fast", "slow", "label", "missing"]
    got = write_leaderboard(tmp_path, rows, names, limit)
    expected = tmp_path / "expected.csv"
    _reference_leaderboard(expected, rows, names, limit)
    assert got.read_bytes() == expected.read_bytes()
    assert b'"a,b"' in expected.read_bytes() or limit is not None  # the quoting was exercised


def test_leaderboard_of_no_rows_is_the_header(tmp_path: Path) -> None:
    got = write_leaderboard(tmp_path, [], ["fast"], None)
    assert got.read_bytes() == b"rank,symbol,set_id,fast,trades\r\n"


def test_summary_lines_and_ids_are_json_dumps_text(tmp_path: Path) -> None:
    def finite(row: dict[str, Any]) -> bool:
        parts = (row["params"], row["metrics"] or {}, row.get("validation") or {})
        return all(not isinstance(v, float) or math.isfinite(v) for part in parts for v in part.values())

    rows = [r for r in _rows(True) if finite(r)]
    assert rows
    writer = SummaryWriter(tmp_path)
    writer.write(rows)
    writer.close()
    lines = (tmp_path / "summary.jsonl").read_text().splitlines()
    assert lines == [json.dumps(r, separators=(",", ":"), allow_nan=False) for r in rows]
    params = {"slow": 2.0, "fast": 1, "name": "é"}
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    import hashlib

    assert param_set_id(params) == hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


@pytest.mark.parametrize(
    "value",
    [
        {"is_sharpe": 0.1 + 0.2, "oos_sharpe": None, "is_total_return": -1e-05, "oos_total_return": 1e16},
        {"é": 2.5e-310, 'a"b': -0.0, "x": 3.0},
        {"count": 3, "flag": True, "text": "a,b", "nested": {"k": [1, None]}},
        {},
        [0.5, None],
        "plain",
        None,
    ],
)
def test_add_field_line_is_the_whole_row_serialised_again(tmp_path: Path, value: Any) -> None:
    row = {"symbol": "GOOG", "set_id": "0123456789abcdef", "params": {"fast": 5}, "status": "ok", "trades": 3}
    writer = SummaryWriter(tmp_path)
    writer.write([row])
    writer.add_field(row, "validation", value)
    writer.compact([("GOOG", "0123456789abcdef")])
    line = (tmp_path / "summary.jsonl").read_text().strip()
    assert line == json.dumps(row, separators=(",", ":"), allow_nan=False)


def test_add_field_refuses_a_non_finite_float_like_the_encoder(tmp_path: Path) -> None:
    row = {"symbol": "GOOG", "set_id": "0123456789abcdef", "status": "ok"}
    writer = SummaryWriter(tmp_path)
    writer.write([row])
    with pytest.raises(ValueError, match="JSON compliant"):
        writer.add_field(row, "validation", {"is_sharpe": math.nan})
    writer.close()


@pytest.mark.parametrize(
    "params",
    [
        {"slow": 20, "fast": 5},
        {"b": 0.1 + 0.2, "a": -1e-05, "c": 1e16, "d": 2.0},
        {"name": 'é"\\\n', "x": -3},
        {"flag": True, "n": None, "v": [1, 2]},
        {"big": np.int64(7), "f": np.float64(2.5), "h": 1.0},
        {"nan": math.nan, "inf": math.inf},
        {},
    ],
)
def test_set_id_text_is_json_dumps_sorted(params: dict[str, Any]) -> None:
    import hashlib

    plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    assert param_set_id(params) == hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
