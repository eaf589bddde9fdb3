"""The transition table: what may move where."""

from __future__ import annotations

import pytest

from happyhorse.jobs.status import (
    TERMINAL,
    TRANSITIONS,
    Event,
    InvalidTransition,
    Status,
    check_transition,
    transition,
)


def test_every_event_has_exactly_one_transition() -> None:
    assert sorted(t.event for t in TRANSITIONS) == sorted(Event)


def test_nothing_leaves_a_terminal_status() -> None:
    assert TERMINAL == {Status.COMPLETED, Status.FAILED, Status.CANCELLED}
    assert all(t.source not in TERMINAL for t in TRANSITIONS)
    for source in TERMINAL:
        for target in Status:
            with pytest.raises(InvalidTransition):
                check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target", "events"),
    [
        ("queued", "running", {Event.CLAIM}),
        ("running", "completed", {Event.COMPLETE}),
        ("running", "failed", {Event.FAIL, Event.POISON}),
        ("running", "queued", {Event.REQUEUE, Event.RELEASE}),
        ("running", "cancelled", {Event.CANCEL_ACK}),
        ("queued", "cancelled", {Event.CANCEL}),
    ],
)
def test_allowed_moves(source: str, target: str, events: set[Event]) -> None:
    assert check_transition(Status(source), Status(target)) == events


@pytest.mark.parametrize(("source", "target"), [("queued", "completed"), ("queued", "failed"), ("running", "running")])
def test_forbidden_moves(source: str, target: str) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(Status(source), Status(target))


def test_transition_by_event() -> None:
    assert transition(Event.CLAIM).target is Status.RUNNING
    assert transition("release").target is Status.QUEUED  # type: ignore[arg-type]
