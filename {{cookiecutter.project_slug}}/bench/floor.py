"""The floor: the service's protocol (and message Structs) in a bare ASGI app, no framework.

What uvicorn allows on the machine. Its broadcast and its topics send to every recipient in
turn (a naive fan-out), and it checks nothing (no topic names, no limits).
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
    Publish,
    ServerMessage,
    Subscribe,
    Subscribed,
    TopicMessage,
    Welcome,
    decode_client_message,
    encode_server_message,
)

_connections: dict[str, Any] = {}  # connection id -> its ASGI send
_subscribers: dict[str, dict[str, Any]] = {}  # topic -> connection id -> its ASGI send
_offsets: dict[str, int] = {}  # topic -> last offset


def _answer(message: ClientMessage, connection_id: str, count: int, send: Any) -> ServerMessage:
    if isinstance(message, Echo):
        return EchoReply(text=message.text, connection_id=connection_id, count=count)
    if isinstance(message, Broadcast):
        return BroadcastFrame(text=message.text, from_=connection_id)
    if isinstance(message, Subscribe):
        _subscribers.setdefault(message.topic, {})[connection_id] = send
        return Subscribed(message.topic, epoch="floor", offset=_offsets.get(message.topic, 0))
    if isinstance(message, Publish):
        _offsets[message.topic] = offset = _offsets.get(message.topic, 0) + 1
        return TopicMessage(message.topic, offset, message.text, from_=connection_id)
    return Pong()  # a ping: the benchmark sends nothing else


def _recipients(answer: ServerMessage, send: Any) -> list[Any]:
    if isinstance(answer, BroadcastFrame):
        return list(_connections.values())
    if isinstance(answer, TopicMessage):
        return list(_subscribers.get(answer.topic, {}).values())
    return [send]


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
                answer = _answer(message, connection_id, count, send)
            frame = {"type": "websocket.send", "text": encode_server_message(answer)}
            for recipient in _recipients(answer, send):
                await recipient(frame)
    finally:
        del _connections[connection_id]
        for subscribers in _subscribers.values():
            subscribers.pop(connection_id, None)
