"""Built-in handlers, published through the `vodhook.handlers` entry point like any plugin.

Only `log` runs by default. The others act on VOD and run only where a `[[chains]]` table
in the settings names them.
"""

from receiver import Router

router = Router(name="builtin")

# Importing the modules registers their handlers on `router`.
from handlers import log as _log  # noqa: E402,F401

__all__ = ["router"]
