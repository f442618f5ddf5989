"""A plugin with one handler that does nothing: dispatch cost without handler cost.

Loaded by the dispatch benchmark with VODHOOK_PLUGINS=bench.noop_plugin:router and
VODHOOK_DISABLE_HANDLERS=log. The VOD variant (`vod_router`) calls GetVideoInfo through
ctx.vod, the project's rate-limited client.
"""

from __future__ import annotations

from receiver import HandlerContext, Router

router = Router(name="bench-noop")


@router.on_any(name="bench_noop")
async def noop(ctx: HandlerContext) -> None:
    return None


vod_router = Router(name="bench-vod")


@vod_router.on_any(name="bench_vod_get_video_info")
async def get_video_info(ctx: HandlerContext) -> None:
    """One VOD API call per event (GetVideoInfo), through the client the service built."""
    if ctx.vod is None:
        raise RuntimeError("ctx.vod is None: the service built no VOD client")
    await ctx.vod.get_video_info(ctx.media_id)
    return None
