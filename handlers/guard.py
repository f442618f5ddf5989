"""`verify_with_api`: re-read the media from VOD before anything acts on an event (opt-in).

Why: VOD's callback signature covers only the callback URL and a timestamp, not the body. Whoever
holds the AuthKey, or replays a captured request within the time window with a different
body, can make vodhook believe any event about any media. Before side effects (changing
covers, starting jobs, deleting, forwarding), this guard asks VOD whether the event is
consistent with the media's actual state.

Put it first in a chain:

    [[chains]]
    on = ["TranscodeComplete"]
    status = "success"
    run = ["verify_with_api", "play_info", { handler = "forward", url = "https://..." }]

What it checks (GetVideoInfo, or GetMezzanineInfo with api = "mezzanine"):
* the media exists; for a DeleteMediaComplete that deleted the whole video, that it does not;
* a successful TranscodeComplete, StreamTranscodeComplete, SnapshotComplete or
  DynamicImageComplete is not about a video still Uploading (or UploadFail); a successful
  FileUploadComplete / UploadByURLComplete is not about a video whose upload failed;
* the event's AppId, when present, is the media's AppId (GetVideoInfo only).
A contradiction raises PermanentError: the event goes to the dead-letter store at once, with
the reason. Success returns `{"passed": true, "checked": true, "status": ..., ...}`.

Events it cannot check: images and auxiliary media (no video API describes them), a
LiveRecordVideoComposeStart (its video does not exist yet) and events without a media id.
Option `unverifiable = "reject"` (default) dead-letters them; `"pass"` lets them through
with `"checked": false`.

Options: `api = "video" | "mezzanine"` (default "video"); `unverifiable = "reject" | "pass"`;
`check_app_id = true | false` (default true).

How a failed guard stops side effects. The dispatcher runs every handler of an event even
after one fails (so that independent handlers are not held hostage), so raising alone would
not stop a later `set_cover`. Therefore each side-effecting built-in (set_cover,
start_workflow, moderate, forward) first calls `ensure_guard_passed`: when a chain that
matches the event puts `verify_with_api` before it, and the guard's result for this event is
not a pass, it refuses to act (RetryableError, no API call). With the guard's PermanentError
the event is dead-lettered; after a retryable guard failure (VOD throttled, network) the
whole event is retried and the guard runs again first. Plugins can call
`ensure_guard_passed(ctx)` the same way.

This module also holds the small precondition helpers the built-ins share (`vod_of`, typed
option readers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from handlers import router
from receiver import HandlerContext, PermanentError, RetryableError
from receiver.events import EventStatus
from receiver.vod import VodClient, VodNotFound

GUARD: Final = "verify_with_api"

_ROUTE_NAME = re.compile(r"^chain(\d+)\.(\d+)\.")
_NOT_UPLOADED: Final = frozenset({"Uploading", "UploadFail"})
_NEEDS_UPLOADED: Final = frozenset(
    {"TranscodeComplete", "StreamTranscodeComplete", "SnapshotComplete", "DynamicImageComplete"}
)
_UPLOAD_EVENTS: Final = frozenset({"FileUploadComplete", "UploadByURLComplete"})
_NOT_VIDEO_EVENTS: Final = frozenset(
    {"ImageUploadComplete", "AttachedMediaUploadComplete", "LiveRecordVideoComposeStart"}
)


# -- shared preconditions ------------------------------------------------------------------


def vod_of(ctx: HandlerContext) -> VodClient:
    """The process's VOD client; retryable when missing so that events wait for a fix.

    Not an isinstance check: tests and plugins may hand in a stand-in with the same methods.
    """
    if ctx.vod is None:
        raise RetryableError(
            f"{ctx.handler or 'handler'}: no VOD client in this process "
            "(the service must be built with VodClient.from_settings)"
        )
    return cast(VodClient, ctx.vod)


def _bad_option(ctx: HandlerContext, name: str, want: str, value: Any) -> PermanentError:
    return PermanentError(f"{ctx.handler or 'handler'}: option {name!r} must be {want}, "
                          f"got {value!r}")


def opt_str(
    ctx: HandlerContext,
    name: str,
    default: str | None = None,
    choices: Sequence[str] | None = None,
) -> str | None:
    """A string option (PermanentError when mistyped: a config error will not heal)."""
    value = ctx.options.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad_option(ctx, name, "a string", value)
    if choices is not None and value not in choices:
        raise _bad_option(ctx, name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def opt_bool(ctx: HandlerContext, name: str, default: bool = False) -> bool:
    value = ctx.options.get(name, default)
    if not isinstance(value, bool):
        raise _bad_option(ctx, name, "true or false", value)
    return value


def opt_int(ctx: HandlerContext, name: str, default: int | None = None) -> int | None:
    value = ctx.options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_option(ctx, name, "an integer", value)
    return value


def opt_float(ctx: HandlerContext, name: str, default: float) -> float:
    value = ctx.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_option(ctx, name, "a number", value)
    return float(value)


def opt_list(ctx: HandlerContext, name: str, default: Sequence[str] = ()) -> list[str]:
    """A list of strings; a comma-separated string is accepted too."""
    value = ctx.options.get(name, list(default))
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad_option(ctx, name, "a list of strings", value)
    return list(value)


def opt_json(ctx: HandlerContext, name: str) -> str | Mapping[str, Any] | None:
    """A JSON parameter for VOD, given as a TOML table or as JSON text."""
    value = ctx.options.get(name)
    if value is None or isinstance(value, str | Mapping):
        return value
    raise _bad_option(ctx, name, "a table or a JSON string", value)


# -- the guard's reach -----------------------------------------------------------------------


def _step_name(step: Any) -> str:
    return step if isinstance(step, str) else str(step.get("handler", ""))


def guard_required(ctx: HandlerContext) -> bool:
    """Whether a chain matching this event runs `verify_with_api` before this handler.

    Position comes from the route name `chain<i>.<step>.<handler>` (see dispatch.plugins);
    called outside a chain (tests, plugins), any matching chain with the guard counts.
    Option `require_guard = true` forces it.
    """
    if ctx.options.get("require_guard") is True:
        return True
    here = _ROUTE_NAME.match(ctx.handler or "")
    mine = (int(here.group(1)), int(here.group(2))) if here else None
    event = ctx.event
    for index, chain in enumerate(ctx.settings.chains):
        if "*" not in chain.on and event.event_type not in chain.on:
            continue
        if chain.status is not None:
            status = event.status
            if status is None or str(status).lower() != chain.status.lower():
                continue
        for step_index, step in enumerate(chain.run):
            if _step_name(step) != GUARD:
                continue
            if mine is None or (index, step_index) < mine:
                return True
    return False


def guard_passed(result: Any) -> bool:
    return isinstance(result, Mapping) and result.get("passed") is True


def ensure_guard_passed(ctx: HandlerContext) -> None:
    """Refuse to act (RetryableError) when the event's guard has not passed; see module doc."""
    if guard_required(ctx) and not guard_passed(ctx.results.get(GUARD)):
        raise RetryableError(
            f"{ctx.handler or 'handler'}: {GUARD} has not passed for this event "
            "(it failed or did not run); not acting"
        )


# -- the guard itself --------------------------------------------------------------------------


def _media_type(event: Any) -> str | None:
    value = getattr(event, "media_type", None)
    if value is None and event.model_extra:
        value = event.model_extra.get("MediaType")
    return value.lower() if isinstance(value, str) else None


def _unverifiable(event: Any) -> str | None:
    """Why this event cannot be checked against a video, or None when it can."""
    if not event.media_id:
        return "the event names no media"
    if event.event_type in _NOT_VIDEO_EVENTS:
        return f"{event.event_type} is not about an existing video"
    media_type = _media_type(event)
    if media_type not in (None, "video", "audio"):
        return f"media type {media_type!r} has no video API to check it with"
    return None


def _expects_gone(event: Any) -> bool:
    """A successful DeleteMediaComplete that removed the whole video."""
    if event.event_type != "DeleteMediaComplete" or event.status is not EventStatus.SUCCESS:
        return False
    delete_type = (getattr(event, "delete_type", None) or "all").lower()
    return delete_type in ("all", "video")


@router.handler(GUARD)
async def verify_with_api(ctx: HandlerContext) -> dict[str, Any]:
    """Check the event against VOD's view of the media; see the module docstring."""
    api = opt_str(ctx, "api", "video", ("video", "mezzanine"))
    unverifiable = opt_str(ctx, "unverifiable", "reject", ("reject", "pass"))
    check_app_id = opt_bool(ctx, "check_app_id", True)
    event = ctx.event
    why = _unverifiable(event)
    if why is not None:
        if unverifiable == "pass":
            return {"passed": True, "checked": False, "reason": why}
        raise PermanentError(f"{GUARD}: cannot verify {event.event_type}: {why}")
    media_id = str(event.media_id)
    vod = vod_of(ctx)
    action = "GetMezzanineInfo" if api == "mezzanine" else "GetVideoInfo"
    app_id: str | None = None
    try:
        if api == "mezzanine":
            status = (await vod.get_mezzanine_info(media_id)).status
        else:
            video = await vod.get_video_info(media_id)
            status, app_id = video.status, video.app_id
    except VodNotFound as exc:
        if _expects_gone(event):
            return {"passed": True, "checked": True, "media_id": media_id, "api": action,
                    "exists": False}
        raise PermanentError(
            f"{GUARD}: {event.event_type} for {media_id}, but VOD has no such media "
            f"({exc.code})"
        ) from exc
    problem: str | None = None
    if _expects_gone(event):
        problem = "the event says it was deleted, but VOD still has it"
    elif event.status is EventStatus.SUCCESS:
        if event.event_type in _NEEDS_UPLOADED and status in _NOT_UPLOADED:
            problem = f"successful {event.event_type}, but the media is {status}"
        elif event.event_type in _UPLOAD_EVENTS and status == "UploadFail":
            problem = f"successful {event.event_type}, but the upload failed (UploadFail)"
    if problem is None and check_app_id and event.app_id and app_id and event.app_id != app_id:
        problem = f"event AppId {event.app_id} but the media belongs to {app_id}"
    if problem is not None:
        raise PermanentError(f"{GUARD}: {event.event_type} for {media_id} contradicts VOD: "
                             f"{problem}")
    return {"passed": True, "checked": True, "media_id": media_id, "api": action,
            "status": status, "app_id": app_id}
