"""What every event store must do, and the records it trades in.

A small abstract base (Powertools' BasePersistenceLayer is the model) so that another
backend can sit behind the same intake and dispatcher. Transport envelopes (HTTP, MNS)
stay in sources/; the store sees only Deliveries.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
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
    # The typed event, kept in memory only: handing it to the dispatcher spares a re-parse.
    event: Any = None


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


Op = Callable[[], Any]
"""A write, made by one of a store's `op_*` methods, to be run inside a transaction."""


class EventStore(ABC):
    """Durable inbox, work queue and journal in one place, so that one commit covers all.

    Writes are ops: `op_*` methods return a callable, and `run_ops` runs a list of them in
    one transaction. That is what lets the service's group commit put the intake's inserts
    and the dispatcher's journal writes of one moment into a single commit (see
    group_commit.py). The plain methods below are one-op transactions for the CLI and tests.
    """

    # -- writes -----------------------------------------------------------------------------
    @abstractmethod
    def run_ops(self, ops: Sequence[Op]) -> list[Any]:
        """Run ops in one transaction, in order; all commit or none (StoreUnavailable)."""

    # Two-phase form of run_ops, so that the group commit can run the ops on the event loop
    # and the commit itself (where the fsync waits) on a thread.
    @abstractmethod
    def apply_ops(self, ops: Sequence[Op]) -> list[Any]:
        """Run ops in a transaction left open for commit() (or rollback())."""

    @abstractmethod
    def commit(self) -> None:
        """Commit what apply_ops left open; StoreUnavailable (and rolled back) on failure."""

    @abstractmethod
    def rollback(self) -> None:
        """Drop what apply_ops left open."""

    @abstractmethod
    def op_insert(self, delivery: Delivery) -> Op:
        """Store a delivery; the op returns Stored (duplicate when the dedup key exists)."""

    def op_insert_many(self, deliveries: Sequence[Delivery]) -> Op:
        """Store several deliveries; the op returns one Stored per delivery, in order."""
        ops = [self.op_insert(d) for d in deliveries]
        return lambda: [op() for op in ops]

    @abstractmethod
    def op_claim(self, limit: int, now: float, lease_until: float) -> Op:
        """Take due events, oldest first, at most one open event per media: EventRecords."""

    @abstractmethod
    def op_renew_leases(self, event_ids: Iterable[int], lease_until: float) -> Op:
        """Keep long-running events from being reclaimed as stale."""

    @abstractmethod
    def op_reclaim_stale(self, now: float) -> Op:
        """Put events whose lease expired (their worker died) back in the queue: a count."""

    @abstractmethod
    def op_record_handler(
        self,
        event_id: int,
        handler: str,
        ok: bool,
        result: Any = None,
        error: str | None = None,
        attempt: int = 0,
    ) -> Op:
        """Journal one handler's outcome (and keep its error in the event's error list)."""

    @abstractmethod
    def op_set_status(
        self, event_id: int, status: Status, error: str | None = None, at: float | None = None
    ) -> Op:
        """Done, retrying (due `at`) or dead (the dead-letter state, keeping the reason)."""

    @abstractmethod
    def op_requeue(self, event_ids: Iterable[int] = (), status: str | None = None) -> Op:
        """Replay: put events back in the queue with a fresh attempt budget: a count."""

    def insert_many(self, deliveries: Sequence[Delivery]) -> list[Stored]:
        return self.run_ops([self.op_insert(d) for d in deliveries])

    def claim(self, limit: int, now: float, lease_until: float) -> list[EventRecord]:
        return self.run_ops([self.op_claim(limit, now, lease_until)])[0]  # type: ignore[no-any-return]

    def renew_leases(self, event_ids: Iterable[int], lease_until: float) -> None:
        self.run_ops([self.op_renew_leases(event_ids, lease_until)])

    def reclaim_stale(self, now: float) -> int:
        return self.run_ops([self.op_reclaim_stale(now)])[0]  # type: ignore[no-any-return]

    def record_handler(
        self,
        event_id: int,
        handler: str,
        ok: bool,
        result: Any = None,
        error: str | None = None,
        attempt: int = 0,
    ) -> None:
        self.run_ops([self.op_record_handler(event_id, handler, ok, result, error, attempt)])

    def complete(self, event_id: int) -> None:
        self.run_ops([self.op_set_status(event_id, Status.DONE)])

    def retry_later(self, event_id: int, at: float, error: str) -> None:
        self.run_ops([self.op_set_status(event_id, Status.RETRYING, error, at)])

    def bury(self, event_id: int, error: str) -> None:
        self.run_ops([self.op_set_status(event_id, Status.DEAD, error)])

    def requeue(self, event_ids: Iterable[int] = (), status: str | None = None) -> int:
        return self.run_ops([self.op_requeue(event_ids, status)])[0]  # type: ignore[no-any-return]

    # -- reads (never inside a write transaction; safe beside a writer thread) --------------
    @abstractmethod
    def journal(self, event_id: int) -> dict[str, HandlerRun]:
        """Every handler run recorded for the event, by handler name."""

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
    def counts(self) -> dict[str, int]:
        """Events per status, for /metrics and `events list`."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the store cannot be read."""

    @abstractmethod
    def close(self) -> None: ...
