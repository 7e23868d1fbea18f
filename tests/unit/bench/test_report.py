"""The benchmark report writer: one document from one run's sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import Goal, Section, render, write
from bench.timing import Stat, fmt_seconds, interleaved

STAMP = {"commit": "abc123", "numba": "0.68.1", "numba threads": "verdicts: 1"}


def _sections() -> list[Section]:
    return [
        Section(
            "sweep", "Parameter sweep", "| a | b |\n|---|---|\n| 1 | 2 |", goals=[Goal("30x", "31.0x", True)]
        ),
        Section("backtest", "Single backtest", "body two\n", goals=[Goal("20 ms", "25 ms", False)]),
    ]


def test_render_stamps_the_run_and_lists_sections_in_order() -> None:
    text = render(STAMP, _sections())
    assert text.startswith("# Benchmarks\n")
    assert "| commit | abc123 |" in text
    assert "| numba | 0.68.1 |" in text
    assert text.index("## Parameter sweep") < text.index("## Single backtest")
    assert "| 1 | 2 |" in text
    assert text.endswith("body two\n")


def test_render_summarises_goals_met_and_missed() -> None:
    text = render(STAMP, _sections())
    assert "| Parameter sweep | 30x | 31.0x | met |" in text
    assert "| Single backtest | 20 ms | 25 ms | **missed** |" in text


def test_render_rejects_empty_and_duplicate_sections() -> None:
    with pytest.raises(ValueError, match="no sections"):
        render(STAMP, [])
    with pytest.raises(ValueError, match="duplicate"):
        render(STAMP, [Section("a", "A", "x"), Section("a", "B", "y")])


def test_write_replaces_the_whole_document(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# Benchmarks\n\nstale figures from another commit\n")
    write(STAMP, _sections(), doc)
    text = doc.read_text()
    assert "stale figures" not in text
    assert text == render(STAMP, _sections())


def test_stat_reports_median_min_max() -> None:
    stat = Stat.of([0.003, 0.001, 0.002])
    assert (stat.median, stat.low, stat.high, stat.rounds) == (0.002, 0.001, 0.003, 3)
    assert stat.cell() == "2.0 ms (1.0 ms-3.0 ms)"
    with pytest.raises(ValueError, match="no timing samples"):
        Stat.of([])


def test_fmt_seconds_units() -> None:
    assert fmt_seconds(0.000_25) == "250 µs"
    assert fmt_seconds(0.25) == "250.0 ms"
    assert fmt_seconds(2.5) == "2.50 s"


def test_interleaved_gives_every_side_the_same_rounds_in_turn() -> None:
    calls: list[str] = []
    stats = interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, warmup=1, number={"a": 2}
    )
    assert calls == ["a", "b"] + ["a", "a", "b"] * 3
    assert stats["a"].rounds == stats["b"].rounds == 3
    assert stats["a"].number == 2
