"""`play_info`: fetch the play URLs of a transcoded video (GetPlayInfo) as a handler result.

Why a handler: TranscodeComplete lists the streams but not playable (CDN, URL-signed)
addresses. The result is journaled, so `vodhook events show <id>` shows the URLs, and later
handlers of the event read it as `ctx.results["play_info"]` (`forward` sends it along).

    [[chains]]
    on = ["TranscodeComplete"]
    status = "success"
    run = [{ handler = "play_info", formats = ["mp4", "m3u8"] }, "forward"]

Result:

    {"video_id": "...", "playable": true, "title": "...", "status": "Normal",
     "duration": 60.0, "cover_url": "...",
     "streams": [{"definition": "HD", "format": "m3u8", "url": "https://...",
                  "bitrate": 2210.0, "size": 16575000, "duration": 60.0, "width": 1920,
                  "height": 1080, "fps": 25.0, "stream_type": "video", "encrypt": false,
                  "job_id": "...", "status": "Normal", ...}]}

`bitrate` is in Kbit/s, `duration` in seconds, `size` in bytes. Signed URLs expire
(`auth_timeout`), so the stored result is a record, not a permanent address.

A video VOD will not play yet (Checking: awaiting review, Blocked, ...: Forbidden.IllegalStatus)
or with no stream matching the filters (InvalidVideo.NoneStream), or with only private-encrypted
streams (Forbidden.AliyunVoDEncryption; ask for result_type = "Multiple") is not an error of the
event:
the result is then `{"video_id": ..., "playable": false, "reason": "<VOD code>", "streams": []}`.
A video that does not exist raises (dead-letter); a failed event is skipped.

Options (all optional, passed to GetPlayInfo):
* `formats`: list or comma string of mp4, m3u8, mp3, mpd (default: all);
* `definition`: list or comma string of FD, LD, SD, HD, OD, 2K, 4K, SQ, HQ, AUTO;
* `stream_type`: "video" or "audio";
* `output_type`: "cdn" (default) or "oss";
* `auth_timeout`: seconds the signed URLs stay valid;
* `result_type`: "Single" (default: the latest stream per definition and format) or "Multiple".
"""

from __future__ import annotations

from typing import Any

from handlers import router
from handlers.guard import opt_int, opt_list, opt_str, vod_of
from receiver import HandlerContext
from receiver.events import EventStatus
from receiver.vod import VodForbidden, VodNotFound

#: VOD codes meaning "not playable as asked", which are answers rather than failures
_NOT_PLAYABLE_CODES = frozenset(
    {"InvalidVideo.NoneStream", "Forbidden.IllegalStatus", "Forbidden.AliyunVoDEncryption"}
)


@router.handler("play_info")
async def play_info(ctx: HandlerContext) -> dict[str, Any] | None:
    """GetPlayInfo for the event's video; see the module docstring."""
    formats = opt_list(ctx, "formats")
    definition = opt_list(ctx, "definition")
    stream_type = opt_str(ctx, "stream_type", None, ("video", "audio"))
    output_type = opt_str(ctx, "output_type", None, ("cdn", "oss"))
    auth_timeout = opt_int(ctx, "auth_timeout")
    result_type = opt_str(ctx, "result_type", None, ("Single", "Multiple"))
    event = ctx.event
    if event.status is EventStatus.FAIL:
        return {"skipped": "the event reports a failure"}
    video_id = event.video_id or event.media_id
    if not video_id:
        return {"skipped": "the event names no video"}
    try:
        info = await vod_of(ctx).get_play_info(
            video_id,
            formats=formats or None,
            definition=definition or None,
            stream_type=stream_type,
            output_type=output_type,
            auth_timeout=auth_timeout,
            result_type=result_type,
        )
    except (VodForbidden, VodNotFound) as exc:
        if exc.code not in _NOT_PLAYABLE_CODES:
            raise
        return {"video_id": video_id, "playable": False, "reason": exc.code, "streams": []}
    result: dict[str, Any] = {
        "video_id": info.video_id,
        "playable": True,
        "streams": [stream.to_dict() for stream in info.streams],
    }
    for key in ("title", "status", "duration", "cover_url"):
        value = getattr(info, key)
        if value is not None:
            result[key] = value
    return result
