"""Which credential ``ai-trader azure verify`` signs its management calls with.

* ``auto`` (default): the Azure CLI login when ``LOCAL_DEV=1``, else ``DefaultAzureCredential``
  (managed identity, workload identity, environment, CLI ...);
* ``cli`` / ``default``: one of those two, whatever ``LOCAL_DEV`` says;
* ``loopback``: a fixed placeholder token, accepted only when the ARM endpoint is on this machine
  (127.0.0.0/8, ::1, localhost). It lets the command run end to end against a local server that
  replays ARM responses (tests, demos). The placeholder is no secret and no secret is ever taken
  from the command line: a real token can only come from an azure-identity credential.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from app.errors import ConfigError

__all__ = ["CREDENTIAL_KINDS", "CredentialKind", "LoopbackCredential", "is_loopback_url", "make_credential"]

CredentialKind = Literal["auto", "cli", "default", "loopback"]
CREDENTIAL_KINDS: tuple[str, ...] = get_args(CredentialKind)

LOOPBACK_TOKEN = "loopback-placeholder-not-a-secret"  # noqa: S105 - a fixed, public placeholder


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine (a loopback address or ``localhost``)."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LoopbackCredential:
    """A TokenCredential handing out :data:`LOOPBACK_TOKEN` (an hour's validity each time)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(LOOPBACK_TOKEN, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(LOOPBACK_TOKEN, int(time.time()) + 3600)


def make_credential(kind: str, *, arm_url: str, local_dev: bool) -> Any:
    """The credential of ``kind`` for calls to ``arm_url``.

    Raises:
        ConfigError: unknown kind; ``loopback`` for an endpoint that is not on this machine;
            azure-identity not installed.
    """
    if kind not in CREDENTIAL_KINDS:
        raise ConfigError(f"unknown credential {kind!r} (known: {', '.join(CREDENTIAL_KINDS)})")
    if kind == "loopback":
        if not is_loopback_url(arm_url):
            raise ConfigError(
                f"--credential loopback signs calls with a placeholder token and is refused for "
                f"{urlsplit(arm_url).hostname or arm_url!r}: only an ARM endpoint on 127.0.0.0/8, ::1 "
                "or localhost may receive it"
            )
        return LoopbackCredential()
    try:
        from azure.identity import AzureCliCredential, DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(
            f"azure verify needs azure-identity: pip install 'ai-trader[azure]' ({exc})"
        ) from exc
    if kind == "cli" or (kind == "auto" and local_dev):
        return AzureCliCredential()
    return DefaultAzureCredential()
