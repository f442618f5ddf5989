"""Durable storage of events, their handler journal and the dead-letter state."""

from receiver.store.base import (
    Delivery,
    EventDetail,
    EventRecord,
    EventStore,
    HandlerRun,
    Op,
    Status,
    Stored,
    StoreUnavailable,
)
from receiver.store.group_commit import GroupCommit
from receiver.store.sqlite import SQLiteStore


def open_store(database_url: str, synchronous: str = "FULL") -> EventStore:
    """The store for a database URL; only sqlite:/// today."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise ValueError(f"unsupported database URL scheme: {database_url.split(':', 1)[0]}")
    return SQLiteStore(database_url[len(prefix) :], synchronous=synchronous)


__all__ = [
    "Delivery",
    "EventDetail",
    "EventRecord",
    "EventStore",
    "GroupCommit",
    "HandlerRun",
    "Op",
    "SQLiteStore",
    "Status",
    "StoreUnavailable",
    "Stored",
    "open_store",
]
