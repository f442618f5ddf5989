"""Pydantic models for the 22 documented VOD event types and a catch-all.

Design notes (see vod-events.md §3, §4):

* VOD has no envelope: a flat JSON object whose ``EventType`` picks the model. Parsing is a
  dict lookup on that string, not a discriminated-union scan, because this runs on the
  HTTP hot path.
* Everything except ``EventType`` is optional: VOD's own docs disagree on which fields are
  present, and a missing field must never lose an event.
* Unknown keys are kept (``extra="allow"``) and survive a dump, so newer VOD fields are
  not dropped before someone updates the models.
* ``raw_*`` fields hold values as VOD sent them; unprefixed properties (``media_id``,
  ``error_code``, ``error_message``, ``status``) give a uniform view across event types.

Timing (CPython 3.11.7, pydantic 2.13.4, orjson 3.8.3, this container, timeit best of 5):
``parse_event_bytes`` takes ~5.5 µs for the 148-byte FileUploadComplete of §9 and ~7 µs
for the 307-byte §4.1 one (Extend parsed); the 975-byte real TranscodeComplete ~19 µs.
``dedup_key`` adds 3-7 µs. orjson.loads alone is ~0.3 µs, so pydantic dominates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_serializer,
    model_validator,
)

from receiver.events.fields import (
    MAX_JSON_DEPTH,
    CommaList,
    EventStatus,
    JsonField,
    LenientTime,
    MediaContentField,
    OptBool,
    OptFloat,
    OptInt,
    OptStr,
    format_vod_time,
    json_depth,
    normalize_status,
    parse_json_text,
    parse_vod_time,
    scalar_text,
)

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "AIMediaAuditComplete",
    "AIMediaDNAComplete",
    "AIVideoTagComplete",
    "AddLiveRecordVideoComplete",
    "AttachedMediaUploadComplete",
    "AuditSuggestion",
    "CreateAuditComplete",
    "DeleteMediaComplete",
    "DynamicImageComplete",
    "EventParseError",
    "FileUploadComplete",
    "GenericEvent",
    "ImageUploadComplete",
    "LiveRecordVideoComposeStart",
    "MediaBaseChangeComplete",
    "ProduceMediaComplete",
    "RestoreMediaComplete",
    "SnapshotComplete",
    "SnapshotInfo",
    "StreamInfo",
    "StreamTranscodeComplete",
    "SubmitMediaRefreshComplete",
    "TranscodeComplete",
    "UpdateMediaStorageClassComplete",
    "UploadByURLComplete",
    "VideoAnalysisComplete",
    "VodEvent",
    "WorkflowTaskComplete",
    "parse_event",
    "parse_event_bytes",
]

_BOM: Final = b"\xef\xbb\xbf"


class EventParseError(ValueError):
    """The body cannot become a VodEvent; ``reason`` is short enough for a log line."""

    def __init__(self, reason: str, *, event_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_type = event_type


# --- shared machinery -------------------------------------------------------------------


def _strip_keys(data: dict[Any, Any]) -> dict[Any, Any]:
    """Copy ``data`` with whitespace trimmed from keys (doc bug ``"SourceURL "``).

    A key that was already clean wins over a trimmed duplicate. Always returns a copy so
    the caller's dict (returned by parse_event_bytes) is never mutated.
    """
    for k in data:
        if isinstance(k, str) and k != k.strip():
            break
    else:
        return dict(data)
    out = {k: v for k, v in data.items() if not (isinstance(k, str) and k != k.strip())}
    for k, v in data.items():
        if isinstance(k, str):
            out.setdefault(k.strip(), v)
    return out


def _status_value(value: Any) -> EventStatus | None:
    return normalize_status(value)


def _event_time_value(value: Any) -> datetime | None:
    return parse_vod_time(value)


def _strip_str(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _model_list(value: Any) -> Any:
    """Lists of nested infos: null/"" mean none; tolerate the list arriving as JSON text."""
    if value is None:
        return []
    if isinstance(value, str):
        parsed = parse_json_text(value)
        if isinstance(parsed, list):
            return parsed
        if not value.strip():
            return []
    return value


StatusField = Annotated[
    EventStatus | None,
    PlainValidator(_status_value, json_schema_input_type=str | None),
]
EventTimeField = Annotated[
    datetime | None,
    PlainValidator(_event_time_value, json_schema_input_type=str | None),
]


class _VodModel(BaseModel):
    """Config, status normalisation and error fields shared by events and nested infos."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        coerce_numbers_to_str=True,
    )

    status: StatusField = Field(None, alias="Status")
    #: Status exactly as sent ("Succeed", "Failed", or an unknown word kept for debugging).
    raw_status: str | None = Field(None, exclude=True)
    raw_error_code: OptStr = Field(None, alias="ErrorCode")
    raw_error_message: OptStr = Field(None, alias="ErrorMessage")

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Trim keys and remember raw values before the lenient validators normalise them."""
        if not isinstance(data, dict):
            return data
        data = _strip_keys(data)
        raw = data.get("Status")
        if raw is None:
            raw = data.get("status")
        if raw is not None:
            data["raw_status"] = scalar_text(raw)
        if "raw_event_time" not in cls.model_fields:  # nested infos carry no EventTime
            return data
        raw = data.get("EventTime")
        if raw is None:
            raw = data.get("event_time")
        if raw is not None:
            data["raw_event_time"] = (
                format_vod_time(raw) if isinstance(raw, datetime) else scalar_text(raw)
            )
        return data

    @field_serializer("status")
    def _ser_status(self, value: EventStatus | None) -> str | None:
        """Dump the normalised word, or the raw one if it was not understood."""
        return value.value if value is not None else self.raw_status

    @property
    def error_code(self) -> str | None:
        """ErrorCode, or None; "" counts as absent."""
        return self.raw_error_code or None

    @property
    def error_message(self) -> str | None:
        """ErrorMessage, or None; "" counts as absent."""
        return self.raw_error_message or None

    @property
    def succeeded(self) -> bool:
        """True only for a status VOD spelled as some form of success."""
        return self.status is EventStatus.SUCCESS


class VodEvent(_VodModel):
    """Base of every event: the fields most events share plus the uniform accessors."""

    #: Set on each documented subclass; GenericEvent keeps None.
    EVENT_TYPE: ClassVar[str | None] = None

    event_type: Annotated[str, BeforeValidator(_strip_str)] = Field(alias="EventType")
    event_time: EventTimeField = Field(None, alias="EventTime")
    #: EventTime exactly as sent; the only trace of a time that could not be parsed.
    raw_event_time: str | None = Field(None, exclude=True)
    video_id: OptStr = Field(None, alias="VideoId")
    raw_media_id: OptStr = Field(None, alias="MediaId")
    image_id: OptStr = Field(None, alias="ImageId")
    attached_media_id: OptStr = Field(None, alias="AttachedMediaId")
    job_id: OptStr = Field(None, alias="JobId")
    app_id: OptStr = Field(None, alias="AppId")
    extend: JsonField = Field(None, alias="Extend")

    @field_serializer("event_time")
    def _ser_event_time(self, value: datetime | None) -> str | None:
        """ISO-8601 with Z; an unparseable time dumps as the original text."""
        return format_vod_time(value) if value is not None else self.raw_event_time

    @property
    def media_id(self) -> str | None:
        """The media the event is about: VideoId, MediaId, ImageId or AttachedMediaId."""
        return self.video_id or self.raw_media_id or self.image_id or self.attached_media_id

    def to_dict(self) -> dict[str, Any]:
        """Normalised JSON-able dict with VOD key names, holding only keys that were sent."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class GenericEvent(VodEvent):
    """An EventType we do not model: still stored, routed by ``event_type``, never an error."""


# --- nested infos -----------------------------------------------------------------------


class _StreamFields(_VodModel):
    """Per-stream fields; shared by StreamTranscodeComplete and TranscodeComplete items."""

    job_id: OptStr = Field(None, alias="JobId")
    definition: OptStr = Field(None, alias="Definition")
    format: OptStr = Field(None, alias="Format")
    file_url: OptStr = Field(None, alias="FileUrl")
    bitrate: OptFloat = Field(None, alias="Bitrate")
    fps: OptFloat = Field(None, alias="Fps")
    duration: OptFloat = Field(None, alias="Duration")
    size: OptInt = Field(None, alias="Size")
    width: OptInt = Field(None, alias="Width")
    height: OptInt = Field(None, alias="Height")
    encrypt: OptBool = Field(None, alias="Encrypt")
    encrypt_type: OptStr = Field(None, alias="EncryptType")
    is_audio: OptBool = Field(None, alias="IsAudio")
    codec: OptStr = Field(None, alias="Codec")
    watermark_id: OptStr = Field(None, alias="WatermarkId")
    start_time: LenientTime = Field(None, alias="StartTime")
    finish_time: LenientTime = Field(None, alias="FinishTime")


class StreamInfo(_StreamFields):
    """One entry of TranscodeComplete.StreamInfos (each stream has its own JobId)."""


#: VOD's SnapshotCount is trusted data, but a corrupt one must not exhaust memory.
MAX_SNAPSHOT_URLS: Final = 100_000


def _expand(template: str | None, count: int | None) -> list[str]:
    if not template or not count or count < 0:
        return []
    n = min(count, MAX_SNAPSHOT_URLS)
    if "{SnapshotCount}" not in template:
        return [template]
    return [template.replace("{SnapshotCount}", f"{i:05d}") for i in range(1, n + 1)]


class SnapshotInfo(_VodModel):
    """One snapshot job result; SnapshotType is Cover-, Normal- or SpriteSnapshot."""

    job_id: OptStr = Field(None, alias="JobId")
    snapshot_type: OptStr = Field(None, alias="SnapshotType")
    snapshot_count: OptInt = Field(None, alias="SnapshotCount")
    snapshot_format: OptStr = Field(None, alias="SnapshotFormat")
    snapshot_regular: OptStr = Field(None, alias="SnapshotRegular")

    def urls(self) -> list[str]:
        """Concrete URLs: ``{SnapshotCount}`` -> 00001..N (1-based, 5 digits), capped at 100k."""
        return _expand(self.snapshot_regular, self.snapshot_count)

    def paths(self) -> list[str]:
        """Same expansion for the storage path template (SnapshotFormat)."""
        return _expand(self.snapshot_format, self.snapshot_count)


# --- the 22 event types -----------------------------------------------------------------


def _file_url(primary: str, other: str) -> Any:
    """FileUrl vs FileURL differ between events; accept both, dump the documented one."""
    return Field(
        None,
        validation_alias=AliasChoices(primary, other, "file_url"),
        serialization_alias=primary,
    )


class FileUploadComplete(VodEvent):
    """4.1 Audio/video source file received (also for produced media and URL pulls)."""

    EVENT_TYPE: ClassVar[str | None] = "FileUploadComplete"
    size: OptInt = Field(None, alias="Size")
    file_url: OptStr = _file_url("FileUrl", "FileURL")


class ImageUploadComplete(VodEvent):
    """4.2 Image uploaded; note ``FileURL`` and the ``:SSS`` EventTime variant."""

    EVENT_TYPE: ClassVar[str | None] = "ImageUploadComplete"
    size: OptInt = Field(None, alias="Size")
    file_url: OptStr = _file_url("FileURL", "FileUrl")


class AttachedMediaUploadComplete(VodEvent):
    """4.3 Auxiliary media (watermark, subtitle, material) uploaded."""

    EVENT_TYPE: ClassVar[str | None] = "AttachedMediaUploadComplete"
    size: OptInt = Field(None, alias="Size")
    file_url: OptStr = _file_url("FileURL", "FileUrl")


class UploadByURLComplete(VodEvent):
    """4.4 URL pull job done; VideoId only on success; FileType=Stream for stream imports."""

    EVENT_TYPE: ClassVar[str | None] = "UploadByURLComplete"
    source_url: OptStr = Field(None, alias="SourceURL")
    size: OptInt = Field(None, alias="Size")
    file_type: OptStr = Field(None, alias="FileType")
    stream_file_url: OptStr = Field(None, alias="StreamFileURL")


class StreamTranscodeComplete(VodEvent, _StreamFields):
    """4.5 One definition+format stream finished; fields as in StreamInfo."""

    EVENT_TYPE: ClassVar[str | None] = "StreamTranscodeComplete"
    preprocess: OptBool = Field(None, alias="Preprocess")


class TranscodeComplete(VodEvent):
    """4.6 All streams done; success means at least one stream succeeded, so check each."""

    EVENT_TYPE: ClassVar[str | None] = "TranscodeComplete"
    stream_infos: Annotated[list[StreamInfo], BeforeValidator(_model_list)] = Field(
        default_factory=list, alias="StreamInfos"
    )
    preprocess: OptBool = Field(None, alias="Preprocess")

    @property
    def failed_streams(self) -> list[StreamInfo]:
        """Streams whose own status is not success (the event status hides them)."""
        return [s for s in self.stream_infos if s.status is not EventStatus.SUCCESS]


class SnapshotComplete(VodEvent):
    """4.7 Snapshots done; SubType=SpecifiedTime for SubmitSnapshotJob, else absent."""

    EVENT_TYPE: ClassVar[str | None] = "SnapshotComplete"
    sub_type: OptStr = Field(None, alias="SubType")
    cover_url: OptStr = Field(None, alias="CoverUrl")
    snapshot_infos: Annotated[list[SnapshotInfo], BeforeValidator(_model_list)] = Field(
        default_factory=list, alias="SnapshotInfos"
    )


class DynamicImageComplete(VodEvent):
    """4.8 Animated image (GIF) done; DynamicImageJobInfo is JSON text of strings."""

    EVENT_TYPE: ClassVar[str | None] = "DynamicImageComplete"
    dynamic_image_job_info: JsonField = Field(None, alias="DynamicImageJobInfo")


class VideoAnalysisComplete(VodEvent):
    """4.9 Automatic meta analysis; numbers are often quoted, absent for audio/fail."""

    EVENT_TYPE: ClassVar[str | None] = "VideoAnalysisComplete"
    width: OptInt = Field(None, alias="Width")
    height: OptInt = Field(None, alias="Height")
    duration: OptFloat = Field(None, alias="Duration")
    bitrate: OptFloat = Field(None, alias="Bitrate")
    fps: OptFloat = Field(None, alias="Fps")
    size: OptInt = Field(None, alias="Size")


class _LiveRecordFields(VodEvent):
    stream_name: OptStr = Field(None, alias="StreamName")
    domain_name: OptStr = Field(None, alias="DomainName")
    app_name: OptStr = Field(None, alias="AppName")


class AddLiveRecordVideoComplete(_LiveRecordFields):
    """4.10 Live-to-VOD recording produced a video."""

    EVENT_TYPE: ClassVar[str | None] = "AddLiveRecordVideoComplete"
    record_start_time: LenientTime = Field(None, alias="RecordStartTime")
    record_end_time: LenientTime = Field(None, alias="RecordEndTime")


class LiveRecordVideoComposeStart(_LiveRecordFields):
    """4.11 Compose of recorded segments started; VideoId is the future video."""

    EVENT_TYPE: ClassVar[str | None] = "LiveRecordVideoComposeStart"


class CreateAuditComplete(VodEvent):
    """4.12 Manual review recorded via CreateAudit; AuditStatus Normal|Blocked."""

    EVENT_TYPE: ClassVar[str | None] = "CreateAuditComplete"
    sub_type: OptStr = Field(None, alias="SubType")
    audit_status: OptStr = Field(None, alias="AuditStatus")
    creation_time: LenientTime = Field(None, alias="CreationTime")
    auditor: OptStr = Field(None, alias="Auditor")
    reason: OptStr = Field(None, alias="Reason")


class _AIEvent(VodEvent):
    """AI events report errors as Code/Message and prefer MediaId over VideoId."""

    code: OptStr = Field(None, alias="Code")
    message: OptStr = Field(None, alias="Message")
    data: JsonField = Field(None, alias="Data")

    @property
    def media_id(self) -> str | None:
        """MediaId first (AI jobs are keyed by it), then the other id fields."""
        return self.raw_media_id or self.video_id or self.image_id or self.attached_media_id

    @property
    def error_code(self) -> str | None:
        """ErrorCode, else Code unless it is the success code "0" or the job succeeded."""
        if self.raw_error_code:
            return self.raw_error_code
        code = self.code
        if not code or code == "0" or self.status is EventStatus.SUCCESS:
            return None
        return code

    @property
    def error_message(self) -> str | None:
        """ErrorMessage, else Message when there is an error code (skips "OK")."""
        if self.raw_error_message:
            return self.raw_error_message
        if self.error_code is None:
            return None
        return self.message or None


AuditSuggestion = Literal["block", "review", "pass"]
_SUGGESTIONS: Final[dict[str, AuditSuggestion]] = {
    "block": "block",
    "review": "review",
    "pass": "pass",
}


class AIMediaAuditComplete(_AIEvent):
    """4.13 Smart review done (also serves legacy AIVideoCensorComplete)."""

    EVENT_TYPE: ClassVar[str | None] = "AIMediaAuditComplete"

    @property
    def suggestion(self) -> AuditSuggestion | None:
        """Data.Suggestion as block|review|pass (case-insensitive), else None."""
        if isinstance(self.data, dict):
            value = self.data.get("Suggestion")
            if isinstance(value, str):
                return _SUGGESTIONS.get(value.strip().lower())
        return None

    @property
    def label(self) -> str | None:
        """Data.Label (e.g. porn, terrorism, normal) when present."""
        if isinstance(self.data, dict):
            value = self.data.get("Label")
            if isinstance(value, str):
                return value
        return None


class AIMediaDNAComplete(_AIEvent):
    """4.14 Media fingerprint (video DNA) done."""

    EVENT_TYPE: ClassVar[str | None] = "AIMediaDNAComplete"


class AIVideoTagComplete(_AIEvent):
    """4.15 Smart tagging done."""

    EVENT_TYPE: ClassVar[str | None] = "AIVideoTagComplete"


class ProduceMediaComplete(VodEvent):
    """4.16 Online editing produced a media source file (fail: none was produced)."""

    EVENT_TYPE: ClassVar[str | None] = "ProduceMediaComplete"
    project_id: OptStr = Field(None, alias="ProjectId")


def _split(value: str | None) -> list[str]:
    return [p for p in (s.strip() for s in (value or "").split(",")) if p]


class DeleteMediaComplete(VodEvent):
    """4.17 Media deleted; JobIds only when DeleteType=stream."""

    EVENT_TYPE: ClassVar[str | None] = "DeleteMediaComplete"
    media_type: OptStr = Field(None, alias="MediaType")
    delete_type: OptStr = Field(None, alias="DeleteType")
    job_ids: CommaList = Field(None, alias="JobIds")

    @property
    def job_id_list(self) -> list[str]:
        """JobIds split on commas (format inferred, see vod-events.md §4.17)."""
        return _split(self.job_ids)


class MediaBaseChangeComplete(VodEvent):
    """4.18 Title/cover/category/tags changed; MediaContent values are {OldValue, NewValue}."""

    EVENT_TYPE: ClassVar[str | None] = "MediaBaseChangeComplete"
    media_type: OptStr = Field(None, alias="MediaType")
    operate_mode: OptStr = Field(None, alias="OperateMode")
    media_content: MediaContentField = Field(None, alias="MediaContent")

    def changes(self) -> dict[str, tuple[Any, Any]]:
        """Field name -> (OldValue, NewValue); a missing side is None (create/delete)."""
        out: dict[str, tuple[Any, Any]] = {}
        if isinstance(self.media_content, dict):
            for key, value in self.media_content.items():
                if isinstance(value, dict):
                    out[key] = (value.get("OldValue"), value.get("NewValue"))
        return out


class UpdateMediaStorageClassComplete(VodEvent):
    """4.19 Storage class changed; Status is spelled Success/Failed."""

    EVENT_TYPE: ClassVar[str | None] = "UpdateMediaStorageClassComplete"
    scope: OptStr = Field(None, alias="Scope")
    storage_class: OptStr = Field(None, alias="StorageClass")
    trigger_by: OptStr = Field(None, alias="TriggerBy")


class RestoreMediaComplete(VodEvent):
    """4.20 Archived media restored; Status is spelled Success/Failed."""

    EVENT_TYPE: ClassVar[str | None] = "RestoreMediaComplete"
    restore_expiration: LenientTime = Field(None, alias="RestoreExpiration")


class SubmitMediaRefreshComplete(VodEvent):
    """4.21 All CDN refresh/preload requests were submitted (not completed)."""

    EVENT_TYPE: ClassVar[str | None] = "SubmitMediaRefreshComplete"
    media_refresh_job_id: OptStr = Field(None, alias="MediaRefreshJobId")
    task_type: OptStr = Field(None, alias="TaskType")
    success_play_urls: CommaList = Field(None, alias="SuccessPlayUrls")
    task_ids: CommaList = Field(None, alias="TaskIds")
    filter_policy: JsonField = Field(None, alias="FilterPolicy")

    @property
    def success_play_url_list(self) -> list[str]:
        """SuccessPlayUrls split on commas."""
        return _split(self.success_play_urls)

    @property
    def task_id_list(self) -> list[str]:
        """TaskIds split on commas (one per URL)."""
        return _split(self.task_ids)


class WorkflowTaskComplete(VodEvent):
    """4.22 New-style workflow task done; Status is spelled Succeed/Failed."""

    EVENT_TYPE: ClassVar[str | None] = "WorkflowTaskComplete"
    workflow_id: OptStr = Field(None, alias="WorkflowId")
    task_id: OptStr = Field(None, alias="TaskId")
    user_id: OptStr = Field(None, alias="UserId")
    activity_results: JsonField = Field(None, alias="ActivityResults")
    task_input: JsonField = Field(None, alias="TaskInput")
    create_time: LenientTime = Field(None, alias="CreateTime")
    modified_time: LenientTime = Field(None, alias="ModifiedTime")
    finish_time: LenientTime = Field(None, alias="FinishTime")


_DOCUMENTED: Final[tuple[type[VodEvent], ...]] = (
    FileUploadComplete,
    ImageUploadComplete,
    AttachedMediaUploadComplete,
    UploadByURLComplete,
    StreamTranscodeComplete,
    TranscodeComplete,
    SnapshotComplete,
    DynamicImageComplete,
    VideoAnalysisComplete,
    AddLiveRecordVideoComplete,
    LiveRecordVideoComposeStart,
    CreateAuditComplete,
    AIMediaAuditComplete,
    AIMediaDNAComplete,
    AIVideoTagComplete,
    ProduceMediaComplete,
    DeleteMediaComplete,
    MediaBaseChangeComplete,
    UpdateMediaStorageClassComplete,
    RestoreMediaComplete,
    SubmitMediaRefreshComplete,
    WorkflowTaskComplete,
)

#: The 22 documented EventType names, in the order of vod-events.md §4.
EVENT_TYPES: Final[tuple[str, ...]] = tuple(str(m.EVENT_TYPE) for m in _DOCUMENTED)

#: EventType -> model. Also maps the legacy AIVideoCensorComplete to the audit model
#: (its event_type stays "AIVideoCensorComplete").
EVENT_MODELS: Final[dict[str, type[VodEvent]]] = {str(m.EVENT_TYPE): m for m in _DOCUMENTED}
EVENT_MODELS["AIVideoCensorComplete"] = AIMediaAuditComplete


# --- parsing ----------------------------------------------------------------------------

_MISSING: Final = object()


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    tail = f" (+{more} more)" if more > 0 else ""
    return "invalid fields: " + "; ".join(parts) + tail


def parse_event(data: Any) -> VodEvent:
    """Validate a decoded body into the model for its EventType (GenericEvent if unknown)."""
    if not isinstance(data, dict):
        raise EventParseError("body is not a JSON object")
    event_type = data.get("EventType", _MISSING)
    if event_type is _MISSING:
        for key, value in data.items():  # tolerate "EventType " like the other doc bugs
            if isinstance(key, str) and key.strip() == "EventType":
                event_type = value
                break
    if event_type is _MISSING or event_type is None:
        raise EventParseError("EventType missing")
    if not isinstance(event_type, str):
        raise EventParseError("EventType is not a string")
    model = EVENT_MODELS.get(event_type)
    if model is None:
        name = event_type.strip()
        if not name:
            raise EventParseError("EventType is empty")
        model = EVENT_MODELS.get(name, GenericEvent)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EventParseError(_summarise(exc), event_type=event_type) from exc
    except (RecursionError, TypeError, ValueError) as exc:  # defensive: never leak others
        raise EventParseError(
            f"invalid event: {type(exc).__name__}", event_type=event_type
        ) from exc


def parse_event_bytes(body: bytes | bytearray | memoryview) -> tuple[VodEvent, dict[str, Any]]:
    """Decode an HTTP/MNS body and parse it; returns (event, decoded dict).

    Nesting is checked before orjson sees the body, because orjson 3.8 overflows the C
    stack on very deep input instead of raising.
    """
    if isinstance(body, memoryview):
        body = bytes(body)
    if body[:3] == _BOM:
        body = body[3:]
    if (
        body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH
        and json_depth(bytes(body)) > MAX_JSON_DEPTH
    ):
        raise EventParseError("JSON nesting too deep")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise EventParseError("body is not valid UTF-8") from exc
        raise EventParseError("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise EventParseError("body is not a JSON object")
    return parse_event(data), data
