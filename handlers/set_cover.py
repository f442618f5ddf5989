"""`set_cover`: make a new snapshot (or an AI-chosen image) the video's cover (UpdateVideoInfo).

Why: VOD picks a cover from its automatic cover snapshots; a snapshot job taken at a chosen
time (SubmitSnapshotJob, SnapshotComplete with SubType SpecifiedTime) or a smart-cover result
is usually the better picture, but VOD does not apply it by itself.

    [[chains]]
    on = ["SnapshotComplete"]
    status = "success"
    run = [{ handler = "set_cover", pick = "middle" }]

Which image: for SnapshotComplete, option `pick`:
* "cover" (default): the event's CoverUrl, else the middle snapshot;
* "first", "middle", "last": that one of the event's snapshots (normal and cover snapshots;
  sprites are never used).
For any other event (e.g. the smart-cover result of SubmitAIImageJob, which vodhook does not
model because its payload is not in the API reference at hand), name the field holding the
URL with `url_field`, a dotted path into the event body; JSON text on the way is parsed, e.g.
`url_field = "Data.CoverUrl"`. Only http(s) URLs are accepted.

A user-set cover is left alone unless `overwrite = true`. The rule: the current cover counts
as VOD's own (replaceable) when it is empty, when its path is one of the video's cover
snapshots (GetVideoInfo Snapshots), or when it lies in the video's snapshot folder
`/<VideoId>/snapshots/` where VOD stores every snapshot it takes (cover, normal and sprite,
including ones this handler applied before). Anything else (an uploaded image, an external
URL, a CoverURL given at upload) is the user's. Paths are compared without host and query,
because VOD signs snapshot URLs with changing auth parameters.

Result: `{"action": "set" | "unchanged" | "kept" | "skipped", "cover_url": ..., ...}`.
Runs only if `verify_with_api` passed when a chain puts it first (see handlers/guard.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from handlers import router
from handlers.guard import ensure_guard_passed, opt_bool, opt_str, vod_of
from receiver import HandlerContext, PermanentError
from receiver.events import EventStatus, SnapshotInfo
from receiver.events.models import SnapshotComplete
from receiver.vod import VideoInfo

_PICKS = ("cover", "first", "middle", "last")


def _path(url: str | None) -> str:
    return urlsplit(url).path if url else ""


def is_user_cover(video: VideoInfo) -> bool:
    """The rule in the module docstring."""
    current = _path(video.cover_url)
    if not current:
        return False
    if current in {_path(u) for u in video.snapshots}:
        return False
    return f"/{video.video_id}/snapshots/" not in current


def _snapshot_urls(infos: list[SnapshotInfo]) -> list[str]:
    for info in infos:
        if (info.snapshot_type or "").lower().startswith("sprite"):
            continue
        urls = info.urls()
        if urls:
            return urls
    return []


def _from_snapshots(event: SnapshotComplete, pick: str) -> str | None:
    urls = _snapshot_urls(event.snapshot_infos)
    if pick == "cover" and event.cover_url:
        return event.cover_url
    if not urls:
        return event.cover_url
    index = {"first": 0, "last": len(urls) - 1}.get(pick, (len(urls) - 1) // 2)
    return urls[index]


def _from_field(event: Any, path: str) -> str | None:
    value: Any = event.model_dump(by_alias=True, mode="json")
    for part in path.split("."):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value if isinstance(value, str) and value else None


@router.handler("set_cover")
async def set_cover(ctx: HandlerContext) -> dict[str, Any]:
    """Apply the new cover unless a user-set one is in place; see the module docstring."""
    overwrite = opt_bool(ctx, "overwrite", False)
    pick = opt_str(ctx, "pick", "cover", _PICKS) or "cover"
    url_field = opt_str(ctx, "url_field")
    event = ctx.event
    ensure_guard_passed(ctx)
    if event.status is EventStatus.FAIL:
        return {"action": "skipped", "reason": "the event reports a failure"}
    video_id = event.video_id or event.media_id
    if not video_id:
        return {"action": "skipped", "reason": "the event names no video"}
    if url_field:
        url = _from_field(event, url_field)
    elif isinstance(event, SnapshotComplete):
        url = _from_snapshots(event, pick)
    else:
        raise PermanentError(
            f"set_cover: {event.event_type} carries no snapshot list; set option url_field"
        )
    if not url:
        return {"action": "skipped", "reason": "the event carries no cover URL"}
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise PermanentError(f"set_cover: refusing a cover URL that is not http(s): {url[:100]}")
    vod = vod_of(ctx)
    video = await vod.get_video_info(video_id)
    if _path(video.cover_url) == _path(url):
        return {"action": "unchanged", "cover_url": video.cover_url}
    if not overwrite and is_user_cover(video):
        return {"action": "kept", "reason": "the video has a user-set cover",
                "cover_url": video.cover_url}
    await vod.update_video_info(video_id, cover_url=url)
    return {"action": "set", "cover_url": url, "previous": video.cover_url}
