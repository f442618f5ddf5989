"""Synthesised idempotency key for VOD events, which carry no event id (vod-events.md §2.6).

The same logical event can arrive several times: HTTP retries (3 attempts), MNS
redelivery after the visibility timeout, or both transports during a migration. The key
is built from *parsed, normalised* values, so key order, whitespace, number quoting and
status spelling in the body do not matter, while genuinely different events (e.g. the
SD/mp4 and HD/m3u8 StreamTranscodeComplete of one video in the same second) differ.

Format::

    {time}|{EventType}|{media_id}|{discriminator}|{discriminator}...

* ``time``: EventTime as ``%Y%m%dT%H%M%S.%f`` in UTC (e.g. ``20240506T094933.000000``),
  so inserts into a unique index stay near-sequential; the raw EventTime text when it
  could not be parsed; ``-`` when absent.
* ``media_id``: VideoId / MediaId / ImageId / AttachedMediaId (AI events: MediaId first).
* Every part: ``-`` when absent; replaced by the first 16 hex chars of its SHA-256 when
  longer than 64 chars or when it contains ``|`` or control characters, so keys stay
  below ~450 chars and always split into the same number of parts.
* ``Status`` is the normalised word (``success``/``fail``), or the raw text if unknown.

| EventType                       | discriminators (after time, EventType, media_id)        |
|---------------------------------|---------------------------------------------------------|
| FileUploadComplete              | FileUrl, Size, Status                                   |
| ImageUploadComplete             | FileURL, Size, Status                                   |
| AttachedMediaUploadComplete     | FileURL, Size, Status                                   |
| UploadByURLComplete             | JobId, Status                                           |
| StreamTranscodeComplete         | JobId, Definition, Format, Status                       |
| TranscodeComplete               | Status, sorted StreamInfos[].JobId joined by `,` (1)    |
| SnapshotComplete                | SubType, Status, sorted SnapshotInfos[].JobId, CoverUrl |
| DynamicImageComplete            | JobId, Status                                           |
| VideoAnalysisComplete           | Status                                                  |
| AddLiveRecordVideoComplete      | RecordStartTime, RecordEndTime, Status                  |
| LiveRecordVideoComposeStart     | StreamName, Status                                      |
| CreateAuditComplete             | AuditStatus, CreationTime, Status                       |
| AIMediaAuditComplete            | JobId, Status                                           |
| AIMediaDNAComplete              | JobId, Status                                           |
| AIVideoTagComplete              | JobId, Status                                           |
| AIVideoCensorComplete (legacy)  | JobId, Status                                           |
| ProduceMediaComplete            | ProjectId, Status                                       |
| DeleteMediaComplete             | DeleteType, JobIds, Status                              |
| MediaBaseChangeComplete         | OperateMode, hash16(canonical MediaContent), Status     |
| UpdateMediaStorageClassComplete | StorageClass, Scope, Status                             |
| RestoreMediaComplete            | Status                                                  |
| SubmitMediaRefreshComplete      | MediaRefreshJobId, TaskType, Status                     |
| WorkflowTaskComplete            | TaskId, WorkflowId, Status                              |
| any other EventType (2)         | hash16(canonical JSON of the whole body)                |

(1) A stream without JobId contributes ``Definition/Format`` instead.
(2) GenericEvent, and any event whose model class is not the one EVENT_MODELS maps its
EventType to. Canonical body = ``to_dict()`` (normalised, keys as sent) as orjson with
sorted keys. ``hash16(x)`` = first 16 hex chars of SHA-256.

Times inside discriminators (RecordStartTime, CreationTime) use the same compact format
as the prefix. Canonical JSON = orjson with sorted keys over the parsed value, so a
JSON-in-a-string field and the same data sent as an object hash alike.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from receiver.events.models import (
    EVENT_MODELS,
    MediaBaseChangeComplete,
    SnapshotComplete,
    TranscodeComplete,
    VodEvent,
)
from receiver.events.shapes import FastEvent

__all__ = ["MAX_PART_LEN", "dedup_key"]

#: Parts longer than this are replaced by a 16-hex-char hash.
MAX_PART_LEN: Final = 64

Part = str | int | float | datetime | None
#: A typed event, or the intake's untyped view of a body pydantic would accept (shapes.py).
Keyed = VodEvent | FastEvent


def _hash16(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:16]


def _clean(part: str) -> str:
    """Keep short printable parts verbatim; hash the rest so '|' can't forge a split."""
    if len(part) > MAX_PART_LEN or "|" in part or not part.isprintable():
        return _hash16(part)
    return part


@functools.lru_cache(maxsize=1024)
def _compact_time(dt: datetime) -> str:
    """``%Y%m%dT%H%M%S.%f`` in UTC; %-formatting is ~2x faster than strftime.

    Cached: the events of a burst share a few EventTimes (whole seconds).
    """
    if dt.tzinfo is not UTC:
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return "%04d%02d%02dT%02d%02d%02d.%06d" % (  # noqa: UP031 - speed, fixed widths
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond,
    )


def _text(value: Part) -> str:
    if value is None or value == "":
        return "-"
    if type(value) is str:
        return _clean(value)
    if isinstance(value, datetime):
        return _compact_time(value)
    return _clean(str(value))


def _canonical(value: Any) -> bytes:
    """Sorted-keys JSON; falls back to a coarse but deterministic form if unserialisable."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError, RecursionError):
        if isinstance(value, dict):
            return repr(sorted((str(k), type(v).__name__) for k, v in value.items())).encode()
        return type(value).__name__.encode()


def _status(ev: Keyed) -> str | None:
    return ev.status.value if ev.status is not None else ev.raw_status


def _f(name: str) -> Callable[[Keyed], Part]:
    """Read an optional attribute by python name (absent on other models -> None)."""

    def get(ev: Keyed) -> Part:
        value = ev.values.get(name) if type(ev) is FastEvent else getattr(ev, name, None)
        return value if isinstance(value, str | int | float | datetime) else None

    get.field = name  # type: ignore[attr-defined]  # lets tests see the rule is plain fields
    return get


def _transcode_jobs(ev: Keyed) -> Part:
    if not isinstance(ev, TranscodeComplete):
        return None
    tokens = sorted(s.job_id or f"{s.definition or '-'}/{s.format or '-'}" for s in ev.stream_infos)
    return ",".join(tokens) or None


def _snapshot_jobs(ev: Keyed) -> Part:
    if not isinstance(ev, SnapshotComplete):
        return None
    return ",".join(sorted(s.job_id or "-" for s in ev.snapshot_infos)) or None


def _media_content_hash(ev: Keyed) -> Part:
    if not isinstance(ev, MediaBaseChangeComplete) or ev.media_content is None:
        return None
    return _hash16(_canonical(ev.media_content))


def _body_hash(ev: Keyed) -> Part:
    try:
        body: Any = ev.to_dict()
    except Exception:  # serialisation of hostile extras; still produce a stable key
        body = ev.model_extra or {}
    return _hash16(_canonical(body))


_STATUS: Final = _status
_RULES: Final[dict[str, tuple[Callable[[Keyed], Part], ...]]] = {
    "FileUploadComplete": (_f("file_url"), _f("size"), _STATUS),
    "ImageUploadComplete": (_f("file_url"), _f("size"), _STATUS),
    "AttachedMediaUploadComplete": (_f("file_url"), _f("size"), _STATUS),
    "UploadByURLComplete": (_f("job_id"), _STATUS),
    "StreamTranscodeComplete": (_f("job_id"), _f("definition"), _f("format"), _STATUS),
    "TranscodeComplete": (_STATUS, _transcode_jobs),
    "SnapshotComplete": (_f("sub_type"), _STATUS, _snapshot_jobs, _f("cover_url")),
    "DynamicImageComplete": (_f("job_id"), _STATUS),
    "VideoAnalysisComplete": (_STATUS,),
    "AddLiveRecordVideoComplete": (_f("record_start_time"), _f("record_end_time"), _STATUS),
    "LiveRecordVideoComposeStart": (_f("stream_name"), _STATUS),
    "CreateAuditComplete": (_f("audit_status"), _f("creation_time"), _STATUS),
    "AIMediaAuditComplete": (_f("job_id"), _STATUS),
    "AIMediaDNAComplete": (_f("job_id"), _STATUS),
    "AIVideoTagComplete": (_f("job_id"), _STATUS),
    "AIVideoCensorComplete": (_f("job_id"), _STATUS),
    "ProduceMediaComplete": (_f("project_id"), _STATUS),
    "DeleteMediaComplete": (_f("delete_type"), _f("job_ids"), _STATUS),
    "MediaBaseChangeComplete": (_f("operate_mode"), _media_content_hash, _STATUS),
    "UpdateMediaStorageClassComplete": (_f("storage_class"), _f("scope"), _STATUS),
    "RestoreMediaComplete": (_STATUS,),
    "SubmitMediaRefreshComplete": (_f("media_refresh_job_id"), _f("task_type"), _STATUS),
    "WorkflowTaskComplete": (_f("task_id"), _f("workflow_id"), _STATUS),
}
_GENERIC: Final[tuple[Callable[[Keyed], Part], ...]] = (_body_hash,)


def dedup_key(event: Keyed) -> str:
    """Key identifying one logical event across retries and transports (rule above).

    A FastEvent is only ever of a type whose rule reads plain fields and the status
    (tests/unit/test_event_shapes.py), so it takes the same rule as its model would.
    """
    if event.event_time is not None:
        time_part = _compact_time(event.event_time)
    else:
        time_part = _text(event.raw_event_time)
    event_type = event.event_type
    rule = _RULES.get(event_type, _GENERIC)
    expected = EVENT_MODELS.get(event_type)
    if expected is not None and type(event) is not FastEvent and not isinstance(event, expected):
        rule = _GENERIC  # e.g. a hand-built GenericEvent with a documented type
    type_part = event_type if expected is not None else _clean(event_type) or "-"
    parts = [time_part, type_part, _text(event.media_id)]
    parts += [_text(get(event)) for get in rule]
    return "|".join(parts)
