"""Fault rules shared by the sandbox emulators: which injected fault, if any, hits a call.

Both emulators keep their own fault kinds and answers; what they share is the bookkeeping:
a thread-safe list of rules settable while serving, the first matching rule wins, a rule
fires `times` times (each time with chance `probability`), and counts its hits.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(kw_only=True)
class Rule:
    """What every fault has: how often it may fire, and how often it did."""

    times: int | None = None
    probability: float | None = None
    fired: int = 0


R = TypeVar("R", bound=Rule)


def check_budget(times: int | None, probability: float | None) -> None:
    if times is not None and times < 1:
        raise ValueError("times must be >= 1")
    if probability is not None and not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be within [0, 1]")


class RuleList(Generic[R]):
    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[R] = []
        self._rng = random.Random(seed)

    def append(self, rule: R) -> R:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: R) -> None:
        """Remove one rule (no error if it already expired)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def seed(self, seed: int) -> None:
        """Make probability draws reproducible."""
        with self._lock:
            self._rng.seed(seed)

    def snapshot(self) -> list[R]:
        """Rules still armed, in evaluation order."""
        with self._lock:
            return list(self._rules)

    def take(self, applies: Callable[[R], bool]) -> R | None:
        """The first rule that applies and wins its draw; consumes one of its `times`."""
        if not self._rules:  # lock-free fast path: faults are rare in benchmarks
            return None
        with self._lock:
            for rule in self._rules:
                if not applies(rule):
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return rule
        return None
