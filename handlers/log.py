"""`log`: one structured line per processed event.

On by default so that a new install shows its traffic; turn it off with
VODHOOK_DISABLE_HANDLERS=log when another sink (forward, metrics) is enough.
"""

from __future__ import annotations

from handlers import router
from receiver import HandlerContext


@router.on_any(name="log")
async def log_event(ctx: HandlerContext) -> None:
    """Async although it never awaits: a coroutine avoids a thread-pool hop per event."""
    event = ctx.event
    ctx.log.info(
        "event",
        status=str(event.status) if event.status is not None else None,
        event_time=event.event_time.isoformat() if event.event_time else None,
        source=ctx.source,
        attempt=ctx.attempt,
    )
