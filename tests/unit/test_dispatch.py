"""The dispatcher in-process, on a real SQLite file: routing, middleware, sync and async
handlers, aggregated errors, results handed down a chain, age limit."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from receiver import HandlerContext, PermanentError, Router
from receiver.dispatch.dispatcher import Dispatcher
from receiver.dispatch.plugins import PluginError, build_route_table
from receiver.events import sample_event
from receiver.metrics import Metrics
from receiver.settings import ChainSettings, Settings
from receiver.sources.delivery import to_delivery
from receiver.store import GroupCommit, SQLiteStore, Status


def settings(**overrides: Any) -> Settings:
    base = {"retry_base": 0.01, "retry_cap": 0.02, "poll_interval": 0.005, "auth_keys": ""}
    return Settings(**{**base, **overrides})


async def run_until(
    store: SQLiteStore,
    router_list: list[Router],
    bodies: list[dict[str, Any]],
    want: dict[str, int],
    chains: list[ChainSettings] | None = None,
    **overrides: Any,
) -> Dispatcher:
    table = build_route_table(router_list, chains or [])
    intake = GroupCommit(store)
    dispatcher = Dispatcher(store, intake, table, settings(**overrides), Metrics())
    intake.on_commit = dispatcher.notify
    dispatcher.start()
    for body in bodies:
        await intake.submit(to_delivery(orjson.dumps(body), "http", time.time()))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counts = store.counts()
        if all(counts[k] == v for k, v in want.items()):
            break
        await asyncio.sleep(0.01)
    await dispatcher.stop()
    await intake.close()
    assert {k: store.counts()[k] for k in want} == want
    return dispatcher


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "d.db", synchronous="NORMAL")


async def test_routes_match_type_status_and_predicate(store: SQLiteStore) -> None:
    router = Router()
    seen: list[str] = []

    @router.on("TranscodeComplete", status="success")
    async def ok(ctx: HandlerContext) -> None:
        seen.append(f"ok:{ctx.event.event_type}")

    @router.on("TranscodeComplete", status="fail")
    async def failed(ctx: HandlerContext) -> None:
        seen.append("fail")

    @router.on_any(when=lambda e: e.media_id == "m" * 32)
    async def picky(ctx: HandlerContext) -> None:
        seen.append(f"picky:{ctx.event.event_type}")

    bodies = [
        sample_event("TranscodeComplete", {"Status": "Success"}),
        sample_event("SnapshotComplete", media_id="m" * 32),
    ]
    await run_until(store, [router], bodies, {"done": 2})
    assert sorted(seen) == ["ok:TranscodeComplete", "picky:SnapshotComplete"]


async def test_sync_handlers_run_in_threads_and_middleware_wraps_calls(
    store: SQLiteStore,
) -> None:
    router = Router()
    threads: list[str] = []
    order: list[str] = []

    @router.use
    async def outer(ctx: HandlerContext, call_next: Any) -> Any:
        order.append(f"before:{ctx.handler}")
        result = await call_next(ctx)
        order.append(f"after:{ctx.handler}")
        return {"wrapped": result}

    @router.on_any(name="sync")
    def sync_handler(ctx: HandlerContext) -> str:
        threads.append(threading.current_thread().name)
        return "sync-result"

    await run_until(store, [router], [sample_event("FileUploadComplete")], {"done": 1})
    assert threads and threads[0].startswith("vodhook-handler")
    assert order == ["before:sync", "after:sync"]
    assert store.journal(1)["sync"].result == {"wrapped": "sync-result"}


async def test_errors_are_aggregated_and_other_handlers_still_run(store: SQLiteStore) -> None:
    router = Router()
    ran: list[str] = []

    @router.on_any(name="a")
    async def a(ctx: HandlerContext) -> None:
        raise RuntimeError("a broke")

    @router.on_any(name="b")
    async def b(ctx: HandlerContext) -> None:
        ran.append("b")
        raise PermanentError("b refuses")

    @router.on_any(name="c")
    async def c(ctx: HandlerContext) -> None:
        ran.append("c")

    await run_until(store, [router], [sample_event("FileUploadComplete")], {"dead": 1})
    detail = store.get(1)
    assert detail is not None and detail.record.attempts == 1
    assert "a: RuntimeError: a broke" in (detail.record.last_error or "")
    assert "b: PermanentError: b refuses" in (detail.record.last_error or "")
    assert ran == ["b", "c"]


async def test_chain_results_flow_to_later_steps_and_unknown_names_fail(
    store: SQLiteStore,
) -> None:
    router = Router()
    seen: dict[str, Any] = {}

    @router.handler("first")
    async def first(ctx: HandlerContext) -> dict[str, Any]:
        return {"n": ctx.options["n"]}

    @router.handler("second")
    async def second(ctx: HandlerContext) -> None:
        seen.update(ctx.results)

    chain = ChainSettings(on=["TranscodeComplete"], run=[{"handler": "first", "n": 7}, "second"])
    await run_until(store, [router], [sample_event("TranscodeComplete")], {"done": 1}, [chain])
    assert seen == {"first": {"n": 7}}
    with pytest.raises(PluginError, match="no handler named 'third'"):
        build_route_table([router], [ChainSettings(on=["*"], run=["third"])])


async def test_age_limit_sends_failing_events_dead(store: SQLiteStore) -> None:
    router = Router()

    @router.on_any(name="always-fails")
    async def fails(ctx: HandlerContext) -> None:
        raise RuntimeError("nope")

    await run_until(
        store,
        [router],
        [sample_event("FileUploadComplete")],
        {"dead": 1},
        max_age=0.05,
        max_attempts=1000,
    )
    detail = store.get(1)
    assert detail is not None and "gave up after" in (detail.record.last_error or "")
    assert detail.record.status is Status.DEAD


async def test_handler_timeout_counts_as_failure(store: SQLiteStore) -> None:
    router = Router()

    @router.on_any(name="slow")
    async def slow(ctx: HandlerContext) -> None:
        await asyncio.Event().wait()

    await run_until(
        store,
        [router],
        [sample_event("FileUploadComplete")],
        {"dead": 1},
        handler_timeout=0.05,
        max_attempts=1,
    )
    detail = store.get(1)
    assert detail is not None and "TimeoutError" in (detail.record.last_error or "")
