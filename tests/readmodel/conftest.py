"""Producers written with the plain OpenTelemetry SDK (no biztrace code), sending through a real collector."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from biztrace.collector.service import Collector
from support import T0, Producers  # noqa: E402,F401


@pytest.fixture
def producers(start_collector: Callable[..., Collector]) -> Iterator[Producers]:
    made = Producers(start_collector())
    yield made
    made.shutdown()
