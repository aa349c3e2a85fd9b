"""The store: the ground every other part of biztrace stands on.

It owns where data lives (:mod:`.connection`: the DSN, connecting, the one-process rule), what
is in it (:mod:`.schema` and ``sql/``: every table, its migrations and its name) and the
options that choose both (:mod:`.options`). It imports nothing else of biztrace.
"""

from __future__ import annotations

from biztrace.store.connection import (
    DEFAULT_STORE,
    ENDPOINT_FILE,
    PID_FILE,
    RoutedStore,
    Store,
    StoreAddress,
    StoreBusy,
    StoreError,
    connect,
    parse_store,
    publish_endpoint,
)

__all__ = [
    "DEFAULT_STORE",
    "ENDPOINT_FILE",
    "PID_FILE",
    "RoutedStore",
    "Store",
    "StoreAddress",
    "StoreBusy",
    "StoreError",
    "connect",
    "parse_store",
    "publish_endpoint",
]
