"""The physical anchor for HTTP intake: a bare Starlette endpoint that reads the body -> 200.

Served with the same uvicorn settings as `vodhook serve` (receiver/cli.py): loop and http
"auto" (uvloop + httptools when installed, as they are with uvicorn[standard]), no access
log, no log config, lifespan on. Usage: python bench/bare_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def callback(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"stored","id":1}', media_type="application/json")


async def readyz(request: Request) -> Response:
    return JSONResponse({"status": "ready"})


app = Starlette(
    routes=[
        Route("/callback", callback, methods=["POST"]),
        Route("/readyz", readyz),
    ]
)


def main() -> None:
    port = int(sys.argv[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
