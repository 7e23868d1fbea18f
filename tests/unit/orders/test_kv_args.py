from __future__ import annotations

import pytest

from app.errors import ConfigError, InputError
from app.workers.kv_args import idle_exit_seconds, parse_kv_args, settings_from_kv

ACCEPTED = ("EH_FQDN", "EH_HUB_ORDERS", "EH_CONSUMER_GROUP", "IDLE_EXIT_SECONDS")


def test_parse_kv_args_returns_each_key_with_its_value() -> None:
    values = parse_kv_args(["EH_HUB_ORDERS=exec.orders", "EH_CONSUMER_GROUP=orchestrator"], ACCEPTED)
    assert values == {"EH_HUB_ORDERS": "exec.orders", "EH_CONSUMER_GROUP": "orchestrator"}


def test_parse_kv_args_keeps_equals_signs_and_empty_values() -> None:
    values = parse_kv_args(["EH_FQDN=", "EH_HUB_ORDERS=a=b"], ACCEPTED)
    assert values == {"EH_FQDN": "", "EH_HUB_ORDERS": "a=b"}


def test_parse_kv_args_unknown_key_lists_the_accepted_keys() -> None:
    with pytest.raises(InputError) as info:
        parse_kv_args(["EH_HUB_JOBS=x"], ACCEPTED)
    message = str(info.value)
    assert "'EH_HUB_JOBS'" in message
    for key in ACCEPTED:
        assert key in message


@pytest.mark.parametrize("arg", ["EH_FQDN", "=x", "eh_fqdn=x", "--EH_FQDN=x", "EH FQDN=x"])
def test_parse_kv_args_rejects_malformed_arguments(arg: str) -> None:
    with pytest.raises(InputError, match="expected KEY=VALUE; accepted keys: EH_CONSUMER_GROUP"):
        parse_kv_args([arg], ACCEPTED)


def test_settings_from_kv_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EH_HUB_ORDERS", "from.env")
    monkeypatch.setenv("EH_CONSUMER_GROUP", "env-group")
    settings = settings_from_kv({"EH_HUB_ORDERS": "exec.orders", "IDLE_EXIT_SECONDS": "3"})
    assert settings.EH_HUB_ORDERS == "exec.orders"
    assert settings.EH_CONSUMER_GROUP == "env-group"


def test_settings_from_kv_names_a_malformed_key() -> None:
    with pytest.raises(ConfigError, match="EH_FQDN"):
        settings_from_kv({"EH_FQDN": "https://bad/host"})


def test_idle_exit_seconds_prefers_the_argument_over_the_environment() -> None:
    assert idle_exit_seconds({"IDLE_EXIT_SECONDS": "2.5"}, {"IDLE_EXIT_SECONDS": "9"}) == 2.5
    assert idle_exit_seconds({}, {"IDLE_EXIT_SECONDS": "9"}) == 9.0
    assert idle_exit_seconds({}, {}) is None


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "inf", "nan"])
def test_idle_exit_seconds_rejects_non_positive_or_non_numbers(raw: str) -> None:
    with pytest.raises(InputError, match="IDLE_EXIT_SECONDS"):
        idle_exit_seconds({"IDLE_EXIT_SECONDS": raw}, {})
