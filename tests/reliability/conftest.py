"""Harness for the reliability suite (issue 6): real processes, real emulators, real SQLite.

Everything here drives the product from the outside, the way VOD and an operator would:
`vodhook serve` / `vodhook poll` subprocesses (tests.support.Server), signed HTTP posts, the
unmodified MNS SDK against the MNS emulator, the VOD API emulator's request log, the SQLite
file read from another connection and the CLI.

Every scenario reports its numbers to one session-wide tally; `pytest_terminal_summary`
prints them as a table and keeps a JSON copy in pytest's cache directory
(`.pytest_cache/v/reliability/last-run`), never in the source tree.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from mns.account import Account
from mns.queue import Message

from receiver.events import sample_event
from receiver.sandbox.mns_emulator import MnsEmulator
from receiver.sandbox.vod_emulator import VodEmulator
from tests.support import Server, signed_headers, wait_until

#: One seed for every random choice of the suite (kill points, duplicates, shuffles, faults).
SEED = int(os.environ.get("VODHOOK_RELIABILITY_SEED", "20240611"))
QUEUE = "vod-events"
# Distinctive credential values: the secrets scenario searches for these exact strings.
AK_ID = "LTAIreliabilityAKid01"
AK_SECRET = "AKSECRET-rel1ab1l1ty-Qw9Zx7"
STS_TOKEN = "STSTOKEN-rel1ab1l1ty-Kp4Vn2"
# One tenant-style video id per event: the VOD effect of a handler is counted per video.
_HEX = "0123456789abcdef"


# ------------------------------------------------------------------------------------------
# the counts table
# ------------------------------------------------------------------------------------------


@dataclass
class ScenarioCounts:
    """What one scenario did; `effects` are counted where the effect lands (see Effects)."""

    scenario: str
    sent: int = 0  # distinct events offered to the service
    deliveries: int = 0  # copies delivered (HTTP posts incl. retries, MNS messages)
    acknowledged: int = 0  # distinct events answered 200 or deleted from MNS
    not_acknowledged: int = 0  # distinct events never acknowledged (VOD would retry them)
    done: int = 0
    dead: int = 0
    duplicates_suppressed: int = 0
    effects: int = 0
    repeated_effects: int = 0  # effects beyond the first, per event
    interruptions: int = 0  # kill -9 / SIGTERM / injected faults, see `notes`
    seconds: float = 0.0
    notes: str = ""


class Tally:
    def __init__(self) -> None:
        self.rows: list[ScenarioCounts] = []
        self._lock = threading.Lock()

    def scenario(self, name: str) -> ScenarioCounts:
        row = ScenarioCounts(name)
        with self._lock:
            self.rows.append(row)
        return row


TALLY = Tally()

_COLUMNS = (
    ("scenario", "scenario"),
    ("sent", "sent"),
    ("deliveries", "deliv"),
    ("acknowledged", "acked"),
    ("not_acknowledged", "unacked"),
    ("done", "done"),
    ("dead", "dead"),
    ("duplicates_suppressed", "dups"),
    ("effects", "effects"),
    ("repeated_effects", "repeats"),
    ("interruptions", "interrupts"),
    ("seconds", "s"),
)


def render_table(rows: Sequence[ScenarioCounts]) -> list[str]:
    def cell(row: ScenarioCounts, attr: str) -> str:
        value = getattr(row, attr)
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    header = [title for _, title in _COLUMNS]
    body = [[cell(r, attr) for attr, _ in _COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for values in body:
        lines.append(
            "| "
            + " | ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(values, widths, strict=True))
            )
            + " |"
        )
    notes = [f"- {r.scenario}: {r.notes}" for r in rows if r.notes]
    return [*lines, *(["", *notes] if notes else [])]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not TALLY.rows:
        return
    terminalreporter.write_sep("=", f"vodhook reliability counts (seed {SEED})")
    for line in render_table(TALLY.rows):
        terminalreporter.write_line(line)
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache.set(
            "reliability/last-run",
            {"seed": SEED, "rows": [asdict(r) for r in TALLY.rows]},
        )
        terminalreporter.write_line(
            f"(also in {cache.mkdir('reliability').parent.parent}/v/reliability/last-run)"
        )


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[ScenarioCounts]:
    """The counts row of this test; timed from fixture setup to teardown."""
    row = TALLY.scenario(request.node.name.removeprefix("test_"))
    started = time.monotonic()
    yield row
    row.seconds = round(time.monotonic() - started, 1)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """Seeded per test, so one test's choices do not depend on which others ran."""
    return random.Random(f"{SEED}:{request.node.name}")


# ------------------------------------------------------------------------------------------
# emulators
# ------------------------------------------------------------------------------------------


def video_ids(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(_HEX) for _ in range(32)) for _ in range(n)]


@pytest.fixture
def vod() -> Iterator[VodEmulator]:
    emu = VodEmulator(
        access_key_id=AK_ID,
        access_key_secret=AK_SECRET,
        security_token=STS_TOKEN,
        fault_seed=SEED,
    ).start()
    yield emu
    emu.stop()


@pytest.fixture
def mns() -> Iterator[MnsEmulator]:
    emu = MnsEmulator(
        access_key_id=AK_ID,
        access_key_secret=AK_SECRET,
        security_token=STS_TOKEN,
        fault_seed=SEED,
    ).start()
    emu.create_queue(QUEUE, visibility_timeout=3)
    yield emu
    emu.stop()


def sdk_queue(emu: MnsEmulator, encoding: bool) -> Any:
    queue = Account(emu.endpoint, AK_ID, AK_SECRET, STS_TOKEN).get_queue(QUEUE)
    queue.set_encoding(encoding)
    return queue


def mns_send(emu: MnsEmulator, bodies: Sequence[str], rng: random.Random) -> list[str]:
    """Send through the unmodified SDK in batches of up to 16, each batch raw or base64
    (VOD's choice is undocumented); returns the message ids in order."""
    ids: list[str] = []
    queues = {True: sdk_queue(emu, True), False: sdk_queue(emu, False)}
    i = 0
    while i < len(bodies):
        size = rng.randint(1, 16)
        batch = bodies[i : i + size]
        sent = queues[rng.random() < 0.5].batch_send_message([Message(b) for b in batch])
        ids.extend(m.message_id for m in sent)
        i += size
    return ids


def mns_remaining(emu: MnsEmulator) -> set[str]:
    return {m.message_id for m in emu.all_messages(QUEUE)}


# ------------------------------------------------------------------------------------------
# the service under test
# ------------------------------------------------------------------------------------------


EVENT_TYPE = "FileUploadComplete"
WORKFLOW_ID = "wf-reliability"
# The documented per-account limits (SubmitWorkflowJob: 20/s) would make the client pace
# these runs for minutes; the emulator does not enforce them.
QPS_OVERRIDE = "SubmitWorkflowJob = 5000"


@dataclass
class Effects:
    """The handler whose side effect is counted, and where: on the VOD emulator's request
    log, one successful SubmitWorkflowJob per video id.

    start_workflow is the measured handler because SubmitWorkflowJob is not idempotent: a
    repeated call starts a second job, so a repeat is visible. (set_cover reads the video
    first and leaves an equal cover alone, which would hide a repeat.) The recorder test
    plugin stays loaded too, so that every event runs a chain of several handlers.
    """

    action: str = "SubmitWorkflowJob"
    param: str = "MediaId"
    plugins: str = "tests.plugins.recorder:router"

    @property
    def kind(self) -> str:
        return f"vod:{self.action}"

    @property
    def chains_toml(self) -> str:
        return (
            f"vod_qps = {{ {QPS_OVERRIDE} }}\n\n"
            "[[chains]]\n"
            f'on = ["{EVENT_TYPE}"]\n'
            'run = [{handler = "start_workflow", action = "workflow", '
            f'workflow_id = "{WORKFLOW_ID}"}}]\n'
        )

    def count(self, vod: VodEmulator) -> Counter[str]:
        return Counter(
            r.params.get(self.param, "")
            for r in vod.calls(self.action)
            if r.status == 200 and r.code is None
        )


def effects_for() -> Effects:
    from handlers import router

    assert "start_workflow" in router.handlers, "the built-in start_workflow handler is missing"
    return Effects()


def service_env(
    tmp: Path,
    effects: Effects,
    *,
    vod: VodEmulator | None = None,
    mns: MnsEmulator | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {
        "VODHOOK_PLUGINS": effects.plugins,
        "VODHOOK_LEASE_SECONDS": "2",
        "VODHOOK_WORKERS": "4",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": AK_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": AK_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": STS_TOKEN,
    }
    config = tmp / "vodhook.toml"
    config.write_text(effects.chains_toml)
    env["VODHOOK_CONFIG"] = str(config)
    if vod is not None:
        env["VODHOOK_VOD_ENDPOINT"] = vod.endpoint
    if mns is not None:
        env.update(
            {
                "VODHOOK_MNS_ENDPOINT": mns.endpoint,
                "VODHOOK_MNS_QUEUE": QUEUE,
                "VODHOOK_MNS_WAIT_SECONDS": "1",
                "VODHOOK_MNS_POLLERS": "2",
            }
        )
    env.update(extra or {})
    return env


class Poller(Server):
    """`vodhook poll`: the MNS source and the workers, no HTTP."""

    def start(self, wait: bool = True) -> Poller:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self._log_offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "receiver.cli", "poll"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        if wait:
            wait_until(self._started, timeout=30)
        return self

    def _started(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"poller exited with {self.proc.returncode}:\n{self.logs()}")
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_offset)
            return b'"event": "started"' in fh.read()


# ------------------------------------------------------------------------------------------
# reading the store from outside
# ------------------------------------------------------------------------------------------


def db_query(db: Path, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, tuple(args)).fetchall()
    finally:
        conn.close()


def statuses(db: Path) -> dict[str, str]:
    """media id -> status, for events with a media id."""
    return {
        str(m): str(s)
        for m, s in db_query(db, "SELECT media_id, status FROM events WHERE media_id IS NOT NULL")
    }


def claimed_since(db: Path, since: float) -> set[str]:
    """Media ids of events in `processing` that were claimed at or after `since`: those a
    process started at `since` was working on (older ones are leftovers of an earlier kill
    whose lease had not expired yet)."""
    rows = db_query(
        db,
        "SELECT media_id FROM events WHERE status = 'processing' AND updated_at >= ?",
        (since,),
    )
    return {str(m) for (m,) in rows}


def row_count(db: Path) -> int:
    rows = db_query(db, "SELECT COUNT(*) FROM events")
    return int(rows[0][0]) if rows else 0


def rows_at_least(db: Path, count: int) -> bool:
    return row_count(db) >= count


def wait_all_settled(db: Path, media: Iterable[str], timeout: float = 60.0) -> dict[str, str]:
    """Until every given media id is stored and done/dead and nothing is still open."""
    wanted = set(media)

    def settled() -> dict[str, str] | None:
        now = statuses(db)
        if not wanted <= now.keys():
            return None
        if any(now[m] not in ("done", "dead") for m in wanted):
            return None
        open_rows = db_query(
            db, "SELECT COUNT(*) FROM events WHERE status NOT IN ('done', 'dead')"
        )[0][0]
        return now if open_rows == 0 else None

    result: dict[str, str] = wait_until(settled, timeout=timeout, interval=0.1)
    return result


def metric(base: str, name: str, labels: str = "") -> float:
    """One sample from /metrics (0 when absent)."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    pattern = re.escape(name + ("{" + labels + "}" if labels else "")) + r" ([0-9.e+-]+)"
    found = re.search(r"^" + pattern + r"$", text, re.M)
    return float(found.group(1)) if found else 0.0


def duplicates_metric(base: str) -> int:
    http = metric(base, "vodhook_deliveries_duplicate_total", 'source="http"')
    mns = metric(base, "vodhook_mns_messages_total", 'outcome="duplicate"')
    return int(http + mns)


# ------------------------------------------------------------------------------------------
# load
# ------------------------------------------------------------------------------------------


def event_body(media_id: str) -> bytes:
    return json.dumps(sample_event(EVENT_TYPE, media_id=media_id)).encode()


@dataclass
class HttpOutcome:
    attempts: int = 0
    acked: bool = False
    duplicate_answers: int = 0
    statuses: list[int | str] = field(default_factory=list)


class HttpLoad(threading.Thread):
    """Posts unique signed events, one after another, like VOD: up to 3 attempts each.

    `pace` spaces events so that the run stays bounded; the thread stops by itself after
    `limit` events or when `stop()` is called.
    """

    def __init__(
        self,
        url: str,
        media: Sequence[str],
        *,
        attempts: int = 3,
        retry_spacing: float = 0.1,
        pace: float = 0.0,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(name="http-load", daemon=True)
        self.url = url
        self.media = list(media)
        self.attempts = attempts
        self.retry_spacing = retry_spacing
        self.pace = pace
        self.timeout = timeout
        self.outcomes: dict[str, HttpOutcome] = {}
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._acked = 0
        self.errors: Counter[str] = Counter()

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def reached(self, count: int) -> bool:
        """At least `count` events acknowledged, or the thread has stopped."""
        return self.acked >= count or not self.is_alive()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            for media_id in self.media:
                if self._halt.is_set():
                    return
                self._deliver(client, media_id)
                if self.pace:
                    self._halt.wait(self.pace)

    def _deliver(self, client: httpx.Client, media_id: str) -> None:
        outcome = HttpOutcome()
        with self._lock:
            self.outcomes[media_id] = outcome
        body = event_body(media_id)
        for attempt in range(self.attempts):
            if attempt:
                self._halt.wait(self.retry_spacing)
            outcome.attempts += 1
            try:
                response = client.post(self.url, content=body, headers=signed_headers(self.url))
            except httpx.HTTPError as exc:
                outcome.statuses.append(type(exc).__name__)
                self.errors[type(exc).__name__] += 1
                continue
            outcome.statuses.append(response.status_code)
            if response.status_code == 200:
                if response.json().get("status") == "duplicate":
                    outcome.duplicate_answers += 1
                with self._lock:
                    outcome.acked = True
                    self._acked += 1
                return
            self.errors[f"http {response.status_code}"] += 1

    def acked_media(self) -> set[str]:
        with self._lock:
            return {m for m, o in self.outcomes.items() if o.acked}

    def unacked_media(self) -> set[str]:
        with self._lock:
            return {m for m, o in self.outcomes.items() if not o.acked}

    def deliveries(self) -> int:
        with self._lock:
            return sum(o.attempts for o in self.outcomes.values())

    def duplicate_answers(self) -> int:
        with self._lock:
            return sum(o.duplicate_answers for o in self.outcomes.values())


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def summarise_effects(
    counts: Counter[str], media: Iterable[str]
) -> tuple[int, int, dict[str, int]]:
    """(total effects on these media, repeats beyond the first, media with != 1 effect)."""
    wanted = set(media)
    total = sum(n for m, n in counts.items() if m in wanted)
    repeats = sum(n - 1 for m, n in counts.items() if m in wanted and n > 1)
    odd = {m: counts.get(m, 0) for m in wanted if counts.get(m, 0) != 1}
    return total, repeats, odd
