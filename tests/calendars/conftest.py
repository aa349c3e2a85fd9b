"""Producers written with the plain OpenTelemetry SDK, sending through a real collector (tests/support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from biztrace.collector.service import Collector
from support import Producers


@pytest.fixture
def producers(start_collector: Callable[..., Collector]) -> Iterator[Producers]:
    made = Producers(start_collector())
    yield made
    made.shutdown()
