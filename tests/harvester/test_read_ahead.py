"""The search read-ahead of the pipeline: items in order, the producer's error after the items before it,
and a consumer that stops early stops the producer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from harvester.pipeline import _read_ahead


def test_items_come_in_order_then_the_error() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("page 3 refused")

    got = []
    with pytest.raises(ValueError, match="page 3 refused"):
        for item in _read_ahead(items(), 2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_closing_early_stops_the_producer() -> None:
    produced = []
    finished = threading.Event()

    def items() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            finished.set()

    reader = _read_ahead(items(), 3)
    assert [next(reader) for _ in range(2)] == [0, 1]
    reader.close()
    assert finished.wait(5)
    assert len(produced) <= 2 + 3 + 2  # what was read, the queue's depth, one in hand and one being put
