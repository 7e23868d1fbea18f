"""Run the API under uvicorn, refusing an open (token-less) bind beyond loopback."""

from __future__ import annotations

import ipaddress

import uvicorn

from app.config import Settings
from app.errors import ConfigError

__all__ = ["check_bind", "serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> None:
    """Raise :class:`ConfigError` when binding ``host`` would expose an API without auth."""
    token = settings.API_BEARER_TOKEN
    if (token is None or not token.get_secret_value().strip()) and not _is_loopback(host):
        raise ConfigError(
            f"refusing to bind the API to {host} without API_BEARER_TOKEN: set a token, or bind to 127.0.0.1"
        )


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, *, migrate: bool = False
) -> None:
    """Serve the API until interrupted (``migrate``: apply migrations in the background)."""
    from app.api.app import create_app

    bind_host = host or settings.API_HOST
    check_bind(settings, bind_host)
    uvicorn.run(
        create_app(settings, migrate=migrate),
        host=bind_host,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS or "127.0.0.1",
        h11_max_incomplete_event_size=64 * 1024,
    )
