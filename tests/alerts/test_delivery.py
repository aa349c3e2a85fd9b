"""Delivery off the evaluation thread: a whole-request deadline, Retry-After honoured, one worker per receiver."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta
from functools import partial

import pytest

from biztrace.alerts.channels import ChannelError, RecordingChannel, build_channel, deliver
from biztrace.alerts.channels.base import post_json
from biztrace.alerts.delivery import Dispatcher
from biztrace.readmodel import alert_store
from biztrace.readmodel.models import AlertInstance, Notification

from .servers import TrickleServer

T0 = datetime(2026, 11, 20, 12, 0)


@pytest.fixture
def trickle():
    made: list[TrickleServer] = []

    def make(**options) -> TrickleServer:
        made.append(TrickleServer(**options))
        return made[-1]

    yield make
    for server in made:
        server.close()


def _notification(at: datetime, receiver: str = "ops", group: str = "ops/g1") -> Notification:
    alert = AlertInstance(rule="DeadLetters", labels={"alertname": "DeadLetters", "severity": "critical"},
                          state="firing", value=3, active_since=T0)  # fmt: skip
    return Notification(receiver=receiver, group_key=group, group_labels={"alertname": "DeadLetters"},
                        status="firing", alerts=[alert], sent_at=at)  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers"])
def test_a_trickling_receiver_is_cut_at_the_whole_request_deadline(trickle, trickle_headers):
    server = trickle(every_s=0.2, body_bytes=150, trickle_headers=trickle_headers)  # 30 s and more of trickle
    started = time.monotonic()
    with pytest.raises(ChannelError) as caught:
        post_json(server.url, {"alerts": []}, timeout_s=1.0)
    held = time.monotonic() - started
    assert caught.value.recoverable and "did not answer within 1s" in caught.value.message
    assert held < 10, f"the request was held {held:.1f}s; its deadline is 1s"
    deadline = time.monotonic() + 5
    while server.connections()[0].ended is None and time.monotonic() < deadline:
        time.sleep(0.05)
    seconds = server.connections()[0].seconds
    assert seconds is not None and seconds < 10, f"the server saw the connection held {seconds}s"


def test_the_webhook_channel_sends_within_its_deadline(trickle):
    server = trickle(every_s=0.2, body_bytes=150)
    channel = build_channel({"type": "webhook", "url": server.url, "timeout_s": 1})
    result = deliver(channel, _notification(T0), attempts=2, sleep=lambda _: None)
    assert not result.delivered and result.attempts == 2 and "within 1s" in result.error


def test_retry_after_holds_the_channel_until_then_and_sends_the_latest_version(store):
    clock = FakeClock()
    channel = RecordingChannel("limited", fail_times=1, retry_after_s=3600)
    quick = partial(deliver, sleep=lambda _: None, max_backoff_s=30)
    dispatcher = Dispatcher(store, {"ops": [("webhook", channel)]}, deliver=quick, clock=clock)
    try:
        dispatcher.submit([_notification(T0)], dispatcher.generation)
        assert dispatcher.wait_idle(10) and channel.attempts == 1
        for minute in range(1, 6):  # every pass plans the group again: nothing is sent before Retry-After
            dispatcher.submit([_notification(T0 + timedelta(minutes=minute))], dispatcher.generation)
            assert dispatcher.wait_idle(10)
        assert channel.attempts == 1 and dispatcher.pending() == {"ops": 1}
        clock.now += 3600
        dispatcher.submit([_notification(T0 + timedelta(minutes=6))], dispatcher.generation)
        assert dispatcher.wait_idle(10)
        assert channel.attempts == 2 and [n.sent_at for n in channel.sent] == [T0 + timedelta(minutes=6)]
    finally:
        dispatcher.close()
    log = sorted(alert_store.notifications(store), key=lambda row: row["At"])
    assert [(row["At"], row["Delivered"]) for row in log] == [(T0, False), (T0 + timedelta(minutes=6), True)]
    assert "retry after 3600s" in log[0]["Error"]


def test_a_version_planned_before_a_delivery_is_not_sent_again(store):
    channel = RecordingChannel("ops")
    dispatcher = Dispatcher(store, {"ops": [("webhook", channel)]}, deliver=partial(deliver, sleep=lambda _: None))
    try:
        planned = dispatcher.generation
        dispatcher.submit([_notification(T0)], planned)
        assert dispatcher.wait_idle(10) and len(channel.sent) == 1
        dispatcher.submit([_notification(T0)], planned)  # planned from a log read before that delivery
        assert dispatcher.wait_idle(10) and len(channel.sent) == 1
        dispatcher.submit([_notification(T0 + timedelta(minutes=5))], dispatcher.generation)
        assert dispatcher.wait_idle(10) and len(channel.sent) == 2
    finally:
        dispatcher.close()


def test_each_receiver_has_its_own_worker(store, trickle):
    slow = trickle(every_s=0.2, body_bytes=150)
    fast = RecordingChannel("fast")
    channels = {"slow": [("webhook", build_channel({"type": "webhook", "url": slow.url, "timeout_s": 5}))],
                "fast": [("recording", fast)]}  # fmt: skip
    dispatcher = Dispatcher(store, channels, deliver=partial(deliver, attempts=1))
    try:
        dispatcher.submit([_notification(T0, "slow", "slow/g1"), _notification(T0, "fast", "fast/g1")], 0)
        budget = time.monotonic() + 20
        while not fast.sent and time.monotonic() < budget:
            time.sleep(0.01)
        slow_held = [c.ended for c in slow.connections()]
        assert fast.sent, "the fast receiver was not served"
        assert all(ended is None for ended in slow_held), "the fast receiver was served after the slow one let go"
        assert dispatcher.wait_idle(30)
        outcomes = {o.receiver: o for o in dispatcher.outcomes()}
        assert outcomes["fast"].delivered and not outcomes["slow"].delivered
    finally:
        dispatcher.close()


def test_an_smtp_server_that_trickles_its_greeting_is_cut_at_the_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def greet_slowly() -> None:
        conn, _ = listener.accept()
        with conn:
            for byte in b"220 " + b"x" * 200 + b"\r\n":  # 40 s of greeting
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    server = threading.Thread(target=greet_slowly, daemon=True)
    server.start()
    channel = build_channel({"type": "email", "to": ["ops@example.com"], "host": "127.0.0.1",
                             "port": listener.getsockname()[1], "timeout_s": 1})  # fmt: skip
    started = time.monotonic()
    try:
        with pytest.raises(ChannelError) as caught:
            channel.send(_notification(T0))
        held = time.monotonic() - started
        assert caught.value.recoverable and "within 1s" in caught.value.message
        assert held < 10, f"the delivery was held {held:.1f}s; its deadline is 1s"
    finally:
        stop.set()
        listener.close()
        server.join(5)
