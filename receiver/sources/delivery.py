"""Turning raw bytes from any source into a Delivery the store accepts.

Shared by the HTTP and MNS sources so that the same event gets the same dedup key whichever
way it arrives, and running both transports for safety never processes an event twice.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

from receiver.events import (
    EventParseError,
    VodEvent,
    dedup_key,
    parse_event,
    parse_event_bytes,
)
from receiver.events.dedup import Keyed
from receiver.events.shapes import decode_object, fast_event
from receiver.store import Delivery

INVALID_TYPE = "(invalid)"


@functools.lru_cache(maxsize=1024)
def _utc_text(when: datetime | None) -> str | None:
    """Cached: the events of a burst share a few EventTimes."""
    if when is None:
        return None
    return (when if when.tzinfo is UTC else when.astimezone(UTC)).isoformat()


def to_delivery(body: bytes, source: str, received_at: float) -> Delivery:
    """Type the body; an untypeable body becomes a dead delivery with its reason.

    A body of a shape pydantic surely accepts is keyed from its dict (events/shapes.py) and
    typed by the dispatcher later; the delivery then carries no typed event.
    """
    data = decode_object(body)  # decoded once, for both paths
    if data is not None:
        fast = fast_event(data)
        if fast is not None:
            return _keyed(body, source, received_at, fast, None)
    try:
        event = parse_event(data) if data is not None else parse_event_bytes(body)[0]
    except EventParseError as exc:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return invalid_delivery(body, source, f"invalid|{digest}", received_at, exc.reason)
    return _keyed(body, source, received_at, event, event)


def invalid_delivery(
    body: bytes, source: str, dedup_key: str, received_at: float, reason: str
) -> Delivery:
    """A body that can't be typed, kept dead with its reason (it is never lost)."""
    return Delivery(
        body=body,
        source=source,
        dedup_key=dedup_key,
        event_type=INVALID_TYPE,
        media_id=None,
        event_time=None,
        received_at=received_at,
        problem=f"invalid body: {reason}",
    )


def _keyed(
    body: bytes, source: str, received_at: float, keyed: Keyed, event: VodEvent | None
) -> Delivery:
    """The same fields whether they were read by the fast path or by pydantic."""
    return Delivery(
        body=body,
        source=source,
        dedup_key=dedup_key(keyed),
        event_type=keyed.event_type,
        media_id=keyed.media_id,
        event_time=_utc_text(keyed.event_time),
        received_at=received_at,
        event=event,
    )
