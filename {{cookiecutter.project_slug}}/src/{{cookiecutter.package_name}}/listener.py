"""The WebSocket endpoint: one listener class, one ``ConnectionState`` per connection.

Litestar builds ONE ``ConnectionListener`` and runs every connection through it, so ``self``
must hold nothing about a connection. Each hook instead names what it needs, and Litestar's
dependency injection hands it over (resolved once per connection, see ``lifecycle.py``):

- ``connection_state``: this connection's own ``ConnectionState`` (the same object in every
  hook of one connection, a different one for every other connection), provided below;
- ``connection_registry``, ``hub``, ``metrics``, ``settings``: made once in ``create_app``
  (app.py) and shared by every connection on purpose. Your own app-wide objects join them there;
- ``socket`` (any hook) and ``data``, the frame's text (``on_receive``).

A connection reaches these hooks only once the handshake checks have let it in (Origin and
connection cap in ``handshake.py``{% if cookiecutter.auth == "jwt" %}, the token in ``auth.py``{% endif %}).

This is the file to customize: add fields to ``ConnectionState``, message types to
``messages.py`` and their handling to ``reply_to`` below (the README's Customize section walks
through one example; ``tests/test_contract.py`` checks the promises these hooks keep).
"""

import logging
from datetime import UTC, datetime
from typing import Any, NoReturn

from litestar.di import Provide
from litestar.exceptions import WebSocketDisconnect
from litestar.status_codes import WS_1008_POLICY_VIOLATION, WS_1011_INTERNAL_ERROR

{% if cookiecutter.auth == "jwt" %}
from .auth import close_at_expiry, refreshed_token
{% endif %}
from .authorization import may_publish, may_subscribe
from .lifecycle import DirectListener
from .messages import (
    Broadcast,
    BroadcastFrame,
    ClientMessage,
    Echo,
    EchoReply,
    ErrorFrame,
    Ping,
    Pong,
    ProtocolError,
    Publish,
{% if cookiecutter.auth == "jwt" %}
    Refresh,
    Refreshed,
{% endif %}
    Refused,
    ServerMessage,
    Subscribe,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    decode_client_message,
    encode_server_message,
)
from .metrics import Metrics
from .registry import ConnectionRegistry
{% if cookiecutter.auth == "jwt" %}
from .settings import Settings
{% endif %}
from .state import ConnectionState, new_connection_state
from .topics import Hub
from .websocket import DirectWebSocket

WEBSOCKET_PATH = "{{ cookiecutter.websocket_path }}"

logger = logging.getLogger(__name__)


{% if cookiecutter.auth == "jwt" %}
async def reply_to(
    message: ClientMessage, connection_state: ConnectionState, hub: Hub, settings: Settings
) -> ServerMessage | None:
{% else %}
async def reply_to(
    message: ClientMessage, connection_state: ConnectionState, hub: Hub
) -> ServerMessage | None:
{% endif %}
    """Do what one valid message asks; the reply to send, if any.

    Raise ``Refused`` to refuse it: the client gets an error frame saying why, and the message
    changes nothing, not even the count (``on_receive`` counts it once this returns).
    """
    match message:
        case Echo(text=text):
            return EchoReply(
                text=text,
                connection_id=connection_state.connection_id,
                count=connection_state.messages_received + 1,  # this message counts too
            )
        case Ping():
            return Pong()
        case Broadcast(text=text):
            await hub.broadcast(BroadcastFrame(text=text, from_=connection_state.connection_id))
            return None  # the sender gets the broadcast like every other connection
        case Subscribe(topic=topic, since=since):
            if not may_subscribe(connection_state, topic):
                raise Refused(f"subscribe to {topic!r} refused: not allowed (may_subscribe)")
            await hub.subscribe(connection_state, topic, since)  # it sends `subscribed` itself
            return None
        case Unsubscribe(topic=topic):
            await hub.unsubscribe(connection_state, topic)
            return Unsubscribed(topic=topic)
        case Publish(topic=topic, text=text):
            if not may_publish(connection_state, topic):
                raise hub.refuse_publish(topic, "not allowed (may_publish)")
            # The sender gets its own message only if it is subscribed (pass exclude= to
            # leave it out even then).
            await hub.publish(topic, text, from_=connection_state.connection_id)
            return None
{% if cookiecutter.auth == "jwt" %}
        case Refresh(token=token):
            renewed = refreshed_token(token, connection_state.user, settings.jwt_secret)
            connection_state.token_expires_at = renewed.exp
            close_at_expiry(connection_state)  # from the new expiry on
            return Refreshed(expires_at=renewed.exp)
{% endif %}


async def close_connection(connection_state: ConnectionState, code: int, reason: str) -> NoReturn:
    """Close this connection with ``code`` and end its handling; on_disconnect still runs."""
    await connection_state.outbox.close(code, reason)
    # The connection's loop (lifecycle.py) ends quietly on WebSocketDisconnect; any other
    # exception would reach Litestar, which logs it and closes with a bare 4500.
    raise WebSocketDisconnect(detail=reason)


async def refuse_over_limit(connection_state: ConnectionState) -> None:
    """Answer a frame beyond this connection's rate limit; close it if it stays beyond."""
    budget = connection_state.message_budget
    if budget.over_limit_too_long():
        logger.warning("closed: over its rate limit for too long")
        await close_connection(connection_state, WS_1008_POLICY_VIOLATION, "rate limit exceeded")
    detail = f"rate limit exceeded: {budget.describe()}; message dropped"
    await connection_state.outbox.send(encode_server_message(ErrorFrame(detail=detail)))


class ConnectionListener(DirectListener):
    """The hooks of every connection to ``WEBSOCKET_PATH``; one instance serves them all.

    ``on_accept`` runs once the connection is accepted, ``on_receive`` for every frame, and
    ``on_disconnect`` once it has ended, on every path (``DirectListener`` in lifecycle.py).
    """

    path = WEBSOCKET_PATH
    # Per connection: Litestar calls new_connection_state once for each connection (state.py).
    dependencies = {  # noqa: RUF012
        "connection_state": Provide(new_connection_state, sync_to_thread=False),
    }

    async def on_accept(
        self,
        connection_state: ConnectionState,
        connection_registry: ConnectionRegistry,
        metrics: Metrics,
    ) -> None:
        metrics.handshakes["accepted"] += 1
        connection_registry.add(connection_state)
        try:
            welcome = Welcome(
                connection_id=connection_state.connection_id,
{% if cookiecutter.auth == "jwt" %}
                user=connection_state.user,
{% endif %}
            )
            await connection_state.outbox.send(encode_server_message(welcome))
            # From now on broadcasts flow to this connection (queued since it was registered).
            connection_state.outbox.start()
{% if cookiecutter.auth == "jwt" %}
            close_at_expiry(connection_state)  # it lives no longer than its token
{% endif %}
            # Further set-up of the connection (subscriptions, ...) goes here, inside the try.
        except Exception:
            logger.exception("set-up failed")
            # on_disconnect still runs and releases what was set up so far.
            await close_connection(connection_state, WS_1011_INTERNAL_ERROR, "set-up failed")
        # No need to name the connection: its id goes on every line its task logs (logs.py).
        logger.debug("accepted")

{% if cookiecutter.auth == "jwt" %}
    async def on_receive(
        self,
        data: str,
        connection_state: ConnectionState,
        hub: Hub,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
{% else %}
    async def on_receive(
        self, data: str, connection_state: ConnectionState, hub: Hub, metrics: Metrics
    ) -> None:
{% endif %}
        # Every frame spends from this connection's budget, valid or not: garbage is no free pass.
        if not connection_state.message_budget.take():
            metrics.rate_limited += 1
            await refuse_over_limit(connection_state)
            return
        try:
            message = decode_client_message(data)
        except ProtocolError as error:
            metrics.received[None] += 1
            error_frame = ErrorFrame(detail=str(error))
            await connection_state.outbox.send(encode_server_message(error_frame))
            return
        metrics.received[type(message)] += 1
        try:
{% if cookiecutter.auth == "jwt" %}
            reply = await reply_to(message, connection_state, hub, settings)
{% else %}
            reply = await reply_to(message, connection_state, hub)
{% endif %}
        except Refused as refusal:
            reply = ErrorFrame(detail=str(refusal))
        except WebSocketDisconnect:
            raise  # the client is gone (while a reply was on its way): not a bug
        except Exception:
            # A bug, not bad input: log it once, with the connection it hit, and end only this
            # connection with the standard 1011 (left to Litestar, it would be a bare 4500).
            logger.exception("handling a message failed")
            await close_connection(connection_state, WS_1011_INTERNAL_ERROR, "internal error")
        else:
            connection_state.messages_received += 1
        if reply is not None:
            await connection_state.outbox.send(encode_server_message(reply))

    async def on_disconnect(
        self,
        socket: DirectWebSocket[Any],
        connection_state: ConnectionState,
        connection_registry: ConnectionRegistry,
        hub: Hub,
        metrics: Metrics,
    ) -> None:
        # Runs after a normal close, an abrupt drop, an error in a hook and a failed on_accept
        # alike. Release everything this connection holds here; it must be safe to run twice.
        connection_registry.discard(connection_state)
{% if cookiecutter.auth == "jwt" %}
        if connection_state.token_timer is not None:
            connection_state.token_timer.cancel()
{% endif %}
        await hub.leave_all(connection_state)
        outbox = connection_state.outbox
        await outbox.stop()
        # The code of whichever side closed first; a client that vanished without a close frame
        # shows as 1005 (what uvicorn reports) or 1006.
        close_code = outbox.close_code or socket.close_code
        metrics.connection_ended(connection_state, close_code)
        lasted = datetime.now(UTC) - connection_state.connected_at
        logger.info(
            "connection ended",
            extra={
                "code": close_code,
                "duration": round(lasted.total_seconds(), 3),
                "messages_in": connection_state.messages_received,
                "messages_out": outbox.sent,
                # Behind a proxy, the client's own (uvicorn reads X-Forwarded-For from the
                # addresses in FORWARDED_ALLOW_IPS).
                "client": socket.client.host if socket.client else None,
            },
        )
