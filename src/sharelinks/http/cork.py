"""A transport whose writes made in one turn of the event loop leave in one send.

uvicorn writes a response's status line and headers when the app sends `http.response.start`, and
its body on `http.response.body`; uvloop sends each write at once (a buffer-free transport tries the
socket right away), so every API answer cost two send(2) calls, with the GIL held. Here the first
write of a turn is kept and a flush queued behind the callbacks already ready; what else is written
meanwhile joins it. A response's head and body are sent in the same turn of the app's task, so they
leave together.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CorkedTransport:
    """Stands for `transport` before a protocol: writes gathered per loop turn, the rest passed on."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append(data)
        elif data:
            self._pending = [data]
            self._loop.call_soon(self.flush)

    def writelines(self, lines: list[bytes]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()  # what was written before close is sent, as a transport's close promises
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()  # the next protocol writes to the transport itself
        self._transport.set_protocol(protocol)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending or ()))

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, pause_reading, resume_reading and the rest: the transport's own.
        return getattr(self._transport, name)
