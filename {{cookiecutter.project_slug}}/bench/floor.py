"""The floor: the service's protocol (and message Structs) in a bare ASGI app, no framework.

What uvicorn allows on the machine. Its broadcast sends to every connection in turn.
"""

from typing import Any
from uuid import uuid4

from {{ cookiecutter.package_name }}.listener import WEBSOCKET_PATH
from {{ cookiecutter.package_name }}.messages import (
    Broadcast,
    BroadcastFrame,
    ClientMessage,
    Echo,
    EchoReply,
    ErrorFrame,
    Pong,
    ProtocolError,
    ServerMessage,
    Welcome,
    decode_client_message,
    encode_server_message,
)

_connections: dict[str, Any] = {}  # connection id -> its ASGI send


def _answer(message: ClientMessage, connection_id: str, count: int) -> ServerMessage:
    if isinstance(message, Echo):
        return EchoReply(text=message.text, connection_id=connection_id, count=count)
    if isinstance(message, Broadcast):
        return BroadcastFrame(text=message.text, from_=connection_id)
    return Pong()  # a ping: the benchmark sends nothing else


async def floor_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket" or scope["path"] != WEBSOCKET_PATH:
        # Lifespan too: uvicorn then runs the app without it, as "unsupported".
        raise RuntimeError(f"the floor serves only WebSocket {WEBSOCKET_PATH}")
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    connection_id, count = uuid4().hex, 0
    welcome = Welcome(connection_id{% if cookiecutter.auth == "jwt" %}, user="bench"{% endif %})
    await send({"type": "websocket.send", "text": encode_server_message(welcome)})
    _connections[connection_id] = send
    try:
        while (event := await receive())["type"] == "websocket.receive":
            try:
                message = decode_client_message(event.get("text") or "")
            except ProtocolError as error:
                answer: ServerMessage = ErrorFrame(detail=str(error))
            else:
                count += 1
                answer = _answer(message, connection_id, count)
            frame = {"type": "websocket.send", "text": encode_server_message(answer)}
            everyone = isinstance(answer, BroadcastFrame)
            for peer_send in list(_connections.values()) if everyone else [send]:
                await peer_send(frame)
    finally:
        del _connections[connection_id]
