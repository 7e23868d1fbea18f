"""One settings object for the whole platform.

Values come from the process environment first, then ``.env.dev``, then ``.env`` (both
optional, read from the working directory). Key names are the runbook's (``EH_FQDN``,
``EH_HUB_ORDERS``, ``DATABASE_URL`` ...). No key set means the embedded default: a SQLite
file, a local blob folder and a local event log under ``DATA_DIR``. A malformed value stops
start-up with a :class:`~app.errors.ConfigError` whose message names the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError

__all__ = ["Backend", "Settings", "load_settings", "mask_secrets_in", "mask_url"]

_KEY_VAULT_REFERENCE = "@microsoft.keyvault("
"""Lower-cased prefix of an App Service Key Vault reference that was not resolved."""

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
Port = Annotated[int, Field(ge=1, le=65535)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


@dataclass(frozen=True, slots=True)
class Backend:
    """Which implementation a concern resolved to, and why."""

    kind: str
    target: str
    reason: str


_CREDENTIAL_QUERY_KEYS = re.compile(r"(?i)^.*(pass|pwd|secret|token|key|sig|auth|credential).*$")
"""Query parameter names whose values sign a request (passwords, API keys, SAS fields)."""
_NETLOC_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#@]*@")
_QUERY_CREDENTIAL = re.compile(
    r"(?i)([?&](?:[^=&#\s]*(?:pass|pwd|secret|token|key|sig|auth|credential)[^=&#\s]*)=)[^&#\s]*"
)


def mask_url(url: str) -> str:
    """Return ``url`` with every credential-bearing part replaced by ``***``.

    Masks the password of ``user:password@`` and the value of any query parameter whose name
    carries a credential (``password``, ``apikey``, ``token``, ``sig`` ...). A URL too malformed
    to parse is masked textually, so a bad setting is never echoed with its secret.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return _mask_text(url)
    netloc = parts.netloc
    if password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username or ''}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_CREDENTIAL_QUERY_KEYS.match(k) for k, _ in pairs):
            query = "&".join(
                f"{quote(k, safe='')}={'***' if _CREDENTIAL_QUERY_KEYS.match(k) else quote(v, safe='')}"
                for k, v in pairs
            )
    return _mask_text(urlunsplit(parts._replace(netloc=netloc, query=query)))


def _mask_text(text: str) -> str:
    """Mask ``//user:secret@`` and ``?password=...`` wherever they occur in ``text``."""
    return _QUERY_CREDENTIAL.sub(r"\1***", _NETLOC_PASSWORD.sub(r"\1***@", text))


def mask_secrets_in(text: str) -> str:
    """Mask every URL credential inside free text (an error message, a log line)."""
    if "://" not in text and "=" not in text:
        return text
    return _mask_text(text)


def _check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"scheme must be one of {', '.join(schemes)}; got {parts.scheme or 'none'!r}")
    if parts.scheme not in ("sqlite", "file", "local") and not parts.hostname:
        raise ValueError("URL has no host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in URL ({exc})") from None
    return value


def _storage_account_of(url: str) -> str:
    """First label of the URL's host: the storage account of an ``az://`` / ``abfs://`` URL."""
    return (urlsplit(url).hostname or "").split(".", 1)[0]


class Settings(BaseSettings):
    """Effective configuration; build it once with :func:`load_settings` and pass it down."""

    model_config = SettingsConfigDict(
        env_file=(".env", ".env.dev"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
        frozen=True,
        populate_by_name=True,
        allow_inf_nan=False,
    )

    # --- local layout -----------------------------------------------------------------
    DATA_DIR: Path = Field(default=Path("var"), description="Root for embedded state (SQLite, blobs, bus).")
    ARTIFACTS_DIR: Path = Field(default=Path("artifacts"), description="Frames, reports, sweep outputs.")
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- database ---------------------------------------------------------------------
    DATABASE_URL: SecretStr | None = Field(
        default=None, description="postgresql://... (Azure form) or postgresql+psycopg://...; unset: SQLite."
    )

    # --- blob store -------------------------------------------------------------------
    BLOB_URL: str | None = Field(
        default=None, description="file:///abs/path for a local root, or az://<account> for Azure Blob."
    )
    STORAGE_ACCOUNT: str | None = Field(default=None, description="Azure storage account name.")
    AZURE_STORAGE_CONNECTION_STRING: SecretStr | None = Field(
        default=None, description="Azure Blob connection string (Azurite or a SAS/key deployment)."
    )
    BLOB_CONTAINER_DATA: str = "trader-data"
    BLOB_CONTAINER_MODELS: str = "trader-models"
    CHECKPOINT_CONTAINER: str = "eh-checkpoints"
    BLOB_CONTAINER_CONFIGS: str = "configs"
    FRAMES_BLOB_PUBLISH: bool | None = Field(
        default=None,
        description="Also publish probabilistic frames + manifest records to BLOB_CONTAINER_DATA; "
        "unset: only when the blob backend is Azure.",
    )
    FRAMES_BLOB_TIMEOUT_S: float = Field(
        default=20.0, gt=0, description="Deadline for publishing or listing frames in the blob store."
    )

    # --- event bus --------------------------------------------------------------------
    BUS_URL: str | None = Field(
        default=None, description="local:///path/bus.db, redis://host:port/0 or eventhubs://<fqdn>."
    )
    REDIS_URL: str | None = None
    EH_FQDN: str | None = None
    EH_CONNECTION_STRING: SecretStr | None = None
    EH_HUB_BARS: str = "bars.raw"
    EH_HUB_SIGNALS: str = "signals.enriched"
    EH_HUB_REGIMES: str = "regimes.snapshot"
    EH_HUB_JOBS: str = "backtest.jobs"
    EH_HUB_ORDERS: str = "exec.orders"
    EH_CONSUMER_GROUP: str = "orchestrator"
    EH_CONSUMER_GROUP_SWEEP: str = "sweeper"
    BUS_LEASE_S: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0,
        description="Seconds a local/redis bus consumer holds a partition without renewing it.",
    )
    LOCAL_DEV: bool = Field(default=False, description="Use Azure CLI credentials (az login) instead of MSI.")
    EH_ALLOW_MEMORY_CHECKPOINTS: bool = Field(
        default=False,
        description="Let an Event Hubs consumer run with no checkpoint store (no storage account "
        "setting): its checkpoints then live in memory and a restart re-reads the hub's retained events.",
    )

    # --- API / UI ---------------------------------------------------------------------
    API_HOST: str = "127.0.0.1"
    WEBSITES_PORT: Port | None = Field(default=None, description="App Service port; wins over PORT.")
    PORT: Port = 8000
    UI_PORT: Port = 8501
    UI_BASE_URL: str | None = Field(
        default=None,
        description="Public URL of the dashboard (e.g. https://<fd-host>/ui/); where the API sends /ui.",
    )
    API_BASE_URL: str | None = None
    UI_OPERATOR_PASSWORD_HASH: SecretStr | None = Field(
        default=None,
        description="scrypt hash of the operator password (python -m app.ui.auth); the dashboard asks "
        "for it, and refuses to listen beyond loopback without it.",
    )
    UI_REFRESH_S: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=5.0, description="Default auto-refresh interval of the dashboard, in seconds."
    )
    API_BEARER_TOKEN: SecretStr | None = Field(
        default=None, description="Bearer token every non-health route needs; blank counts as unset."
    )
    API_MAX_BODY_BYTES: Annotated[int, Field(ge=1024, le=100_000_000)] = Field(
        default=1_000_000, description="Largest request body the API reads (chunked or not); above: 413."
    )
    FORWARDED_ALLOW_IPS: str = Field(
        default="127.0.0.1",
        description="Comma list of proxy addresses (or CIDRs) whose X-Forwarded-* headers the API trusts.",
    )
    READY_CHECK_TIMEOUT_S: Annotated[float, Field(gt=0, le=30)] = 2.0

    # --- market data ------------------------------------------------------------------
    ALPACA_API_KEY: SecretStr | None = None
    ALPACA_API_SECRET: SecretStr | None = None
    ALPHAVANTAGE_API_KEY: SecretStr | None = None
    FINNHUB_API_KEY: SecretStr | None = None
    TWELVEDATA_API_KEY: SecretStr | None = None
    ALPACA_DATA_BASE_URL: str = "https://data.alpaca.markets"
    ALPHAVANTAGE_BASE_URL: str = "https://www.alphavantage.co"
    YAHOO_BASE_URL: str = "https://query1.finance.yahoo.com"
    TWELVEDATA_BASE_URL: str = "https://api.twelvedata.com"
    FINNHUB_BASE_URL: str = "https://finnhub.io/api/v1"
    DAL_AUTO_ORDER: str = Field(
        default="alpaca,yahoo,twelvedata,alphavantage,finnhub",
        description="Vendor order tried by --dal-vendor auto.",
    )
    REPLAY_DIR: Path | None = Field(
        default=None,
        description="Recorded bars the `replay` vendor serves: <dir>/<interval>/<SYMBOL>.parquet or .csv.",
    )
    REPLAY_CLOCK_FILE: Path | None = Field(
        default=None,
        description="Replay only (BROKER=simulated): a file holding the controlled 'now' every "
        "process reads instead of the wall clock.",
    )
    DAL_HTTP_TIMEOUT_S: Annotated[float, Field(gt=0, le=120)] = 20.0
    DAL_MAX_RETRIES: Annotated[int, Field(ge=0, le=10)] = 3
    DAL_RETRY_BACKOFF_S: Annotated[float, Field(ge=0, le=60)] = Field(
        default=1.0, description="First back-off of a vendor retry (doubles per attempt, plus jitter)."
    )

    # --- execution --------------------------------------------------------------------
    BROKER: Literal["simulated", "alpaca"] = "simulated"
    ALPACA_PAPER: bool = True
    ALPACA_TRADING_BASE_URL: str | None = None
    SIM_SLIPPAGE_BPS: Annotated[float, Field(ge=0, lt=10_000)] = Field(
        default=5.0, description="Simulated broker: slippage against the market price, basis points."
    )
    SIM_COMMISSION_BPS: Annotated[float, Field(ge=0, lt=10_000)] = Field(
        default=1.0, description="Simulated broker: commission as basis points of filled notional."
    )
    SIM_FEE_PER_ORDER: Annotated[Decimal, Field(ge=0, le=1_000, allow_inf_nan=False)] = Field(
        default=Decimal(0), description="Simulated broker: flat fee charged on every filled order."
    )
    SIM_ALLOW_SHORT: bool = Field(
        default=False,
        description="Simulated broker: let a sell exceed the position and open a short "
        "(refused with reason insufficient_position when off).",
    )
    SIM_INITIAL_CASH: Annotated[Decimal, Field(gt=0, le=10**12, allow_inf_nan=False)] = Field(
        default=Decimal(100_000), description="Simulated broker: cash the paper account starts with."
    )
    ALPACA_ACCOUNT_CACHE_S: Annotated[float, Field(ge=0, le=30)] = Field(
        default=2.0,
        description="Alpaca broker: seconds a GET /v2/account answer is reused (0: never); any order "
        "submitted or cancelled, or a fill the stream reports, drops it at once.",
    )
    ALPACA_STREAM_URL: str | None = Field(
        default=None,
        description="Alpaca trade_updates websocket (ws:// or wss://); unset: <trading base URL>/stream "
        "with the scheme made ws/wss.",
    )
    VENUE_HEARTBEAT_S: Annotated[float, Field(gt=0, le=300)] = Field(
        default=10.0,
        description="Venue stream: ping the venue after this long without a frame; also how often "
        "the worker reports its status.",
    )
    VENUE_MAX_FRAME_AGE_S: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0,
        description="Venue stream: no frame and no answered ping for this long means the stream is "
        "dead: reconnect and catch up.",
    )
    VENUE_RECONNECT_INITIAL_S: Annotated[float, Field(gt=0, le=60)] = Field(
        default=1.0, description="Venue stream: first reconnect back-off (doubles per failure, plus jitter)."
    )
    VENUE_RECONNECT_MAX_S: Annotated[float, Field(gt=0, le=600)] = Field(
        default=60.0, description="Venue stream: longest wait between two reconnect attempts."
    )
    VENUE_RECONNECT_MAX_ATTEMPTS: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=30,
        description="Venue stream: consecutive failed connects after which the worker stops (exit 1) "
        "so its supervisor restarts it and alerts.",
    )
    VENUE_CATCHUP_OVERLAP_S: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=60.0,
        description="Venue catch-up: how far before the last update it saw it lists orders and fills again.",
    )
    VENUE_CATCHUP_LOOKBACK_H: Annotated[float, Field(gt=0, le=24 * 90)] = Field(
        default=24.0,
        description="Venue catch-up on a fresh start: hours of orders and fills it lists (open orders "
        "of any age are always listed).",
    )
    VENUE_SWEEP_INTERVAL_S: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=60.0,
        description="How often the venue worker expires orders past their time in force.",
    )

    # --- risk -------------------------------------------------------------------------
    RISK_MAX_POSITION_FRACTION: Fraction = Field(
        default=0.25, description="Hard cap on the fraction of equity one position may take."
    )
    RISK_REGIME_MULTIPLIERS: str = Field(
        default="",
        description="regime=multiplier pairs (comma separated, each in [0, 1]) overriding the "
        "built-in --regime-aware-sizing multipliers, e.g. range_high_vol=0.3,warmup=0.",
    )
    RISK_ACCOUNT_EQUITY: Annotated[float, Field(gt=0)] = 100_000.0
    KILL_SWITCH_NOTIONAL: Annotated[float, Field(gt=0)] | None = None
    KILL_SWITCH_DAILY_LOSS_LIMIT: Annotated[float, Field(gt=0)] | None = None
    KILL_SWITCH_MAX_OPEN_ORDERS: Annotated[int, Field(ge=0)] | None = None
    # the risk governor's limits, checked on the book after the order (unset: not enforced)
    RISK_MAX_SYMBOL_WEIGHT: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Largest |exposure| of one symbol after an order, as a fraction of equity."
    )
    RISK_MAX_GROSS_EXPOSURE: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Largest sum of |exposure| after an order, as a multiple of equity."
    )
    RISK_MAX_OPEN_POSITIONS: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Most symbols with a position after an order."
    )
    RISK_DAILY_LOSS_LIMIT: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Loss today (realised + unrealised) that latches the governor in REDUCING until reset.",
    )
    RISK_MAX_DRAWDOWN: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="Drawdown from the high-water mark (fraction) that latches REDUCING until reset.",
    )
    RISK_RESERVATION_TTL_S: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=300.0, description="Seconds an admitted order counts as open before the consumer writes it."
    )
    RISK_MAX_BOOK_AGE_S: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Refuse orders (kill_switch_unavailable) while the order consumer is this far behind.",
    )

    # --- backtests and sweeps ---------------------------------------------------------
    BACKTEST_NO_SAVE: bool = False
    BACKTEST_OUT_DIR: Path | None = None
    SWEEP_CONFIG_PATH: Path | None = None
    SWEEP_CONFIG_BLOB: str | None = None
    SWEEP_OUTPUT_DIR: Path | None = None
    OUTPUT_DIR: Path | None = Field(
        default=None, description="Sweep output folder (the runbook's sweep command); SWEEP_OUTPUT_DIR wins."
    )
    SWEEP_JOB_ID: str | None = None
    SWEEP_MAX_SETS: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=100_000, description="Largest grid or random sample a sweep may run; above it is refused."
    )
    SWEEP_FAILURE_RATIO: Annotated[float, Field(gt=0, le=1)] = Field(
        default=1.0,
        description="A sweep whose failed sets reach this fraction of all sets is recorded failed.",
    )
    SWEEP_DATA_ROOTS: str = Field(
        default="",
        description="Comma list of folders an API-submitted sweep may read with vendor 'file'; "
        "empty: API sweeps may not use vendor 'file' or data_path.",
    )
    SWEEP_JOB_LEASE_S: Annotated[float, Field(ge=5, le=3600)] = Field(
        default=120.0,
        description="A running sweep job renews its lease this often / 3; a job whose lease ran out "
        "is recorded failed (its worker died).",
    )
    ROUTER_MAX_BARS: Annotated[int, Field(ge=100, le=5_000_000)] = Field(
        default=100_000, description="Largest bar window one POST /router/run may load; above: 422."
    )
    ROUTER_BAR_CACHE_BYTES: Annotated[int, Field(ge=0, le=4_000_000_000)] = Field(
        default=64_000_000, description="Memory the router's bar cache may hold."
    )
    ROUTER_STALE_TOLERANCE_S: Annotated[float, Field(ge=0, le=86_400)] = Field(
        default=600.0,
        description="Target mode: the newest completed bar is stale (fallback_reason=stale_data, nothing "
        "published) when more than one bar interval (a daily bar: one 6.5 h regular session) plus this "
        "many seconds of XNYS regular-session time have passed since it ended.",
    )
    ROUTER_REBALANCE_MIN_NOTIONAL: Annotated[float, Field(ge=0)] = Field(
        default=100.0,
        description="Target mode: a difference between target and holding worth less than this "
        "(money) is not traded (order:skipped:rebalance_band); a close to flat always trades.",
    )
    ROUTER_REBALANCE_MIN_FRACTION: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.01,
        description="Target mode: a difference worth less than this fraction of account equity is not "
        "traded; the band is the larger of this and ROUTER_REBALANCE_MIN_NOTIONAL.",
    )
    SWEEP_JOB_RESOURCE_ID: str | None = None
    SWEEP_JOB_CONTAINER: str = "sweep-job"
    RAY_ADDRESS: str | None = None

    # --- daily schedule ----------------------------------------------------------------
    SCHEDULE_TIMEZONE: str = Field(
        default="America/Los_Angeles",
        description="Time zone `schedule show` prints beside exchange time (jobs follow the NYSE session).",
    )
    SCHEDULE_GRACE_MINUTES: Annotated[int, Field(ge=0, le=720)] = Field(
        default=30, description="A job found overdue by at most this much at start-up still runs."
    )
    SCHEDULE_LEASE_S: Annotated[float, Field(ge=3, le=600)] = Field(
        default=60.0,
        description="How long the scheduler lease holds without renewal (renewed every third of it): "
        "a crashed scheduler's successor takes over after at most this long.",
    )
    WATCHLIST: str = Field(
        default="AAPL,MSFT,NVDA,AMZN,GOOG,META,TSLA,SPY", description="Symbols the scans rank (comma list)."
    )
    WATCHLIST_SIZE: Annotated[int, Field(ge=1, le=500)] = 5
    SCHEDULE_DAL_VENDOR: str = Field(
        default="synthetic", description="Vendor for scans (auto in production)."
    )
    SCHEDULE_STRATEGY: str = Field(default="breakout", description="Strategy the intraday refreshes route.")
    SCHEDULE_INTRADAY_INTERVAL: str = Field(
        default="5Min",
        description="Bar interval the intraday refreshes decide on (an intraday DAL interval).",
    )
    SCHEDULE_PUBLISH_ORDERS: bool = False
    SCHEDULE_EXECUTE_ORDERS: bool = False
    SCHEDULE_RETRAIN_CONFIG: Path | None = Field(
        default=None, description="Sweep config the 17:30 retrain runs; unset: retrain disabled."
    )
    MODEL_MIN_BRIER_IMPROVEMENT: float = Field(
        default=0.005,
        ge=0.0,
        lt=1.0,
        description="Relative Brier-score improvement over the Beta prior (out of sample) a model "
        "needs to be promoted (0.005 = 0.5 %).",
    )
    MODEL_ESTIMATOR: Literal["hgb", "logistic"] = Field(
        default="hgb",
        description="Classifier the retrain fits: gradient-boosted trees or logistic regression.",
    )
    MODEL_CALIBRATION_DRIFT_MAX: float = Field(
        default=0.10,
        gt=0.0,
        le=1.0,
        description="Expected calibration error of the router's live probabilities (per regime, in the "
        "18:00 report) above which calibration drift is logged as an error.",
    )
    MODEL_CALIBRATION_MIN_SAMPLES: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description="Realised outcomes a regime needs before its calibration drift is judged.",
    )

    @field_validator(
        "DATABASE_URL",
        "AZURE_STORAGE_CONNECTION_STRING",
        "EH_CONNECTION_STRING",
        "API_BEARER_TOKEN",
        "UI_OPERATOR_PASSWORD_HASH",
        "ALPACA_API_KEY",
        "ALPACA_API_SECRET",
        "ALPHAVANTAGE_API_KEY",
        "FINNHUB_API_KEY",
        "TWELVEDATA_API_KEY",
        mode="before",
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        """An empty or all-whitespace credential is no credential."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and not raw.strip():
            return None
        return value

    @field_validator("DATABASE_URL", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        _check_url(str(raw), ("sqlite", "postgres", "postgresql", "postgresql+psycopg"))
        return raw

    @field_validator("BUS_URL")
    @classmethod
    def _bus_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("local", "redis", "rediss", "eventhubs"))

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("redis", "rediss"))

    @field_validator("BLOB_URL")
    @classmethod
    def _blob_url(cls, value: str | None) -> str | None:
        checked = _check_url(value, ("file", "az", "abfs"))
        if checked is not None and not checked.startswith("file:"):
            account = _storage_account_of(checked)
            if re.fullmatch(r"[a-z0-9]{3,24}", account) is None:
                raise ValueError(
                    "az:// and abfs:// URLs name the storage account (az://<account>); "
                    f"{account!r} is not an account name (3-24 lower-case letters and digits)"
                )
        return checked

    @field_validator(
        "API_BASE_URL",
        "ALPACA_DATA_BASE_URL",
        "ALPHAVANTAGE_BASE_URL",
        "YAHOO_BASE_URL",
        "TWELVEDATA_BASE_URL",
        "FINNHUB_BASE_URL",
        "ALPACA_TRADING_BASE_URL",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        checked = _check_url(value, ("http", "https"))
        return checked.rstrip("/") if checked else checked

    @field_validator("ALPACA_STREAM_URL")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        checked = _check_url(value, ("ws", "wss"))
        return checked.rstrip("/") if checked else checked

    @field_validator("SCHEDULE_TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("SCHEDULE_INTRADAY_INTERVAL")
    @classmethod
    def _intraday_interval(cls, value: str) -> str:
        from app.domain.intervals import INTERVALS

        intraday = [name for name, interval in INTERVALS.items() if not interval.is_daily]
        if value not in intraday:
            raise ValueError(f"must be an intraday interval: one of {', '.join(intraday)}")
        return value

    @field_validator("WATCHLIST")
    @classmethod
    def _watchlist(cls, value: str) -> str:
        symbols = [s.strip().upper() for s in value.split(",") if s.strip()]
        if not symbols:
            raise ValueError("needs at least one symbol")
        bad = [s for s in symbols if not all(c.isalnum() or c in ".-/" for c in s)]
        if bad:
            raise ValueError(f"not ticker symbols: {', '.join(bad)}")
        return ",".join(symbols)

    @field_validator("EH_FQDN")
    @classmethod
    def _fqdn(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if _HOST_NAME.fullmatch(value) is None:
            raise ValueError("must be a bare host name such as ai-trader-ehns.servicebus.windows.net")
        return value

    @field_validator("FORWARDED_ALLOW_IPS")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        import ipaddress

        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address, a CIDR or *") from None
        return ",".join(entries)

    @property
    def sweep_data_roots(self) -> tuple[Path, ...]:
        """Folders API-submitted sweeps may read data files from (resolved; none by default)."""
        return tuple(Path(p.strip()).resolve() for p in self.SWEEP_DATA_ROOTS.split(",") if p.strip())

    @field_validator(
        "CHECKPOINT_CONTAINER", "BLOB_CONTAINER_DATA", "BLOB_CONTAINER_MODELS", "BLOB_CONTAINER_CONFIGS"
    )
    @classmethod
    def _container(cls, value: str) -> str:
        ok = 3 <= len(value) <= 63 and value[0].isalnum() and all(c.isalnum() or c == "-" for c in value)
        if not ok or value != value.lower() or "--" in value:
            raise ValueError("blob container names are 3-63 lower-case letters, digits and single hyphens")
        return value

    # Declared after every other validator: pydantic runs "before" validators last-declared
    # first, so this check sees the raw value before any field-specific parsing does.
    @field_validator("*", mode="before")
    @classmethod
    def _no_unresolved_key_vault_reference(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.strip().lower().startswith(_KEY_VAULT_REFERENCE):
            raise ValueError(
                "App Service could not resolve the Key Vault reference and passed its literal "
                "@Microsoft.KeyVault(...) text; check that the app's managed identity may get secrets "
                "(Key Vault Secrets User role, or 'get' in the vault's access policy) and that the "
                "secret exists"
            )
        return value

    # --- derived values ----------------------------------------------------------------
    @property
    def api_port(self) -> int:
        """Port the API binds to: ``WEBSITES_PORT`` (App Service) first, then ``PORT``."""
        return self.WEBSITES_PORT if self.WEBSITES_PORT is not None else self.PORT

    @property
    def sqlite_path(self) -> Path:
        return self.DATA_DIR / "ai-trader.db"

    @property
    def frames_dir(self) -> Path:
        return self.ARTIFACTS_DIR / "probabilistic" / "frames"

    @property
    def hubs(self) -> dict[str, str]:
        """Logical hub role -> configured hub name."""
        return {
            "bars": self.EH_HUB_BARS,
            "signals": self.EH_HUB_SIGNALS,
            "regimes": self.EH_HUB_REGIMES,
            "jobs": self.EH_HUB_JOBS,
            "orders": self.EH_HUB_ORDERS,
        }

    @property
    def azure_credential(self) -> str:
        """The azure-identity credential the code signs in with where no key or SAS is configured.

        The bus, the blob store, the checkpoint store and the sweep dispatcher all choose it
        the same way: ``AzureCliCredential`` (the ``az login`` session) when ``LOCAL_DEV=1``,
        else ``DefaultAzureCredential`` (managed identity in Azure).
        """
        return "AzureCliCredential, LOCAL_DEV=1" if self.LOCAL_DEV else "DefaultAzureCredential"

    @property
    def blob_url_account(self) -> str | None:
        """The storage account an ``az://`` or ``abfs://`` ``BLOB_URL`` names, else ``None``.

        ``az://<account>``, ``az://<account>.blob.core.windows.net`` and
        ``abfs://<container>@<account>.dfs.core.windows.net`` all give ``<account>``.
        """
        if self.BLOB_URL is None or self.BLOB_URL.startswith("file:"):
            return None
        return _storage_account_of(self.BLOB_URL)

    @cached_property
    def checkpoint_backend(self) -> Backend:
        """Where the bus keeps consumer checkpoints (Event Hubs: a blob container, or none)."""
        if self.bus_backend.kind != "eventhubs":
            return Backend(self.bus_backend.kind, self.bus_backend.target, "kept by the bus itself")
        container = self.CHECKPOINT_CONTAINER
        if self.AZURE_STORAGE_CONNECTION_STRING is not None:
            return Backend(
                "azure",
                f"connection string/{container}",
                "AZURE_STORAGE_CONNECTION_STRING set (its key or SAS)",
            )
        if self.STORAGE_ACCOUNT:
            return Backend(
                "azure",
                f"{self.STORAGE_ACCOUNT}/{container}",
                f"STORAGE_ACCOUNT set ({self.azure_credential})",
            )
        if self.blob_url_account is not None:
            return Backend(
                "azure",
                f"{self.blob_url_account}/{container}",
                f"account of BLOB_URL ({self.azure_credential})",
            )
        if self.EH_ALLOW_MEMORY_CHECKPOINTS:
            return Backend("memory", "", "EH_ALLOW_MEMORY_CHECKPOINTS=1: lost when a consumer restarts")
        return Backend(
            "none",
            "",
            "no storage setting: Event Hubs consumers other than diagnostics are refused at start",
        )

    @cached_property
    def sweep_dispatch_backend(self) -> Backend:
        """Where the sweep job consumer starts a sweep: the Container Apps job, or a local process."""
        if self.SWEEP_JOB_RESOURCE_ID:
            job = self.SWEEP_JOB_RESOURCE_ID.rstrip("/").rsplit("/", 1)[-1]
            return Backend("aca", job, f"SWEEP_JOB_RESOURCE_ID set ({self.azure_credential})")
        return Backend(
            "local", "scripts/sweep_job_entry.py", "SWEEP_JOB_RESOURCE_ID unset: one local subprocess per job"
        )

    @cached_property
    def database_backend(self) -> Backend:
        if self.DATABASE_URL is None:
            return Backend("sqlite", str(self.sqlite_path), "DATABASE_URL unset: embedded SQLite file")
        url = self.DATABASE_URL.get_secret_value()
        if url.startswith("sqlite"):
            return Backend("sqlite", url, "DATABASE_URL is a sqlite URL")
        return Backend("postgresql", mask_url(url), "DATABASE_URL is a PostgreSQL URL")

    @cached_property
    def blob_backend(self) -> Backend:
        if self.BLOB_URL is not None and self.BLOB_URL.startswith("file://"):
            return Backend("local", urlsplit(self.BLOB_URL).path, "BLOB_URL is a file:// URL")
        if self.AZURE_STORAGE_CONNECTION_STRING is not None:
            return Backend(
                "azure", "connection string", "AZURE_STORAGE_CONNECTION_STRING set (its key or SAS signs in)"
            )
        if self.blob_url_account is not None:
            return Backend(
                "azure", self.blob_url_account, f"BLOB_URL is an az:// URL ({self.azure_credential})"
            )
        if self.STORAGE_ACCOUNT:
            return Backend("azure", self.STORAGE_ACCOUNT, f"STORAGE_ACCOUNT set ({self.azure_credential})")
        return Backend("local", str(self.DATA_DIR / "blob"), "no blob settings: local folder per container")

    @cached_property
    def bus_backend(self) -> Backend:
        if self.BUS_URL is not None:
            scheme = urlsplit(self.BUS_URL).scheme
            kind = {"local": "local", "redis": "redis", "rediss": "redis", "eventhubs": "eventhubs"}[scheme]
            if kind != "eventhubs":
                return Backend(kind, mask_url(self.BUS_URL), "BUS_URL set")
            if self.EH_CONNECTION_STRING is not None:
                return Backend(
                    "eventhubs",
                    "connection string",
                    "BUS_URL is eventhubs:// but EH_CONNECTION_STRING is set and wins (its SAS key signs in)",
                )
            return Backend("eventhubs", mask_url(self.BUS_URL), f"BUS_URL set ({self.azure_credential})")
        if self.EH_CONNECTION_STRING is not None:
            return Backend(
                "eventhubs", "connection string", "EH_CONNECTION_STRING set (its SAS key signs in)"
            )
        if self.EH_FQDN:
            return Backend("eventhubs", self.EH_FQDN, f"EH_FQDN set ({self.azure_credential})")
        if self.REDIS_URL is not None:
            return Backend("redis", mask_url(self.REDIS_URL), "REDIS_URL set")
        return Backend("local", str(self.DATA_DIR / "bus.db"), "no bus settings: local durable log")

    def public_dict(self) -> dict[str, Any]:
        """Every setting with secrets and URL passwords masked, for display."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = "***" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value:
                out[name] = mask_url(value)
            elif isinstance(value, str):
                out[name] = mask_secrets_in(value)
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out

    def __repr_args__(self) -> Any:
        return self.public_dict().items()


def _is_secret(key: str) -> bool:
    """Whether ``key`` is a ``SecretStr`` setting (its value never goes into a message)."""
    field = Settings.model_fields.get(key)
    if field is None:
        return False
    return field.annotation is SecretStr or SecretStr in get_args(field.annotation)


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        message = err["msg"].removeprefix("Value error, ")
        if _is_secret(key):
            parts.append(f"{key}: {message}")
        else:
            shown = err.get("input")
            if isinstance(shown, str):
                shown = mask_secrets_in(shown)
            parts.append(f"{key}: {mask_secrets_in(message)} (got {shown!r})")
    return "invalid configuration: " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings` from env and dotenv files, plus explicit ``overrides``.

    Raises:
        ConfigError: one line naming each malformed key and what is wrong with it.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read the dotenv file (.env / .env.dev): not UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the dotenv file (.env / .env.dev): {exc.strerror}") from None
