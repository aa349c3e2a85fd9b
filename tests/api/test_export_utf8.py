"""The JSON export is UTF-8 whatever bytes a key holds: a producer's bad bytes are replaced."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from biztrace.config import load
from biztrace.readmodel import exports


def test_a_key_that_is_not_utf8_is_exported_as_json_with_its_bad_bytes_replaced(store) -> None:
    store.client.command(
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, StatusCode) "
        "VALUES (now64(9) - INTERVAL 1 HOUR, 'x1', concat('O-', unhex('FF')), 'order_to_cash', 'order.captured', "
        "'shop', 'Error')"
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    lines = b"".join(exports.export_exceptions(store, load(None), now, fmt="json")).decode().splitlines()
    assert [(row["key"], row["kind"]) for row in map(json.loads, lines)] == [("O-\ufffd", "failed")]
