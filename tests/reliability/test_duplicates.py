"""Issue 6.2: every event delivered 1 to 3 times, shuffled, over HTTP and MNS at once, into
one server process running both sources. Each effect happens exactly once.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import httpx
import pytest

from receiver.events import sample_event
from receiver.sandbox.mns_emulator import MnsEmulator
from receiver.sandbox.vod_emulator import VodEmulator
from tests.reliability.conftest import (
    EVENT_TYPE,
    QUEUE,
    ScenarioCounts,
    duplicates_metric,
    effects_for,
    mns_send,
    service_env,
    summarise_effects,
    video_ids,
    wait_all_settled,
)
from tests.support import Server, signed_headers, wait_until

pytestmark = pytest.mark.reliability

EVENTS = 150


def test_duplicates_shuffled_over_http_and_mns(
    tmp_path: Path,
    vod: VodEmulator,
    mns: MnsEmulator,
    rng: random.Random,
    tally: ScenarioCounts,
) -> None:
    tally.scenario = "duplicates x1-3 shuffled, HTTP+MNS"
    effects = effects_for()
    media = video_ids(rng, EVENTS)
    for m in media:
        vod.add_video(m)
    srv = Server(tmp_path, service_env(tmp_path, effects, vod=vod, mns=mns)).start()
    try:
        # One body per event; copies differ only in transport, key order and encoding,
        # which is what VOD's retries and a dual HTTP+MNS set-up produce.
        bodies = {m: sample_event(EVENT_TYPE, media_id=m) for m in media}
        http_copies: list[bytes] = []
        mns_copies: list[str] = []
        for m in media:
            for _ in range(rng.randint(1, 3)):
                items = list(bodies[m].items())
                if rng.random() < 0.5:
                    rng.shuffle(items)
                text = json.dumps(dict(items))
                if rng.random() < 0.5:
                    http_copies.append(text.encode())
                else:
                    mns_copies.append(text)
        rng.shuffle(http_copies)
        rng.shuffle(mns_copies)
        statuses: list[int] = []

        def post_all() -> None:
            with httpx.Client(timeout=10) as client:
                for body in http_copies:
                    r = client.post(
                        srv.callback_url, content=body, headers=signed_headers(srv.callback_url)
                    )
                    statuses.append(r.status_code)

        poster = threading.Thread(target=post_all, name="dup-http", daemon=True)
        poster.start()
        mns_send(mns, mns_copies, rng)
        poster.join(60)
        assert not poster.is_alive()
        wait_until(lambda: mns.queue_snapshot(QUEUE).total == 0, timeout=60)
        final = wait_all_settled(srv.db, media, timeout=60)
        duplicates = duplicates_metric(srv.base)
    finally:
        srv.stop()
    counts = effects.count(vod)
    total, repeats, odd = summarise_effects(counts, media)
    copies = len(http_copies) + len(mns_copies)

    tally.sent = EVENTS
    tally.deliveries = copies
    tally.acknowledged = len(final)
    tally.done = sum(1 for s in final.values() if s == "done")
    tally.dead = sum(1 for s in final.values() if s == "dead")
    tally.duplicates_suppressed = duplicates
    tally.effects = total
    tally.repeated_effects = repeats
    tally.notes = f"effects={effects.kind}; {len(http_copies)} HTTP + {len(mns_copies)} MNS copies"

    assert set(statuses) == {200}
    assert tally.done == EVENTS
    assert duplicates == copies - EVENTS
    assert not odd, f"events whose effect did not happen exactly once: {odd}"
