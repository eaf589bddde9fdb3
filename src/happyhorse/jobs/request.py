"""The request a job keeps: what was asked, resolved at submit, as stored on its row.

Built by the submit service from a checked request (:mod:`happyhorse.submit`),
stored as JSON in ``jobs.request`` (:meth:`JobRequest.to_json`), read back with
every :class:`~happyhorse.jobs.model.Job` (:meth:`JobRequest.from_json`) and
used by the worker (the engine's spec) and the presenter (the job's
``request`` object).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from happyhorse.rules import Geometry, output_geometry


@dataclass(frozen=True, slots=True)
class JobInput:
    """One input image: an upload (every image since submit-time checks) or, on jobs
    queued before them, a URL the worker fetches."""

    kind: str  # "upload" | "url"
    upload_id: str | None = None
    url: str | None = None

    @classmethod
    def upload(cls, upload_id: str) -> JobInput:
        return cls("upload", upload_id=upload_id)

    def to_json(self) -> dict[str, str]:
        if self.kind == "upload":
            return {"kind": "upload", "upload_id": str(self.upload_id)}
        return {"kind": self.kind, "url": str(self.url)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobInput:
        return cls(data["kind"], upload_id=data.get("upload_id"), url=data.get("url"))


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job's request. ``mode`` is resolved (never ``auto``).

    ``aspect_ratio``, ``width`` and ``height`` are the output's, known at submit;
    only i2v jobs queued with URL inputs before images were fetched at submit carry
    ``None`` there, and the worker works them out from the image
    (:meth:`geometry`)."""

    mode: str
    prompt: str
    aspect_ratio: str | None
    resolution: str
    duration: int
    seed: int
    watermark: bool
    inputs: tuple[JobInput, ...] = ()
    width: int | None = None
    height: int | None = None
    remixed_from: str | None = None
    """The job this one remixes (the OpenAI surface's ``remixed_from_video_id``), if any."""

    def geometry(self, source_size: tuple[int, int] | None = None) -> Geometry:
        """The output's frame size; ``source_size`` is the (first) input image's, for i2v."""
        if self.width is not None and self.height is not None and self.aspect_ratio is not None:
            return Geometry(self.width, self.height, self.aspect_ratio)
        return output_geometry(self.mode, self.aspect_ratio, self.resolution, source_size)

    def to_json(self) -> dict[str, Any]:
        """The JSON kept in ``jobs.request``."""
        stored = {
            "mode": self.mode,
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "duration": self.duration,
            "seed": self.seed,
            "watermark": self.watermark,
            "width": self.width,
            "height": self.height,
            "inputs": [item.to_json() for item in self.inputs],
        }
        if self.remixed_from is not None:  # only on remixes: every other job's JSON stays as it was
            stored["remixed_from"] = self.remixed_from
        return stored

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRequest:
        """From ``jobs.request`` as stored by any version (``width``/``height`` came later)."""
        return cls(
            mode=data["mode"],
            prompt=data["prompt"],
            aspect_ratio=data.get("aspect_ratio"),
            resolution=data["resolution"],
            duration=int(data["duration"]),
            seed=int(data["seed"]),
            watermark=bool(data["watermark"]),
            inputs=tuple(JobInput.from_json(item) for item in data.get("inputs", ())),
            width=data.get("width"),
            height=data.get("height"),
            remixed_from=data.get("remixed_from"),
        )
