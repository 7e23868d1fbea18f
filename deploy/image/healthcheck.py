"""The image's HEALTHCHECK: probe what this container's role serves (stdlib only, starts fast).

The role is AI_TRADER_COMPONENT, the variable that already names each process on its log lines
and that infra/main.bicep and deploy/aca/jobs/*.yaml set per app and job. Unset means ``api``,
the image's default command; run the UI with ``-e AI_TRADER_COMPONENT=ui``.

* ``api``: ``GET /health/live`` on WEBSITES_PORT, else PORT, else 8000 (the App Service health
  check path of the api app, infra/modules/webapps.bicep);
* ``ui``: ``GET /ui/_stcore/health`` on WEBSITES_PORT, else UI_PORT, else 8501 (the ui app's);
* ``sweep-job``, ``order-consumer``, ``sweep-consumer`` and ``scheduler``: no probe. They serve no HTTP;
  Container Apps watches their process and exit code (infra/modules/containerapps.bicep).
  The check exits 0 and says so.

Any other value fails the check (exit 1): a misspelt role must not pass as healthy.
"""

from __future__ import annotations

import os
import sys
import urllib.request

PROBES = {
    "api": ("/health/live", ("WEBSITES_PORT", "PORT"), 8000),
    "ui": ("/ui/_stcore/health", ("WEBSITES_PORT", "UI_PORT"), 8501),
}
NO_PROBE = ("sweep-job", "order-consumer", "sweep-consumer", "scheduler")


def probe_url(role: str, env: dict[str, str]) -> str | None:
    """The URL the check calls for ``role`` (None for a role without one); ValueError if unknown."""
    if role in NO_PROBE:
        return None
    if role not in PROBES:
        raise ValueError(f"unknown AI_TRADER_COMPONENT {role!r} (known: {', '.join([*PROBES, *NO_PROBE])})")
    path, keys, default = PROBES[role]
    port = next((env[k] for k in keys if env.get(k)), str(default))
    return f"http://127.0.0.1:{int(port)}{path}"


def main() -> int:
    role = os.environ.get("AI_TRADER_COMPONENT", "").strip() or "api"
    try:
        url = probe_url(role, dict(os.environ))
    except ValueError as exc:
        sys.stdout.write(f"unhealthy: {exc}\n")
        return 1
    if url is None:
        sys.stdout.write(f"role {role}: no HTTP probe (the platform watches the process)\n")
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - loopback http only
            status = response.status
    except OSError as exc:
        sys.stdout.write(f"unhealthy: {url}: {exc}\n")
        return 1
    sys.stdout.write(f"{url} -> {status}\n")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
