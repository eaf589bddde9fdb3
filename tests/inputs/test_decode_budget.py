"""The pixel budget: concurrent decodes never hold more pixels than it allows, and images go through it."""

from __future__ import annotations

import io
import threading
import time

from PIL import Image, ImageFile

from happyhorse.inputs import images
from happyhorse.inputs.decode_budget import PixelBudget


def test_reservations_past_the_capacity_wait_for_others_to_finish() -> None:
    budget, peak, lock = PixelBudget(100), [0], threading.Lock()

    def decode(pixels: int) -> None:
        with budget.reserve(pixels):
            with lock:
                peak[0] = max(peak[0], budget.in_use)
            time.sleep(0.02)

    threads = [threading.Thread(target=decode, args=(p,)) for p in (60, 60, 30, 30, 100, 500, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] <= 100  # 500 was capped to the whole budget: it ran alone
    assert budget.in_use == 0


def test_a_released_reservation_is_returned_even_on_error() -> None:
    budget = PixelBudget(10)
    try:
        with budget.reserve(10):
            raise ValueError
    except ValueError:
        pass
    assert budget.in_use == 0
    with budget.reserve(10):  # would wait forever had the first not been returned
        assert budget.in_use == 10


def test_inspecting_images_at_once_stays_within_the_budget(monkeypatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (1000, 1000), "orange").save(buffer, "PNG")
    data = buffer.getvalue()
    budget = PixelBudget(1_500_000)  # room for one of these 1 MP images at a time, not two
    monkeypatch.setattr(images, "DECODE_BUDGET", budget)
    decoding, peak, lock = [0], [0], threading.Lock()
    real_load = ImageFile.ImageFile.load

    def counted_load(self):  # type: ignore[no-untyped-def]
        if not self.tile:  # already decoded (the EXIF lookup calls load() again): nothing to count
            return real_load(self)
        with lock:
            decoding[0] += 1
            peak[0] = max(peak[0], decoding[0])
        try:
            time.sleep(0.02)
            return real_load(self)
        finally:
            with lock:
                decoding[0] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted_load)
    threads = [threading.Thread(target=images.inspect_image, args=(data,), kwargs={"param": "image"}) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == 1 and budget.in_use == 0
