"""The operator login in front of the dashboard.

The password is stored only as an scrypt hash in ``UI_OPERATOR_PASSWORD_HASH``
(``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``); make one with ``python -m app.ui.auth``.
``ai-trader ui`` refuses to listen beyond loopback without it, and the dashboard asks for the
password whenever the hash is set.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import ipaddress
import secrets
import sys

from app.errors import ConfigError

__all__ = ["check_hash", "hash_password", "is_loopback", "verify_password"]

_N, _R, _P = 2**14, 8, 1
_MAX_PASSWORD = 1024


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash of ``password`` in the form ``UI_OPERATOR_PASSWORD_HASH`` takes."""
    if not password:
        raise ConfigError("the operator password must not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ConfigError(
            "UI_OPERATOR_PASSWORD_HASH: not an scrypt hash (make one with python -m app.ui.auth)"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError as exc:
        raise ConfigError("UI_OPERATOR_PASSWORD_HASH: malformed scrypt hash") from exc
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and salt and digest):
        raise ConfigError("UI_OPERATOR_PASSWORD_HASH: scrypt parameters out of range")
    return n, r, p, salt, digest


def check_hash(stored: str) -> None:
    """Raise :class:`ConfigError` when ``stored`` is not a usable hash."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison)."""
    n, r, p, salt, digest = _parse(stored)
    if not password or len(password) > _MAX_PASSWORD:
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * 1024 * 1024
    )
    return hmac.compare_digest(candidate, digest)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; every other bind address is 'beyond loopback'."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def main() -> None:
    """Prompt for a password twice and print its hash for ``UI_OPERATOR_PASSWORD_HASH``."""
    first = getpass.getpass("operator password: ")
    if first != getpass.getpass("again: "):
        sys.stderr.write("the two passwords differ\n")
        raise SystemExit(2)
    try:
        sys.stdout.write(hash_password(first) + "\n")
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
