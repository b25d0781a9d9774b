"""CorkedTransport: the writes of one loop turn reach the socket as one write, in order, before close."""

from __future__ import annotations

import asyncio
from typing import Any

from sharelinks.http.cork import CorkedTransport


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0  # the written bytes are gone at once

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5) if name == "peername" else default


async def _one_turn_then_the_next() -> None:
    raw = Recording()
    corked = CorkedTransport(raw, asyncio.get_running_loop())
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    corked.write(b"")
    corked.writelines([b"{", b"}"])
    assert raw.calls == []  # nothing before the turn ends
    assert corked.get_write_buffer_size() == 21
    await asyncio.sleep(0)
    assert raw.calls == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    corked.write(b"next")
    await asyncio.sleep(0)
    assert raw.calls[1:] == [b"next"]
    assert corked.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest is the transport's


async def _close_then_abort() -> None:
    raw = Recording()
    corked = CorkedTransport(raw, asyncio.get_running_loop())
    corked.write(b"last answer")
    corked.close()
    assert raw.calls == [b"last answer", "close"]
    await asyncio.sleep(0)
    assert raw.calls == [b"last answer", "close"]  # the queued flush finds nothing more

    raw = Recording()
    corked = CorkedTransport(raw, asyncio.get_running_loop())
    corked.write(b"never sent")
    corked.abort()
    await asyncio.sleep(0)
    assert raw.calls == ["abort"]


def test_writes_of_one_turn_leave_together_and_the_next_turn_apart() -> None:
    asyncio.run(_one_turn_then_the_next())


def test_close_sends_what_was_written_first_and_abort_drops_it() -> None:
    asyncio.run(_close_then_abort())
