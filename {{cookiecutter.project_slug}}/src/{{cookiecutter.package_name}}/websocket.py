"""``DirectWebSocket``: Litestar's ``WebSocket``, keeping the server's own receive and send too.

Litestar wraps the server's ``receive`` and ``send`` to track the connection's state: one more
coroutine for every frame, each way. The two paths every frame takes use the server's own
instead: the receive loop in ``lifecycle.py`` notes the end of the connection itself, and
``Outbox`` keeps its own guard (nothing is sent after its close). Everything else, hooks
included, uses the socket as Litestar made it.
"""

from typing import Any, TypeVar

from litestar import WebSocket
from litestar.connection.base import empty_receive, empty_send
from litestar.status_codes import WS_1006_ABNORMAL_CLOSURE
from litestar.types import Receive, Scope, Send

UserT = TypeVar("UserT")


class DirectWebSocket(WebSocket[UserT, Any, Any]):
    """The socket of every connection to ``ConnectionListener`` (its ``websocket_class``)."""

    def __init__(
        self, scope: Scope, receive: Receive = empty_receive, send: Send = empty_send
    ) -> None:
        super().__init__(scope, receive, send)
        self.server_receive = receive
        """The server's receive: it does not update ``connection_state``."""
        self.server_send = send
        """The server's send: it does not refuse to send after a disconnect."""
        self.close_code = WS_1006_ABNORMAL_CLOSURE
        """The code of the client's close frame, once it sent one (the receive loop notes it);
        1006 while it has not: a dropped connection sends none."""
