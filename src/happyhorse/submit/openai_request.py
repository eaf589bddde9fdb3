"""The body of ``POST /v1/videos`` (OpenAI's ``videos.create``) as a native submit body (SPEC §9).

OpenAI's fields are translated into ours, then the one parser of SPEC §3
(:func:`~happyhorse.submit.request.parse_generation_request`) checks the
result, so every rule holds on both surfaces:

- ``model``: ours (and its aliases), or any ``sora-*`` name, which means ours;
- ``seconds``: ``"3"`` … ``"15"`` (a string, as the ``openai`` client sends it; JSON may send a number)
  → ``duration``;
- ``size``: ``"WxH"``, one of the frame sizes of SPEC §4 → ``aspect_ratio`` and ``resolution``
  (default ``1280x720``);
- ``input_reference``: a file part, or ``{"image_url": …}`` (``input_reference[image_url]`` in a form)
  holding a URL, a data URI or an upload id → the one image, and mode ``i2v`` unless ``mode`` says otherwise;
- ours, as extra fields: ``mode``, ``image`` (``image[]`` in a form), ``seed``, ``watermark``,
  ``aspect_ratio``, ``resolution``.

An error the parser raises names our field; :data:`OpenAIRequest.params` maps it back to
the field the caller sent (``duration`` → ``seconds`` and so on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from happyhorse.errors import InvalidRequest
from happyhorse.rules import RULES
from happyhorse.text import escaped

OUR_FIELDS = ("mode", "image", "seed", "watermark", "aspect_ratio", "resolution")
OPENAI_FIELDS = ("prompt", "model", "seconds", "size", "input_reference")
DEFAULT_SIZE = "1280x720"
_IMAGE_URL_FIELD = "input_reference[image_url]"
_SECONDS = re.compile(r"[1-9][0-9]?")  # exactly as documented: no sign, space or leading zero
SIZES: dict[str, tuple[str, str]] = {
    f"{width}x{height}": key for key, (width, height) in RULES.frame_sizes.items()
}
"""``"WxH"`` → ``(aspect_ratio, resolution)``: every frame size of SPEC §4."""


@dataclass(frozen=True)
class OpenAIRequest:
    fields: dict[str, Any]
    """The native body: what :func:`~happyhorse.submit.request.parse_generation_request` reads."""
    params: dict[str, str] = field(default_factory=dict)
    """Our field name → the field the caller sent, for errors (``duration`` → ``seconds``)."""


def openai_to_native(sent: dict[str, Any], *, file_parts: int = 0, from_form: bool = False) -> OpenAIRequest:
    """Translate a ``videos.create`` body (JSON, or form fields plus ``file_parts`` ``input_reference``
    file parts) into the native body. Raises :class:`InvalidRequest` naming the OpenAI field."""
    sent = dict(sent)
    reference = _pop_input_reference(sent, file_parts)
    if "image[]" in sent:  # the openai client's form spelling of a list
        listed = sent.pop("image[]")
        sent["image"] = listed if isinstance(listed, list) else [listed]
    allowed = (*OPENAI_FIELDS, *OUR_FIELDS)
    unknown = sorted(escaped(name) for name in set(sent) - set(allowed))
    if unknown:
        raise InvalidRequest(
            "unknown_field", f"unknown field {unknown[0]!r}; allowed fields are: {', '.join(allowed)}", unknown[0]
        )
    native: dict[str, Any] = {name: sent[name] for name in ("prompt", *OUR_FIELDS) if name in sent}
    params: dict[str, str] = {}
    if "model" in sent:
        model = sent["model"]
        native["model"] = RULES.model_id if isinstance(model, str) and model.strip().lower().startswith("sora-") \
            else model
    if "seconds" in sent:
        native["duration"] = _parse_seconds(sent["seconds"])
        params["duration"] = "seconds"
    if "size" in sent:
        aspect_ratio, resolution = _parse_size(sent["size"], native)
        native["aspect_ratio"], native["resolution"] = aspect_ratio, resolution
        params.update(aspect_ratio="size", resolution="size")
    if reference is not None:
        if "image" in native:
            raise InvalidRequest(
                "conflicting_fields", "send the image as input_reference or as image, not both", "input_reference"
            )
        if reference != "part":
            native["image"] = reference
        native.setdefault("mode", "i2v")
        params.update(image="input_reference")
    return OpenAIRequest(native, params)


def _pop_input_reference(sent: dict[str, Any], file_parts: int) -> str | None:
    """The one ``input_reference``: ``"part"`` for a file part, else its ``image_url`` text; None without one."""
    found: list[str] = ["part"] * file_parts
    if _IMAGE_URL_FIELD in sent:
        found.append(sent.pop(_IMAGE_URL_FIELD))
    if "input_reference[file_id]" in sent:
        raise InvalidRequest(
            "unsupported_field", "input_reference[file_id] is not supported here; send the file itself, or "
            "image_url with a URL, data URI or upload id", "input_reference",
        )
    if "input_reference" in sent:
        value = sent.pop("input_reference")
        if not isinstance(value, dict) or set(value) != {"image_url"}:
            keys = sorted(value) if isinstance(value, dict) else []
            if "file_id" in keys:
                raise InvalidRequest(
                    "unsupported_field", "input_reference.file_id is not supported here; send image_url with a "
                    "URL, data URI or upload id", "input_reference",
                )
            raise InvalidRequest(
                "invalid_input_reference", 'input_reference must be a file, or {"image_url": URL, data URI or '
                "upload id}", "input_reference",
            )
        found.append(value["image_url"])
    if len(found) > 1:
        raise InvalidRequest("too_many_images", f"input_reference is one image, got {len(found)}", "input_reference")
    return found[0] if found else None


def _parse_seconds(value: Any) -> int:
    low, high = RULES.min_duration, RULES.max_duration
    if isinstance(value, float) and value.is_integer():  # JSON 7.0 is the integer 7
        value = int(value)
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or not _SECONDS.fullmatch(text):
        raise InvalidRequest(
            "invalid_seconds", f"seconds must be a whole number of seconds as a string, \"{low}\" to \"{high}\"; "
            f"got {str(value)[:40]!r}", "seconds",
        )
    if not low <= int(text) <= high:
        raise InvalidRequest(
            "duration_out_of_range", f"seconds must be between {low} and {high}, got {int(text)}", "seconds"
        )
    return int(text)


def _parse_size(value: Any, native: dict[str, Any]) -> tuple[str, str]:
    if not isinstance(value, str) or value not in SIZES:
        raise InvalidRequest(
            "invalid_size", f"size must be one of {', '.join(SIZES)}; got {str(value)[:40]!r}", "size"
        )
    aspect_ratio, resolution = SIZES[value]
    for name, implied in (("aspect_ratio", aspect_ratio), ("resolution", resolution)):
        given = native.get(name)
        if given is not None and str(given).strip().lower() != implied:
            raise InvalidRequest(
                "conflicting_fields", f"size {value} means {name} {implied}, but {name} is {str(given)[:20]!r}; "
                "send one of them", "size",
            )
    return aspect_ratio, resolution
