"""Reconnect backoff and the subscription overflow policy, without sockets."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami.backoff import Backoff
from ami.events import CoreShowChannel, ResyncEvent, parse_event
from ami.subscription import REASON_FULLY_BOOTED, REASON_OVERFLOW, EventSubscription


def test_backoff_doubles_from_initial_up_to_the_cap_and_resets():
    backoff = Backoff(0.5, 30.0)
    assert [backoff.next_delay() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 0.5


@settings(max_examples=200)
@given(
    initial=st.floats(min_value=0.01, max_value=10),
    cap=st.floats(min_value=0.01, max_value=100),
    jitter=st.floats(min_value=0, max_value=0.99),
    attempts=st.integers(min_value=1, max_value=2000),
    seed=st.integers(),
)
def test_backoff_never_exceeds_the_cap_even_with_jitter_or_after_many_attempts(
    initial, cap, jitter, attempts, seed
):
    backoff = Backoff(initial, cap, jitter=jitter, rng=random.Random(seed))
    delays = [backoff.next_delay() for _ in range(attempts)]
    assert all(0 < d <= cap for d in delays)


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(1, 1, factor=0.5)
    with pytest.raises(ValueError):
        Backoff(1, 1, jitter=1.0)


class Harness:
    def __init__(self, maxsize: int, names: frozenset[str] | None = None) -> None:
        self.requests = 0
        self.closed: list[EventSubscription] = []
        self.sub = EventSubscription(names, maxsize, request_resync=self.request, on_close=self.closed.append)

    def request(self) -> None:
        self.requests += 1


def device(n: int):
    return parse_event({"Event": "DeviceStateChange", "Device": f"PJSIP/{n}", "State": "INUSE"})


CHANNEL = parse_event({"Event": "CoreShowChannel", "Channel": "PJSIP/1-00000001", "Uniqueid": "1.1"})
assert isinstance(CHANNEL, CoreShowChannel)


async def test_events_queue_in_order_and_the_filter_applies():
    h = Harness(10, frozenset({"DeviceStateChange"}))
    h.sub._offer(parse_event({"Event": "Newexten"}))
    for n in range(3):
        h.sub._offer(device(n))
    assert [e.device for e in [await anext(h.sub) for _ in range(3)]] == ["PJSIP/0", "PJSIP/1", "PJSIP/2"]
    assert h.sub.get_nowait() is None


async def test_full_queue_keeps_history_drops_new_events_and_asks_once_for_a_resync():
    h = Harness(3)
    for n in range(10):
        h.sub._offer(device(n))
    assert h.sub.qsize() == 3 and h.sub.overflowed and h.requests == 1
    h.sub._deliver_resync(REASON_OVERFLOW, (CHANNEL,), 5.0)
    assert not h.sub.overflowed
    h.sub._offer(device(10))  # still full (3 events + marker): this one is dropped again
    items = [h.sub.get_nowait() for _ in range(4)]
    assert [e.device for e in items[:3]] == ["PJSIP/0", "PJSIP/1", "PJSIP/2"]
    marker = items[3]
    assert isinstance(marker, ResyncEvent)
    assert marker.dropped == 7 and marker.channels == (CHANNEL,) and marker.received_at == 5.0
    # Reading that marker, with a new gap behind it, asks for the next snapshot.
    assert h.requests == 2
    h.sub._deliver_resync(REASON_OVERFLOW, (), 6.0)
    second = h.sub.get_nowait()
    assert isinstance(second, ResyncEvent) and second.dropped == 1
    assert h.sub.total_dropped == 8


async def test_overflow_snapshots_skip_subscribers_that_lost_nothing():
    h = Harness(3)
    h.sub._offer(device(1))
    h.sub._deliver_resync(REASON_OVERFLOW, (CHANNEL,), 1.0)
    assert h.sub.qsize() == 1
    h.sub._deliver_resync(REASON_FULLY_BOOTED, (CHANNEL,), 2.0)
    assert h.sub.qsize() == 2 and isinstance(h.sub.get_nowait(), type(device(1)))
    marker = h.sub.get_nowait()
    assert isinstance(marker, ResyncEvent) and marker.reason == REASON_FULLY_BOOTED


async def test_queue_never_grows_past_maxsize_plus_one():
    h = Harness(4)
    for round_ in range(5):
        for n in range(20):
            h.sub._offer(device(n))
        h.sub._deliver_resync(REASON_OVERFLOW, (), float(round_))
        h.sub._deliver_resync(REASON_FULLY_BOOTED, (), float(round_))
        assert h.sub.qsize() <= 5


async def test_a_waiting_reader_wakes_on_the_next_event_and_ends_on_close():
    h = Harness(5)
    reader = asyncio.create_task(anext(h.sub))
    await asyncio.sleep(0)
    assert not reader.done()
    h.sub._offer(device(7))
    assert (await reader).device == "PJSIP/7"
    rest = asyncio.create_task(_collect(h.sub))
    await asyncio.sleep(0)
    h.sub.close()
    assert await rest == []
    assert h.closed == [h.sub]
    h.sub._offer(device(8))  # ignored once closed
    assert h.sub.qsize() == 0


async def _collect(sub):
    return [e async for e in sub]


def test_maxsize_must_be_positive():
    with pytest.raises(ValueError):
        Harness(0)
