"""Hooks take Litestar dependencies by name; one the loop cannot call is refused at start-up.

A dependency that the app, a router or the listener provides is resolved once per connection:
every hook of that connection that names it gets the same object, and a generator dependency
is cleaned up once the connection has ended, however it ended.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar, Router, WebSocket
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ImproperlyConfiguredException, WebSocketDisconnect
from litestar.testing import TestClient

from {{ cookiecutter.package_name }} import app as app_module
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.lifecycle import DirectListener
from {{ cookiecutter.package_name }}.listener import ConnectionListener

from .support import ABRUPT_DROP, RECEIVE_TIMEOUT, TEST_SETTINGS, receive, wait_until


@dataclass
class Resource:
    """What a user's dependency might hand out per connection: a session, a lease, a handle."""

    seen_by: list[str] = field(default_factory=list)
    cleaned_up: bool = False


class Resources:
    """A generator dependency that makes one ``Resource`` each time it is resolved, and keeps
    every one it made, in order (a closure: Litestar deep-copies a router's dependencies)."""

    def __init__(self) -> None:
        self.made: list[Resource] = []
        made = self.made

        async def provide() -> AsyncIterator[Resource]:
            resource = Resource()
            made.append(resource)
            try:
                yield resource
            finally:
                resource.cleaned_up = True  # runs once the connection has ended

        self.provide = provide


class ResourceListener(DirectListener):
    """Names the ``resource`` dependency in every hook, and ``socket`` where it sends."""

    path = "/with-a-resource"

    async def on_accept(self, socket: WebSocket[Any, Any, Any], resource: Resource) -> None:
        resource.seen_by.append("on_accept")
        await socket.send_json({"accepted": True})

    async def on_receive(
        self, data: str, socket: WebSocket[Any, Any, Any], resource: Resource
    ) -> None:
        resource.seen_by.append("on_receive")
        if data == "fail":
            raise RuntimeError("a hook failed")
        await socket.send_json({"echo": data})

    async def on_disconnect(self, resource: Resource) -> None:
        resource.seen_by.append("on_disconnect")


def app_providing_on_the_app(resources: Resources) -> Litestar:
    return Litestar([ResourceListener], dependencies={"resource": Provide(resources.provide)})


def app_providing_on_a_router(resources: Resources) -> Litestar:
    router = Router(
        "/",
        route_handlers=[ResourceListener],
        dependencies={"resource": Provide(resources.provide)},
    )
    return Litestar([router])


def app_providing_on_the_listener(resources: Resources) -> Litestar:
    class ListenerProvidingIt(ResourceListener):
        dependencies = {"resource": Provide(resources.provide)}  # noqa: RUF012

    return Litestar([ListenerProvidingIt])


PROVIDERS = {
    "app": app_providing_on_the_app,
    "router": app_providing_on_a_router,
    "listener": app_providing_on_the_listener,
}


@pytest.mark.parametrize("make_app", list(PROVIDERS.values()), ids=list(PROVIDERS))
def test_a_dependency_is_one_object_per_connection_in_every_hook(
    make_app: Callable[[Resources], Litestar],
) -> None:
    """Two connections get a resource each; each hook of a connection gets that connection's."""
    resources = Resources()
    with TestClient(make_app(resources)) as client:
        with (
            client.websocket_connect(ResourceListener.path) as first,
            client.websocket_connect(ResourceListener.path) as second,
        ):
            receive(first)
            receive(second)
            for ws in (first, second, first):
                ws.send_text("hello")
                assert receive(ws) == {"echo": "hello"}
        assert wait_until(lambda: all(resource.cleaned_up for resource in resources.made))

    first_resource, second_resource = resources.made
    assert first_resource is not second_resource
    hooks = ["on_accept", "on_receive", "on_receive", "on_disconnect"]
    assert first_resource.seen_by == hooks
    assert second_resource.seen_by == ["on_accept", "on_receive", "on_disconnect"]


@pytest.mark.parametrize("ending", ["close", "abrupt drop", "hook error"])
def test_a_generator_dependency_is_cleaned_up_however_the_connection_ends(ending: str) -> None:
    """Clean-up runs after on_disconnect, after a close, a drop or an error in a hook."""
    resources = Resources()
    with TestClient(app_providing_on_the_app(resources)) as client:
        with client.websocket_connect(ResourceListener.path) as ws:
            receive(ws)
            if ending == "hook error":
                ws.send_text("fail")
                with pytest.raises(WebSocketDisconnect):
                    ws.receive_json(timeout=RECEIVE_TIMEOUT)
            else:
                ws.close(code=1000 if ending == "close" else ABRUPT_DROP)
        assert wait_until(lambda: bool(resources.made) and resources.made[0].cleaned_up)

    (resource,) = resources.made
    assert resource.seen_by[-1] == "on_disconnect"


def test_a_generator_dependency_is_cleaned_up_after_a_failed_on_accept() -> None:
    """on_accept raising still ends with on_disconnect, then the dependency's clean-up."""
    resources = Resources()

    class FailingSetUp(ResourceListener):
        async def on_accept(self, socket: WebSocket[Any, Any, Any], resource: Resource) -> None:
            resource.seen_by.append("on_accept")
            raise RuntimeError("set-up failed")

    app = Litestar([FailingSetUp], dependencies={"resource": Provide(resources.provide)})
    with TestClient(app) as client:
        with (
            client.websocket_connect(ResourceListener.path) as ws,
            pytest.raises(WebSocketDisconnect),
        ):
            ws.receive_json(timeout=RECEIVE_TIMEOUT)
        assert wait_until(lambda: bool(resources.made) and resources.made[0].cleaned_up)

    assert resources.made[0].seen_by == ["on_accept", "on_disconnect"]


def test_a_dependency_failing_before_accept_cleans_up_those_resolved_before_it() -> None:
    """A connection whose dependencies cannot all be made is refused; none is left open."""
    resources = Resources()

    def broken(resource: NamedDependency[Resource]) -> None:
        raise RuntimeError("this dependency cannot be made")  # after ``resource`` was made

    class ListenerNeedingBoth(DirectListener):
        path = "/needing-both"

        async def on_receive(self, data: str, resource: Resource, broken: None) -> None:
            resource.seen_by.append("on_receive")

    app = Litestar(
        [ListenerNeedingBoth],
        dependencies={
            "resource": Provide(resources.provide),
            "broken": Provide(broken, sync_to_thread=False),
        },
    )
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(ListenerNeedingBoth.path) as ws,
    ):
        ws.receive_json(timeout=RECEIVE_TIMEOUT)

    assert [resource.cleaned_up for resource in resources.made] == [True]
    assert resources.made[0].seen_by == []  # never accepted: no hook ran


def test_hooks_may_leave_out_what_they_do_not_use() -> None:
    """Litestar's documented shapes work: ``on_accept(self, socket)``, ``on_receive(self, data)``
    (the loop passes each hook only what it names)."""
    received: list[str] = []

    class LeanListener(DirectListener):
        path = "/lean"

        async def on_accept(self, socket: WebSocket[Any, Any, Any]) -> None:
            await socket.send_json({"accepted": True})

        async def on_receive(self, data: str) -> None:
            received.append(data)

    with (
        TestClient(Litestar([LeanListener])) as client,
        client.websocket_connect("/lean") as ws,
    ):
        assert receive(ws) == {"accepted": True}
        ws.send_text("one")
        ws.send_text("two")
        assert wait_until(lambda: received == ["one", "two"])


class NamesSomethingUnprovided(DirectListener):
    path = "/unprovided"

    async def on_receive(self, data: str, rooms: object) -> None:
        """``rooms`` is provided by nobody."""


class SyncHook(DirectListener):
    path = "/sync"

    async def on_receive(self, data: str) -> None:
        """Fine; on_disconnect is not."""

    def on_disconnect(self) -> None:  # type: ignore[override]
        """Would be called without await."""


class ReturnsAReply(DirectListener):
    path = "/returns"

    async def on_receive(self, data: str) -> str:  # type: ignore[override]
        return data  # a Litestar listener would send it; this loop would drop it


class WithoutData(DirectListener):
    path = "/without-data"

    async def on_receive(self, socket: WebSocket[Any, Any, Any]) -> None:
        """Every frame's text would have nowhere to go."""


class TakesAnything(DirectListener):
    path = "/anything"

    async def on_receive(self, data: str, **anything: Any) -> None:
        """Nobody could tell what to resolve for it."""


REFUSED = {
    "unprovided": (
        NamesSomethingUnprovided,
        r"NamesSomethingUnprovided\.on_receive: nobody provides parameter 'rooms'\."
        r" Available: socket, data, connection_registry, hub, .*settings\.",
    ),
    "sync": (SyncHook, r"SyncHook\.on_disconnect must be 'async def'"),
    "returns": (ReturnsAReply, r"ReturnsAReply\.on_receive must be annotated '-> None'"),
    "no data": (WithoutData, r"WithoutData\.on_receive must take a 'data' parameter"),
    "var-keyword": (
        TakesAnything,
        r"TakesAnything\.on_receive: parameter 'anything' is variadic keyword; name each",
    ),
}


@pytest.mark.parametrize(("listener", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_a_hook_the_loop_cannot_call_is_refused_when_the_app_is_created(
    listener: type[DirectListener], message: str
) -> None:
    """One ImproperlyConfiguredException names the hook, the parameter and what is there."""
    app = create_app(TEST_SETTINGS)

    with pytest.raises(ImproperlyConfiguredException, match=message):
        app.register(listener)


def test_create_app_refuses_a_hook_naming_what_nobody_provides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's own listener, given a hook parameter the app does not provide: the app is
    never built, and the error names the hook and the parameter."""

    class NeedsRooms(ConnectionListener):
        async def on_disconnect(self, rooms: object) -> None:  # type: ignore[override]
            """Never called: the app is refused before any connection."""

    monkeypatch.setattr(app_module, "ConnectionListener", NeedsRooms)

    with pytest.raises(
        ImproperlyConfiguredException,
        match=r"NeedsRooms\.on_disconnect: nobody provides parameter 'rooms'",
    ):
        create_app(TEST_SETTINGS)
