"""The SQLite store and group commit, in-process against a real file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from receiver.store import Delivery, GroupCommit, SQLiteStore, Status, Stored, StoreUnavailable


def delivery(key: str, media: str | None = "m1", problem: str | None = None) -> Delivery:
    return Delivery(b"{}", "http", key, "FileUploadComplete", media, None, time.time(), problem)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "events.db")


def test_duplicates_are_reported_with_the_original_id(store: SQLiteStore) -> None:
    first, dup, other = store.insert_many([delivery("a"), delivery("a"), delivery("b")])
    assert not first.duplicate and dup.duplicate and dup.event_id == first.event_id
    assert not other.duplicate
    assert store.counts()["received"] == 2


def test_problem_deliveries_are_stored_dead_with_reason(store: SQLiteStore) -> None:
    (stored,) = store.insert_many([delivery("x", problem="invalid body: not JSON")])
    detail = store.get(stored.event_id)
    assert detail is not None and detail.record.status is Status.DEAD
    assert detail.errors[0].error == "invalid body: not JSON"


def test_claim_keeps_one_open_event_per_media_in_order(store: SQLiteStore) -> None:
    store.insert_many(
        [
            delivery("1", "m1"),
            delivery("2", "m1"),
            delivery("3", "m2"),
            delivery("4", None),
            delivery("5", None),
        ]
    )
    now = time.time()
    claimed = store.claim(10, now, now + 30)
    assert [r.dedup_key for r in claimed] == ["1", "3", "4", "5"]
    assert store.claim(10, now, now + 30) == []  # m1's second event waits for the first
    store.complete(claimed[0].id)
    assert [r.dedup_key for r in store.claim(10, now, now + 30)] == ["2"]


def test_retrying_event_holds_back_later_events_of_its_media(store: SQLiteStore) -> None:
    store.insert_many([delivery("1"), delivery("2")])
    now = time.time()
    (first,) = store.claim(10, now, now + 30)
    store.retry_later(first.id, now + 60, "boom")
    assert store.claim(10, now, now + 30) == []
    assert store.next_due() == pytest.approx(now + 60)


def test_stale_leases_are_reclaimed(store: SQLiteStore) -> None:
    store.insert_many([delivery("1")])
    now = time.time()
    (rec,) = store.claim(1, now, now + 1)
    assert store.reclaim_stale(now) == 0
    assert store.reclaim_stale(now + 2) == 1
    (again,) = store.claim(1, now + 2, now + 3)
    assert again.id == rec.id and again.attempts == 2


def test_journal_and_requeue(store: SQLiteStore) -> None:
    store.insert_many([delivery("1")])
    now = time.time()
    (rec,) = store.claim(1, now, now + 30)
    store.record_handler(rec.id, "a", True, result={"urls": [1]}, attempt=1)
    store.record_handler(rec.id, "b", False, error="RuntimeError: x", attempt=1)
    store.bury(rec.id, "gave up")
    journal = store.journal(rec.id)
    assert journal["a"].status == "done" and journal["a"].result == {"urls": [1]}
    assert journal["b"].status == "failed"
    assert store.requeue(status="dead") == 1
    later = time.time() + 1
    (again,) = store.claim(1, later, later + 30)
    assert again.attempts == 1  # a replay starts a fresh attempt budget
    assert store.journal(rec.id)["a"].status == "done"  # done handlers stay done


def test_two_connections_write_concurrently(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "db"), SQLiteStore(tmp_path / "db")
    for i in range(50):
        a.insert_many([delivery(f"a{i}")])
        b.insert_many([delivery(f"b{i}")])
    assert a.counts()["received"] == 100


def test_a_long_run_of_one_media_holds_back_only_itself(store: SQLiteStore) -> None:
    now = time.time()
    store.insert_many([delivery(f"a{i}", media="busy") for i in range(40)] + [delivery("b")])
    first = store.claim(8, now, now + 30)
    assert [r.dedup_key for r in first] == ["a0"]  # the rest of "busy" waits for a0
    second = store.claim(8, now, now + 30)
    assert [r.dedup_key for r in second] == ["b"]
    store.complete(first[0].id)
    assert [r.dedup_key for r in store.claim(8, now, now + 30)] == ["a1"]


def test_merged_inserts_keep_each_op_its_own_answer(store: SQLiteStore) -> None:
    """apply_ops runs consecutive inserts as one statement; results must not mix up."""
    (old,) = store.insert_many([delivery("old")])
    ops = [
        store.op_insert(delivery("x")),
        store.op_insert_many([delivery("old"), delivery("y"), delivery("y")]),
        store.op_set_status(old.event_id, Status.DONE),  # not an insert: splits the run
        store.op_insert(delivery("bad", problem="invalid body: not JSON")),
        store.op_insert(delivery("x")),
    ]
    x, many, _, bad, x_again = store.run_ops(ops)
    old_dup, y, y_dup = many
    assert not x.duplicate and x_again.duplicate and x_again.event_id == x.event_id
    assert old_dup.duplicate and old_dup.event_id == old.event_id
    assert not y.duplicate and y_dup.duplicate and y_dup.event_id == y.event_id
    assert len({old.event_id, x.event_id, y.event_id, bad.event_id}) == 4
    detail = store.get(bad.event_id)
    assert detail is not None and detail.record.status is Status.DEAD
    assert [e.error for e in detail.errors] == ["invalid body: not JSON"]
    assert store.get(old.event_id).record.status is Status.DONE  # type: ignore[union-attr]
    assert store.counts()["received"] == 2


def test_a_batch_larger_than_one_statement(store: SQLiteStore) -> None:
    keys = [f"k{i}" for i in range(150)]
    stored = store.insert_many([delivery(k, media=None) for k in keys])
    assert [s.duplicate for s in stored] == [False] * 150
    assert sorted(s.event_id for s in stored) == [s.event_id for s in stored]
    again = store.insert_many([delivery(k, media=None) for k in reversed(keys)])
    assert [s.event_id for s in again] == [s.event_id for s in reversed(stored)]
    assert all(s.duplicate for s in again)


async def test_group_commit_batches_one_loop_turn(store: SQLiteStore) -> None:
    commits: list[int] = []
    intake = GroupCommit(store, max_batch=256, on_commit=commits.append)
    results = await asyncio.gather(*(intake.submit(delivery(str(i))) for i in range(100)))
    assert len({r.event_id for r in results}) == 100
    assert commits == [100]  # one transaction for the whole turn
    await intake.close()


async def test_writes_arriving_during_a_commit_form_the_next_batch(store: SQLiteStore) -> None:
    commits: list[int] = []
    intake = GroupCommit(store, on_commit=commits.append)
    first = asyncio.ensure_future(intake.submit(delivery("a")))
    await asyncio.sleep(0)  # the first batch is now with the writer thread
    rest = [intake.submit(delivery(f"b{i}")) for i in range(50)]
    await asyncio.gather(first, *rest)
    assert sum(commits) == 51 and len(commits) <= 3
    await intake.close()


async def test_commit_waits_a_turn_for_requests_about_to_submit(store: SQLiteStore) -> None:
    """Requests that are being handled and submit a loop turn later share the commit."""
    commits: list[int] = []
    intake = GroupCommit(store, on_commit=commits.append, threaded=False)
    intake.expected_requests = lambda: 3

    async def late(name: str) -> Stored:
        await asyncio.sleep(0)  # still verifying and parsing when the first one submits
        return await intake.submit(delivery(name))

    await asyncio.gather(intake.submit(delivery("a")), late("b"), late("c"))
    assert commits == [3]
    await intake.close()


async def test_commit_waits_at_most_max_wait(store: SQLiteStore) -> None:
    """A request that never submits (a slow body, say) holds the others back only briefly."""
    commits: list[int] = []
    intake = GroupCommit(store, on_commit=commits.append, threaded=False)
    intake.expected_requests = lambda: 2  # the second request is stuck reading its body
    stored = await asyncio.wait_for(intake.submit(delivery("a")), timeout=5)
    assert not stored.duplicate and commits == [1]
    await intake.close()


async def test_store_failure_fails_every_waiter(store: SQLiteStore) -> None:
    intake = GroupCommit(store)
    store.db.execute("DROP TABLE events")
    outcomes = await intake.submit_many([delivery("1"), delivery("2")])
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)
    await intake.close()
