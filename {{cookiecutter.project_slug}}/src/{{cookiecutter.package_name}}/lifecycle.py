"""How each connection is driven through the listener's hooks: one task, one loop.

A hook names what it takes, as in a Litestar ``WebsocketListener``: ``socket``, ``data``
(``on_receive``), and any dependency that the app, a router or the listener provides
(``dependencies={"rooms": Provide(...)}``). Litestar's own dependency injection resolves them
once per connection, before it is accepted; every hook of that connection that names one gets
the same value, and a generator dependency's clean-up runs once the connection has ended.

Why not Litestar's own listener loop: for every connection, Litestar 2 resolves a
``WebsocketListener``'s dependencies in ``anyio`` task groups, which cost more server time than
everything else a connection does here (https://github.com/litestar-org/litestar/issues/4563).
``DirectListener`` keeps the listener's shape (Litestar builds one instance; ``on_accept``,
``on_receive``, ``on_disconnect``) and Litestar's dependency injection, resolves one dependency
at a time, and runs the loop itself. Its frames skip Litestar's per-frame wrappers too
(``DirectWebSocket`` in websocket.py). Unlike Litestar's loop, it runs ``on_disconnect`` after a
failed ``on_accept`` too.

A hook that the loop cannot call is refused when the app is created, naming the hook and the
parameter: never at the first message.
"""

import inspect
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from litestar import WebSocket
from litestar._kwargs import KwargsModel
from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ImproperlyConfiguredException, WebSocketDisconnect
from litestar.handlers import WebsocketListener, WebsocketRouteHandler
from litestar.status_codes import WS_1005_NO_STATUS_RECEIVED
from litestar.types import Empty, ExceptionHandlersMap

from .websocket import DirectWebSocket

HOOKS = ("on_accept", "on_receive", "on_disconnect")
LOOP_ARGUMENTS = {
    "on_accept": ("socket",),
    "on_receive": ("socket", "data"),
    "on_disconnect": ("socket",),
}
"""What the loop itself hands each hook; every other parameter is a dependency."""


class DirectListener(WebsocketListener):
    """A ``WebsocketListener`` whose connections run through ``serve_connection``."""

    websocket_class: type[WebSocket[Any, Any, Any]] | None = DirectWebSocket

    async def on_accept(self, *args: Any, **kwargs: Any) -> None:
        """Called once the connection is accepted, before its first message."""

    @abstractmethod
    async def on_receive(self, *args: Any, **kwargs: Any) -> None:
        """Called with every text frame the client sends (``data``), one at a time, in order."""

    async def on_disconnect(self, *args: Any, **kwargs: Any) -> None:
        """Called once the connection has ended, however it ended."""

    def overridden_hooks(self) -> dict[str, Callable[..., Any]]:
        """The hooks this listener defines (a hook it leaves out is not called)."""
        return {
            name: getattr(self, name)
            for name in HOOKS
            if getattr(type(self), name) is not getattr(DirectListener, name)
        }

    def to_handler(self) -> WebsocketRouteHandler:  # type: ignore[override]
        # Litestar's WebsocketListener.to_handler builds its own listener loop (see above); this
        # one registers ``serve_connection`` as a plain WebSocket handler at the same path, with
        # a signature naming what the hooks name, so that Litestar resolves exactly that.
        ignored = [
            name for name in ("dto", "return_dto") if getattr(self, name) not in (None, Empty)
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
        hook_parameters = {
            name: hook_parameter_names(self, name, hook)
            for name, hook in self.overridden_hooks().items()
        }
        dependency_names = sorted(
            {name for names in hook_parameters.values() for name in names}
            - {name for names in LOOP_ARGUMENTS.values() for name in names}
        )

        async def serve(socket: DirectWebSocket[Any], **dependencies: Any) -> None:
            await self.serve_connection(socket, dependencies, hook_parameters)

        show_signature(serve, self.websocket_class, dependency_names)
        serve.__qualname__ = f"{type(self).__qualname__}.serve_connection"
        handler = ListenerRouteHandler(
            self.path,
            dependencies=self.dependencies,
            guards=self.guards,
            middleware=self.middleware,
            name=self.name,
            opt=self.opt,
            exception_handlers=self.exception_handlers,
            signature_namespace=self.signature_namespace,
            websocket_class=self.websocket_class,
        )(serve)
        handler.listener_name = type(self).__name__
        handler.hook_parameters = hook_parameters
        handler.owner = self._owner
        return handler

    async def serve_connection(
        self,
        socket: DirectWebSocket[Any],
        dependencies: dict[str, Any],
        hook_parameters: Mapping[str, tuple[str, ...]],
    ) -> None:
        """One connection, from accept to its end: the whole life of what it holds.

        ``dependencies`` were resolved for this connection alone (``connection_state`` among
        them); each hook gets the ones it names, in its own order (by position: cheaper than
        by name, for every message).
        """
        dependencies["socket"] = socket
        accept_arguments, receive_arguments, disconnect_arguments = (
            [dependencies.get(name) for name in hook_parameters.get(hook, ())] for hook in HOOKS
        )
        data_at = hook_parameters["on_receive"].index("data")
        await socket.accept()
        try:
            if "on_accept" in hook_parameters:
                await self.on_accept(*accept_arguments)
            # The server's ASGI events as they come (see DirectWebSocket); a binary frame has no
            # text and gets the same error frame as an empty one.
            while (event := await socket.server_receive())["type"] == "websocket.receive":
                receive_arguments[data_at] = event.get("text") or ""
                await self.on_receive(*receive_arguments)
            socket.connection_state = "disconnect"  # as Litestar's receive would have noted
            code = event.get("code")
            socket.close_code = code if isinstance(code, int) else WS_1005_NO_STATUS_RECEIVED
        except WebSocketDisconnect:
            pass  # a hook closed the connection
        finally:
            # Every path ends here: a close, a drop, a hook's error, even a failed on_accept.
            if "on_disconnect" in hook_parameters:
                await self.on_disconnect(*disconnect_arguments)


def show_signature(
    handler: Callable[..., Any], socket_class: type[Any], dependency_names: list[str]
) -> None:
    """Give ``handler`` the signature Litestar reads: ``socket`` and each named dependency, so
    that Litestar resolves exactly what the hooks name, for each connection."""
    parameters = [
        inspect.Parameter("socket", inspect.Parameter.KEYWORD_ONLY, annotation=socket_class),
        *(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=NamedDependency[Any],  # type: ignore[misc]  # (used as a value)
            )
            for name in dependency_names
        ),
    ]
    handler.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    handler.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    handler.__annotations__["return"] = None


def hook_parameter_names(
    listener: DirectListener, hook_name: str, hook: Callable[..., Any]
) -> tuple[str, ...]:
    """The names ``hook`` takes, once checked that the loop can call it that way."""
    where = f"{type(listener).__name__}.{hook_name}"
    if not inspect.iscoroutinefunction(hook):
        raise ImproperlyConfiguredException(
            f"{where} must be 'async def': the connection's task awaits every hook"
        )
    signature = inspect.signature(hook)
    if hook_name == "on_receive" and signature.return_annotation not in (None, "None"):
        raise ImproperlyConfiguredException(
            f"{where} must be annotated '-> None': its return value would be dropped; send"
            " replies through the connection's outbox"
        )
    for parameter in signature.parameters.values():
        if parameter.kind is not parameter.POSITIONAL_OR_KEYWORD:
            raise ImproperlyConfiguredException(
                f"{where}: parameter {parameter.name!r} is {parameter.kind.description}; name"
                " each argument the hook takes, as a plain parameter (no *, / or **)"
            )
    names = tuple(signature.parameters)
    if hook_name == "on_receive" and "data" not in names:
        raise ImproperlyConfiguredException(
            f"{where} must take a 'data' parameter: the text of each frame"
        )
    return names


class CleanupGroup(DependencyCleanupGroup):
    """Litestar's clean-up of generator dependencies, false while it holds none, so that a
    connection without any skips the ``async with`` around its handler."""

    def __bool__(self) -> bool:
        return bool(self._generators)


class OneAtATimeKwargsModel(KwargsModel):
    """Litestar's ``KwargsModel``, resolving one dependency at a time: no ``anyio`` task group
    per connection (litestar#4563). A failed dependency cleans up the ones resolved before it."""

    __slots__ = ()

    async def resolve_dependencies(
        self, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
    ) -> DependencyCleanupGroup:
        cleanup_group = CleanupGroup()
        try:
            for batch in self.dependency_batches:
                for dependency in batch:
                    provide = dependency.provide
                    if provide.use_cache and provide.value is not Empty:
                        kwargs[dependency.key] = provide.value  # made once: an app-wide object
                    else:
                        await resolve_dependency(dependency, connection, kwargs, cleanup_group)
        except BaseException as error:
            await cleanup_group.close(error)
            raise
        return cleanup_group


class ListenerRouteHandler(WebsocketRouteHandler):
    """The route of a ``DirectListener``: checks its hooks against what is provided."""

    listener_name: str
    hook_parameters: Mapping[str, tuple[str, ...]]
    _websocket_class: type[WebSocket[Any, Any, Any]]
    _exception_handlers: ExceptionHandlersMap

    def on_registration(self, app: Any) -> None:
        super().on_registration(app)
        # Litestar works these out again for every connection, walking the app's layers; they
        # cannot change once the app is built.
        self._websocket_class = super().resolve_websocket_class()
        self._exception_handlers = super().resolve_exception_handlers()
        provided: Mapping[str, Provide] = self.resolve_dependencies()
        for hook, names in self.hook_parameters.items():
            for name in names:
                if name not in provided and name not in LOOP_ARGUMENTS[hook]:
                    available = ", ".join([*LOOP_ARGUMENTS[hook], *sorted(provided)])
                    raise ImproperlyConfiguredException(
                        f"{self.listener_name}.{hook}: nobody provides parameter {name!r}."
                        f" Available: {available}. Provide {name!r} as a dependency of the"
                        " app, a router or the listener (dependencies=, with Provide)"
                    )

    def resolve_websocket_class(self) -> type[WebSocket[Any, Any, Any]]:
        return self._websocket_class

    def resolve_exception_handlers(self) -> ExceptionHandlersMap:
        return self._exception_handlers

    def create_kwargs_model(self, path_parameters: Any) -> KwargsModel:
        # Litestar builds the model as ever; only how it resolves the dependencies changes.
        kwargs_model = super().create_kwargs_model(path_parameters)
        kwargs_model.__class__ = OneAtATimeKwargsModel
        return kwargs_model
