"""`vodhook serve` with the dispatcher never started: a diagnostic, not a configuration.

Used by bench/run.py to split the HTTP intake figure into the cost of the intake path
itself and the cost of the dispatcher working on the same event loop. /readyz still
answers 200 (the dispatcher reports alive). Usage: python bench/serve_no_dispatcher.py
serve --port PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from receiver.cli import main
from receiver.dispatch.dispatcher import Dispatcher


def _no_start(self: Dispatcher) -> None:
    return None


Dispatcher.start = _no_start  # type: ignore[method-assign]
Dispatcher.alive = property(lambda self: True)  # type: ignore[assignment,method-assign]

if __name__ == "__main__":
    main(prog_name="vodhook")
