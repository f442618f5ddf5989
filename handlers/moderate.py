"""`moderate`: act on an AI review verdict (AIMediaAuditComplete, Data.Suggestion).

Why: VOD's smart review only reports block / review / pass; applying the verdict (hiding the
video, flagging it for a human, removing it) is up to the account owner. Chain it on
AIMediaAuditComplete:

    [[chains]]
    on = ["AIMediaAuditComplete"]
    status = "success"
    run = ["verify_with_api", { handler = "moderate", block = "audit", review = "tag" }]

Options, one per suggestion, each one of:
* "audit": CreateAudit with Status Blocked (block, review) or Normal (pass): a manual review
  result, which makes a Blocked video unplayable and a Normal one playable again;
* "tag": add a tag with UpdateVideoInfo (existing tags kept; nothing is sent when the tag is
  already there; VOD allows 16 tags of <= 32 bytes);
* "delete": DeleteVideo (source, streams and snapshots; a video already gone counts as done);
* "none": do nothing.
Defaults: `block = "audit"`, `review = "none"`, `pass = "none"`.
`block_tag` / `review_tag` / `pass_tag` name the tag (defaults "ai-block", "ai-review",
"ai-pass"); `reason` is the CreateAudit reason (default "AI review: <suggestion> (<label>)",
cut to VOD's 128 bytes).

Result: `{"suggestion": "block", "label": "porn", "action": "audit", "done": true, ...}`.
Events without a suggestion, failed audits and events without a media id do nothing.
Runs only if `verify_with_api` passed when a chain puts it first (see handlers/guard.py).
Videos only: an image review result (MediaType image) is skipped.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from handlers import router
from handlers.guard import ensure_guard_passed, opt_str, vod_of
from receiver import HandlerContext, PermanentError
from receiver.events import EventStatus
from receiver.events.models import AIMediaAuditComplete
from receiver.vod import VodClient, VodNotFound

ACTIONS: Final = ("audit", "tag", "delete", "none")
DEFAULTS: Final[dict[str, str]] = {"block": "audit", "review": "none", "pass": "none"}
MAX_TAGS: Final = 16
MAX_TAG_BYTES: Final = 32
MAX_REASON_BYTES: Final = 128


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


async def _add_tag(vod: VodClient, video_id: str, tag: str) -> dict[str, Any]:
    video = await vod.get_video_info(video_id)
    if tag in video.tags:
        return {"done": True, "tag": tag, "changed": False}
    if len(video.tags) >= MAX_TAGS:
        raise PermanentError(f"moderate: {video_id} already has {MAX_TAGS} tags; cannot add {tag}")
    await vod.update_video_info(video_id, tags=[*video.tags, tag])
    return {"done": True, "tag": tag, "changed": True}


@router.handler("moderate")
async def moderate(ctx: HandlerContext) -> dict[str, Any]:
    """Apply the configured action for the verdict; see the module docstring."""
    plan = {s: opt_str(ctx, s, default, ACTIONS) or "none" for s, default in DEFAULTS.items()}
    event = ctx.event
    ensure_guard_passed(ctx)
    if not isinstance(event, AIMediaAuditComplete):
        return {"skipped": f"{event.event_type} is not an AI review result"}
    if event.status is EventStatus.FAIL:
        return {"skipped": "the review job failed"}
    media_type = event.model_extra.get("MediaType") if event.model_extra else None
    if isinstance(media_type, str) and media_type.lower() not in ("video", "audio"):
        return {"skipped": f"media type {media_type} is not a video"}
    suggestion = event.suggestion
    if suggestion is None:
        return {"skipped": "the event has no Data.Suggestion"}
    media_id = event.media_id
    if not media_id:
        return {"skipped": "the event names no media"}
    action = plan[suggestion]
    result: dict[str, Any] = {"suggestion": suggestion, "label": event.label, "action": action}
    if action == "none":
        return {**result, "done": False}
    vod = vod_of(ctx)
    if action == "audit":
        status: Literal["Normal", "Blocked"] = "Normal" if suggestion == "pass" else "Blocked"
        default_reason = f"AI review: {suggestion}" + (f" ({event.label})" if event.label else "")
        reason = _cut(opt_str(ctx, "reason", default_reason) or default_reason, MAX_REASON_BYTES)
        await vod.create_audit(media_id, status, reason)
        return {**result, "done": True, "audit_status": status}
    if action == "tag":
        tag = opt_str(ctx, f"{suggestion}_tag", f"ai-{suggestion}") or f"ai-{suggestion}"
        if not tag or "," in tag or len(tag.encode()) > MAX_TAG_BYTES:
            raise PermanentError(f"moderate: tag {tag!r} must be 1-32 bytes without commas")
        return {**result, **await _add_tag(vod, media_id, tag)}
    try:
        await vod.delete_video(media_id)
    except VodNotFound:
        return {**result, "done": True, "already_gone": True}
    return {**result, "done": True}
