"""VOD event models, parsing, dedup keys and sample payloads.

Import from here; the submodules are an implementation detail.
"""

from receiver.events.dedup import dedup_key
from receiver.events.fields import MAX_JSON_DEPTH, EventStatus
from receiver.events.models import (
    EVENT_MODELS,
    EVENT_TYPES,
    EventParseError,
    GenericEvent,
    SnapshotInfo,
    StreamInfo,
    VodEvent,
    parse_event,
    parse_event_bytes,
)
from receiver.events.samples import sample_event

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "MAX_JSON_DEPTH",
    "EventParseError",
    "EventStatus",
    "GenericEvent",
    "SnapshotInfo",
    "StreamInfo",
    "VodEvent",
    "dedup_key",
    "parse_event",
    "parse_event_bytes",
    "sample_event",
]
