"""The WebSocket endpoint: one listener class, one ``ConnectionState`` per connection.

Litestar builds ONE ``ConnectionListener`` and runs every connection through it, so ``self``
must hold nothing about a connection. Each hook instead asks for:

- ``connection_state``: this connection's own ``ConnectionState`` (the same object in every
  hook of one connection, a different one for every other connection);
- ``connection_registry``: the app-wide registry of live connections, shared on purpose.

A connection reaches these hooks only once the handshake checks have let it in (Origin and
connection cap in ``handshake.py``{% if cookiecutter.auth == "jwt" %}, the token in ``auth.py``{% endif %}).

This is the file to customize: add fields to ``ConnectionState``, message types to
``messages.py`` and their handling to ``reply_to`` below.
"""

import logging
from typing import Any, NoReturn

from litestar import WebSocket
from litestar.di import NamedDependency, Provide
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import WebsocketListener
from litestar.status_codes import WS_1008_POLICY_VIOLATION, WS_1011_INTERNAL_ERROR

from .messages import (
    ClientMessage,
    Echo,
    EchoReply,
    ErrorFrame,
    Ping,
    Pong,
    ProtocolError,
    ServerMessage,
    Welcome,
    decode_client_message,
)
from .registry import ConnectionRegistry
from .state import ConnectionState, provide_connection_state

WEBSOCKET_PATH = "{{ cookiecutter.websocket_path }}"

logger = logging.getLogger(__name__)


def reply_to(message: ClientMessage, connection_state: ConnectionState) -> ServerMessage:
    """Apply one valid message to this connection's state and build the reply."""
    connection_state.messages_received += 1
    match message:
        case Echo(text=text):
            return EchoReply(
                text=text,
                connection_id=connection_state.connection_id,
                count=connection_state.messages_received,
            )
        case Ping():
            return Pong()


async def close_connection(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> NoReturn:
    """Close this connection with ``code`` and end its handling; on_disconnect still runs."""
    await socket.close(code=code, reason=reason)
    # Litestar ends the connection quietly on WebSocketDisconnect (any other exception would be
    # logged as an error and answered with 4500).
    raise WebSocketDisconnect(detail=reason)


class ConnectionListener(WebsocketListener):
    """The hooks of every connection to ``WEBSOCKET_PATH``; one instance serves them all."""

    path = WEBSOCKET_PATH
    # Resolved once per connection, before accept: every hook of that connection gets the same
    # ConnectionState, and reaching it costs nothing per message.
    dependencies = {  # noqa: RUF012 (Litestar reads this class attribute as is)
        "connection_state": Provide(provide_connection_state, sync_to_thread=False),
    }

    # All hooks are async: a plain ``def`` hook would run in a worker thread for every call.

    async def on_accept(
        self,
        socket: WebSocket[Any, Any, Any],
        connection_state: NamedDependency[ConnectionState],
        connection_registry: NamedDependency[ConnectionRegistry],
    ) -> None:
        connection_registry.add(connection_state)
        try:
            welcome = Welcome(
                connection_id=connection_state.connection_id,
{% if cookiecutter.auth == "jwt" %}
                user=connection_state.user,
{% endif %}
            )
            await socket.send_json(welcome)
            # Further set-up of the connection (subscriptions, ...) goes here, inside the try.
        except BaseException:
            logger.exception("connection %s: set-up failed", connection_state.connection_id)
            # Litestar skips on_disconnect when on_accept raises: release the connection here.
            await self.on_disconnect(connection_state, connection_registry)
            raise
        logger.debug("connection %s: accepted", connection_state.connection_id)

    async def on_receive(
        self,
        socket: WebSocket[Any, Any, Any],
        data: str,
        connection_state: NamedDependency[ConnectionState],
    ) -> ServerMessage:
        # Every frame spends from this connection's budget, valid or not: garbage is no free pass.
        budget = connection_state.message_budget
        if not budget.take():
            if budget.over_limit_too_long():
                logger.warning(
                    "connection %s: closed, over its rate limit for too long",
                    connection_state.connection_id,
                )
                await close_connection(socket, WS_1008_POLICY_VIOLATION, "rate limit exceeded")
            return ErrorFrame(detail=f"rate limit exceeded: {budget.describe()}; message dropped")
        # ``data: str`` makes Litestar pass the frame through undecoded: its own JSON decoding
        # would not validate, and would close the connection (code 4500) on malformed input.
        try:
            message = decode_client_message(data)
        except ProtocolError as error:
            return ErrorFrame(detail=str(error))
        try:
            return reply_to(message, connection_state)
        except Exception:
            # A bug, not bad input: log it once, with the connection it hit, and end only this
            # connection with the standard 1011 (Litestar's default would be a bare 4500).
            logger.exception(
                "connection %s: handling a message failed", connection_state.connection_id
            )
            await close_connection(socket, WS_1011_INTERNAL_ERROR, "internal error")

    async def on_disconnect(
        self,
        connection_state: NamedDependency[ConnectionState],
        connection_registry: NamedDependency[ConnectionRegistry],
    ) -> None:
        # Runs after a normal close, an abrupt drop and an exception in on_receive alike.
        # Release everything this connection holds here; it must be safe to run twice.
        connection_registry.discard(connection_state)
        logger.debug(
            "connection %s: closed after %d messages",
            connection_state.connection_id,
            connection_state.messages_received,
        )
