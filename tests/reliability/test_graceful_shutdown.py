"""Issue 6.6: SIGTERM under load, on both sources, loses nothing.

One `vodhook serve` runs the HTTP receiver and the MNS poller. A thread posts signed events
over HTTP and another keeps writing messages into the queue while the server is stopped
with SIGTERM and restarted a few times. Every event acknowledged with a 200 or deleted from
the queue ends `done`; posts that never got a 200 may be absent (VOD would retry them) and
are counted separately.
"""

from __future__ import annotations

import functools
import random
import threading
from pathlib import Path

import pytest

from receiver.sandbox.mns_emulator import MnsEmulator
from receiver.sandbox.vod_emulator import VodEmulator
from tests.reliability.conftest import (
    QUEUE,
    HttpLoad,
    ScenarioCounts,
    duplicates_metric,
    effects_for,
    event_body,
    mns_remaining,
    sdk_queue,
    service_env,
    statuses,
    summarise_effects,
    video_ids,
    wait_all_settled,
)
from tests.support import Server, wait_until

pytestmark = pytest.mark.reliability

STOPS = 3


class MnsWriter(threading.Thread):
    """Writes one event per message into the queue, a small batch at a time, until stopped."""

    def __init__(self, emu: MnsEmulator, media: list[str], rng: random.Random) -> None:
        super().__init__(name="mns-writer", daemon=True)
        self.emu = emu
        self.media = media
        self.rng = rng
        self.sent: dict[str, str] = {}  # message id -> media id
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self) -> None:
        from mns.queue import Message

        queue = sdk_queue(self.emu, encoding=True)
        i = 0
        while i < len(self.media) and not self.halt.is_set():
            batch = self.media[i : i + self.rng.randint(1, 8)]
            sent = queue.batch_send_message([Message(event_body(m).decode()) for m in batch])
            with self.lock:
                for message, m in zip(sent, batch, strict=True):
                    self.sent[message.message_id] = m
            i += len(batch)
            self.halt.wait(0.1)

    def snapshot(self) -> dict[str, str]:
        with self.lock:
            return dict(self.sent)


def test_sigterm_under_load_on_both_sources(
    tmp_path: Path,
    vod: VodEmulator,
    mns: MnsEmulator,
    rng: random.Random,
    tally: ScenarioCounts,
) -> None:
    tally.scenario = "SIGTERM under load, HTTP+MNS"
    effects = effects_for()
    http_media = video_ids(rng, 1500)
    mns_media = video_ids(rng, 1500)
    for m in http_media + mns_media:
        vod.add_video(m)
    vod.latency = 0.01
    srv = Server(tmp_path, service_env(tmp_path, effects, vod=vod, mns=mns))
    srv.start()
    load = HttpLoad(srv.callback_url, http_media, retry_spacing=0.1, pace=0.003)
    writer = MnsWriter(mns, mns_media, rng)
    load.start()
    writer.start()
    duplicates = 0
    stop_log: list[str] = []
    try:
        for k in range(STOPS):
            target = load.acked + rng.randint(40, 120)
            wait_until(functools.partial(load.reached, target), timeout=30)
            duplicates += duplicates_metric(srv.base)
            code = srv.stop()
            assert code in (0, -15), f"stop {k}: exit status {code}\n{srv.logs()[-3000:]}"
            sent = writer.snapshot()
            remaining = mns_remaining(mns)
            stored = statuses(srv.db)
            acked = load.acked_media()
            deleted = {m for i, m in sent.items() if i not in remaining}
            assert not acked - stored.keys(), f"stop {k}: acknowledged posts not stored"
            assert not deleted - stored.keys(), f"stop {k}: deleted messages not stored"
            processing = [m for m, s in stored.items() if s == "processing"]
            assert not processing, f"stop {k}: a graceful stop left {processing} processing"
            stop_log.append(f"stop{k + 1}@{len(acked)} acked/{len(deleted)} deleted")
            srv.start()
        target = load.acked + 40
        wait_until(functools.partial(load.reached, target), timeout=30)
    finally:
        load.stop()
        writer.halt.set()
        load.join(30)
        writer.join(30)
    try:
        sent = writer.snapshot()
        wait_until(lambda: mns.queue_snapshot(QUEUE).total == 0, timeout=60)
        acked = load.acked_media()
        unacked = load.unacked_media()
        final = wait_all_settled(srv.db, acked | set(sent.values()), timeout=90)
        duplicates += duplicates_metric(srv.base)
    finally:
        srv.stop()
    counts = effects.count(vod)
    total, repeats, odd = summarise_effects(counts, final.keys())

    tally.sent = len(load.outcomes) + len(sent)
    tally.deliveries = load.deliveries() + len(sent)
    tally.acknowledged = len(acked) + len(sent)
    tally.not_acknowledged = len(unacked)
    tally.done = sum(1 for s in final.values() if s == "done")
    tally.dead = sum(1 for s in final.values() if s == "dead")
    tally.duplicates_suppressed = duplicates
    tally.effects = total
    tally.repeated_effects = repeats
    tally.interruptions = STOPS
    tally.notes = (
        f"effects={effects.kind}; {', '.join(stop_log)}; HTTP {len(acked)} acked, "
        f"{len(unacked)} never acked ({len(unacked & final.keys())} of those stored); "
        f"MNS {len(sent)} sent, all deleted; dups counted until each stop (lower bound)"
    )
    not_done = {m: final.get(m) for m in acked | set(sent.values()) if final.get(m) != "done"}
    assert not not_done, f"acknowledged events not done: {not_done}"
    assert not odd, f"effects not exactly once after graceful stops: {odd}"
