"""Built-in handlers, published through the `vodhook.handlers` entry point like any plugin.

Only `log` runs by default. The others act on VOD and run only where a `[[chains]]` table
in the settings names them.
"""

from receiver import Router

router = Router(name="builtin")

# Importing the modules registers their handlers on `router`.
from handlers import forward as _forward  # noqa: E402,F401
from handlers import guard as _guard  # noqa: E402,F401
from handlers import log as _log  # noqa: E402,F401
from handlers import moderate as _moderate  # noqa: E402,F401
from handlers import play_info as _play_info  # noqa: E402,F401
from handlers import set_cover as _set_cover  # noqa: E402,F401
from handlers import start_workflow as _start_workflow  # noqa: E402,F401

__all__ = ["router"]
