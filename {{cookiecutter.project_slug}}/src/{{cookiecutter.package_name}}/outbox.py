"""One connection's way out: its replies, and the broadcasts queued for it.

Two tasks write to a connection: the one handling its messages (replies) and its forwarder
(broadcasts, which arrive from other connections at any time). ``Outbox`` makes them take turns,
so that nothing is ever sent after the connection was closed, and it bounds what may wait for a
slow client: a broadcast never waits for any connection, so a slow or stuck client delays no one.
A client whose queue is full is shed: its queue is dropped and it is closed with 1013.
"""

import asyncio
import contextlib
import logging
from typing import Any

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.status_codes import WS_1013_TRY_AGAIN_LATER

OUTBOX_FRAMES = 256
"""Broadcasts that may wait for one slow client; one more and it is shed."""

logger = logging.getLogger(__name__)

_SHED = None  # in a queue of frames: close this connection, it cannot keep up


class Outbox:
    """Per connection: created with its ``ConnectionState``, started in ``on_accept``, stopped
    in ``on_disconnect``."""

    __slots__ = ("_closed", "_connection_id", "_forwarder", "_queue", "_shed", "_socket", "_turn")

    def __init__(self, socket: WebSocket[Any, Any, Any], connection_id: str) -> None:
        self._socket = socket
        self._connection_id = connection_id
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=OUTBOX_FRAMES)
        self._turn = asyncio.Lock()
        self._closed = False  # the close frame is sent: nothing may follow it
        self._shed = False  # too slow: no more broadcasts are queued for it
        self._forwarder: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start forwarding queued broadcasts; call once the connection is accepted."""
        self._forwarder = asyncio.create_task(self._forward())

    async def stop(self) -> None:
        """Stop forwarding and drop what is queued; safe to call twice, or before ``start``."""
        self._shed = True  # like a shed client: no broadcast is queued for it any more
        if self._forwarder is not None:
            self._forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._forwarder
            self._forwarder = None

    @property
    def forwarding(self) -> bool:
        return self._forwarder is not None and not self._forwarder.done()

    @property
    def queued(self) -> int:
        """Broadcasts waiting for this connection."""
        return self._queue.qsize()

    async def send(self, frame: str) -> None:
        """Send ``frame`` now, in turn with the forwarder."""
        async with self._turn:
            if self._closed:
                raise WebSocketDisconnect(detail="connection already closed by the server")
            await self._socket.send_data(frame)

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code``; nothing is sent after it."""
        async with self._turn:
            if self._closed:
                return
            self._closed = True
            await self._socket.close(code=code, reason=reason)

    def offer(self, frame: str) -> None:
        """Queue a broadcast without waiting; a client with a full queue is shed instead."""
        if self._shed:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            logger.warning(
                "connection %s: fell %d broadcasts behind; they are dropped and it is closed"
                " with 1013",
                self._connection_id,
                OUTBOX_FRAMES,
            )
            self._shed = True  # free its queue now; the forwarder sends the close
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_SHED)

    async def _forward(self) -> None:
        while (frame := await self._queue.get()) is not _SHED:
            try:
                await self.send(frame)
            except (WebSocketDisconnect, OSError):
                return  # gone: the connection's own task sees it too and cleans up
        # Sent once the client reads again. One that never does keeps its connection until TCP
        # gives up on it, but no more memory than its socket buffers.
        with contextlib.suppress(OSError):
            await self.close(WS_1013_TRY_AGAIN_LATER, "too slow to keep up with broadcasts")
