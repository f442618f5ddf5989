"""Lenient field types for the quirks of VOD payloads (vod-events.md §3).

VOD's documentation and its real payloads disagree on casing, number quoting, time
formats and whether nested data arrives as JSON text or as objects. These helpers absorb
those differences once so the models stay declarative, and they never raise anything but
``ValueError`` (which pydantic turns into a validation error) so hostile input cannot
escape as an unexpected exception type.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Final

import orjson
from pydantic import AllowInfNan, BeforeValidator, PlainSerializer, PlainValidator

__all__ = [
    "EMBEDDED_JSON_MAX_DEPTH",
    "MAX_JSON_DEPTH",
    "CommaList",
    "EventStatus",
    "JsonField",
    "LenientTime",
    "MediaContentField",
    "OptBool",
    "OptFloat",
    "OptInt",
    "OptStr",
    "format_vod_time",
    "json_depth",
    "normalize_status",
    "parse_json_text",
    "parse_vod_time",
    "scalar_text",
]

#: Deepest nesting accepted in a request body. Real payloads are < 6 levels deep; the
#: limit sits well below what orjson.dumps (255) and pydantic's JSON serializer (255) can
#: write back, so anything we accept can also be stored. (orjson 3.8 itself has no read
#: limit and overflows the C stack on ~100k levels, hence the pre-scan.)
MAX_JSON_DEPTH: Final = 128
#: Deepest nesting parsed out of a JSON-in-a-string field; deeper text stays a string.
EMBEDDED_JSON_MAX_DEPTH: Final = 64


class EventStatus(StrEnum):
    """Normalised outcome; VOD spells it success/Success/Succeed and fail/Failed/Failure."""

    SUCCESS = "success"
    FAIL = "fail"


_STATUS_WORDS: Final[dict[str, EventStatus]] = {
    "success": EventStatus.SUCCESS,
    "succeed": EventStatus.SUCCESS,
    "succeeded": EventStatus.SUCCESS,
    "successful": EventStatus.SUCCESS,
    "fail": EventStatus.FAIL,
    "failed": EventStatus.FAIL,
    "failure": EventStatus.FAIL,
}


def normalize_status(value: object) -> EventStatus | None:
    """Map any VOD status spelling to EventStatus; unknown values give None, never raise."""
    if isinstance(value, EventStatus):
        return value
    if isinstance(value, str):
        hit = _STATUS_WORDS.get(value)
        if hit is None:
            hit = _STATUS_WORDS.get(value.strip().lower())
        return hit
    return None


def scalar_text(value: object) -> str:
    """Text form of an odd-typed value, used to keep "raw" copies as strings."""
    if isinstance(value, str):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except (TypeError, ValueError):  # pragma: no cover - only non-JSON python objects
        return repr(value)


# --- time -------------------------------------------------------------------------------

# 2017-03-20T07:49:17Z, 2024-04-10T01:37:14:627Z (colon before ms), .627Z, no Z, +08:00.
_TIME_RE: Final = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.:,](\d{1,9}))?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?\s*"
)


def parse_vod_time(value: object) -> datetime | None:
    """Parse a VOD timestamp into an aware UTC datetime; None when it cannot be read."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if not isinstance(value, str):
        return None
    if len(value) == 20 and value[19] == "Z" and value[10] == "T":
        try:  # fast path for VOD's usual 2017-03-20T07:49:17Z
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    m = _TIME_RE.fullmatch(value)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, _z, sign, oh, om = m.groups()
    try:
        dt = datetime(
            int(y),
            int(mo),
            int(d),
            int(h),
            int(mi),
            int(s),
            int(frac[:6].ljust(6, "0")) if frac else 0,
            tzinfo=UTC,
        )
        if sign is not None:
            offset = timedelta(hours=int(oh), minutes=int(om))
            dt = dt.replace(tzinfo=timezone(offset if sign == "+" else -offset)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return dt


def format_vod_time(dt: datetime) -> str:
    """ISO-8601 with a Z suffix; whole seconds in VOD's own format, else ms or µs."""
    dt = dt.astimezone(UTC) if dt.tzinfo is not None else dt
    if dt.microsecond == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = "milliseconds" if dt.microsecond % 1000 == 0 else "microseconds"
    return dt.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _time_or_raw(value: object) -> datetime | str | None:
    if value is None:
        return None
    parsed = parse_vod_time(value)
    if parsed is not None:
        return parsed
    return scalar_text(value)


def _ser_time(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        return format_vod_time(value)
    return value


#: Secondary timestamps (RecordStartTime, CreationTime, ...): a UTC datetime when readable,
#: otherwise the original text, so nothing is lost and nothing fails.
LenientTime = Annotated[
    datetime | str | None,
    PlainValidator(_time_or_raw, json_schema_input_type=str | None),
    PlainSerializer(_ser_time),
]


# --- scalars ----------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    """VOD sends "" for absent numbers; quoted numbers may carry stray whitespace."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


OptStr = str | None  # numbers are coerced to str by the model config
OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptFloat = Annotated[Annotated[float, AllowInfNan(False)] | None, BeforeValidator(_blank_to_none)]
OptBool = Annotated[bool | None, BeforeValidator(_blank_to_none)]


def _comma_list(value: Any) -> Any:
    """Comma-separated id/URL lists; accept a JSON array too and store it joined."""
    if isinstance(value, list):
        return ",".join(scalar_text(v) for v in value)
    return value


CommaList = Annotated[str | None, BeforeValidator(_comma_list)]


# --- JSON in a string -------------------------------------------------------------------

# Possessive (*+) and matching an unterminated string up to the end: a plain `*"` pattern
# rescans to the end of the input from every quote of an unclosed string, which let one
# crafted 64 KiB body block the event loop for tens of seconds (tests/reliability).
_STR_RE_B: Final = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_STR_RE_S: Final = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKETS_B: Final = bytes(range(256)).translate(None, b"[]{}")  # bytes to delete
_DELTA: Final = [0] * 256
_DELTA[ord("[")] = _DELTA[ord("{")] = 1
_DELTA[ord("]")] = _DELTA[ord("}")] = -1


def json_depth(text: bytes | str) -> int:
    """Maximum bracket nesting of JSON text, ignoring brackets inside strings.

    Runs without recursion and without building objects, so it is safe on input that
    would overflow the stack of a recursive parser. Callers use it only after a cheap
    bracket count says the text *could* be deep.
    """
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    only = _STR_RE_B.sub(b"", text).translate(None, _BRACKETS_B)
    depth = best = 0
    for d in map(_DELTA.__getitem__, only):
        depth += d
        if depth > best:
            best = depth
    return best


class _NotJson:
    """Sentinel type for parse_json_text."""


NOT_JSON: Final = _NotJson()


def parse_json_text(text: str, max_depth: int = EMBEDDED_JSON_MAX_DEPTH) -> Any:
    """Return the object/array held in ``text`` or NOT_JSON; never raises."""
    t = text.strip()
    if not t or t[0] not in "{[":
        return NOT_JSON
    if t.count("{") + t.count("[") > max_depth and json_depth(t) > max_depth:
        return NOT_JSON
    try:
        value = orjson.loads(t)
    except orjson.JSONDecodeError:
        return NOT_JSON
    return value if isinstance(value, dict | list) else NOT_JSON


def _json_or_text(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    if isinstance(value, str):
        parsed = parse_json_text(value)
        return value if parsed is NOT_JSON else parsed
    return scalar_text(value)


#: A field VOD documents as JSON text: parsed to dict/list when it holds JSON, else kept
#: as the original string (e.g. Extend "test data"); objects are accepted as-is.
JsonField = Annotated[
    dict[str, Any] | list[Any] | str | None,
    PlainValidator(_json_or_text, json_schema_input_type=dict[str, Any] | list[Any] | str | None),
]


def _media_content(value: Any) -> Any:
    value = _json_or_text(value)
    if isinstance(value, dict):
        value = {k: _json_or_text(v) if isinstance(v, str) else v for k, v in value.items()}
    return value


#: MediaBaseChangeComplete.MediaContent: JSON text whose values are JSON text again.
MediaContentField = Annotated[
    dict[str, Any] | list[Any] | str | None,
    PlainValidator(_media_content, json_schema_input_type=dict[str, Any] | str | None),
]
