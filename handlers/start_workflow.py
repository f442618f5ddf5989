"""`start_workflow`: start processing when a source file has arrived (Submit* on upload events).

Why: uploads that skip VOD's automatic processing (template group VOD_NO_TRANSCODE, URL pulls,
RegisterMedia without a template) need a follow-up job, and the right moment is the upload
event. Chain it on FileUploadComplete and/or UploadByURLComplete:

    [[chains]]
    on = ["FileUploadComplete", "UploadByURLComplete"]
    status = "success"
    run = [{ handler = "start_workflow", action = "transcode", template_group_id = "..." }]

Option `action` picks the call; its parameters are options of the same step:
* "workflow" (SubmitWorkflowJob): `workflow_id` (required);
* "transcode" (SubmitTranscodeJobs): `template_group_id` (required), `pipeline_id`,
  `priority` (1-10), `override_params` (table or JSON text);
* "snapshot" (SubmitSnapshotJob): `snapshot_template_id`, or `count`, `interval`,
  `specified_offset_time` (ms), `width`, `height`, `sprite_snapshot_config`;
* "ai" (SubmitAIJob): `types` (list or comma string: AIMediaDNA, AIVideoTag; required),
  `config` (table or JSON text);
* "audit" (SubmitAIMediaAuditJob): `template_id`, `media_type`, `media_audit_configuration`.
Every action takes `user_data` (table or JSON text: MessageCallback / Extend). The VOD
action names (SubmitTranscodeJobs, ...) are accepted as `action` too.

Result: `{"action": "SubmitTranscodeJobs", "job_ids": [...], "task_id": ..., "request_id":
...}`; failed events and events without a VideoId are skipped.

Duplicates: Submit* calls are not idempotent and VOD offers no client token. The client
retries them only when VOD certainly did not get them (throttling, connection never made).
After a read timeout VOD may or may not have started the job; the handler then fails
retryably and the dispatcher's retry may start a second job. Set `on_uncertain = "dead"` to
dead-letter such events instead (no duplicate; an operator replays or checks by hand).
A job that did start is journaled, so it is never submitted again for the same event.
Runs only if `verify_with_api` passed when a chain puts it first (see handlers/guard.py).
"""

from __future__ import annotations

from typing import Any, Final

from handlers import router
from handlers.guard import (
    ensure_guard_passed,
    opt_int,
    opt_json,
    opt_list,
    opt_str,
    vod_of,
)
from receiver import HandlerContext, PermanentError
from receiver.events import EventStatus
from receiver.vod import SubmitResult, VodClient, VodTransportError

ACTIONS: Final[dict[str, str]] = {
    "workflow": "SubmitWorkflowJob",
    "transcode": "SubmitTranscodeJobs",
    "snapshot": "SubmitSnapshotJob",
    "ai": "SubmitAIJob",
    "audit": "SubmitAIMediaAuditJob",
}


def _required(ctx: HandlerContext, name: str, action: str) -> str:
    value = opt_str(ctx, name)
    if not value:
        raise PermanentError(f"start_workflow: action {action} needs option {name!r}")
    return value


async def _submit(ctx: HandlerContext, vod: VodClient, action: str, media_id: str) -> SubmitResult:
    user_data = opt_json(ctx, "user_data")
    if action == "SubmitWorkflowJob":
        return await vod.submit_workflow_job(_required(ctx, "workflow_id", action), media_id)
    if action == "SubmitTranscodeJobs":
        return await vod.submit_transcode_jobs(
            media_id,
            _required(ctx, "template_group_id", action),
            pipeline_id=opt_str(ctx, "pipeline_id"),
            priority=opt_int(ctx, "priority"),
            override_params=opt_json(ctx, "override_params"),
            user_data=user_data,
        )
    if action == "SubmitSnapshotJob":
        return await vod.submit_snapshot_job(
            media_id,
            count=opt_int(ctx, "count"),
            interval=opt_int(ctx, "interval"),
            specified_offset_time=opt_int(ctx, "specified_offset_time"),
            width=opt_int(ctx, "width"),
            height=opt_int(ctx, "height"),
            snapshot_template_id=opt_str(ctx, "snapshot_template_id"),
            sprite_snapshot_config=opt_json(ctx, "sprite_snapshot_config"),
            user_data=user_data,
        )
    if action == "SubmitAIJob":
        types = opt_list(ctx, "types")
        if not types:
            raise PermanentError("start_workflow: action SubmitAIJob needs option 'types'")
        return await vod.submit_ai_job(
            media_id, types, config=opt_json(ctx, "config"), user_data=user_data
        )
    return await vod.submit_ai_media_audit_job(
        media_id,
        template_id=opt_str(ctx, "template_id"),
        media_type=opt_str(ctx, "media_type"),
        media_audit_configuration=opt_json(ctx, "media_audit_configuration"),
        user_data=user_data,
    )


@router.handler("start_workflow")
async def start_workflow(ctx: HandlerContext) -> dict[str, Any]:
    """Submit the configured job for the uploaded media; see the module docstring."""
    choice = opt_str(ctx, "action")
    if choice is None:
        raise PermanentError(
            "start_workflow: option 'action' is required (" + ", ".join(ACTIONS) + ")"
        )
    action = ACTIONS.get(choice, choice)
    if action not in ACTIONS.values():
        raise PermanentError(f"start_workflow: unknown action {choice!r} "
                             f"(one of {', '.join(ACTIONS)})")
    on_uncertain = opt_str(ctx, "on_uncertain", "retry", ("retry", "dead"))
    ensure_guard_passed(ctx)
    event = ctx.event
    if event.status is EventStatus.FAIL:
        return {"action": action, "skipped": "the event reports a failure"}
    media_id = event.video_id or event.media_id
    if not media_id:
        return {"action": action, "skipped": "the event names no video"}
    vod = vod_of(ctx)
    try:
        result = await _submit(ctx, vod, action, media_id)
    except VodTransportError as exc:
        if exc.maybe_sent and on_uncertain == "dead":
            raise PermanentError(
                f"start_workflow: {action} may or may not have started a job ({exc.code}); "
                "not retrying, to avoid a duplicate (on_uncertain = 'dead')"
            ) from exc
        raise
    return result.to_dict()
