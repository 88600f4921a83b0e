"""What belongs to one connection, and where it lives.

Litestar offers three places that look alike but are not:

- the app's ``State`` (inject ``state: State``) is ONE object shared by every connection:
  a user id put there leaks into everyone's handlers (Litestar issue #3764);
- the ``WebsocketListener`` instance is built once and serves every connection too;
- the connection's scope state (``socket.state`` / ``scope["state"]``) is its own.

Each connection gets its own ``ConnectionState`` as it opens: the listener provides it as the
dependency ``connection_state`` (``new_connection_state`` below), which Litestar resolves once
per connection, so every hook of that connection that names it gets the same object, at no cost
per message. It is also kept in the connection's scope state, for code that only has the
socket. (``socket.state`` builds a new locked ``State`` wrapper on each access: fine once per
connection, too slow once per message.)
"""

{% if cookiecutter.auth == "jwt" %}
import asyncio
{% endif %}
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
{% if cookiecutter.auth != "jwt" %}
from typing import Any
{% endif %}

from litestar.di import NamedDependency

from .logs import bind_connection
from .outbox import Outbox
from .ratelimit import MessageBudget
from .settings import Settings
from .websocket import DirectWebSocket

CONNECTION_STATE_KEY = "connection_state"
"""Key of this connection's ``ConnectionState`` in its scope state."""


def new_connection_id() -> str:
    """32 random lowercase hex digits (128 bits from the OS): unique across processes and
    hosts, and cheaper than ``uuid4().hex``."""
    return os.urandom(16).hex()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, kw_only=True)
class ConnectionState:
    """Everything that belongs to one WebSocket connection and to no other."""

{% if cookiecutter.auth == "jwt" %}
    user: str
    """The ``sub`` of the token this connection presented: who is on the other end."""
{% endif %}
    connection_id: str
    message_budget: MessageBudget
    """This connection's own rate limit: one client's flood never spends another's budget."""
    subscriptions: set[str] = field(default_factory=set)
    """The topics this connection is subscribed to: taken in on_receive through the hub, all
    given back in on_disconnect (topics.py)."""
{% if cookiecutter.auth == "jwt" %}
    token_expires_at: datetime
    """When its token expires, and with it the connection, unless the client refreshes it."""
    token_timer: asyncio.TimerHandle | None = None
    """Closes the connection at ``token_expires_at`` (auth.py); cancelled in on_disconnect."""
{% endif %}
    outbox: Outbox
    """This connection's way out: replies and the broadcasts queued for it."""
    connected_at: datetime = field(default_factory=_utc_now)
    messages_received: int = 0
    # Add your per-connection fields here, with defaults, e.g.
    #     room: str | None = None
    #     subscriptions: set[str] = field(default_factory=set)


{% if cookiecutter.auth == "jwt" %}
def new_connection_state(
    socket: DirectWebSocket[str], settings: NamedDependency[Settings]
) -> ConnectionState:
{% else %}
def new_connection_state(
    socket: DirectWebSocket[Any], settings: NamedDependency[Settings]
) -> ConnectionState:
{% endif %}
    """Create this connection's state and keep it in the connection's own scope state.

    The listener's ``connection_state`` dependency: Litestar calls this once per connection,
    before it is accepted, and hands the result to every hook of that connection that names it.
    """
    connection_id = new_connection_id()
    connection_state = ConnectionState(
        connection_id=connection_id,
{% if cookiecutter.auth == "jwt" %}
        # The JWT middleware checked the token before the handshake got this far.
        user=socket.user,
        token_expires_at=socket.auth.exp,
{% endif %}
        message_budget=MessageBudget(per_second=settings.rate_limit, burst=settings.rate_burst),
        outbox=Outbox(socket.server_send, connection_id),
    )
    socket.scope["state"][CONNECTION_STATE_KEY] = connection_state
    # Every line logged while this connection is handled carries its id from now on (logs.py).
{% if cookiecutter.auth == "jwt" %}
    bind_connection(connection_id, connection_state.user)
{% else %}
    bind_connection(connection_id)
{% endif %}
    return connection_state
