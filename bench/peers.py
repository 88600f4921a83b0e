"""The peers a baked service is measured against (``nox -s bench`` at the template's root).

Each speaks the generated service's wire protocol, so the difference is what the framework and
the template's structure cost:

- ``starlette_peer_app``: what a user would write instead with Starlette (or FastAPI, which
  serves WebSockets through Starlette): one endpoint with its own receive loop and a
  per-connection state dataclass, as the service keeps one;
- ``minimal_starlette_app``: the simplest Starlette endpoint that speaks the protocol: accept,
  a welcome with a ``uuid4().hex`` id, an echo loop with a counter. No Origin check, no rate
  budget, no state object; the one dict of sockets is there for the broadcast phase;
- ``bare_listener_app``: the least Litestar code that speaks it: a ``WebsocketListener`` with a
  counter in the scope dict and no dependencies.

Every broadcast here is the naive loop (the sender's task sends to each connection in turn), so
one slow client would hold up every sender; the service queues per connection instead.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import msgspec
from litestar import Litestar, WebSocket
from litestar.handlers import WebsocketListener
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect

PATH = "/ws"  # the default bake's websocket_path


class Echo(msgspec.Struct, tag="echo"):
    text: str


class Ping(msgspec.Struct, tag="ping"):
    pass


class Broadcast(msgspec.Struct, tag="broadcast"):
    text: str


_decoder = msgspec.json.Decoder(Echo | Ping | Broadcast)
_encoder = msgspec.json.Encoder()


def welcome(connection_id: str) -> str:
    return _encoder.encode({"type": "welcome", "connection_id": connection_id}).decode()


def reply(frame: str, connection_id: str, count: int) -> tuple[str, int, bool]:
    """The answer to ``frame``, the connection's new message count, and whether the answer
    goes to every connection (a broadcast) rather than to this one."""
    try:
        message = _decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeEncodeError, RecursionError) as error:
        return _encoder.encode({"type": "error", "detail": str(error)}).decode(), count, False
    count += 1
    if isinstance(message, Ping):
        return '{"type":"pong"}', count, False
    if isinstance(message, Broadcast):
        everyone = {"type": "broadcast", "text": message.text, "from": connection_id}
        return _encoder.encode(everyone).decode(), count, True
    answer = {"type": "echo", "text": message.text, "connection_id": connection_id, "count": count}
    return _encoder.encode(answer).decode(), count, False


@dataclass(slots=True)
class PeerConnectionState:
    """The Starlette peer's per-connection state: what the service's ConnectionState holds for
    the protocol (an id, a count, a start time), without its rate budget and outbox."""

    connection_id: str = field(default_factory=lambda: uuid4().hex)
    count: int = 0
    connected_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_peer_sockets: dict[str, StarletteWebSocket] = {}


async def peer_endpoint(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    state = PeerConnectionState()  # a local of this connection's own task: its own
    _peer_sockets[state.connection_id] = websocket
    try:
        await websocket.send_text(welcome(state.connection_id))
        while (event := await websocket.receive())["type"] == "websocket.receive":
            text, state.count, to_everyone = reply(
                event.get("text") or "", state.connection_id, state.count
            )
            for peer in list(_peer_sockets.values()) if to_everyone else [websocket]:
                await peer.send_text(text)
    finally:
        del _peer_sockets[state.connection_id]


starlette_peer_app = Starlette(routes=[WebSocketRoute(PATH, peer_endpoint)])

_minimal_sockets: dict[str, StarletteWebSocket] = {}


async def minimal_endpoint(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    connection_id, count = uuid4().hex, 0
    _minimal_sockets[connection_id] = websocket
    try:
        await websocket.send_text(welcome(connection_id))
        while True:
            text, count, to_everyone = reply(await websocket.receive_text(), connection_id, count)
            for peer in list(_minimal_sockets.values()) if to_everyone else [websocket]:
                await peer.send_text(text)
    except WebSocketDisconnect:
        pass
    finally:
        del _minimal_sockets[connection_id]


minimal_starlette_app = Starlette(routes=[WebSocketRoute(PATH, minimal_endpoint)])

_bare_sockets: dict[str, WebSocket[Any, Any, Any]] = {}


class BareListener(WebsocketListener):
    path = PATH

    async def on_accept(self, socket: WebSocket[Any, Any, Any]) -> None:
        socket.scope["state"]["connection_id"] = connection_id = uuid4().hex
        socket.scope["state"]["count"] = 0
        _bare_sockets[connection_id] = socket
        await socket.send_text(welcome(connection_id))

    async def on_receive(self, socket: WebSocket[Any, Any, Any], data: str) -> None:
        state = socket.scope["state"]
        text, state["count"], to_everyone = reply(data, state["connection_id"], state["count"])
        for peer in list(_bare_sockets.values()) if to_everyone else [socket]:
            await peer.send_text(text)

    async def on_disconnect(self, socket: WebSocket[Any, Any, Any]) -> None:
        _bare_sockets.pop(socket.scope["state"]["connection_id"], None)


bare_listener_app = Litestar(route_handlers=[BareListener])
