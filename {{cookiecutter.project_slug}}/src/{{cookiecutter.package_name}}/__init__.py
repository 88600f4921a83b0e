"""A Litestar WebSocket service that keeps each connection's state in the connection itself."""
