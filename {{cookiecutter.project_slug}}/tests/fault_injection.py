"""The real service under uvicorn, plus faults that the real-server tests can trigger.

Run as ``python -m tests.fault_injection`` from the project root, configured by the same
environment variables as the service itself.
"""

import asyncio
import functools
import gc
import inspect
import os
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from litestar import get
from litestar.di import NamedDependency

from {{ cookiecutter.package_name }} import listener
from {{ cookiecutter.package_name }}.__main__ import serve
from {{ cookiecutter.package_name }}.app import ServiceStatus, create_app
from {{ cookiecutter.package_name }}.messages import Echo, Welcome
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.state import ConnectionState
from {{ cookiecutter.package_name }}.topics import Hub

FAULT_TEXT = "please raise an injected fault"
"""An echo of exactly this text raises inside message handling."""

ACCEPT_FAULT_VARIABLE = "INJECT_ACCEPT_FAULT"
"""Set to 1 to make every on_accept fail after it registered the connection."""


class InjectedFaultError(RuntimeError):
    """The fault these helpers inject; a test that expects it can tell it from a real bug."""


def _raise_if_triggered(arguments: tuple[Any, ...], keywords: dict[str, Any]) -> None:
    if any(
        isinstance(argument, Echo) and argument.text == FAULT_TEXT
        for argument in (*arguments, *keywords.values())
    ):
        raise InjectedFaultError("injected fault in message handling")


def raising_on_fault_text(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, but raising ``InjectedFaultError`` when it is given an echo of FAULT_TEXT.

    It looks for that message among all the arguments, whatever their names and order, and
    keeps ``function`` sync or async: change ``reply_to``'s signature and the faults still work.
    """
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_with_fault(*arguments: Any, **keywords: Any) -> Any:
            _raise_if_triggered(arguments, keywords)
            return await function(*arguments, **keywords)

        return async_with_fault

    @functools.wraps(function)
    def with_fault(*arguments: Any, **keywords: Any) -> Any:
        _raise_if_triggered(arguments, keywords)
        return function(*arguments, **keywords)

    return with_fault


def failing_welcome(*arguments: Any, **keywords: Any) -> Welcome:
    raise InjectedFaultError("injected fault in on_accept, after registration")


LIVE_OBJECTS_PATH = "/test-only/live-objects"


@get(LIVE_OBJECTS_PATH, sync_to_thread=False)
def live_objects(hub: NamedDependency[Hub]) -> dict[str, int]:
    """What the server still holds: asyncio tasks, ConnectionStates anywhere in memory, and
    topics with subscribers.

    Served by the test server only. After every connection has ended, a leaked connection shows
    here exactly (its state, its outbox's sending task), where RSS would only hint at it.
    """
    gc.collect()
    return {
        "tasks": len(asyncio.all_tasks()),
        "connection_states": sum(isinstance(item, ConnectionState) for item in gc.get_objects()),
        "topics": len(list(hub.topics())),
    }


def main() -> None:
    with ExitStack() as faults:
        faults.enter_context(
            patch.object(listener, "reply_to", raising_on_fault_text(listener.reply_to))
        )
        if os.environ.get(ACCEPT_FAULT_VARIABLE) == "1":
            faults.enter_context(patch.object(listener, "Welcome", failing_welcome))
        settings = Settings.from_env()
        service_status = ServiceStatus()
        app = create_app(settings, service_status)
        app.register(live_objects)
        serve(settings, app, service_status)


if __name__ == "__main__":
    main()
