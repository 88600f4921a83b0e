"""One frame at a time, in order, nothing after the close: the Outbox's promises, driven directly.

``SlowClient`` stands in for the server's send and can stop reading, as a slow client makes a
real send wait; every wait in these tests is bounded by ``RECEIVE_TIMEOUT``.
"""

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.types import Message

from {{ cookiecutter.package_name }}.outbox import OUTBOX_FRAMES, Outbox

from .support import RECEIVE_TIMEOUT


class SlowClient:
    """An ASGI send that records what it writes; while ``reading`` is clear, writes wait."""

    def __init__(self) -> None:
        self.written: list[str | int] = []  # a frame's text, or a close frame's code
        self.reading = asyncio.Event()
        self.reading.set()
        self.in_flight = 0
        self.most_in_flight = 0
        self.pause_after: str | None = None  # stop reading once this frame is written

    async def send(self, message: Message) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.wait_for(self.reading.wait(), RECEIVE_TIMEOUT)
            if message["type"] == "websocket.close":
                self.written.append(message["code"])
            elif message["type"] == "websocket.send":
                self.written.append(str(message["text"]))
                if message["text"] == self.pause_after:
                    self.reading.clear()
        finally:
            self.in_flight -= 1


def run(test: Callable[[Outbox, SlowClient], Awaitable[None]]) -> SlowClient:
    """Run ``test`` with a started outbox writing to a new ``SlowClient``; the client after."""
    client = SlowClient()
    unhandled: list[dict[str, Any]] = []  # e.g. the sender task failing on its own

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, error: unhandled.append(error))
        outbox = Outbox(client.send, "test-connection")
        outbox.start()
        try:
            await asyncio.wait_for(test(outbox, client), RECEIVE_TIMEOUT * 2)
        finally:
            await outbox.stop()
        gc.collect()  # a failed task nobody awaited reports itself when it is collected

    asyncio.run(main())
    assert unhandled == []
    return client


def test_a_send_to_a_client_that_vanished_raises_websocket_disconnect() -> None:
    """The server's send failing (uvicorn raises an OSError for a client that is gone) is the
    end of the connection: ``send`` raises WebSocketDisconnect, as for a closed outbox."""

    async def vanished(message: Message) -> None:
        raise ConnectionResetError("injected: the client is gone")

    async def main() -> None:
        outbox = Outbox(vanished, "test-connection")
        outbox.start()
        with pytest.raises(WebSocketDisconnect, match="the client is gone"):
            await outbox.send("a reply")
        await outbox.stop()

    asyncio.run(main())


async def settle() -> None:
    """Let every ready task run until it waits."""
    for _ in range(10):
        await asyncio.sleep(0)


async def stuck_behind_a_broadcast(
    outbox: Outbox, client: SlowClient, frame: str
) -> asyncio.Task[None]:
    """A broadcast on its way that the client does not read, and a ``send`` of ``frame`` waiting
    in line behind it: that send's task."""
    client.reading.clear()
    outbox.offer("on its way")
    await settle()
    waiting = asyncio.create_task(outbox.send(frame))
    await settle()
    return waiting


def test_a_send_with_nothing_on_its_way_is_written_at_once() -> None:
    """The usual reply: written by the caller itself, without a task to hand it to."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        await outbox.send("reply")
        assert client.written == ["reply"]
        assert not outbox.sending

    run(test)


def test_frames_are_written_one_at_a_time_in_the_order_they_came() -> None:
    """Replies and broadcasts that come while a frame is on its way wait for it, in order."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        client.reading.clear()
        first_reply = asyncio.create_task(outbox.send("reply 1"))
        await settle()  # reply 1 is on its way, and stuck
        outbox.offer("broadcast 1")
        second_reply = asyncio.create_task(outbox.send("reply 2"))
        await settle()
        outbox.offer("broadcast 2")
        client.reading.set()
        await asyncio.gather(first_reply, second_reply)
        await settle()

    client = run(test)
    assert client.written == ["reply 1", "broadcast 1", "reply 2", "broadcast 2"]
    assert client.most_in_flight == 1


def test_nothing_is_written_after_the_close() -> None:
    """A close waits for the frame on its way, drops what is queued, and ends all sending."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        waiting_reply = await stuck_behind_a_broadcast(outbox, client, "waiting")
        outbox.offer("queued")
        closing = asyncio.create_task(outbox.close(1011, "internal error"))
        await settle()
        client.reading.set()
        await closing
        with pytest.raises(WebSocketDisconnect):
            await waiting_reply
        with pytest.raises(WebSocketDisconnect):
            await outbox.send("too late")
        outbox.offer("too late as well")
        assert outbox.queued == 0

    client = run(test)
    assert client.written == ["on its way", 1011]
    assert client.most_in_flight == 1


def test_a_client_with_a_full_queue_is_shed_with_1013() -> None:
    """One broadcast too many: the queue is dropped, waiting callers fail, 1013 closes it."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        waiting_reply = await stuck_behind_a_broadcast(outbox, client, "waiting")
        for number in range(OUTBOX_FRAMES + 1):
            outbox.offer(f"broadcast {number}")
        assert outbox.queued == 1  # the close, nothing else
        # A reply from now on waits behind the close (so the connection cannot end before the
        # close is sent), and then is not sent.
        reply_after_shedding = asyncio.create_task(outbox.send("after the shedding"))
        await settle()
        client.reading.set()
        with pytest.raises(WebSocketDisconnect):
            await waiting_reply
        with pytest.raises(WebSocketDisconnect):
            await reply_after_shedding

    client = run(test)
    assert client.written == ["on its way", 1013]


def test_a_frame_whose_caller_stopped_waiting_is_not_sent() -> None:
    """A send cancelled while it waits in line leaves nothing behind."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        given_up = await stuck_behind_a_broadcast(outbox, client, "given up")
        given_up.cancel()
        await settle()
        client.reading.set()
        await outbox.send("after")

    client = run(test)
    assert client.written == ["on its way", "after"]


def test_a_caller_that_stops_waiting_while_its_frame_is_written_breaks_nothing() -> None:
    """The frame goes out (it was on its way); the outbox carries on with the next one."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        client.reading.clear()
        first = asyncio.create_task(outbox.send("first"))
        second = asyncio.create_task(outbox.send("second"))
        await settle()  # first is on its way, second waits in line
        client.pause_after = "first"
        client.reading.set()
        await first
        await settle()  # second is on its way now, and stuck
        assert client.in_flight == 1
        second.cancel()
        await settle()
        client.reading.set()
        await outbox.send("third")

    client = run(test)
    assert client.written == ["first", "second", "third"]


def test_stop_fails_the_callers_still_waiting() -> None:
    """The connection has ended: a send waiting in line gets WebSocketDisconnect, not a hang."""

    async def test(outbox: Outbox, client: SlowClient) -> None:
        waiting_reply = await stuck_behind_a_broadcast(outbox, client, "waiting")
        await outbox.stop()
        with pytest.raises(WebSocketDisconnect):
            await waiting_reply
        assert not outbox.sending

    client = run(test)
    assert client.written == []
