"""Logs under uvicorn: JSON lines an operator can search by connection, or text at a terminal."""

import asyncio
import json

import pytest

from .server import StartServer, echo, open_client, receive
{% if cookiecutter.auth == "jwt" %}
from .support import TEST_USER, wait_until
{% else %}
from .support import wait_until
{% endif %}

pytestmark = pytest.mark.server


def test_json_logs_are_one_object_per_line_with_the_connection_on_its_lines(
    start_server_process: StartServer,
) -> None:
    server = start_server_process({"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})

    async def run() -> str:
        async with open_client(server) as ws:
            connection_id = (await receive(ws))["connection_id"]
            await echo(ws, "hello")
        return str(connection_id)

    connection_id = asyncio.run(run())
    assert wait_until(lambda: bool(server.logged("connection ended", connection_id=connection_id)))

    records = [json.loads(line) for line in server.log().splitlines()]  # each line, one object
    assert all({"timestamp", "level", "logger", "event"} <= record.keys() for record in records)
    assert any(record["logger"].startswith("uvicorn") for record in records)  # uvicorn's too
    # Logged by the hooks without naming the connection: the context carries it.
    assert server.logged("accepted", connection_id=connection_id)
    (ended,) = server.logged("connection ended", connection_id=connection_id)
    assert (ended["code"], ended["messages_in"], ended["messages_out"]) == (1000, 1, 2)
    assert 0 <= ended["duration"] < 60
{% if cookiecutter.auth == "jwt" %}
    assert ended["user"] == TEST_USER
{% endif %}


def test_text_logs_name_the_connection_in_brackets(start_server_process: StartServer) -> None:
    server = start_server_process({"LOG_FORMAT": "text"})

    async def run() -> str:
        async with open_client(server) as ws:
            return str((await receive(ws))["connection_id"])

    connection_id = asyncio.run(run())
    ended = f"[{connection_id}] connection ended code=1000"
    assert wait_until(lambda: ended in server.log())
    assert not server.log_records()  # not a JSON line in it
