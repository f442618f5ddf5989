"""Per-action rate limits: the QPS table, overrides, and the 1-second-window guarantee."""

from __future__ import annotations

import asyncio
import bisect

import pytest

from receiver.sandbox.vod_emulator import DOCUMENTED_QPS
from receiver.vod.qps import DEFAULT_QPS, effective_qps
from receiver.vod.ratelimit import PACING_HEADROOM, RateLimits

HANDLER_ACTIONS = (
    "GetPlayInfo",
    "GetVideoInfo",
    "GetMezzanineInfo",
    "UpdateVideoInfo",
    "SubmitWorkflowJob",
    "SubmitTranscodeJobs",
    "SubmitSnapshotJob",
    "SubmitAIJob",
    "SubmitAIMediaAuditJob",
    "CreateAudit",
    "DeleteVideo",
    "SetMessageCallback",
    "GetMessageCallback",
    "DeleteMessageCallback",
)


def max_per_window(times: list[float], width: float = 1.0) -> int:
    """Most timestamps inside any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0
    )


def test_table_matches_the_reference() -> None:
    # spot checks against seed 004 lines 770-1330
    assert DEFAULT_QPS["GetPlayInfo"] == 360
    assert DEFAULT_QPS["GetVideoInfo"] == 100
    assert DEFAULT_QPS["SubmitWorkflowJob"] == 20
    assert DEFAULT_QPS["SubmitAIMediaAuditJob"] == 15
    assert DEFAULT_QPS["UpdateWatermark"] == 2
    assert DEFAULT_QPS["GetMediaAuditResultTimeline"] == 10
    assert DEFAULT_QPS["DeleteMessageCallback"] == 10
    assert "UploadMediaByURL" not in DEFAULT_QPS  # a per-day quota, not a rate


def test_every_action_the_built_ins_use_is_limited() -> None:
    assert all(action in DEFAULT_QPS for action in HANDLER_ACTIONS)


def test_table_agrees_with_the_emulators_independent_copy() -> None:
    assert {a: DEFAULT_QPS[a] for a in DOCUMENTED_QPS} == DOCUMENTED_QPS


def test_overrides_and_default_for_unlisted_actions() -> None:
    limits = RateLimits({"GetPlayInfo": 100, "*": 7})
    assert limits.rate("GetPlayInfo") == 100
    assert limits.rate("GetVideoInfo") == 100
    assert limits.rate("SubmitAIJob") == 30  # "*" does not touch listed actions
    assert limits.rate("GetWorkflowTask") == 7
    assert RateLimits().rate("GetWorkflowTask") is None


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_non_positive_rate_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        effective_qps({"GetPlayInfo": bad})


def test_slow_rates_still_admit_one_call() -> None:
    limits = RateLimits({"GetWorkflowTask": 0.5})
    bucket = limits._bucket("GetWorkflowTask")
    assert bucket is not None
    assert bucket.max_rate == 1.0
    assert bucket.time_period == pytest.approx(1 / (0.5 * PACING_HEADROOM))
    with pytest.raises(ValueError):
        RateLimits(burst=0)


async def test_a_backlog_never_exceeds_the_rate_in_any_second() -> None:
    """Two actions drain concurrent backlogs; each stays within its own cap."""
    rates = {"GetVideoInfo": 100.0, "UpdateVideoInfo": 40.0}
    limits = RateLimits(rates)
    loop = asyncio.get_running_loop()
    seen: dict[str, list[float]] = {action: [] for action in rates}

    async def one(action: str) -> None:
        await limits.acquire(action)
        seen[action].append(loop.time())

    reads = [one("GetVideoInfo") for _ in range(150)]
    writes = [one("UpdateVideoInfo") for _ in range(60)]
    await asyncio.gather(*reads, *writes)
    assert len(seen["GetVideoInfo"]) == 150 and len(seen["UpdateVideoInfo"]) == 60
    for action, rate in rates.items():
        # bucket capacity 1: at most rate + burst - 1 = rate admissions per 1-s window
        assert max_per_window(seen[action]) <= rate + limits.burst - 1, action


async def test_unlimited_actions_do_not_wait() -> None:
    limits = RateLimits()
    assert limits._bucket("GetWorkflowTask") is None
    await asyncio.wait_for(
        asyncio.gather(*(limits.acquire("GetWorkflowTask") for _ in range(1000))), timeout=5
    )
