"""Bearer-token auth for every route except ``/``, ``/health/*`` and the docs."""

from __future__ import annotations

from hmac import compare_digest

from fastapi import HTTPException, Request

from app.api.deps import SettingsDep

__all__ = ["require_bearer", "tokens_match"]


def tokens_match(presented: str, expected: str) -> bool:
    """Compare two tokens in constant time (no early exit on the first differing byte)."""
    return compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


async def require_bearer(request: Request, settings: SettingsDep) -> None:
    """FastAPI dependency: 401 unless ``Authorization: Bearer <API_BEARER_TOKEN>`` is sent."""
    expected = settings.API_BEARER_TOKEN
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not tokens_match(presented.strip(), expected.get_secret_value()):
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
