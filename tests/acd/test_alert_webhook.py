"""The alert webhook (acd/alert_webhook.py) against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from acd.alert_webhook import AlertWebhook, Delivery
from acd.alerts import Alert, AlertKind
from switchboard.clock import SystemClock
from tests.acd.alert_receiver import Receiver

RAISED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALERT = Alert(
    "long_wait:sales", AlertKind.LONG_WAIT, "sales", "Queue sales: 1 caller has waited", 130, 120, RAISED_AT
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    try:
        yield started
    finally:
        started.stop()


def webhook(url: str, **kw: object) -> AlertWebhook:
    options: dict[str, object] = {"timeout": 2.0, "retries": 2, "backoff": 0.01, **kw}
    return AlertWebhook(url, SystemClock(), **options)  # type: ignore[arg-type]


async def test_the_post_carries_the_alert_and_a_signature_the_receiver_can_check(receiver: Receiver) -> None:
    hook = webhook(receiver.url, secret="s3cret")
    assert await hook.deliver(Delivery("raised", ALERT, RAISED_AT))
    [got] = receiver.received
    assert got.path == "/hooks/alerts"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-switchboard-event"] == "alert.raised"
    body = got.json()
    assert body["event"] == "alert.raised"
    assert body["alert"] == {
        "id": "long_wait:sales", "kind": "long_wait", "queue": "sales",
        "message": "Queue sales: 1 caller has waited", "value": 130, "threshold": 120,
        "raised_at": "2026-01-05T09:00:00Z",
    }  # fmt: skip
    timestamp = got.headers["x-switchboard-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-switchboard-signature"] == f"sha256={expected}"
    wrong = hmac.new(b"other", timestamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-switchboard-signature"] != f"sha256={wrong}"


async def test_without_a_secret_the_post_is_unsigned(receiver: Receiver) -> None:
    assert await webhook(receiver.url).deliver(Delivery("cleared", ALERT, RAISED_AT))
    [got] = receiver.received
    assert "x-switchboard-signature" not in got.headers
    assert got.json()["event"] == "alert.cleared"


async def test_server_errors_are_retried_with_the_same_delivery_id_until_accepted(receiver: Receiver) -> None:
    receiver.statuses = [503, 500, 200]
    hook = webhook(receiver.url, retries=3)
    assert await hook.deliver(Delivery("raised", ALERT, RAISED_AT))
    assert len(receiver.received) == 3
    assert len({r.headers["x-switchboard-delivery"] for r in receiver.received}) == 1
    assert (hook.delivered, hook.failed) == (1, 0)


async def test_a_refusal_is_not_retried_and_is_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [403]
    hook = webhook(receiver.url, retries=3)
    with caplog.at_level(logging.ERROR, logger="acd.alert_webhook"):
        assert not await hook.deliver(Delivery("raised", ALERT, RAISED_AT))
    assert len(receiver.received) == 1
    assert "HTTP 403" in caplog.text and hook.failed == 1


async def test_retries_run_out_against_a_failing_receiver(receiver: Receiver) -> None:
    receiver.statuses = [500]
    hook = webhook(receiver.url, retries=2)
    assert not await hook.deliver(Delivery("raised", ALERT, RAISED_AT))
    assert len(receiver.received) == 3


async def test_a_silent_receiver_times_out_and_the_event_loop_keeps_running(receiver: Receiver) -> None:
    receiver.delay = 1.5
    hook = webhook(receiver.url, timeout=0.3, retries=0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        assert not await hook.deliver(Delivery("raised", ALERT, RAISED_AT))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert time.monotonic() - started < 1.2
    assert ticks >= 3  # the POST ran off the loop


async def test_an_unreachable_receiver_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    hook = webhook(f"http://127.0.0.1:{port}/x", retries=1)
    with caplog.at_level(logging.WARNING, logger="acd.alert_webhook"):
        assert not await hook.deliver(Delivery("raised", ALERT, RAISED_AT))
    assert "gave up" in caplog.text


async def test_submit_never_waits_and_the_sender_posts_in_order(receiver: Receiver) -> None:
    hook = webhook(receiver.url)
    hook.submit(Delivery("raised", ALERT, RAISED_AT))
    hook.submit(Delivery("cleared", ALERT, RAISED_AT))
    assert receiver.received == []  # nothing posted until the sender runs
    sender = asyncio.create_task(hook.run())
    try:
        for _ in range(200):
            if len(receiver.received) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert [r.json()["event"] for r in receiver.received] == ["alert.raised", "alert.cleared"]


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        AlertWebhook("file:///etc/passwd", SystemClock())
