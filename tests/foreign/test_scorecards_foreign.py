"""SLA scorecards on foreign producers' spans, which leave optional attributes out (customer, channel,
priority): a transaction without a customer is the '(none)' row, never left out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from biztrace.config import load
from biztrace.readmodel.scorecards import scorecards
from biztrace.readmodel.transactions import transactions

from .conftest import NOW, Corpus


@pytest.mark.parametrize("by", ["customer", "partner", "channel", "system"])
def test_every_transaction_is_in_one_scorecard_row(corpus: Corpus, by: str) -> None:
    config, now, period = load(None), NOW.replace(tzinfo=None), timedelta(days=60)
    started = transactions(corpus.store, config, now, since=now - period)
    cards = scorecards(corpus.store, config, now, period=period, by=by, limit=100_000)
    assert cards.scopes == len(cards.rows) and started
    assert sum(row.current.transactions for row in cards.rows) == len(started)
    if by in ("customer", "channel"):
        assert any(row.name == "(none)" for row in cards.rows), "these producers leave it out somewhere"
    exceptions = sum(sum(row.current.exceptions.values()) for row in cards.rows)
    assert exceptions >= len(corpus.faults) > 0
