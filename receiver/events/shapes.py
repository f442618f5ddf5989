"""Bodies that intake can key without pydantic: the shapes VOD actually sends.

Before it acknowledges, intake needs three things from a body: proof that it will type (so
a bad body gets its 400 now), its dedup key and its media id. Full pydantic typing is the
largest single cost of the HTTP hot path (about 8 of the ~25 µs intake may add to a bare
endpoint to reach 0.6 of its rate, see bench/), so for a body whose every value already
has its field's type, intake reads the decoded dict directly and the dispatcher types the
body later. Anything else (a quoted number, a key with stray spaces, nested infos, an
unknown EventType) takes the pydantic path, unchanged.

Eligibility is derived from the models' own field declarations, so a field added to a
model is covered without touching this file; a field of a kind not recognised here turns
the fast path off for its model (the safe default). Values are normalised by the very
functions the models use, and `dedup_key` reads a FastEvent exactly as it reads a model;
tests/unit/test_event_shapes.py checks on fixtures and generated bodies that a fast body
always validates and always gets the same key and media id as the typed one.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import orjson
from pydantic.fields import FieldInfo
from pydantic.functional_validators import BeforeValidator, PlainValidator

from receiver.events import fields, models
from receiver.events.fields import MAX_JSON_DEPTH, EventStatus, normalize_status, scalar_text

__all__ = ["FAST_TYPES", "FastEvent", "decode_object", "fast_event", "read_fast"]

_REJECT: Final = object()
Reader = Callable[[Any], Any]  # raw value -> the value the model would hold, or _REJECT


def _str(value: Any) -> Any:
    return value if value is None or type(value) is str else _REJECT


def _int(value: Any) -> Any:
    return value if value is None or type(value) is int else _REJECT


def _float(value: Any) -> Any:
    if value is None:
        return None
    return float(value) if type(value) is int or type(value) is float else _REJECT


def _bool(value: Any) -> Any:
    return value if value is None or type(value) is bool else _REJECT


def _via(validator: Callable[[Any], Any], *accepted: type) -> Reader:
    """A never-failing model validator, applied to the types it is known to take."""

    def read(value: Any) -> Any:
        if value is None:
            return None
        if type(value) not in accepted:
            return _REJECT
        try:
            return validator(value)
        except ValueError:
            return _REJECT

    return read


def _reader(info: FieldInfo) -> Reader | None:
    """How to read one field without pydantic; None when its kind is not known here."""
    funcs = [m.func for m in info.metadata if isinstance(m, BeforeValidator | PlainValidator)]
    annotation = info.annotation
    if not funcs:
        return _str if annotation == (str | None) else None
    func = funcs[0]
    if len(funcs) != 1:
        return None
    if func is fields._blank_to_none:
        if annotation == (int | None):
            return _int
        if annotation == (bool | None):
            return _bool
        return _float if "float" in repr(annotation) else None
    if func is fields._comma_list:
        return _str
    if func is fields._time_or_raw:
        return _via(func, str)
    if func is fields._json_or_text:
        return _via(func, str, dict, list)
    return None


# EventType, EventTime and Status are read by FastEvent itself, the way the model's
# _prepare and validators read them.
_SPECIAL: Final = frozenset({"event_type", "event_time", "raw_event_time", "status", "raw_status"})


class _Shape:
    """One model's fields by VOD key, and the python names a body must not use as keys."""

    def __init__(self, model: type[models.VodEvent]) -> None:
        self.model = model
        self.media_of: Callable[[Any], str | None] = model.media_id.fget  # type: ignore[attr-defined]
        self.readers: dict[str, tuple[str, Reader]] = {}
        self.names = frozenset(model.model_fields)
        self.eligible = True
        for name, info in model.model_fields.items():
            if name in _SPECIAL:
                continue
            reader = _reader(info)
            if reader is None:
                self.eligible = False
                return
            for alias in _aliases(name, info):
                self.readers[alias] = (name, reader)
        # A field reachable under two keys (FileUrl / FileURL) picks by priority in pydantic;
        # a body that sends both is left to pydantic.
        per_name = Counter(name for name, _ in self.readers.values())
        self.multi_alias = {a for a, (name, _) in self.readers.items() if per_name[name] > 1}


def _aliases(name: str, info: FieldInfo) -> list[str]:
    choices = getattr(info.validation_alias, "choices", None)
    if choices is not None:
        return [c for c in choices if isinstance(c, str) and c != name]
    return [info.alias] if info.alias else []


def _shapes() -> dict[str, _Shape]:
    shapes = {}
    for event_type, model in models.EVENT_MODELS.items():
        shape = _Shape(model)
        if shape.eligible:
            shapes[event_type] = shape
    return shapes


_SHAPES: Final = _shapes()
#: EventTypes that can take the fast path (the rest always go through pydantic).
FAST_TYPES: Final = frozenset(_SHAPES)


@functools.lru_cache(maxsize=1024)
def _time_of(raw: str) -> datetime | None:
    """EventTime as the model reads it; cached, as a burst shares a few whole seconds."""
    return models._event_time_value(raw)


class FastEvent:
    """The fields of an untyped body that dedup and the store read, under the model's names."""

    __slots__ = (
        "event_time",
        "event_type",
        "media_id",
        "raw_event_time",
        "raw_status",
        "status",
        "values",
    )

    def __init__(
        self,
        shape: _Shape,
        event_type: str,
        values: dict[str, Any],
        raw_time: Any,
        raw_status: Any,
    ) -> None:
        self.event_type = event_type
        self.values = values
        self.event_time: datetime | None = (
            _time_of(raw_time) if type(raw_time) is str else models._event_time_value(raw_time)
        )
        self.status: EventStatus | None = normalize_status(raw_status)
        # The raw texts are read only when the value could not be normalised (dedup.py).
        self.raw_event_time = None if raw_time is None or self.event_time else scalar_text(raw_time)
        self.raw_status = None if raw_status is None or self.status else scalar_text(raw_status)

        # The model's own media_id property, reading this object's fields: AI events, for
        # one, prefer MediaId to VideoId.
        self.media_id: str | None = shape.media_of(self)

    def __getattr__(self, name: str) -> Any:
        return self.values.get(name)


_BOM: Final = b"\xef\xbb\xbf"


def decode_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object when it is a plain one; None leaves the odd cases (BOM,
    deep nesting, bad JSON, not an object) to parse_event_bytes and its error messages."""
    if body[:3] == _BOM or body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if type(data) is dict else None


def read_fast(body: bytes) -> FastEvent | None:
    """The body as a FastEvent when pydantic would surely accept it; None means "type it"."""
    data = decode_object(body)
    return None if data is None else fast_event(data)


def fast_event(data: dict[str, Any]) -> FastEvent | None:
    """A decoded body as a FastEvent when pydantic would surely accept it, else None."""
    event_type = data.get("EventType")
    if type(event_type) is not str:
        return None
    shape = _SHAPES.get(event_type)
    if shape is None:
        return None
    readers = shape.readers
    names = shape.names
    values: dict[str, Any] = {}
    for key, raw in data.items():
        entry = readers.get(key)
        if entry is None:
            if key in ("EventType", "EventTime", "Status"):
                continue
            if key in names or key != key.strip():
                return None  # a python field name, or a key pydantic would trim
            continue  # an unknown key: kept as an extra by the model, never fails
        if key in shape.multi_alias and entry[0] in values:
            return None
        value = entry[1](raw)
        if value is _REJECT:
            return None
        values[entry[0]] = value
    return FastEvent(shape, event_type, values, data.get("EventTime"), data.get("Status"))
