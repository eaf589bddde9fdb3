"""A process-wide budget of pixels being decoded at once.

Decoding an image takes memory in proportion to its pixels, whatever its file
size: a 1.6 kB lossless WEBP of 40 megapixels (legal under SPEC §3's cap)
takes about 600 MB while Pillow decodes it. Requests are answered from a pool
of threads, so without a bound a handful of such uploads at once would take
gigabytes. Every decode in :mod:`happyhorse.inputs.images` first reserves its
pixels here; a decode that does not fit waits until others finish. Small
images reserve little and never wait in practice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PixelBudget:
    """At most ``capacity`` pixels decoded at once; a request above it is capped to it (it then runs alone)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int) -> Iterator[None]:
        pixels = max(0, min(pixels, self.capacity))
        with self._changed:
            self._changed.wait_for(lambda: self._in_use + pixels <= self.capacity)
            self._in_use += pixels
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= pixels
                self._changed.notify_all()

    @property
    def in_use(self) -> int:
        return self._in_use
