"""The start-up heap is frozen once per process and young collections are made less frequent."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from switchboard.heap import YOUNG_THRESHOLD, freeze_startup_heap


@pytest.fixture
def fresh_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    was_frozen = gc.get_freeze_count()
    yield
    gc.set_threshold(*threshold)
    if not was_frozen:
        gc.unfreeze()


def test_start_up_heap_is_frozen_once_per_process(fresh_gc: None) -> None:
    if gc.get_freeze_count():
        gc.unfreeze()
    frozen = freeze_startup_heap()
    assert frozen > 1000  # the interpreter, pytest and our modules
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    later = [object() for _ in range(10)]  # what a second controller would allocate
    assert freeze_startup_heap() == frozen
    assert gc.get_freeze_count() == frozen
    del later
