"""internal/research-docs/code_summary.md (linked from the runbook) names only paths that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SUMMARY = ROOT / "internal" / "research-docs" / "code_summary.md"


def _named_paths(text: str) -> set[str]:
    """Backticked tokens that look like repository paths (a slash or a file suffix); URL paths
    such as ``/ui/`` start with a slash and are not repository paths."""
    names = set()
    suffix = re.compile(r"\.(py|md|toml|sh|bicep|json|ya?ml|js)$")
    for token in re.findall(r"`([^`\s]+)`", text):
        if token.startswith("/"):
            continue
        if "/" in token or suffix.search(token) or token == "Dockerfile":
            names.add(token)
    return names


def test_the_summary_names_paths() -> None:
    assert len(_named_paths(SUMMARY.read_text())) >= 20


def test_every_path_the_code_summary_names_exists() -> None:
    missing = sorted(p for p in _named_paths(SUMMARY.read_text()) if not (ROOT / p.rstrip("/")).exists())
    assert not missing, (
        "internal/research-docs/code_summary.md names paths that no longer exist: "
        f"{', '.join(missing)}. Update the summary in the commit that moved or removed them."
    )
