"""IntakePressure: the dispatcher stands back only while intake is busy and the CPU is full."""

from __future__ import annotations

import subprocess
import sys
import time

from receiver.dispatch.pressure import IntakePressure, cpu_with_children


class Clocks:
    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0

    def run(self, seconds: float, busy: float) -> None:
        """Let `seconds` pass with the process busy for `busy` of them."""
        self.wall += seconds
        self.cpu += seconds * busy


def pressure(c: Clocks) -> IntakePressure:
    return IntakePressure(
        window=0.1, busy_share=0.85, clock=lambda: c.wall, cpu_clock=lambda: c.cpu
    )


def test_busy_core_with_fresh_intake_is_pressure() -> None:
    c = Clocks()
    p = pressure(c)
    c.run(0.2, busy=0.97)
    p.stored()
    assert p.pressed


def test_idle_core_is_no_pressure_even_with_intake() -> None:
    c = Clocks()
    p = pressure(c)
    c.run(0.2, busy=0.3)
    p.stored()
    assert not p.pressed


def test_pressure_ends_when_intake_stops() -> None:
    c = Clocks()
    p = pressure(c)
    c.run(0.2, busy=1.0)
    p.stored()
    assert p.pressed
    c.run(0.15, busy=1.0)  # still busy (handlers, say), but nothing stored for a window
    assert not p.pressed


def test_share_is_resampled_each_window() -> None:
    c = Clocks()
    p = pressure(c)
    c.run(0.2, busy=1.0)
    p.stored()
    assert p.pressed
    c.run(0.05, busy=0.1)
    p.stored()
    assert p.pressed  # within the window the last sample stands
    c.run(0.1, busy=0.1)
    p.stored()
    assert not p.pressed  # a new window: the burst is over


def test_cpu_of_child_processes_counts_as_intake() -> None:
    """The MNS workers are child processes; their CPU is intake's."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 20
        while cpu_with_children() - time.process_time() < 0.2:
            assert time.monotonic() < deadline, "the child's CPU never showed"
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait()
