"""Checks on every WebSocket handshake, before accept: Origin policy, then the connection cap.

Browsers send cookies with a WebSocket handshake from any site, and Litestar's CORS settings do
not apply to WebSockets, so without an Origin check any web page could open a connection in its
visitor's name (cross-site WebSocket hijacking). A refusal here is an HTTP status, never an
accepted-then-closed socket, so a refused client learns nothing of the protocol.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_503_SERVICE_UNAVAILABLE,
    WS_1008_POLICY_VIOLATION,
    WS_1013_TRY_AGAIN_LATER,
)
from litestar.types import ASGIApp, Receive, Scope, Send

from .metrics import Metrics

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
FLOOD_LOG_INTERVAL = 10.0
"""Seconds between two log lines about the same flood of refusals (each is counted in the
metrics all the same)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """How a handshake is refused: an HTTP status, or a close code where no status can be sent."""

    status: int
    close_code: int
    reason: str


FOREIGN_ORIGIN = Refusal(HTTP_403_FORBIDDEN, WS_1008_POLICY_VIOLATION, "origin not allowed")
NO_ROOM = Refusal(HTTP_503_SERVICE_UNAVAILABLE, WS_1013_TRY_AGAIN_LATER, "too many connections")


def parse_origin(text: str) -> str:
    """``text`` as a normalized origin ``scheme://host[:port]``; ValueError says what is wrong."""
    if text == "*":
        raise ValueError("'*' would let every web page in; name each origin")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin like https://example.com") from None
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
    ):
        raise ValueError(
            f"{text!r} is not an origin: use scheme://host[:port] with http or https,"
            " without path or trailing slash"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _same_host(origin: str, host_header: str | None) -> bool:
    """Whether ``origin`` names the host (and port) that the client says it is talking to.

    The scheme is not compared: behind a TLS proxy the service sees ``ws://`` while the page
    that connects is ``https://``.
    """
    if not host_header:
        return False
    scheme = origin.partition("://")[0]
    claimed = f"{scheme}://{host_header}"
    if claimed == origin:
        return True  # already in normal form, as browsers send it: nothing to parse
    try:
        return parse_origin(claimed) == origin
    except ValueError:
        return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def refuse(scope: Scope, send: Send, refusal: Refusal) -> None:
    """Refuse a handshake with the refusal's HTTP status.

    For 403 a close before accept is enough: every ASGI server answers it with 403. Another
    status needs the ``websocket.http.response`` extension (uvicorn has it); where a server
    lacks it (Litestar's TestClient), the close code is all the client gets.
    """
    extensions = scope.get("extensions") or {}
    if refusal.status == HTTP_403_FORBIDDEN or "websocket.http.response" not in extensions:
        close = refusal.close_code
        await send({"type": "websocket.close", "code": close, "reason": refusal.reason})
        return
    # uvicorn 0.54 (websockets-sansio) then logs a spurious "ASGI callable returned without
    # completing handshake" error; the client gets the status all the same (Kludex/uvicorn#3138).
    # The service's logging leaves it out (logs.py).
    body = f"{refusal.reason}\n".encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})


class FloodLog:
    """Logs a kind of refusal that comes in floods (a reconnect storm against a full process)
    at most once per ``FLOOD_LOG_INTERVAL``, saying how many the line stands for."""

    def __init__(self) -> None:
        self._quiet_until = 0.0
        self._unlogged = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            self._unlogged += 1
            return
        if self._unlogged:
            message += "; %d more such refusals since the last such line"
            args = (*args, self._unlogged)
        logger.warning(message, *args)
        self._quiet_until, self._unlogged = now + FLOOD_LOG_INTERVAL, 0


class HandshakePolicy(ASGIMiddleware):
    """Lets a WebSocket handshake through only from an allowed Origin and while there is room.

    One instance serves the whole app, so its count of open connections is shared on purpose:
    the cap is per process. The slot taken here is given back when the connection's handling
    ends, however it ends (close, drop, handler error, failed set-up).
    """

    scopes = (ScopeType.WEBSOCKET,)

    def __init__(
        self, allowed_origins: Iterable[str], max_connections: int, metrics: Metrics
    ) -> None:
        self.allowed_origins = frozenset(allowed_origins)
        self.max_connections = max_connections
        self.metrics = metrics
        self.open_connections = 0
        self.capacity_refusals = FloodLog()

    def origin_allowed(self, origin: str, host_header: str | None) -> bool:
        try:
            normalized = parse_origin(origin)
        except ValueError:
            return False  # "null" (file:// pages, sandboxed frames) and anything malformed
        return normalized in self.allowed_origins or _same_host(normalized, host_header)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        # No Origin header: not a browser (browsers always send one), so nothing to hijack.
        origin = _header(scope, b"origin")
        if origin is not None and not self.origin_allowed(origin, _header(scope, b"host")):
            logger.warning(
                "refused a WebSocket handshake from origin %r: not this service's own origin"
                " and not in ALLOWED_ORIGINS",
                origin,
            )
            self.metrics.handshakes["origin"] += 1
            await refuse(scope, send, FOREIGN_ORIGIN)
            return
        if self.open_connections >= self.max_connections:
            self.capacity_refusals.warning(
                "refused a WebSocket handshake: %d connections open (MAX_CONNECTIONS)",
                self.open_connections,
            )
            self.metrics.handshakes["capacity"] += 1
            await refuse(scope, send, NO_ROOM)
            return
        self.open_connections += 1
        try:
            await next_app(scope, receive, send)
        finally:
            self.open_connections -= 1
