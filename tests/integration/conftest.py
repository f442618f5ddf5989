from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[Server] | object]:
    servers: list[Server] = []

    def make(env: dict[str, str] | None = None, start: bool = True) -> Server:
        srv = Server(tmp_path, env)
        servers.append(srv)
        return srv.start() if start else srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(server_factory) -> Server:  # type: ignore[no-untyped-def]
    return server_factory()  # type: ignore[no-any-return]
