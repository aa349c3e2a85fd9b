"""Sessions do not wait on each other's statements: each script run reads through a client of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from biztrace.dashboard import data
from biztrace.store import Store
from support import statements_running

LONG = "SELECT sleep(2) AS biztrace_lane_test_long"


@pytest.fixture
def shared(populated) -> Iterator[Store]:
    """The populated store, shared with the dashboard (as ``biztrace up`` does) for the test."""
    _, store = populated
    data.share_store(store)
    yield store
    data.share_store(None)


def test_a_quick_statement_is_not_held_up_by_another_runs_long_one(shared) -> None:
    store = shared
    long_started = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def long_run() -> None:
        try:
            with data.script_lane():
                long_started.set()
                data.query_df(LONG, {})  # a heavy page, as far as a client can tell
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def quick_run() -> None:
        try:
            long_started.wait(10)
            time.sleep(0.3)  # the long statement under way
            with data.script_lane():
                data.query_df("SELECT 1 AS one", {})
                # answered while the other run's statement still runs: with one client for every
                # session, this statement would have waited for it to end
                seen.append(statements_running(store, "biztrace_lane_test_long"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=long_run), threading.Thread(target=quick_run)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures
    assert seen == [1]


def test_a_run_reads_through_a_client_given_back_by_an_earlier_run(shared) -> None:
    store = shared
    with data.script_lane() as first:
        assert data.store() is first and first.client is not store.client
    assert data.store() is store  # the run is over: this thread reads the shared store again
    with data.script_lane() as second:
        assert second.client is first.client  # given back and lent again, not a new one each run


def test_a_lane_inside_a_run_is_the_runs_own(shared) -> None:
    """A fragment drawn by the full run enters the lane again: it reads through the run's client, and
    borrows no other (one that nobody would give back)."""
    store = shared
    with data.script_lane() as run:
        with data.script_lane() as fragment:
            assert fragment is run and data.store() is run
        assert data.store() is run  # leaving the inner block does not end the run's lane
    assert data.store() is store


def test_a_refreshed_fragment_reruns_on_a_client_of_its_own(shared) -> None:
    """``ui.refreshed`` bodies (the Overview, Alerts and Reconciliation) rerun without app.py: each rerun
    borrows a client itself (``ui.in_lane``, the function the fragment reruns)."""
    from biztrace.dashboard import ui

    store = shared
    seen = []
    ui.in_lane(lambda: seen.append(data.store()))()  # what ui.refreshed's timed rerun calls, outside any lane
    assert seen[0] is not store and seen[0].client is not store.client
