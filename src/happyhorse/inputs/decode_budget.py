"""A process-wide budget of pixels being decoded at once.

Decoding an image takes memory in proportion to its pixels, whatever its file
size: a 1.6 kB lossless WEBP of 40 megapixels (legal under SPEC §3's cap)
takes about 600 MB while Pillow decodes it. Requests are answered from a pool
of threads, so without a bound a handful of such uploads at once would take
gigabytes. Every decode in :mod:`happyhorse.inputs.images` first reserves its
pixels here; a decode that does not fit waits until others finish. Small
images reserve little and never wait in practice.

The budget also gives the memory back. Pillow and the codecs allocate a big
image in blocks that glibc serves from per-thread heaps and keeps after they
are freed: a burst of eight 40 MP WEBP uploads left a server at 950 MB for
good. So when the last decode of a burst of large ones ends, the process's
free heap pages go back to the system (``malloc_trim``; glibc only, a no-op
elsewhere). It costs a few milliseconds, once per burst.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("happyhorse.inputs.decode_budget")

TRIM_AFTER_PIXELS = 4_000_000
"""Decoded pixels (since the last trim) that make it worth trimming when the budget goes idle: a
4 MP image allocates ~16 MB in blocks, the size where glibc starts keeping freed memory in its heaps."""


def _load_malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)`` (free heap pages back to the system, every arena), else a no-op."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # musl, macOS: no malloc_trim
        trim = None
    if trim is None:
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


return_free_memory = _load_malloc_trim()


class PixelBudget:
    """At most ``capacity`` pixels decoded at once; a request above it is capped to it (it then runs alone)."""

    def __init__(self, capacity: int, *, trim: Callable[[], None] | None = None) -> None:
        self.capacity = capacity
        self._in_use = 0
        self._since_trim = 0
        self._trim = trim or return_free_memory
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
                self._since_trim += pixels
                trim_now = self._in_use == 0 and self._since_trim >= TRIM_AFTER_PIXELS
                if trim_now:
                    self._since_trim = 0
                self._changed.notify_all()
            if trim_now:  # outside the lock: other decodes may start meanwhile
                self._trim()

    @property
    def in_use(self) -> int:
        return self._in_use
