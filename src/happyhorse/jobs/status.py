"""The job lifecycle as data: the statuses, the events, and which event moves what.

::

    queued ──claim──▶ running ──complete──▶ completed
      │  ▲              │ │ ├──fail / poison──▶ failed
      │  └─requeue/release┘ └──cancel_ack──▶ cancelled
      └──────────────cancel──────────────────▶ cancelled

Every write in :mod:`happyhorse.jobs.queue` takes its ``WHERE status = ...``
and ``SET status = ...`` from :data:`TRANSITIONS`, so this table is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Where a job is in its life. The three last are terminal: nothing leaves them."""

    # Waiting for a worker; ``queue_position`` is set while in this state.
    QUEUED = "queued"
    # Leased by one worker (``worker_id``, ``lease_token``) until ``lease_expires_at``;
    # the lease is extended by heartbeats and taken back by the reaper when it lapses.
    RUNNING = "running"
    # Output stored and output rows written, in the same fenced transaction.
    COMPLETED = "completed"
    # Ended with ``error_code`` / ``error_message``: engine error, bad input, or a poison job.
    FAILED = "failed"
    # Cancelled by its owner: at once when queued, at the engine's next step when running.
    CANCELLED = "cancelled"


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class Event(StrEnum):
    """What moves a job from one status to another."""

    # A worker took the oldest, most urgent queued job (new lease token, attempt + 1).
    CLAIM = "claim"
    # The lease holder finished: outputs written.
    COMPLETE = "complete"
    # The lease holder gave up with an error.
    FAIL = "fail"
    # The owner cancelled a job nobody had started.
    CANCEL = "cancel"
    # A running job whose cancel was requested stopped (worker, release or reaper).
    CANCEL_ACK = "cancel_ack"
    # The reaper took back a job whose lease lapsed; it will run again.
    REQUEUE = "requeue"
    # A worker shutting down gave its job back; this attempt does not count.
    RELEASE = "release"
    # The reaper gave up on a job whose leases lapsed too often (``worker_lost``).
    POISON = "poison"


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move: ``event`` takes a job from ``source`` to ``target``."""

    event: Event
    source: Status
    target: Status


TRANSITIONS: tuple[Transition, ...] = (
    Transition(Event.CLAIM, Status.QUEUED, Status.RUNNING),
    Transition(Event.COMPLETE, Status.RUNNING, Status.COMPLETED),
    Transition(Event.FAIL, Status.RUNNING, Status.FAILED),
    Transition(Event.CANCEL, Status.QUEUED, Status.CANCELLED),
    Transition(Event.CANCEL_ACK, Status.RUNNING, Status.CANCELLED),
    Transition(Event.REQUEUE, Status.RUNNING, Status.QUEUED),
    Transition(Event.RELEASE, Status.RUNNING, Status.QUEUED),
    Transition(Event.POISON, Status.RUNNING, Status.FAILED),
)

_BY_EVENT: dict[Event, Transition] = {t.event: t for t in TRANSITIONS}


class InvalidTransition(ValueError):
    """A move the transition table does not allow (a bug, never a user error)."""


def transition(event: Event) -> Transition:
    """The one transition ``event`` performs."""
    return _BY_EVENT[Event(event)]


def events_between(source: Status, target: Status) -> frozenset[Event]:
    """The events that move a job from ``source`` to ``target`` (empty if none)."""
    return frozenset(t.event for t in TRANSITIONS if t.source == source and t.target == target)


def check_transition(source: Status, target: Status) -> frozenset[Event]:
    """The events allowed from ``source`` to ``target``; raises :class:`InvalidTransition` if none."""
    events = events_between(Status(source), Status(target))
    if not events:
        raise InvalidTransition(f"a job cannot go from {source} to {target}")
    return events
