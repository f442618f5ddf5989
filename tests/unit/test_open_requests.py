"""What the group commit waits for: open requests plus connections answered a moment ago."""

from __future__ import annotations

from typing import Any

from receiver.sources.http_protocol import OpenRequests


class Conn:
    """Stands in for a GuardedHttpToolsProtocol: OpenRequests only keeps `warm_since` on it."""

    warm_since: float | None = None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_connection_just_answered_is_expected_until_it_sends_again() -> None:
    counts = OpenRequests(Clock())
    a: Any = Conn()
    b: Any = Conn()
    counts.count = 1  # one request being handled
    counts.answered(a)
    counts.answered(b)
    assert counts.expected() == 3
    counts.busy_again(a)  # a's next request began: it is in `count` from now on
    counts.busy_again(a)  # twice is harmless
    assert counts.expected() == 2
    counts.answered(b)  # answered again: still one warm connection
    assert counts.expected() == 2


def test_warmth_expires_so_a_trickle_is_never_waited_for() -> None:
    clock = Clock()
    counts = OpenRequests(clock)
    conn: Any = Conn()
    counts.answered(conn)
    clock.now += counts.WARM_SECONDS * 1.5
    assert counts.expected() == 0
    assert conn.warm_since is None
    counts.busy_again(conn)  # a request after expiry does not count twice
    assert counts.expected() == 0


def test_an_earlier_answer_expiring_leaves_a_later_one_warm() -> None:
    clock = Clock()
    counts = OpenRequests(clock)
    conn: Any = Conn()
    counts.answered(conn)
    counts.busy_again(conn)
    clock.now += counts.WARM_SECONDS * 0.8
    counts.answered(conn)  # the first entry is now stale for this connection
    clock.now += counts.WARM_SECONDS * 0.5  # past the first answer's window, not the second's
    assert counts.expected() == 1
    clock.now += counts.WARM_SECONDS
    assert counts.expected() == 0
