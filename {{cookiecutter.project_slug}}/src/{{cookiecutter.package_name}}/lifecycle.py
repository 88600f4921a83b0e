"""How each connection is driven through the listener's hooks: one task, one loop.

Why not Litestar's own listener loop: for every connection, Litestar 2 resolves a
``WebsocketListener``'s hook dependencies in ``anyio`` task groups, which cost more server time
than everything else a connection does here (https://github.com/litestar-org/litestar/issues/4563).
``DirectListener`` keeps the listener's shape (Litestar builds one instance; ``on_accept``,
``on_receive``, ``on_disconnect``) but runs the loop itself and hands each hook its arguments.
Its frames skip Litestar's per-frame wrappers too (``DirectWebSocket`` in websocket.py).

Once Litestar fixes that, this module can go: derive ``ConnectionListener`` from
``WebsocketListener`` again, provide ``connection_state`` and the app-wide objects as
dependencies, and have ``on_accept`` call ``on_disconnect`` itself when it fails (Litestar's loop
skips ``on_disconnect`` then, this one does not).
"""

from abc import abstractmethod
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import ImproperlyConfiguredException, WebSocketDisconnect
from litestar.handlers import WebsocketListener, WebsocketRouteHandler
from litestar.types import Empty

from .broadcast import BROADCASTER_STATE_KEY, Broadcaster
from .registry import REGISTRY_STATE_KEY, ConnectionRegistry
from .settings import SETTINGS_STATE_KEY, Settings
from .state import ConnectionState, new_connection_state
from .websocket import DirectWebSocket


class DirectListener(WebsocketListener):
    """A ``WebsocketListener`` whose connections run through ``serve_connection``."""

    websocket_class: type[WebSocket[Any, Any, Any]] | None = DirectWebSocket

    async def on_accept(
        self,
        socket: WebSocket[Any, Any, Any],
        connection_state: ConnectionState,
        connection_registry: ConnectionRegistry,
    ) -> None:
        """Called once the connection is accepted, before its first message.

        ``socket`` is there for set-up that needs the handshake: headers, query parameters.
        """

    @abstractmethod
    async def on_receive(
        self, data: str, connection_state: ConnectionState, broadcaster: Broadcaster
    ) -> None:
        """Called with every text frame the client sends, one at a time, in order."""

    async def on_disconnect(
        self, connection_state: ConnectionState, connection_registry: ConnectionRegistry
    ) -> None:
        """Called once the connection has ended, however it ended."""

    def to_handler(self) -> WebsocketRouteHandler:  # type: ignore[override]
        # Litestar's WebsocketListener.to_handler builds its own listener loop (see above); this
        # one registers ``serve_connection`` as a plain WebSocket handler at the same path.
        ignored = [
            name
            for name in ("dependencies", "dto", "return_dto")
            if getattr(self, name) not in (None, Empty)
        ]
        if ignored or self.receive_mode != "text" or self.send_mode != "text":
            raise ImproperlyConfiguredException(
                f"{type(self).__name__}: {', '.join(ignored) or 'binary mode'} would never reach"
                " its hooks, which get their arguments from serve_connection (lifecycle.py)"
            )
        if self.websocket_class is None or not issubclass(self.websocket_class, DirectWebSocket):
            raise ImproperlyConfiguredException(
                f"{type(self).__name__}: websocket_class must derive from DirectWebSocket"
                " (websocket.py), which serve_connection and the Outbox rely on"
            )
        handler = websocket(
            self.path,
            guards=self.guards,
            middleware=self.middleware,
            name=self.name,
            opt=self.opt,
            exception_handlers=self.exception_handlers,
            websocket_class=self.websocket_class,
        )(self.serve_connection)
        handler.owner = self._owner
        return handler

    async def serve_connection(self, socket: DirectWebSocket[Any]) -> None:
        """One connection, from accept to its end: the whole life of its ``ConnectionState``."""
        # The app state holds what every connection shares on purpose. The connection's own
        # state is a local of this call, the one task that handles the connection.
        app_state = socket.app.state
        settings: Settings = app_state[SETTINGS_STATE_KEY]
        connection_registry: ConnectionRegistry = app_state[REGISTRY_STATE_KEY]
        broadcaster: Broadcaster = app_state[BROADCASTER_STATE_KEY]
        connection_state = new_connection_state(socket, settings)
        await socket.accept()
        try:
            await self.on_accept(socket, connection_state, connection_registry)
            # The server's ASGI events as they come (see DirectWebSocket); a binary frame has no
            # text and gets the same error frame as an empty one.
            while (event := await socket.server_receive())["type"] == "websocket.receive":
                await self.on_receive(event.get("text") or "", connection_state, broadcaster)
            socket.connection_state = "disconnect"  # as Litestar's receive would have noted
        except WebSocketDisconnect:
            pass  # a hook closed the connection
        finally:
            # Every path ends here: a close, a drop, a hook's error, even a failed on_accept.
            await self.on_disconnect(connection_state, connection_registry)
