"""The bar cache on Azure Blob (Azurite): a repeated fetch is served from the trader-data container."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd

from app.bootstrap import build_market_data
from app.config import Settings
from tests import servers


def test_repeated_fetch_is_served_from_azure_blob(
    azurite: servers.Server, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        AZURE_STORAGE_CONNECTION_STRING=azurite.extra["connection_string"],
        BLOB_CONTAINER_DATA="dal-cache-test",
    )
    md = build_market_data(settings)
    first = md.fetch("sample", "GOOG", date(2012, 1, 3), date(2012, 3, 30))
    assert first.cache_path is None  # the shipped sample is a local file: nothing to cache
    fresh = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3))
    again = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3))
    assert fresh.cache_path is not None and fresh.cache_path.startswith(
        "az://dal-cache-test/dal/synthetic/AAPL/1Day/"
    )
    assert not fresh.from_cache and again.from_cache and again.cache_path == fresh.cache_path
    pd.testing.assert_frame_equal(again.bars, fresh.bars)
    assert md.cache is not None
    keys = md.cache.store.list("dal-cache-test", "dal/")
    assert keys == [fresh.cache_path.removeprefix("az://dal-cache-test/")]
