"""Submit-time validation of a generation request: every rule of SPEC §3.

The API hands in the decoded body (JSON object or multipart form fields) and
any multipart image parts; out comes a :class:`GenerationRequest` or an
:class:`~happyhorse.errors.InvalidRequest` naming the field at fault and what
to change. Image *bytes* are checked elsewhere (``happyhorse.inputs``); here we
check counts, kinds of reference and how they fit the mode.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

from happyhorse.errors import InvalidRequest
from happyhorse.ids import is_id
from happyhorse.rules import RULES
from happyhorse.text import check_text, escaped

FIELDS = ("model", "prompt", "mode", "image", "aspect_ratio", "resolution", "duration", "seed", "watermark")
_CHARACTER = re.compile(r"\bcharacter(\d+)\b", re.IGNORECASE)
_FORM_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_MAX_NUMBER_CHARS = 1000  # int() refuses past 4,300 digits; nothing legal needs more than 10


@dataclass(frozen=True)
class ImageReference:
    """One entry of ``image``: where its bytes come from."""

    kind: str  # "url" | "data_uri" | "upload" | "part"
    value: str  # the URL, the data URI, the upload id, or the part's index as text
    param: str  # "image" or "image[N]", for error messages


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    prompt: str
    mode: str  # resolved: t2v | i2v | r2v
    images: tuple[ImageReference, ...]
    aspect_ratio: str
    resolution: str
    duration: int
    seed: int
    watermark: bool
    remixed_from: str | None = None
    """The job this one remixes (``POST /v1/videos/{id}/remix``): kept on the job's stored request."""


def parse_generation_request(
    fields: dict[str, Any], *, image_parts: int = 0, from_form: bool = False
) -> GenerationRequest:
    """Validate ``fields`` (JSON values, or strings when ``from_form``) plus
    ``image_parts`` multipart file parts, which count as images after any
    ``image`` strings."""
    unknown = sorted(escaped(name) for name in set(fields) - set(FIELDS))
    if unknown:
        raise InvalidRequest(
            "unknown_field",
            f"unknown field {unknown[0]!r}; allowed fields are: {', '.join(FIELDS)}",
            unknown[0],
        )
    prompt = _parse_prompt(fields.get("prompt"))
    images = _parse_image_references(fields.get("image"), image_parts)
    mode = _resolve_mode(_parse_enum(fields, "mode", RULES.request_modes, "auto"), prompt, len(images))
    return GenerationRequest(
        model=_parse_model(fields.get("model", RULES.model_id)),
        prompt=prompt,
        mode=mode,
        images=images,
        aspect_ratio=_parse_enum(fields, "aspect_ratio", RULES.aspect_ratios, RULES.default_aspect_ratio),
        resolution=_parse_enum(fields, "resolution", RULES.resolutions, RULES.default_resolution, lower=True),
        duration=_parse_duration(fields.get("duration", RULES.default_duration), from_form),
        seed=_parse_seed(fields.get("seed"), from_form),
        watermark=_parse_bool(fields.get("watermark", False), "watermark", from_form),
    )


def named_characters(prompt: str) -> list[int]:
    """The ``characterN`` numbers a prompt names, in order of first mention."""
    seen: list[int] = []
    for match in _CHARACTER.finditer(prompt):
        number = int(match.group(1))
        if number not in seen:
            seen.append(number)
    return seen


def _parse_model(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in RULES.names:
        raise InvalidRequest(
            "model_not_found",
            f"model {value!r} is not served here; use {RULES.model_id!r}",
            "model",
        )
    return RULES.names[value.strip().lower()]


def _parse_prompt(value: Any) -> str:
    if value is None:
        raise InvalidRequest("missing_required_field", "prompt is required: describe the video to generate", "prompt")
    if not isinstance(value, str):
        raise InvalidRequest("invalid_type", f"prompt must be a string, got {_type_name(value)}", "prompt")
    # The body readers check this already; here too, since a prompt that cannot be encoded
    # would be stored and then break every answer that shows the job.
    prompt = check_text(value, "prompt").strip()
    if not prompt:
        raise InvalidRequest("prompt_empty", "prompt is empty; describe the video to generate", "prompt")
    if len(prompt) > RULES.max_prompt_chars:
        raise InvalidRequest(
            "prompt_too_long",
            f"prompt is {len(prompt)} characters; shorten it to at most {RULES.max_prompt_chars}",
            "prompt",
        )
    return prompt


def _parse_enum(fields: dict[str, Any], name: str, allowed: tuple[str, ...], default: str, *, lower: bool = False) -> str:
    value = fields.get(name, default)
    if isinstance(value, str):
        candidate = value.strip().lower() if lower else value.strip()
        if candidate in allowed:
            return candidate
    raise InvalidRequest(f"invalid_{name}", f"{name} must be one of {', '.join(allowed)}; got {value!r}", name)


def _parse_duration(value: Any, from_form: bool) -> int:
    number = _parse_number(value, "duration", from_form)
    if not RULES.min_duration <= number <= RULES.max_duration:
        raise InvalidRequest(
            "duration_out_of_range",
            f"duration must be between {RULES.min_duration} and {RULES.max_duration} seconds, got {_show(number)}",
            "duration",
        )
    if number != int(number):
        raise InvalidRequest(
            "duration_not_integer",
            f"duration must be a whole number of seconds, got {_show(number)}; use {math.floor(number)} or {math.ceil(number)}",
            "duration",
        )
    return int(number)


def _parse_seed(value: Any, from_form: bool) -> int:
    if value is None:
        return secrets.randbelow(RULES.max_seed + 1)
    number = _parse_number(value, "seed", from_form)
    if number != int(number):
        raise InvalidRequest("invalid_type", f"seed must be an integer, got {_show(number)}", "seed")
    if not 0 <= number <= RULES.max_seed:
        raise InvalidRequest(
            "seed_out_of_range", f"seed must be between 0 and {RULES.max_seed}, got {_show(number)}", "seed"
        )
    return int(number)


def _parse_number(value: Any, name: str, from_form: bool) -> float | int:
    if from_form and isinstance(value, str):
        # A number as JSON spells it, in ASCII digits: Python's int() would also take
        # "1_0", "١٠" (Arabic-Indic digits) and "inf".
        text = value.strip(" \t\r\n")
        if len(text) <= _MAX_NUMBER_CHARS and _FORM_NUMBER.fullmatch(text):
            parsed = float(text) if any(c in text for c in ".eE") else int(text)
            if math.isfinite(parsed):
                return parsed
        raise InvalidRequest(
            "invalid_type",
            f"{name} must be a number in ASCII digits (at most {_MAX_NUMBER_CHARS} characters) such as 5, "
            f"got {value[:40]!r}",
            name,
        )
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise InvalidRequest("invalid_type", f"{name} must be a number, got {_type_name(value)}", name)


def _parse_bool(value: Any, name: str, from_form: bool) -> bool:
    if isinstance(value, bool):
        return value
    # A form field is text: a boolean is spelled as in JSON (OpenAPI's form serialization), any case.
    if from_form and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidRequest("invalid_type", f"{name} must be true or false, got {value!r}", name)


def _parse_image_references(value: Any, image_parts: int) -> tuple[ImageReference, ...]:
    if value is None:
        strings: list[Any] = []
    elif isinstance(value, str):
        strings = [value]
    elif isinstance(value, list):
        strings = value
    else:
        raise InvalidRequest(
            "invalid_type", f"image must be a string or a list of strings, got {_type_name(value)}", "image"
        )
    total = len(strings) + image_parts
    if total > RULES.max_images:
        raise InvalidRequest(
            "too_many_images", f"at most {RULES.max_images} images are allowed, got {total}; remove {total - RULES.max_images}", "image"
        )
    single = total == 1
    references = [_classify_reference(item, "image" if single else f"image[{i}]") for i, item in enumerate(strings)]
    references += [
        ImageReference("part", str(i), "image" if single else f"image[{len(strings) + i}]") for i in range(image_parts)
    ]
    return tuple(references)


def _classify_reference(item: Any, param: str) -> ImageReference:
    if not isinstance(item, str):
        raise InvalidRequest("invalid_type", f"{param} must be a string, got {_type_name(item)}", param)
    text = check_text(item, param).strip()
    if text.startswith("data:"):
        return ImageReference("data_uri", text, param)
    if len(text) > RULES.max_image_reference_chars:
        raise InvalidRequest(
            "invalid_image_reference", f"{param} is longer than {RULES.max_image_reference_chars} characters", param
        )
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        return ImageReference("url", text, param)
    if is_id(text, "upload"):
        return ImageReference("upload", text, param)
    raise InvalidRequest(
        "invalid_image_reference",
        f"{param} must be an https:// or http:// URL, a data:image/...;base64, URI or an upload id "
        f"(upload_...) from POST /v1/uploads; got {text[:60]!r}",
        param,
    )


def _resolve_mode(mode: str, prompt: str, images: int) -> str:
    characters = named_characters(prompt)
    if mode == "auto":
        if images == 0:
            mode = "t2v"
        elif images == 1:
            mode = "r2v" if 1 in characters else "i2v"
        else:
            mode = "r2v"
    elif mode == "t2v" and images:
        raise InvalidRequest(
            "mode_image_mismatch", f"mode t2v takes no images, got {images}; remove image or use mode i2v/r2v", "mode"
        )
    elif mode == "i2v" and images != 1:
        raise InvalidRequest(
            "mode_image_mismatch", f"mode i2v needs exactly one image, got {images}", "image" if images else "mode"
        )
    elif mode == "r2v" and images == 0:
        raise InvalidRequest(
            "mode_image_mismatch", "mode r2v needs 1 to 9 reference images, got none; add image", "image"
        )
    if mode == "r2v":
        beyond = [n for n in characters if n > images or n == 0]
        if beyond:
            raise InvalidRequest(
                "character_reference_out_of_range",
                f"prompt names character{beyond[0]} but only {images} reference image"
                f"{'s were' if images != 1 else ' was'} given; characterN refers to the N-th image",
                "prompt",
            )
    return mode


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _show(number: float | int) -> str:
    return str(int(number)) if number == int(number) else str(number)
