"""The benchmark regression gate: ratio drops, changed trades, and the recorded file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import gate
from bench.gate import Recorded, check, load, merge, save, trades_fingerprint


def test_a_ratio_within_ten_percent_passes() -> None:
    previous = Recorded({"sweep.vs_vectorbt": 40.0}, {})
    assert check(previous, Recorded({"sweep.vs_vectorbt": 36.01}, {})) == []
    assert check(previous, Recorded({"sweep.vs_vectorbt": 55.0}, {})) == []


def test_a_ratio_falling_more_than_ten_percent_fails_with_its_name() -> None:
    previous = Recorded({"sweep.vs_vectorbt": 40.0, "backtest.vs_bt": 300.0}, {})
    failures = check(previous, Recorded({"sweep.vs_vectorbt": 35.9, "backtest.vs_bt": 301.0}, {}))
    assert len(failures) == 1
    assert "sweep.vs_vectorbt" in failures[0]
    assert "10% below" in failures[0]


def test_changed_trades_fail_and_equal_trades_pass() -> None:
    rows = [[1, 5, 1, 10.0], [5, 9, -1, 10.5]]
    previous = Recorded({}, {"backtest.goog": trades_fingerprint(rows)})
    assert check(previous, Recorded({}, {"backtest.goog": trades_fingerprint(rows)})) == []
    moved = [[1, 5, 1, 10.0], [5, 10, -1, 10.5]]
    failures = check(previous, Recorded({}, {"backtest.goog": trades_fingerprint(moved)}))
    assert len(failures) == 1
    assert failures[0].startswith("trades backtest.goog")


def test_new_and_missing_keys_are_not_compared() -> None:
    previous = Recorded({"old": 10.0}, {"old": "1:abc"})
    assert check(previous, Recorded({"new": 0.5}, {"new": "2:def"})) == []


def test_a_nan_ratio_fails() -> None:
    failures = check(Recorded({"x": 2.0}, {}), Recorded({"x": float("nan")}, {}))
    assert len(failures) == 1


def test_tolerance_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        check(Recorded(), Recorded(), tolerance=1.5)


def test_fingerprint_counts_rows_and_ignores_float_noise_below_ten_digits() -> None:
    a = trades_fingerprint([[1, 2, 100.000000000001]])
    b = trades_fingerprint([[1, 2, 100.0]])
    assert a == b
    assert a.startswith("1:")
    assert trades_fingerprint([[1, 2, 100.01]]) != b
    assert trades_fingerprint([]).startswith("0:")


def test_save_load_and_merge_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    assert load(path) == Recorded()
    first = Recorded({"a": 2.0, "b": 3.0}, {"t": "1:x"}, {"commit": "abc"})
    save(first, path)
    assert load(path) == first
    second = Recorded({"b": 4.0}, {"u": "2:y"}, {"commit": "def"})
    merged = merge(load(path), second)
    assert merged.ratios == {"a": 2.0, "b": 4.0}
    assert merged.trades == {"t": "1:x", "u": "2:y"}
    assert merged.stamp == {"commit": "def"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "not valid JSON"),
        ('{"ratios": {"a": -1}}', "positive finite"),
        ('{"ratios": {"a": true}}', "positive finite"),
        ('{"trades": {"a": 3}}', "non-empty string"),
        ('{"ratios": []}', "must be objects"),
    ],
)
def test_a_bad_results_file_is_rejected_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_the_committed_results_file_is_valid() -> None:
    if gate.RESULTS.exists():
        recorded = load(gate.RESULTS)
        assert recorded.ratios
        assert all(value > 0 for value in recorded.ratios.values())
        json.loads(gate.RESULTS.read_text())
