"""Bearer-token auth for every route except ``/``, ``/health/*`` and the docs."""

from __future__ import annotations

from hmac import compare_digest

from fastapi import HTTPException, Request
from pydantic import SecretStr

from app.api.deps import get_container

__all__ = ["configured_token", "presented_token", "require_bearer", "token_is_valid", "tokens_match"]

_SCHEME = b"bearer "


def tokens_match(presented: bytes | str, expected: bytes | str) -> bool:
    """Compare two tokens byte for byte in constant time; an empty token never matches."""
    left = presented.encode("utf-8") if isinstance(presented, str) else presented
    right = expected.encode("utf-8") if isinstance(expected, str) else expected
    if not left or not right:
        return False
    return compare_digest(left, right)


def configured_token(request: Request) -> SecretStr | None:
    """The API's token, or ``None`` when auth is off (a blank setting is already ``None``)."""
    token: SecretStr | None = get_container(request).settings.API_BEARER_TOKEN
    if token is None or not token.get_secret_value().strip():
        return None
    return token


def presented_token(request: Request) -> bytes | None:
    """The raw bytes after ``Bearer `` in the Authorization header (nothing stripped), or ``None``."""
    headers: list[tuple[bytes, bytes]] = request.scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            if value[: len(_SCHEME)].lower() != _SCHEME:
                return None
            return value[len(_SCHEME) :]
    return None


def token_is_valid(request: Request) -> bool:
    """Whether the request carries the configured token (``False`` when auth is off)."""
    expected = configured_token(request)
    presented = presented_token(request)
    if expected is None or presented is None:
        return False
    return tokens_match(presented, expected.get_secret_value())


async def require_bearer(request: Request) -> None:
    """FastAPI dependency: 401 unless ``Authorization: Bearer <API_BEARER_TOKEN>`` is sent."""
    expected = configured_token(request)
    if expected is None:
        return
    presented = presented_token(request)
    if not presented:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not tokens_match(presented, expected.get_secret_value()):
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
