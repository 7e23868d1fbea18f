"""The five network adapters against recorded payloads served on loopback."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date

import pandas as pd
import pytest

from app.bootstrap import build_http_config, build_market_data
from app.config import Settings
from app.dal import BadBars, MarketData, MissingVendorKey, VendorDown, VendorRefused, make_bars
from app.dal.ports import BarRequest
from app.dal.twelvedata import TwelveDataConfig, TwelveDataVendor
from app.domain.intervals import INTERVALS, build_window
from app.errors import ConfigError, VendorRejected, VendorUnavailable
from tests.integration.dal.vendor_server import Answer, VendorServer, answer_json, fixture

NETWORK = ("alpaca", "alphavantage", "yahoo", "twelvedata", "finnhub")

DAILY = [
    ("2023-01-03", 130.28, 130.90, 124.17, 125.07, 112117471),
    ("2023-01-04", 126.89, 128.66, 125.08, 126.36, 89113633),
    ("2023-01-05", 127.13, 127.77, 124.76, 125.02, 80962708),
    ("2023-01-06", 126.01, 130.29, 124.89, 129.62, 87754715),
    ("2023-01-09", 130.47, 133.41, 129.89, 130.15, 70790813),
    ("2023-01-10", 130.26, 131.26, 128.12, 130.73, 63896155),
    ("2023-06-30", 191.63, 194.48, 191.26, 193.97, 85069585),
    ("2023-07-03", 193.78, 193.88, 191.76, 192.46, 31458198),
    ("2023-07-05", 191.57, 192.98, 190.62, 191.33, 46920261),
]
FIVE_MIN = [  # UTC bar starts (09:30 New York is 14:30Z in January, 13:30Z in July)
    ("2023-01-03 14:30", 130.28, 130.90, 129.61, 129.75, 6300000),
    ("2023-01-03 14:35", 129.76, 130.10, 129.21, 129.40, 3200000),
    ("2023-01-03 14:40", 129.41, 129.80, 128.90, 129.05, 2900000),
    ("2023-01-03 14:45", 129.06, 129.33, 128.44, 128.59, 2700000),
    ("2023-01-03 14:50", 128.60, 128.97, 128.21, 128.87, 2500000),
    ("2023-01-03 20:55", 124.83, 125.115, 124.71, 125.07, 3281988),
    ("2023-07-05 13:30", 191.57, 192.05, 191.20, 191.90, 1500000),
    ("2023-07-05 13:35", 191.91, 192.40, 191.70, 192.30, 900000),
    ("2023-07-05 13:40", 192.31, 192.98, 192.10, 192.75, 850000),
]


def expected(
    rows: list[tuple[str, float, float, float, float, int]], first: date, last: date
) -> pd.DataFrame:
    frame = make_bars(
        pd.DatetimeIndex([pd.Timestamp(r[0]) for r in rows]),
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
    )
    daily = (frame.index == frame.index.normalize()).all()
    dates = (frame.index if daily else frame.index.tz_convert("America/New_York")).date
    return frame[(dates >= first) & (dates <= last)]


WINDOWS = [(date(2023, 1, 3), date(2023, 1, 10)), (date(2023, 6, 30), date(2023, 7, 5))]


@pytest.mark.parametrize("vendor", NETWORK)
@pytest.mark.parametrize(("first", "last"), WINDOWS)
def test_every_vendor_gives_the_same_daily_frame(
    md: MarketData, vendor: str, first: date, last: date
) -> None:
    res = md.fetch(vendor, "AAPL", first, last, interval="1Day", use_cache=False)
    pd.testing.assert_frame_equal(res.bars, expected(DAILY, first, last), check_exact=True)
    assert res.vendor == vendor and res.quality.missing_sessions == 0 and res.quality.extra_sessions == 0


@pytest.mark.parametrize("vendor", NETWORK)
@pytest.mark.parametrize("day", [date(2023, 1, 3), date(2023, 7, 5)])
def test_every_vendor_gives_the_same_5min_frame(md: MarketData, vendor: str, day: date) -> None:
    res = md.fetch(vendor, "AAPL", day, day, interval="5Min", use_cache=False)
    pd.testing.assert_frame_equal(res.bars, expected(FIVE_MIN, day, day), check_exact=True)
    assert (
        res.quality.calendar == "XNYS"
        and res.quality.missing_bars is not None
        and res.quality.missing_bars > 0
    )


# --- Alpaca --------------------------------------------------------------------------------


def test_alpaca_follows_next_page_token_with_same_parameters(md: MarketData, vendors: VendorServer) -> None:
    md.fetch("alpaca", "AAPL", date(2023, 1, 3), date(2023, 1, 10), use_cache=False)
    first, second = vendors.seen("alpaca")
    assert first.path == second.path == "/v2/stocks/bars"
    assert "page_token" not in first.query
    assert base64.b64decode(second.query["page_token"]).startswith(b"AAPL|D|2023-01-06")
    assert {k: v for k, v in second.query.items() if k != "page_token"} == first.query
    assert first.query["symbols"] == "AAPL" and first.query["timeframe"] == "1Day"
    assert first.query["start"].endswith("Z") and first.query["feed"] == "iex"
    assert first.headers["apca-api-key-id"] == "test-alpaca-key"


def test_alpaca_wrong_keys_are_an_auth_refusal(vendor_settings: Callable[..., Settings]) -> None:
    md = build_market_data(vendor_settings(ALPACA_API_KEY="wrong"))
    with pytest.raises(VendorRefused, match=r"forbidden\.") as info:
        md.fetch("alpaca", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    err = info.value
    assert (err.vendor, err.symbol, err.interval, err.status) == ("alpaca", "AAPL", "1Day", 403)
    assert err.vendor_message == "forbidden." and "auth" in str(err)


def test_missing_key_names_the_variable_and_sends_nothing(
    vendor_settings: Callable[..., Settings], vendors: VendorServer
) -> None:
    md = build_market_data(
        vendor_settings(
            ALPACA_API_SECRET=None, TWELVEDATA_API_KEY="", ALPHAVANTAGE_API_KEY=None, FINNHUB_API_KEY=None
        )
    )
    for vendor, variable in [
        ("alpaca", "ALPACA_API_SECRET"),
        ("twelvedata", "TWELVEDATA_API_KEY"),
        ("alphavantage", "ALPHAVANTAGE_API_KEY"),
        ("finnhub", "FINNHUB_API_KEY"),
    ]:
        with pytest.raises(MissingVendorKey, match=variable) as info:
            md.fetch(vendor, "AAPL", date(2023, 1, 3), date(2023, 1, 10))
        assert isinstance(info.value, ConfigError)
        assert vendors.seen(vendor) == []


def test_alpaca_429_is_retried_then_served(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue("alpaca", Answer(429, fixture("alpaca", "error_429.json"), headers={"Retry-After": "0"}))
    res = md.fetch("alpaca", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert len(res.bars) == 6 and len(vendors.seen("alpaca")) == 3


def test_server_errors_past_the_budget_become_vendor_down(
    vendor_settings: Callable[..., Settings], vendors: VendorServer
) -> None:
    md = build_market_data(vendor_settings(DAL_MAX_RETRIES=2))
    vendors.queue("alpaca", *[Answer(503, b'{"message":"service unavailable"}')] * 3)
    with pytest.raises(VendorDown, match="service unavailable") as info:
        md.fetch("alpaca", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert isinstance(info.value, VendorUnavailable) and info.value.status == 503
    assert "3 attempts" in str(info.value) and len(vendors.seen("alpaca")) == 3


def test_alpaca_unknown_symbol_is_empty_and_invalid_symbol_refused(md: MarketData) -> None:
    res = md.fetch("alpaca", "ZZZZ", date(2023, 1, 3), date(2023, 1, 10))
    assert res.bars.empty and res.quality.missing_at_edges == 6
    with pytest.raises(VendorRefused, match="invalid symbol") as info:
        md.fetch("alpaca", "ABC^", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.status == 400


def test_malformed_payload_is_bad_bars_not_an_empty_frame(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue("alpaca", answer_json(200, {"bars": {"AAPL": [{"t": "2023-01-03T05:00:00Z", "o": 1}]}}))
    with pytest.raises(BadBars, match="unexpected bars payload"):
        md.fetch("alpaca", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    vendors.queue("yahoo", Answer(200, b"<html>consent page</html>", "text/html"))
    with pytest.raises(BadBars, match="not JSON"):
        md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    vendors.queue("alphavantage", answer_json(200, {"Meta Data": {}}))
    with pytest.raises(BadBars, match="Time Series"):
        md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))


def test_impossible_vendor_rows_are_rejected(md: MarketData, vendors: VendorServer) -> None:
    bad = {"c": [125.07], "h": [120.0], "l": [124.17], "o": [130.28], "s": "ok", "t": [1672704000], "v": [1]}
    vendors.queue("finnhub", answer_json(200, bad))
    with pytest.raises(BadBars, match="high below") as info:
        md.fetch("finnhub", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.vendor == "finnhub"


# --- Alpha Vantage ---------------------------------------------------------------------------


def test_alphavantage_note_rate_limit_with_http_200_is_retried(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue("alphavantage", Answer(200, fixture("alphavantage", "note_rate_limit.json")))
    res = md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert len(res.bars) == 6 and len(vendors.seen("alphavantage")) == 2


def test_alphavantage_rate_limit_past_the_budget(
    vendor_settings: Callable[..., Settings], vendors: VendorServer
) -> None:
    md = build_market_data(vendor_settings(DAL_MAX_RETRIES=1))
    vendors.queue("alphavantage", *[Answer(200, fixture("alphavantage", "note_rate_limit.json"))] * 2)
    with pytest.raises(VendorDown, match="call frequency"):
        md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))


def test_alphavantage_daily_quota_fails_at_once(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue("alphavantage", Answer(200, fixture("alphavantage", "information_daily_limit.json")))
    with pytest.raises(VendorDown, match="25 requests per day"):
        md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert len(vendors.seen("alphavantage")) == 1


def test_alphavantage_premium_bad_key_and_unknown_symbol_are_refusals(
    vendor_settings: Callable[..., Settings], vendors: VendorServer
) -> None:
    md = build_market_data(vendor_settings())
    vendors.queue("alphavantage", Answer(200, fixture("alphavantage", "information_premium_outputsize.json")))
    with pytest.raises(VendorRefused, match="premium feature") as info:
        md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.kind == "plan"
    with pytest.raises(VendorRefused, match="Invalid API call"):
        md.fetch("alphavantage", "NOPE", date(2023, 1, 3), date(2023, 1, 10))
    wrong = build_market_data(vendor_settings(ALPHAVANTAGE_API_KEY="wrong"))
    with pytest.raises(VendorRefused, match="apikey is invalid") as info:
        wrong.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.kind == "auth"


def test_alphavantage_requests_month_and_full_size_for_old_windows(
    md: MarketData, vendors: VendorServer
) -> None:
    md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 3), interval="5Min")
    (seen,) = vendors.seen("alphavantage")
    assert seen.query["function"] == "TIME_SERIES_INTRADAY" and seen.query["interval"] == "5min"
    assert seen.query["month"] == "2023-01" and seen.query["extended_hours"] == "false"
    md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert vendors.seen("alphavantage")[-1].query["outputsize"] == "full"


def test_alphavantage_legacy_end_labels_give_the_same_bars(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue(
        "alphavantage", Answer(200, fixture("alphavantage", "intraday_5min_legacy_end_labels.json"))
    )
    res = md.fetch("alphavantage", "AAPL", date(2023, 1, 3), date(2023, 1, 3), interval="5Min")
    pd.testing.assert_frame_equal(res.bars, expected(FIVE_MIN, date(2023, 1, 3), date(2023, 1, 3)))


# --- Yahoo -----------------------------------------------------------------------------------


def test_yahoo_unknown_symbol_and_range_errors(md: MarketData) -> None:
    with pytest.raises(VendorRefused, match="No data found, symbol may be delisted") as info:
        md.fetch("yahoo", "NOPE", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.status == 404 and info.value.kind == "unknown symbol"
    with pytest.raises(VendorRefused, match="within the last 60 days") as info:
        md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10), interval="15Min")
    assert info.value.status == 422


def test_yahoo_plain_text_429_then_served_and_null_rows_counted(
    md: MarketData, vendors: VendorServer
) -> None:
    vendors.queue("yahoo", Answer(429, b"Too Many Requests", "text/plain"))
    res = md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 3), interval="5Min")
    assert len(res.bars) == 6 and res.quality.dropped_empty == 1
    first, second = vendors.seen("yahoo")
    assert first.query == second.query and first.query["interval"] == "5m"
    assert int(first.query["period1"]) < 1672756200 < int(first.query["period2"])
    assert first.headers["user-agent"].startswith("Mozilla/5.0")


def test_yahoo_range_without_sessions_is_empty(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue("yahoo", Answer(200, fixture("yahoo", "chart_1d_no_sessions.json")))
    res = md.fetch("yahoo", "AAPL", date(2023, 1, 7), date(2023, 1, 8))
    assert res.bars.empty and res.quality.expected_sessions == 0


# --- Twelve Data -----------------------------------------------------------------------------


def test_twelvedata_errors(vendor_settings: Callable[..., Settings], vendors: VendorServer) -> None:
    md = build_market_data(vendor_settings())
    with pytest.raises(VendorRefused, match=r"\*\*symbol\*\*") as info:
        md.fetch("twelvedata", "NOPE", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.status == 404
    wrong = build_market_data(vendor_settings(TWELVEDATA_API_KEY="wrong"))
    with pytest.raises(VendorRefused, match=r"\*\*apikey\*\*") as info:
        wrong.fetch("twelvedata", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.kind == "auth"
    # older deployments answer errors with HTTP 200: the body decides
    vendors.queue("twelvedata", Answer(200, fixture("twelvedata", "error_401.json")))
    with pytest.raises(VendorRefused, match="apikey"):
        md.fetch("twelvedata", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    vendors.queue("twelvedata", Answer(400, fixture("twelvedata", "error_400_no_data.json")))
    assert md.fetch("twelvedata", "AAPL", date(2023, 1, 7), date(2023, 1, 8)).bars.empty


def test_twelvedata_minute_credits_are_retried(md: MarketData, vendors: VendorServer) -> None:
    vendors.queue("twelvedata", Answer(429, fixture("twelvedata", "error_429_minute.json")))
    res = md.fetch("twelvedata", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert len(res.bars) == 6 and len(vendors.seen("twelvedata")) == 2
    seen = vendors.seen("twelvedata")[0]
    assert seen.query["end_date"] == "2023-01-11" and seen.headers["authorization"] == "apikey test-td-key"


def test_twelvedata_pages_back_from_the_oldest_datetime(
    vendor_settings: Callable[..., Settings], vendors: VendorServer
) -> None:
    settings = vendor_settings()
    http = build_http_config(settings, settings.TWELVEDATA_BASE_URL)
    vendor = TwelveDataVendor(TwelveDataConfig(http=http, api_key=settings.TWELVEDATA_API_KEY, page_size=3))
    interval = INTERVALS["1Day"]
    import json

    payload = json.loads(fixture("twelvedata", "time_series_1day.json"))
    jan = [v for v in payload["values"] if v["datetime"] < "2023-02"]
    vendors.queue(
        "twelvedata",
        answer_json(200, {**payload, "values": jan[:3]}),
        answer_json(200, {**payload, "values": jan[3:6]}),
        answer_json(200, {**payload, "values": []}),
    )
    window = build_window(date(2023, 1, 3), date(2023, 1, 10), interval)
    bars = vendor.fetch_bars(BarRequest("AAPL", interval, window)).frame
    pd.testing.assert_frame_equal(bars, expected(DAILY, date(2023, 1, 3), date(2023, 1, 10)))
    ends = [s.query["end_date"] for s in vendors.seen("twelvedata")]
    assert ends == ["2023-01-11", "2023-01-06", "2023-01-03"]


# --- Finnhub ---------------------------------------------------------------------------------


def test_finnhub_errors_and_no_data(vendor_settings: Callable[..., Settings], vendors: VendorServer) -> None:
    md = build_market_data(vendor_settings())
    assert md.fetch("finnhub", "NOPE", date(2023, 1, 3), date(2023, 1, 10)).bars.empty
    vendors.queue("finnhub", Answer(403, fixture("finnhub", "error_403.json")))
    with pytest.raises(VendorRefused, match="don't have access") as info:
        md.fetch("finnhub", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.kind == "plan" and info.value.status == 403
    vendors.queue("finnhub", Answer(429, fixture("finnhub", "error_429.json")))
    assert len(md.fetch("finnhub", "AAPL", date(2023, 1, 3), date(2023, 1, 10), use_cache=False).bars) == 6
    wrong = build_market_data(vendor_settings(FINNHUB_API_KEY="bad"))
    with pytest.raises(VendorRefused, match="Invalid API key") as info:
        wrong.fetch("finnhub", "AAPL", date(2023, 1, 3), date(2023, 1, 10), use_cache=False)
    assert info.value.status == 401


def test_finnhub_quote(md: MarketData, vendors: VendorServer) -> None:
    quote = md.quote("finnhub", "AAPL")
    assert quote.price == 191.33 and quote.previous_close == 192.46
    assert quote.time == pd.Timestamp(1688587201, unit="s", tz="UTC")
    assert vendors.seen("finnhub")[-1].headers["x-finnhub-token"] == "test-fh-key"
    with pytest.raises(VendorRefused, match="no quote"):
        md.quote("finnhub", "NOPE")


# --- auto and cache --------------------------------------------------------------------------


def test_auto_skips_vendors_that_fail_and_records_who_served(
    vendor_settings: Callable[..., Settings], vendors: VendorServer
) -> None:
    md = build_market_data(
        vendor_settings(DAL_AUTO_ORDER="alpaca,twelvedata,yahoo", ALPACA_API_KEY=None, DAL_MAX_RETRIES=0)
    )
    vendors.queue("twelvedata", Answer(429, fixture("twelvedata", "error_429_minute.json")))
    res = md.fetch("auto", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert res.vendor == "yahoo" and len(res.bars) == 6
    assert [name for name, _ in res.attempts] == ["alpaca", "twelvedata"]
    assert "ALPACA_API_KEY" in res.attempts[0][1] and "API credits" in res.attempts[1][1]
    assert res.cache_path is not None and "/yahoo/" in res.cache_path


def test_auto_fails_with_every_vendors_reason(vendor_settings: Callable[..., Settings]) -> None:
    md = build_market_data(vendor_settings(DAL_AUTO_ORDER="yahoo,twelvedata"))
    with pytest.raises(VendorUnavailable, match=r"yahoo: .*delisted.*twelvedata: .*\*\*symbol\*\*"):
        md.fetch("auto", "NOPE", date(2023, 1, 3), date(2023, 1, 10))


def test_auto_moves_past_an_empty_answer(vendor_settings: Callable[..., Settings]) -> None:
    md = build_market_data(vendor_settings(DAL_AUTO_ORDER="finnhub,yahoo"))
    res = md.fetch("auto", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert res.vendor == "finnhub" and len(res.bars) == 6
    empty = md.fetch("auto", "ZZZZ", date(2023, 1, 3), date(2023, 1, 10))
    assert empty.vendor == "finnhub" and empty.bars.empty
    assert [name for name, _ in empty.attempts] == ["yahoo"]


def test_repeated_fetch_is_served_from_cache_without_a_request(md: MarketData, vendors: VendorServer) -> None:
    first = md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    second = md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert not first.from_cache and second.from_cache and second.cache_path == first.cache_path
    assert len(vendors.seen("yahoo")) == 1
    pd.testing.assert_frame_equal(first.bars, second.bars)


def test_vendor_errors_are_in_the_platform_tree() -> None:
    assert issubclass(VendorRefused, VendorRejected) and issubclass(VendorDown, VendorUnavailable)


@pytest.mark.parametrize("vendor", NETWORK)
def test_every_vendor_retries_a_server_error_then_serves(
    md: MarketData, vendors: VendorServer, vendor: str
) -> None:
    vendors.queue(vendor, Answer(502, b"<html>Bad Gateway</html>", "text/html"))
    res = md.fetch(vendor, "AAPL", date(2023, 1, 3), date(2023, 1, 10), use_cache=False)
    assert len(res.bars) == 6
    first, second = vendors.seen(vendor)[:2]
    assert first.query == second.query


@pytest.mark.parametrize("vendor", NETWORK)
def test_every_vendor_gives_up_after_the_budget(
    vendor_settings: Callable[..., Settings], vendors: VendorServer, vendor: str
) -> None:
    md = build_market_data(vendor_settings(DAL_MAX_RETRIES=1))
    vendors.queue(vendor, *[Answer(500, b"Internal Server Error", "text/plain")] * 2)
    with pytest.raises(VendorDown, match="Internal Server Error") as info:
        md.fetch(vendor, "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.vendor == vendor and info.value.status == 500 and "2 attempts" in str(info.value)


def test_unreachable_vendor_is_vendor_down(make_settings: Callable[..., Settings]) -> None:
    from tests.servers import free_port

    port = free_port()  # nothing listens there
    md = build_market_data(
        make_settings(YAHOO_BASE_URL=f"http://127.0.0.1:{port}", DAL_MAX_RETRIES=1, DAL_RETRY_BACKOFF_S=0)
    )
    with pytest.raises(VendorDown, match="network error") as info:
        md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10))
    assert info.value.status is None


def test_close_releases_clients_and_vendors_are_rebuilt_on_next_use(md: MarketData) -> None:
    assert len(md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10)).bars) == 6
    md.close()
    assert len(md.fetch("yahoo", "AAPL", date(2023, 1, 3), date(2023, 1, 10), use_cache=False).bars) == 6
    md.close()
