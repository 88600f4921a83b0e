"""The app-wide registry of live connections: shared by every connection, on purpose."""

from collections.abc import Iterator

from .state import ConnectionState


class ConnectionRegistry:
    """The live connections of one app, by connection id.

    One instance per app, provided to the hooks as ``connection_registry`` (app.py), because
    it is about all connections at once (``/health`` counts them; a broadcast reaches them all).
    Per-connection data stays in each ``ConnectionState``. Every hook runs on the event loop,
    so no lock is needed.
    """

    __slots__ = ("_connections",)

    def __init__(self) -> None:
        self._connections: dict[str, ConnectionState] = {}

    def add(self, connection_state: ConnectionState) -> None:
        self._connections[connection_state.connection_id] = connection_state

    def discard(self, connection_state: ConnectionState) -> None:
        """Forget a connection; forgetting one twice, or one never added, is harmless."""
        self._connections.pop(connection_state.connection_id, None)

    def __iter__(self) -> Iterator[ConnectionState]:
        return iter(self._connections.values())

    def get(self, connection_id: str) -> ConnectionState | None:
        return self._connections.get(connection_id)

    def __len__(self) -> int:
        return len(self._connections)

    def __contains__(self, connection_id: object) -> bool:
        return connection_id in self._connections
