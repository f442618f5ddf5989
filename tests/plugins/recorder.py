"""A test plugin: records every call in a JSON-lines file so tests can count effects.

Behaviour is steered by environment variables so that the same plugin serves the
subprocess-based integration tests:
- VODHOOK_TEST_RECORD: file to append one line per successful call to;
- VODHOOK_TEST_FAIL: "EventType:N" fails the first N attempts of that type (retryable);
- VODHOOK_TEST_PERMANENT: an EventType whose calls raise PermanentError;
- VODHOOK_TEST_GATE: a path; calls wait until that file exists (to hold events in flight).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from receiver import HandlerContext, PermanentError, RetryableError, Router

router = Router(name="test-recorder")


def _fail_rule() -> tuple[str, int] | None:
    rule = os.environ.get("VODHOOK_TEST_FAIL")
    if not rule:
        return None
    name, _, count = rule.partition(":")
    return name, int(count or "1")


@router.on_any(name="recorder")
async def record(ctx: HandlerContext) -> dict[str, object]:
    gate = os.environ.get("VODHOOK_TEST_GATE")
    if gate:
        while not Path(gate).exists():
            await asyncio.sleep(0.02)
    if os.environ.get("VODHOOK_TEST_PERMANENT") == ctx.event.event_type:
        raise PermanentError(f"{ctx.event.event_type} is refused by the test plugin")
    rule = _fail_rule()
    if rule and rule[0] == ctx.event.event_type and ctx.attempt <= rule[1]:
        raise RetryableError(f"planned failure {ctx.attempt}/{rule[1]}")
    line = {
        "event_id": ctx.event_id,
        "event_type": ctx.event.event_type,
        "media_id": ctx.media_id,
        "attempt": ctx.attempt,
        "pid": os.getpid(),
    }
    path = os.environ.get("VODHOOK_TEST_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
    return {"recorded": True}
