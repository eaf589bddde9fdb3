"""The model's rules have one home: every copy that must stay literal is held to it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from happyhorse.api.schemas import AccountObject, GenerationRequestBody, JobRequest as JobRequestSchema
from happyhorse.billing.pricing import job_cost
from happyhorse.rules import RULES, output_geometry


def _enum(model, name: str) -> list:
    return model.model_json_schema()["properties"][name]["enum"]


def test_the_openapi_enums_are_the_rules() -> None:
    assert _enum(GenerationRequestBody, "mode") == list(RULES.request_modes)
    assert _enum(GenerationRequestBody, "aspect_ratio") == list(RULES.aspect_ratios)
    # Resolutions are accepted in either case.
    accepted = _enum(GenerationRequestBody, "resolution")
    assert sorted({r.lower() for r in accepted}) == sorted(RULES.resolutions)
    assert set(accepted) == {*RULES.resolutions, *(r.upper() for r in RULES.resolutions)}
    assert _enum(JobRequestSchema, "mode") == list(RULES.modes)
    assert _enum(JobRequestSchema, "resolution") == list(RULES.resolutions)
    assert AccountObject.model_json_schema()["properties"]["currency"]["const"] == RULES.currency


def test_the_openapi_bounds_and_defaults_are_the_rules() -> None:
    props = GenerationRequestBody.model_json_schema()["properties"]
    assert props["prompt"]["maxLength"] == RULES.max_prompt_chars
    assert (props["duration"]["minimum"], props["duration"]["maximum"]) == (RULES.min_duration, RULES.max_duration)
    assert props["duration"]["default"] == RULES.default_duration
    assert props["aspect_ratio"]["default"] == RULES.default_aspect_ratio
    assert props["resolution"]["default"] == RULES.default_resolution
    assert props["seed"]["anyOf"][0]["maximum"] == RULES.max_seed
    assert props["image"]["anyOf"][1]["maxItems"] == RULES.max_images


def test_the_model_name_pattern_accepts_exactly_the_rules_names() -> None:
    pattern = GenerationRequestBody.model_json_schema()["properties"]["model"]["pattern"]
    for name in (RULES.model_id, *RULES.aliases):
        assert re.search(pattern, name) and re.search(pattern, f"  {name.upper()} ")
    assert not re.search(pattern, "happyhorse-1-0")


def test_the_card_publishes_the_rules() -> None:
    card = RULES.card()
    assert card["duration"] == {"min": 3, "max": 15, "step": 1, "default": 5}
    assert card["frame_sizes"]["16:9 1080p"] == [1920, 1080] and len(card["frame_sizes"]) == 10
    assert card["pricing"]["per_second"] == {"720p": "0.14", "1080p": "0.18"}
    assert card["audio"] == {"codec": "aac", "sample_rate": 48000, "channels": 2} and card["fps"] == 24


def test_prices_come_from_the_rules() -> None:
    assert job_cost("720p", 5) == Decimal("0.70") and job_cost("1080p", 15) == Decimal("2.70")


@pytest.mark.parametrize(("mode", "aspect", "source", "expected"), [
    ("t2v", "9:16", None, (720, 1280, "9:16")),
    ("r2v", "4:3", (10, 10), (1088, 832, "4:3")),  # only i2v follows its image
    ("i2v", "16:9", (1000, 1000), (960, 960, "1:1")),
    ("i2v", None, (3000, 4000), (832, 1088, "3:4")),
])
def test_one_geometry_for_submit_and_run(mode, aspect, source, expected) -> None:
    assert tuple(output_geometry(mode, aspect, "720p", source)) == expected


def test_an_i2v_geometry_needs_its_source() -> None:
    with pytest.raises(ValueError, match="source image"):
        output_geometry("i2v", "16:9", "720p")


def test_the_sdk_and_cli_literals_are_the_rules() -> None:
    # The SDK is the base install (no server packages), so it spells the rules out; held here.
    from typing import get_args

    from happyhorse.cli import generate
    from happyhorse.client import _models
    from happyhorse.client.resources import videos

    assert get_args(videos.Mode) == RULES.request_modes
    assert get_args(videos.AspectRatio) == RULES.aspect_ratios
    assert get_args(videos.Resolution) == RULES.resolutions
    assert get_args(_models.JobRequest.model_fields["mode"].annotation) == RULES.modes
    assert get_args(_models.JobRequest.model_fields["resolution"].annotation) == RULES.resolutions
    assert get_args(_models.Account.model_fields["currency"].annotation) == (RULES.currency,)
    assert tuple(m.value for m in generate.Mode) == RULES.request_modes
    assert tuple(a.value for a in generate.AspectRatio) == RULES.aspect_ratios
    assert tuple(r.value for r in generate.Resolution) == RULES.resolutions
