"""One composition root: settings are mapped onto components only in ``app/bootstrap``.

``Settings(`` construction and ``from_settings(`` factories anywhere else in ``app/`` would
bring back a second place that wires clients (``app/config.py`` loads the settings; tests and
benchmarks may build single pieces through ``app.bootstrap``). Routes take what they use from
``app/api/deps.py`` instead of reaching into ``request.app.state``.
"""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
CONSTRUCTION = re.compile(r"Settings\(|from_settings\(")
STATE_REACH_IN = re.compile(r"\.app\.state\b|\bapp\.state\.")


def _sources(exempt: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for path in APP.rglob("*.py")
        if not any(path.relative_to(APP.parent).as_posix().startswith(prefix) for prefix in exempt)
    )


def _offences(pattern: re.Pattern[str], exempt: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for path in _sources(exempt):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{path.relative_to(APP.parent)}:{number}: {line.strip()}")
    return found


def test_settings_are_mapped_onto_components_only_in_the_composition_root() -> None:
    offences = _offences(CONSTRUCTION, ("app/config.py", "app/bootstrap"))
    assert offences == [], "build configs and clients in app/bootstrap, not here:\n" + "\n".join(offences)


def test_the_rule_sees_what_it_forbids() -> None:
    sample = "db = Database.from_settings(settings)\ns = Settings(DATA_DIR='x')\nok = load_settings()\n"
    hits = [line for line in sample.splitlines() if CONSTRUCTION.search(line)]
    assert hits == ["db = Database.from_settings(settings)", "s = Settings(DATA_DIR='x')"]


def test_routes_take_their_clients_from_the_dependencies() -> None:
    offences = _offences(STATE_REACH_IN, ("app/api/deps.py", "app/api/app.py"))
    assert offences == [], "use app/api/deps.py instead of request.app.state:\n" + "\n".join(offences)


def test_the_composition_root_is_the_only_container() -> None:
    assert not (APP / "services").exists()  # dissolved: bootstrap, repositories, workers, bus
