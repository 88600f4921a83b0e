"""One connection's way out: its replies, and the broadcasts queued for it.

Two tasks may write to a connection: the one handling its messages (replies) and, while
broadcasts wait for it, a sender task of its own (broadcasts arrive from other connections at any
time). ``Outbox`` makes them take turns, so that nothing is ever sent after the connection was
closed, and it bounds what may wait for a slow client: a broadcast never waits for any
connection, so a slow or stuck client delays no one. A client whose queue is full is shed: its
queue is dropped and it is closed with 1013.

The sender task exists only while broadcasts wait: an idle connection holds no task and no queue,
which keeps it small (thousands of idle connections are the usual load of a WebSocket service).
"""

import asyncio
import contextlib
import logging
from collections import deque

from litestar.exceptions import WebSocketDisconnect
from litestar.status_codes import WS_1013_TRY_AGAIN_LATER
from litestar.types import Send, WebSocketCloseEvent, WebSocketSendEvent

OUTBOX_FRAMES = 256
"""Broadcasts that may wait for one slow client; one more and it is shed."""

logger = logging.getLogger(__name__)

_SHED = None  # in a queue of frames: close this connection, it cannot keep up


class Outbox:
    """Per connection: created with its ``ConnectionState``, started in ``on_accept``, stopped
    in ``on_disconnect``."""

    __slots__ = (
        "_accepting",
        "_closed",
        "_connection_id",
        "_queue",
        "_send",
        "_sender",
        "_started",
        "_turn",
    )

    def __init__(self, send: Send, connection_id: str) -> None:
        self._send = send  # the server's ASGI send for this connection (see DirectWebSocket)
        self._connection_id = connection_id
        self._queue: deque[str | None] | None = None  # created by the first broadcast
        self._turn = asyncio.Lock()
        self._closed = False  # the close frame is sent: nothing may follow it
        self._accepting = True  # False once stopped or shed: broadcasts are dropped
        self._started = False  # accepted and welcomed: queued broadcasts may be sent
        self._sender: asyncio.Task[None] | None = None  # runs while broadcasts wait

    def start(self) -> None:
        """Send queued broadcasts from now on; call once the connection is accepted."""
        self._started = True
        self._send_queued_soon()

    async def stop(self) -> None:
        """Drop what is queued and stop sending it; safe to call twice, or before ``start``."""
        self._accepting = False
        self._queue = None
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None

    @property
    def accepting(self) -> bool:
        """Whether a broadcast offered now would be queued."""
        return self._accepting

    @property
    def sending(self) -> bool:
        """Whether a task is sending this connection's queued broadcasts."""
        return self._sender is not None

    @property
    def queued(self) -> int:
        """Broadcasts waiting for this connection."""
        return len(self._queue) if self._queue is not None else 0

    async def send(self, frame: str) -> None:
        """Send ``frame`` now, in turn with the queued broadcasts."""
        # acquire/release rather than ``async with``: the same, minus a coroutine per frame.
        await self._turn.acquire()
        try:
            if self._closed:
                raise WebSocketDisconnect(detail="connection already closed by the server")
            event: WebSocketSendEvent = {"type": "websocket.send", "bytes": None, "text": frame}
            await self._send(event)
        finally:
            self._turn.release()

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code``; nothing is sent after it."""
        async with self._turn:
            if self._closed:
                return
            self._closed = True
            event: WebSocketCloseEvent = {"type": "websocket.close", "code": code, "reason": reason}
            await self._send(event)

    def offer(self, frame: str) -> None:
        """Queue a broadcast without waiting; a client with a full queue is shed instead."""
        if not self._accepting:
            return
        if self._queue is None:
            self._queue = deque()
        if len(self._queue) < OUTBOX_FRAMES:
            self._queue.append(frame)
        else:
            logger.warning(
                "connection %s: fell %d broadcasts behind; they are dropped and it is closed"
                " with 1013",
                self._connection_id,
                OUTBOX_FRAMES,
            )
            self._accepting = False  # free its queue now; the sender sends the close
            self._queue.clear()
            self._queue.append(_SHED)
        self._send_queued_soon()

    def _send_queued_soon(self) -> None:
        if self._started and self._sender is None and self._queue:
            self._sender = asyncio.create_task(self._send_queued(self._queue))

    async def _send_queued(self, queue: deque[str | None]) -> None:
        try:
            while queue:
                frame = queue.popleft()
                if frame is _SHED:
                    # Sent once the client reads again. One that never does keeps its
                    # connection until TCP gives up on it, but no more memory than its socket
                    # buffers.
                    with contextlib.suppress(OSError):
                        await self.close(WS_1013_TRY_AGAIN_LATER, "too slow for the broadcasts")
                    return
                try:
                    await self.send(frame)
                except (WebSocketDisconnect, OSError):
                    return  # gone: the connection's own task sees it too and cleans up
        finally:
            # Nothing waits any more (or the connection is gone): no task until the next
            # broadcast. Nothing can be queued between the last check and this line.
            self._sender = None
