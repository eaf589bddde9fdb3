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


def test_the_heap_is_trimmed_once_when_a_burst_of_large_decodes_ends() -> None:
    trims: list[int] = []
    budget = PixelBudget(100_000_000, trim=lambda: trims.append(budget.in_use))
    with budget.reserve(3_000_000):
        with budget.reserve(3_000_000):
            pass
        assert trims == []  # another decode still holds its pixels: nothing to give back yet
    assert trims == [0]  # the budget went idle after 6 MP: trimmed once, with nothing in use
    with budget.reserve(1_000_000):
        pass
    assert trims == [0]  # a small decode alone is not worth a trim


def test_an_image_is_closed_before_its_pixels_leave_the_budget(monkeypatch) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2500, 2000), "teal").save(buffer, "PNG")
    open_at_trim: list[bool] = []
    opened: list[Image.Image] = []
    real_open = Image.open

    def tracking_open(*args, **kwargs):  # type: ignore[no-untyped-def]
        img = real_open(*args, **kwargs)
        opened.append(img)
        return img

    def trim() -> None:  # the decoded pixels must already be freed when the heap is trimmed
        open_at_trim.append(any(not _closed(img) for img in opened))

    monkeypatch.setattr(images, "DECODE_BUDGET", PixelBudget(100_000_000, trim=trim))
    monkeypatch.setattr(images.Image, "open", tracking_open)
    images.inspect_image(buffer.getvalue(), param="image")
    images.decode_image(buffer.getvalue())
    assert open_at_trim == [False, False]


def _closed(img: Image.Image) -> bool:
    try:
        img.im  # noqa: B018 - a closed image raises on access to its pixels
    except ValueError:
        return True
    return False
