"""The real service under uvicorn, plus faults that the real-server tests can trigger.

Run as ``python -m tests.fault_injection`` from the project root, configured by the same
environment variables as the service itself.
"""

import os
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from {{ cookiecutter.package_name }} import listener
from {{ cookiecutter.package_name }}.__main__ import serve
from {{ cookiecutter.package_name }}.messages import (
    ClientMessage,
    Echo,
    ServerMessage,
    Welcome,
)
from {{ cookiecutter.package_name }}.settings import Settings

FAULT_TEXT = "please raise an injected fault"
"""An echo of exactly this text raises inside message handling."""

ACCEPT_FAULT_VARIABLE = "INJECT_ACCEPT_FAULT"
"""Set to 1 to make every on_accept fail after it registered the connection."""

_real_reply_to = listener.reply_to


async def reply_to_with_fault(message: ClientMessage, *args: Any) -> ServerMessage | None:
    """``reply_to``, except that an echo of ``FAULT_TEXT`` raises."""
    if isinstance(message, Echo) and message.text == FAULT_TEXT:
        raise RuntimeError("injected fault in message handling")
    return await _real_reply_to(message, *args)


def failing_welcome(connection_id: str) -> Welcome:
    raise RuntimeError("injected fault in on_accept, after registration")


def main() -> None:
    with ExitStack() as faults:
        faults.enter_context(patch.object(listener, "reply_to", reply_to_with_fault))
        if os.environ.get(ACCEPT_FAULT_VARIABLE) == "1":
            faults.enter_context(patch.object(listener, "Welcome", failing_welcome))
        serve(Settings.from_env())


if __name__ == "__main__":
    main()
