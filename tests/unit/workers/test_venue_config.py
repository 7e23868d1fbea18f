"""Settings of the venue-updates worker: defaults, bounds and the checks between them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.config import Settings
from app.errors import ConfigError
from app.workers.venue_updates import VenueUpdatesConfig


def test_defaults_follow_the_configured_broker(make_settings: Callable[..., Settings]) -> None:
    simulated = VenueUpdatesConfig.of(make_settings())
    assert (simulated.venue, simulated.hub) == ("simulated", "exec.orders")
    assert simulated.sweep_venue_orders
    assert (simulated.heartbeat_s, simulated.max_frame_age_s) == (10.0, 30.0)
    assert (simulated.reconnect_initial_s, simulated.reconnect_max_s, simulated.reconnect_max_attempts) == (
        1.0,
        60.0,
        30,
    )
    live = VenueUpdatesConfig.of(
        make_settings(BROKER="alpaca", ALPACA_PAPER=False, VENUE_CATCHUP_LOOKBACK_H=2)
    )
    assert (live.venue, live.sweep_venue_orders, live.catchup_lookback_s) == ("alpaca-live", False, 7200.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"VENUE_HEARTBEAT_S": 30, "VENUE_MAX_FRAME_AGE_S": 30}, "must be below VENUE_MAX_FRAME_AGE_S"),
        (
            {"VENUE_RECONNECT_INITIAL_S": 10, "VENUE_RECONNECT_MAX_S": 5},
            "must not exceed VENUE_RECONNECT_MAX_S",
        ),
    ],
)
def test_inconsistent_timings_are_refused(
    make_settings: Callable[..., Settings], values: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        VenueUpdatesConfig.of(make_settings(**values))


@pytest.mark.parametrize(
    "values",
    [
        {"VENUE_RECONNECT_MAX_ATTEMPTS": 0},
        {"VENUE_MAX_FRAME_AGE_S": 0},
        {"VENUE_HEARTBEAT_S": -1},
        {"ALPACA_STREAM_URL": "https://paper-api.alpaca.markets/stream"},
    ],
)
def test_out_of_bounds_settings_name_their_key(
    make_settings: Callable[..., Settings], values: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match=next(iter(values))):
        make_settings(**values)


def test_a_websocket_url_is_accepted_without_its_trailing_slash(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(ALPACA_STREAM_URL="wss://paper-api.alpaca.markets/stream/")
    assert settings.ALPACA_STREAM_URL == "wss://paper-api.alpaca.markets/stream"
