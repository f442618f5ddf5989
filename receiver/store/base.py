"""What every event store must do, and the records it trades in.

A small abstract base (Powertools' BasePersistenceLayer is the model) so that another
backend can sit behind the same intake and dispatcher. The methods are synchronous: the
SQLite backend calls them on the event-loop thread in short transactions, which measured
faster than handing each one to a writer thread (see performance notes in the README).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DONE = "done"
    RETRYING = "retrying"
    DEAD = "dead"


class StoreUnavailable(Exception):
    """The store could not commit; the source must not acknowledge the delivery."""


@dataclass(slots=True)
class Delivery:
    """One authenticated delivery, ready to be stored.

    `problem` is set when the body could not be typed; such a delivery is stored dead so
    that nothing authenticated is ever dropped silently.
    """

    body: bytes
    source: str
    dedup_key: str
    event_type: str
    media_id: str | None
    event_time: str | None
    received_at: float
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """The outcome of storing one delivery."""

    event_id: int
    duplicate: bool


@dataclass(slots=True)
class EventRecord:
    """An event as the store keeps it."""

    id: int
    dedup_key: str
    event_type: str
    media_id: str | None
    status: Status
    source: str
    received_at: float
    event_time: str | None
    body: bytes
    attempts: int
    next_attempt_at: float
    last_error: str | None
    updated_at: float

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": self.event_type,
            "media_id": self.media_id,
            "status": str(self.status),
            "attempts": self.attempts,
            "source": self.source,
            "received_at": self.received_at,
            "event_time": self.event_time,
            "dedup_key": self.dedup_key,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
        }


@dataclass(slots=True)
class HandlerRun:
    """One handler's journal entry for one event: what it returned or why it failed."""

    handler: str
    status: str  # "done" or "failed"
    attempts: int
    result: Any = None
    error: str | None = None
    updated_at: float = 0.0


@dataclass(slots=True)
class ErrorRecord:
    attempt: int
    handler: str | None
    error: str
    at: float


@dataclass(slots=True)
class EventDetail:
    record: EventRecord
    journal: list[HandlerRun] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)


class EventStore(ABC):
    """Durable inbox, work queue and journal in one place, so that one commit covers all."""

    @abstractmethod
    def insert_many(self, deliveries: Sequence[Delivery]) -> list[Stored]:
        """Store deliveries in one transaction; duplicates (same dedup key) are reported."""

    @abstractmethod
    def claim(self, limit: int, now: float, lease_until: float) -> list[EventRecord]:
        """Take due events for processing, oldest first, at most one open event per media."""

    @abstractmethod
    def renew_leases(self, event_ids: Iterable[int], lease_until: float) -> None:
        """Keep long-running events from being reclaimed as stale."""

    @abstractmethod
    def reclaim_stale(self, now: float) -> int:
        """Put events whose lease expired (their worker died) back in the queue."""

    @abstractmethod
    def journal(self, event_id: int) -> dict[str, HandlerRun]:
        """Every handler run recorded for the event, by handler name."""

    @abstractmethod
    def record_handler(
        self,
        event_id: int,
        handler: str,
        ok: bool,
        result: Any = None,
        error: str | None = None,
        attempt: int = 0,
    ) -> None:
        """Journal one handler's outcome (and keep its error in the event's error list)."""

    @abstractmethod
    def complete(self, event_id: int) -> None: ...

    @abstractmethod
    def retry_later(self, event_id: int, at: float, error: str) -> None: ...

    @abstractmethod
    def bury(self, event_id: int, error: str) -> None:
        """Move an event to the dead-letter state, keeping the reason."""

    @abstractmethod
    def next_due(self) -> float | None:
        """When the earliest queued event becomes due, or None when nothing is queued."""

    @abstractmethod
    def get(self, event_id: int) -> EventDetail | None: ...

    @abstractmethod
    def list(
        self, status: str | None = None, event_type: str | None = None, limit: int = 100
    ) -> list[EventRecord]: ...

    @abstractmethod
    def requeue(self, event_ids: Iterable[int] = (), status: str | None = None) -> int:
        """Replay: put events back in the queue with a fresh attempt budget."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Events per status, for /metrics and `events list`."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the store cannot be read."""

    @abstractmethod
    def close(self) -> None: ...
