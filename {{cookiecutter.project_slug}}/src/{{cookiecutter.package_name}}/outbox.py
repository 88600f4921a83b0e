"""One connection's way out: its replies, and the broadcasts and topic messages queued for it.

Frames reach a connection from two sides: its own task sends replies as it handles messages,
and broadcasts and topic messages (``Hub.fan_out``, topics.py) arrive at any time. ``Outbox``
keeps two promises: one frame at a time (an ASGI server need not cope with overlapping sends),
and nothing after the close. It keeps them by having one writer at a time:

- ``send`` writes its frame at once if nothing else is on its way (the usual case: a reply);
- everything else joins the queue: what the hub fans out (``offer``), and a ``send`` or
  ``close`` that comes while another frame is on its way. A sender task writes the queue in
  order, then ends.

(An ``asyncio.Lock`` would keep the same promises, but it costs a coroutine on every frame:
a few percent of the messages a second this service handles, see bench/README.md.)

Fanning out never waits for any connection, so a slow or stuck client delays no one. A client
whose queue is full is shed: what is queued is dropped and it is closed with 1013 (it may come
back and resume its topics with ``since``).

The sender task exists only while frames wait: an idle connection holds no task and no queue,
which keeps it small (thousands of idle connections are the usual load of a WebSocket service).
"""

import asyncio
import contextlib
import logging
from collections import deque
from typing import NamedTuple

from litestar.exceptions import WebSocketDisconnect
from litestar.status_codes import WS_1013_TRY_AGAIN_LATER
from litestar.types import Send, WebSocketCloseEvent, WebSocketSendEvent

OUTBOX_FRAMES = 256
"""Broadcasts and topic messages that may wait for one slow client; one more and it is shed."""

logger = logging.getLogger(__name__)


class _Queued(NamedTuple):
    """A queued send or close; a broadcast is queued as its bare text, which is smaller."""

    event: WebSocketSendEvent | WebSocketCloseEvent
    written: asyncio.Future[None] | None  # what its caller awaits; None: nobody waits


def _closed_error() -> WebSocketDisconnect:
    return WebSocketDisconnect(detail="frame not sent: the connection is closing or closed")


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
        "_writing",
        "close_code",
        "sent",
        "shed",
    )

    def __init__(self, send: Send, connection_id: str) -> None:
        self._send = send  # the server's ASGI send for this connection (see DirectWebSocket)
        self._connection_id = connection_id
        self._queue: deque[str | _Queued] | None = None  # created by the first frame queued
        self._writing = False  # a ``send`` or ``close`` is writing its frame right now
        self._closed = False  # the close frame is written: nothing may follow it
        self._accepting = True  # False once stopped or closing: broadcasts are dropped
        self._started = False  # accepted and welcomed: queued frames may be sent
        self._sender: asyncio.Task[None] | None = None  # runs while frames wait
        self.sent = 0
        """Frames written to this connection (for the metrics and the log line at its end)."""
        self.shed = False
        """Whether it fell too far behind and was closed with 1013."""
        self.close_code: int | None = None
        """The code this side closed the connection with, once it did."""

    def start(self) -> None:
        """Send queued frames from now on; call once the connection is accepted."""
        self._started = True
        self._send_queued_soon()

    async def stop(self) -> None:
        """Drop what is queued and stop sending it; safe to call twice, or before ``start``."""
        self._stop_queueing()
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
        """Whether a task is sending this connection's queued frames."""
        return self._sender is not None

    @property
    def queued(self) -> int:
        """Frames waiting for this connection."""
        return len(self._queue) if self._queue is not None else 0

    async def send(self, frame: str) -> None:
        """Send ``frame`` after whatever is already on its way; return once it is written.

        Raises ``WebSocketDisconnect`` if the connection is closed, or the client is gone.
        """
        if self._closed:
            raise _closed_error()
        event: WebSocketSendEvent = {"type": "websocket.send", "bytes": None, "text": frame}
        try:
            if self._writing or self._sender is not None:
                await self._wait_in_line(event)
                return
            # Nothing else is on its way: write at once, with no task switch (the usual case).
            self._writing = True
            try:
                await self._send(event)
                self.sent += 1
            finally:
                self._writing = False
                if self._queue:  # frames that came meanwhile: the sender task takes them over
                    self._send_queued_soon()
        except OSError as error:
            # The client vanished while its frame was on its way (uvicorn's ClientDisconnected):
            # the end of a connection, not an error of the service.
            raise WebSocketDisconnect(detail="frame not sent: the client is gone") from error

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` once the frame on its way is written; what is
        queued is dropped and nothing is sent after the close."""
        if self._closed:
            return
        self._stop_queueing()
        event: WebSocketCloseEvent = {"type": "websocket.close", "code": code, "reason": reason}
        if self._writing or self._sender is not None:
            await self._wait_in_line(event)
            return
        self._closed = True
        self.close_code = code
        self._writing = True  # nothing can be queued after the close: no sender to start after
        try:
            await self._send(event)
        finally:
            self._writing = False

    def offer(self, frame: str) -> None:
        """Queue a broadcast without waiting; a client with a full queue is shed instead."""
        if not self._accepting:
            return
        if self._queue is None or len(self._queue) < OUTBOX_FRAMES:
            self._enqueue(frame)
            return
        logger.warning(
            "fell %d frames behind; they are dropped and it is closed with 1013",
            OUTBOX_FRAMES,
            # Logged from the task that sends the broadcast, which is another connection's.
            extra={"connection_id": self._connection_id},
        )
        self.shed = True
        # Sent once the client reads again; until then, this connection's own replies wait
        # behind it. One that never reads again keeps its connection until TCP gives up on it,
        # but no more memory than its socket buffers.
        self.close_soon(WS_1013_TRY_AGAIN_LATER, "too slow for its messages")

    def close_soon(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` after the frame on its way, without waiting (for
        a timer, or another connection's task); what is queued is dropped."""
        if not self._accepting:
            return  # closing already, or stopped
        self._stop_queueing()  # frees its queue now; the sender sends the close
        close: WebSocketCloseEvent = {"type": "websocket.close", "code": code, "reason": reason}
        self._enqueue(_Queued(close, None))

    async def _wait_in_line(self, event: WebSocketSendEvent | WebSocketCloseEvent) -> None:
        written = asyncio.get_running_loop().create_future()
        self._enqueue(_Queued(event, written))
        await written  # cancelled while waiting: the sender skips the frame

    def _enqueue(self, item: str | _Queued) -> None:
        if self._queue is None:
            self._queue = deque()
        self._queue.append(item)
        self._send_queued_soon()

    def _stop_queueing(self) -> None:
        """No more broadcasts; what is queued is dropped (stopped, closing, or shed)."""
        self._accepting = False
        self._drop_queued()

    def _drop_queued(self) -> None:
        """Empty the queue; callers waiting for a frame in it learn it was not sent."""
        if not self._queue:
            return
        for item in self._queue:
            if isinstance(item, _Queued) and item.written is not None and not item.written.done():
                item.written.set_exception(_closed_error())
        self._queue.clear()

    def _send_queued_soon(self) -> None:
        if self._started and self._sender is None and not self._writing and self._queue:
            self._sender = asyncio.create_task(self._send_queued(self._queue))

    async def _send_queued(self, queue: deque[str | _Queued]) -> None:
        written: asyncio.Future[None] | None = None
        try:
            while queue:
                item = queue.popleft()
                if isinstance(item, str):
                    written = None
                    await self._send({"type": "websocket.send", "bytes": None, "text": item})
                    self.sent += 1
                    continue
                event, written = item
                if written is not None and written.cancelled():
                    continue  # its caller stopped waiting: the frame is not sent
                if event["type"] == "websocket.close":
                    self._closed = True
                    self.close_code = event["code"]
                await self._send(event)
                if event["type"] == "websocket.send":
                    self.sent += 1
                if written is not None and not written.done():  # done: its caller gave up
                    written.set_result(None)
                if self._closed:
                    self._drop_queued()  # sends that queued behind the close are not sent
        except (WebSocketDisconnect, OSError) as error:
            # Gone: the connection's own task sees it too and cleans up.
            if written is not None and not written.done():
                written.set_exception(error)
            self._drop_queued()
        finally:
            if written is not None and not written.done():
                written.set_exception(_closed_error())  # stopped while writing it
            # Nothing waits any more (or the connection is gone): no task and no queue until the
            # next frame is queued. Nothing can be queued between the last check and this line.
            self._sender = None
            if not queue:
                self._queue = None
