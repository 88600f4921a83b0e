"""Three baselines that speak the service's wire contract, to measure the service against.

- ``raw_asgi_app``: a bare ASGI callable, no framework: the floor of what uvicorn allows.
- ``bare_listener_app``: the least Litestar code that speaks the contract: one async listener,
  a counter in the scope dict, no ``ConnectionState``, no registry, no dependencies.
- ``starlette_peer_app``: what a user would write instead with Starlette (or FastAPI, which
  serves WebSockets through Starlette): one endpoint function with its own receive loop and a
  per-connection state dataclass, as the service keeps one.

All broadcast the naive way, in this one process: the sender's task sends to every connection
in turn (no queue, no protection from a slow client).

{% if cookiecutter.auth == "jwt" %}
Neither checks a token: their welcome names a fixed user, so what they save is the service's
handshake checks (Origin, connection cap, JWT) as well.

{% endif %}
Both use the service's message Structs (echo, ping and broadcast: what the benchmark sends) with
their own decoder, so the difference to the service is what the framework and the template's
structure cost, not the wire format.
"""

from collections.abc import Awaitable, Callable
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

from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH
from {{ cookiecutter.package_name }}.messages import (
    Broadcast,
    BroadcastFrame,
    Echo,
    EchoReply,
    ErrorFrame,
    Ping,
    Pong,
    Welcome,
)

{% if cookiecutter.auth == "jwt" %}
USER = "bench"
{% endif %}
_decoder = msgspec.json.Decoder(Echo | Ping | Broadcast)
_encoder = msgspec.json.Encoder()


def reply(frame: str, connection_id: str, count: int) -> tuple[str, int, bool]:
    """The answer to ``frame``, the connection's new message count, and whether the answer
    goes to every connection (a broadcast) rather than to this one."""
    try:
        message = _decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeEncodeError, RecursionError) as error:
        return _encoder.encode(ErrorFrame(detail=str(error))).decode(), count, False
    count += 1
    if isinstance(message, Ping):
        return _encoder.encode(Pong()).decode(), count, False
    if isinstance(message, Broadcast):
        everyone = BroadcastFrame(text=message.text, from_=connection_id)
        return _encoder.encode(everyone).decode(), count, True
    answer = EchoReply(text=message.text, connection_id=connection_id, count=count)
    return _encoder.encode(answer).decode(), count, False


_raw_connections: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {}


async def raw_asgi_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (event := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket" or scope["path"] != WEBSOCKET_PATH:
        raise RuntimeError(f"raw baseline serves only WebSocket {WEBSOCKET_PATH}")
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    connection_id = uuid4().hex
    welcome = _encoder.encode(Welcome(connection_id{% if cookiecutter.auth == "jwt" %}, USER{% endif %})).decode()
    await send({"type": "websocket.send", "text": welcome})
    count = 0
    _raw_connections[connection_id] = send
    try:
        while (event := await receive())["type"] == "websocket.receive":
            text, count, to_everyone = reply(event.get("text") or "", connection_id, count)
            for peer_send in list(_raw_connections.values()) if to_everyone else [send]:
                await peer_send({"type": "websocket.send", "text": text})
    finally:
        del _raw_connections[connection_id]


_bare_sockets: dict[str, WebSocket[Any, Any, Any]] = {}


class BareListener(WebsocketListener):
    path = WEBSOCKET_PATH

    async def on_accept(self, socket: WebSocket[Any, Any, Any]) -> None:
        socket.scope["state"]["connection_id"] = connection_id = uuid4().hex
        socket.scope["state"]["count"] = 0
        _bare_sockets[connection_id] = socket
        await socket.send_text(_encoder.encode(Welcome(connection_id{% if cookiecutter.auth == "jwt" %}, USER{% endif %})).decode())

    async def on_receive(self, socket: WebSocket[Any, Any, Any], data: str) -> None:
        state = socket.scope["state"]
        text, state["count"], to_everyone = reply(data, state["connection_id"], state["count"])
        for peer in list(_bare_sockets.values()) if to_everyone else [socket]:
            await peer.send_text(text)

    async def on_disconnect(self, socket: WebSocket[Any, Any, Any]) -> None:
        _bare_sockets.pop(socket.scope["state"]["connection_id"], None)


bare_listener_app = Litestar(route_handlers=[BareListener])


@dataclass(slots=True)
class PeerConnectionState:
    """The Starlette peer's per-connection state: what the service's ConnectionState holds
    for the protocol (an id, a count, a start time), minus rate limit and outbox."""

    connection_id: str = field(default_factory=lambda: uuid4().hex)
    count: int = 0
    connected_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_peer_sockets: dict[str, StarletteWebSocket] = {}


async def peer_endpoint(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    # A local variable of this connection's own task: per connection by construction.
    state = PeerConnectionState()
    _peer_sockets[state.connection_id] = websocket
    try:
        welcome = Welcome(state.connection_id{% if cookiecutter.auth == "jwt" %}, USER{% endif %})
        await websocket.send_text(_encoder.encode(welcome).decode())
        while (event := await websocket.receive())["type"] == "websocket.receive":
            frame = event.get("text") or ""
            text, state.count, to_everyone = reply(frame, state.connection_id, state.count)
            for peer in list(_peer_sockets.values()) if to_everyone else [websocket]:
                await peer.send_text(text)
    finally:
        del _peer_sockets[state.connection_id]


starlette_peer_app = Starlette(routes=[WebSocketRoute(WEBSOCKET_PATH, peer_endpoint)])
