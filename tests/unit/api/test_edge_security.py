"""Issue 16, security: blank tokens, byte-exact bearer compare, masked URLs, no Host trust."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api import auth
from app.api.app import create_app
from app.api.server import check_bind
from app.bootstrap import Container
from app.cli.main import app as cli
from app.config import Settings, load_settings, mask_url
from app.errors import ConfigError, StorageError


def _with_private_route(api: FastAPI) -> FastAPI:
    router = APIRouter(dependencies=[Depends(auth.require_bearer)])
    router.add_api_route("/private", lambda: {"ok": True})
    api.include_router(router)
    return api


@pytest.mark.parametrize("blank", ["", " ", "\t", "\xa0", "\n "])
def test_a_blank_token_counts_as_unset(make_settings: Callable[..., Settings], blank: str) -> None:
    settings = make_settings(API_BEARER_TOKEN=blank)
    assert settings.API_BEARER_TOKEN is None
    with pytest.raises(ConfigError, match="API_BEARER_TOKEN"):
        check_bind(settings, "0.0.0.0")


@pytest.mark.parametrize(
    "name",
    [
        "ALPACA_API_KEY",
        "ALPACA_API_SECRET",
        "ALPHAVANTAGE_API_KEY",
        "FINNHUB_API_KEY",
        "TWELVEDATA_API_KEY",
        "EH_CONNECTION_STRING",
        "AZURE_STORAGE_CONNECTION_STRING",
        "DATABASE_URL",
    ],
)
def test_every_empty_credential_is_no_credential(make_settings: Callable[..., Settings], name: str) -> None:
    assert getattr(make_settings(**{name: "  "}), name) is None


@pytest.fixture
def secured(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    services = Container(make_settings(API_BEARER_TOKEN="s3cret-token"))
    with TestClient(_with_private_route(create_app(container=services))) as client:
        yield client
    services.close()


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer \xa0",
        b"Bearer \x85",
        b"Bearer  s3cret-token",
        b"Bearer s3cret-token\xa0",
        b"Bearer \xa0s3cret-token",
        b"Bearer ",
    ],
)
def test_presented_token_is_compared_byte_exact(secured: TestClient, header: bytes) -> None:
    response = secured.get("/private", headers=[(b"authorization", header)])
    assert response.status_code == 401


def test_the_exact_token_passes(secured: TestClient) -> None:
    assert secured.get("/private", headers={"Authorization": "bearer s3cret-token"}).json() == {"ok": True}


def test_an_empty_token_never_matches() -> None:
    assert not auth.tokens_match(b"", b"")
    assert not auth.tokens_match("", "x")


def test_open_api_with_blank_token_serves_everything_but_only_on_loopback(
    make_settings: Callable[..., Settings],
) -> None:
    services = Container(make_settings(API_BEARER_TOKEN=""))
    with TestClient(_with_private_route(create_app(container=services))) as client:
        assert client.get("/private").status_code == 200
    services.close()


# --- masking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://app:pw1@db.example:5432/trader?password=pw2&sslmode=require", ("pw1", "pw2")),
        ("redis://:pw3@cache:6379/0?password=pw4", ("pw3", "pw4")),
        ("https://www.alphavantage.co/query?apikey=KEY123&x=1", ("KEY123",)),
        ("https://h.example/?token=T0K&sig=S1G", ("T0K", "S1G")),
        ("redis://u:pw5@[broken", ("pw5",)),
    ],
)
def test_mask_url_hides_every_credential(url: str, secret: tuple[str, ...]) -> None:
    masked = mask_url(url)
    for value in secret:
        assert value not in masked
    assert "***" in masked


def test_config_show_masks_query_passwords_and_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example:5432/trader?password=dbpw")
    monkeypatch.setenv("BUS_URL", "redis://cache.example:6379/0?password=buspw")
    monkeypatch.setenv("ALPHAVANTAGE_BASE_URL", "https://www.alphavantage.co/?apikey=avkey")
    for as_json in (["--json"], []):
        result = CliRunner().invoke(cli, ["config", "show", *as_json], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        for secret in ("dbpw", "buspw", "avkey"):
            assert secret not in result.output
    payload = json.loads(CliRunner().invoke(cli, ["config", "show", "--json"]).output)
    assert payload["backends"]["bus"]["target"] == "redis://cache.example:6379/0?password=***"


@pytest.mark.parametrize(
    ("key", "value", "secret"),
    [
        ("REDIS_URL", "redis://u:topsecret@cache:99999/0", "topsecret"),
        ("BUS_URL", "redis://u:topsecret@[cache/0", "topsecret"),
        ("ALPACA_TRADING_BASE_URL", "ftp://u:topsecret@x.example/?apikey=k3y", "k3y"),
    ],
)
def test_a_malformed_url_setting_is_echoed_masked(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, secret: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert key in str(caught.value)
    assert secret not in str(caught.value)
    assert "topsecret" not in str(caught.value)


# --- host headers and readiness --------------------------------------------------------------


def test_links_and_ui_redirect_ignore_the_host_header(make_settings: Callable[..., Settings]) -> None:
    services = Container(make_settings(UI_PORT=18501))
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        links = client.get("/", headers=headers).json()["links"]
        assert all("evil" not in link for link in links.values())
        assert links["docs"] == "/docs"
        assert links["ui"] == "http://127.0.0.1:18501/ui/"
        redirect = client.get("/ui/x", headers=headers, follow_redirects=False)
        assert redirect.headers["location"] == "http://127.0.0.1:18501/ui/"
    services.close()
    services = Container(make_settings(API_BASE_URL="https://fd.example.net/api"))
    with TestClient(create_app(container=services)) as client:
        assert client.get("/", headers={"Host": "evil.example"}).json()["links"]["docs"] == (
            "https://fd.example.net/api/docs"
        )
    services.close()


def test_forwarded_headers_are_trusted_only_from_configured_proxies(
    make_settings: Callable[..., Settings],
) -> None:
    assert make_settings().FORWARDED_ALLOW_IPS == "127.0.0.1"
    assert make_settings(FORWARDED_ALLOW_IPS="10.0.0.0/8, 127.0.0.1").FORWARDED_ALLOW_IPS == (
        "10.0.0.0/8,127.0.0.1"
    )
    with pytest.raises(ValueError, match=r"not an IP address"):
        make_settings(FORWARDED_ALLOW_IPS="everyone")


def test_public_readiness_names_dependency_and_state_only(make_settings: Callable[..., Settings]) -> None:
    services = Container(make_settings(API_BEARER_TOKEN="tok"))
    services.db.upgrade()

    def broken() -> None:
        raise StorageError("connection to postgresql://app:pw@10.1.2.3/db refused at /srv/app/x.py")

    services.add_readiness_check("database", broken)
    with TestClient(create_app(container=services)) as client:
        public = client.get("/health/ready")
        assert public.status_code == 503
        assert public.json()["checks"]["database"] == {"status": "error"}
        assert "10.1.2.3" not in public.text
        private = client.get("/health/ready", headers={"Authorization": "Bearer tok"})
        reason = private.json()["checks"]["database"]["reason"]
        assert "refused" in reason
        assert "pw" not in reason.replace("postgresql", "")
    services.close()


def test_log_lines_mask_url_credentials() -> None:
    import logging

    from app.observability import JsonFormatter, MaskingFormatter

    record = logging.LogRecord(
        "app.x",
        logging.ERROR,
        __file__,
        1,
        "cannot reach %s",
        ("redis://u:hunter2@cache:6379/0?password=p4ss",),
        None,
    )
    for formatter in (JsonFormatter(), MaskingFormatter("%(message)s")):
        line = formatter.format(record)
        assert "hunter2" not in line and "p4ss" not in line and "***" in line
