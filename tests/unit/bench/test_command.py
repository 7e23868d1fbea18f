"""``python -m bench``: the gate decides the exit code and whether anything is recorded."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import bench.__main__ as command
from bench.gate import Recorded, load, save
from bench.report import Goal, Section


def _fake_suite(monkeypatch: pytest.MonkeyPatch, ratio: float, trades: str) -> None:
    module = types.ModuleType("bench_fake_suite")

    def run(quick: bool = False) -> Section:
        return Section(
            "fake", "Fake suite", "| a |\n|---|\n| 1 |", {"fake.ratio": ratio}, {"fake.trades": trades},
            [Goal("ratio >= 2", f"{ratio}", ratio >= 2)],
        )  # fmt: skip

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_fake_suite", module)
    monkeypatch.setattr(command, "SUITES", ("fake",))
    monkeypatch.setattr(command, "MODULES", {"fake": "bench_fake_suite"})


def _paths(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    results, doc = tmp_path / "results.json", tmp_path / "benchmarks.md"
    return results, doc, ["--results", str(results), "--doc", str(doc)]


def test_a_full_run_writes_the_document_and_records_the_ratios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_suite(monkeypatch, 3.0, "2:abc")
    results, doc, args = _paths(tmp_path)
    assert command.main(args) == 0
    assert load(results).ratios == {"fake.ratio": 3.0}
    text = doc.read_text()
    assert "## Fake suite" in text
    assert "| commit |" in text
    assert "| Fake suite | ratio >= 2 | 3.0 | met |" in text


def test_a_fallen_ratio_fails_and_records_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The record stays; the document shows the run with the gate's failure at its top."""
    results, doc, args = _paths(tmp_path)
    save(Recorded({"fake.ratio": 3.0}, {"fake.trades": "2:abc"}, {"commit": "abc123"}), results)
    _fake_suite(monkeypatch, 2.5, "2:abc")
    assert command.main(args) == 1
    assert load(results).ratios == {"fake.ratio": 3.0}
    text = doc.read_text()
    head = text[: text.index("## Run")]
    assert "**Gate of this run: failed** on 1 check(s) against the record (recorded at commit abc123)" in head
    assert "- ratio fake.ratio: 2.5 is 17% below the recorded 3 (" in head
    assert "| Fake suite | ratio >= 2 | 2.5 | met |" in text


def test_changed_trades_fail_even_in_quick_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    results, doc, args = _paths(tmp_path)
    save(Recorded({"fake.ratio": 3.0}, {"fake.trades": "2:abc"}), results)
    _fake_suite(monkeypatch, 1.0, "3:def")
    assert command.main([*args, "--quick"]) == 1
    _fake_suite(monkeypatch, 1.0, "2:abc")
    assert command.main([*args, "--quick"]) == 0  # quick rounds skip the ratio gate
    assert not doc.exists()  # and write nothing


def test_accept_records_an_intended_change(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    results, _, args = _paths(tmp_path)
    save(Recorded({"fake.ratio": 3.0}, {"fake.trades": "2:abc"}), results)
    _fake_suite(monkeypatch, 2.0, "3:def")
    assert command.main([*args, "--accept"]) == 0
    assert load(results).trades == {"fake.trades": "3:def"}
    head = (tmp_path / "benchmarks.md").read_text().split("## Run")[0]
    assert "**Gate of this run: accepted over 2 check(s)**" in head and "trades fake.trades" in head


def test_an_unknown_suite_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_suite(monkeypatch, 3.0, "2:abc")
    with pytest.raises(SystemExit) as exc:
        command.main([*_paths(tmp_path)[2], "--only", "nope"])
    assert exc.value.code == 2
