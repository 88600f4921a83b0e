"""The handshake checks and the rate limit, as a real client sees them from a real uvicorn."""

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from {{ cookiecutter.package_name }}.settings import Settings

from .fault_injection import ACCEPT_FAULT_VARIABLE, FAULT_TEXT
from .server import (
    ServerProcess,
    StartServer,
    close_code_received,
    echo,
    open_client,
    receive,
    refused_status,
)
from .support import RECEIVE_TIMEOUT, wait_until

pytestmark = pytest.mark.server


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:1"])
def test_foreign_origin_gets_403_and_one_log_line(server: ServerProcess, origin: str) -> None:
    """A foreign page, a file:// page (Origin null) or a look-alike host gets HTTP 403."""
    log_start = len(server.log())
    assert asyncio.run(refused_status(server, origin)) == 403
    assert wait_until(lambda: server.log()[log_start:].count(f"from origin {origin!r}") == 1)


def test_own_origin_and_programs_are_accepted(server: ServerProcess) -> None:
    """The service's own origin (its Host) and a client without Origin both get in."""

    async def run() -> list[str]:
        async with (
            open_client(server, origin=server.url) as own_page,
            open_client(server) as program,
        ):
            return [(await receive(own_page))["type"], (await receive(program))["type"]]

    assert asyncio.run(run()) == ["welcome", "welcome"]


def test_allowed_origin_is_accepted(start_server_process: StartServer) -> None:
    """An origin listed in ALLOWED_ORIGINS gets in; an unlisted one still gets 403."""
    server = start_server_process({"ALLOWED_ORIGINS": "https://app.example.com"})

    async def run() -> None:
        async with open_client(server, origin="https://app.example.com") as ws:
            assert (await receive(ws))["type"] == "welcome"
        assert await refused_status(server, "https://other.example.com") == 403

    asyncio.run(run())


async def open_once_a_slot_is_free(server: ServerProcess) -> ClientConnection:
    """A welcomed connection, retrying on 503 for a moment: a closed connection's slot comes
    back once the server has finished with it, a little after the client saw it close."""
    deadline = asyncio.get_running_loop().time() + RECEIVE_TIMEOUT
    while True:
        try:
            ws = await open_client(server)
        except InvalidStatus as refused:
            if refused.response.status_code != 503 or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)
        else:
            await receive(ws)
            return ws


def test_connection_cap_gives_503_and_every_ending_frees_a_slot(
    start_server_process: StartServer,
) -> None:
    """With MAX_CONNECTIONS open the next client gets 503; a close, a drop or an error frees one."""
    cap = 5
    server = start_server_process({"MAX_CONNECTIONS": str(cap)})
    server.expected_tracebacks = 1  # the handler error below

    async def fill(clients: list[ClientConnection]) -> None:
        while len(clients) < cap:
            clients.append(await open_once_a_slot_is_free(server))
        assert await refused_status(server) == 503

    async def run() -> None:
        clients: list[ClientConnection] = []
        await fill(clients)

        await clients.pop().close()  # a clean close
        await fill(clients)

        clients.pop().transport.abort()  # a dropped TCP connection
        await fill(clients)

        victim = clients.pop()  # a handler error: the server closes with 1011
        await victim.send(json.dumps({"type": "echo", "text": FAULT_TEXT}))
        assert await close_code_received(victim) == 1011
        await fill(clients)

        for ws in clients:
            await ws.close()

    asyncio.run(run())
    assert wait_until(lambda: server.live_connections() == 0)
    refusals = server.metrics()['websocket_handshakes_total{outcome="capacity"}']
    assert refusals >= 4  # one for each fill above, and any retry of open_once_a_slot_is_free
    # A flood of refusals logs one line per interval, and nothing from uvicorn about them.
    assert server.log().count("(MAX_CONNECTIONS)") == 1
    assert "without completing handshake" not in server.log()


def test_failed_set_up_frees_its_slot(start_server_process: StartServer) -> None:
    """Connections whose on_accept fails give their slot back: the next one is not refused."""
    server = start_server_process({"MAX_CONNECTIONS": "1"}, {ACCEPT_FAULT_VARIABLE: "1"})
    attempts = 5
    server.expected_tracebacks = attempts

    async def run() -> None:
        for _ in range(attempts):
            async with open_client(server) as ws:  # a 503 would raise here
                await close_code_received(ws)

    asyncio.run(run())
    assert wait_until(lambda: server.log().count("set-up failed") == attempts)


def test_burst_over_the_rate_limit_gets_error_frames(start_server_process: StartServer) -> None:
    """With the default limit, 1,000 messages at once get replies up to the burst, then errors;
    the connection stays open, and the refused messages changed nothing."""
    server = start_server_process()
    defaults = Settings()
    burst = 1000

    async def run() -> tuple[list[dict[str, object]], dict[str, object]]:
        async with open_client(server) as ws:
            await receive(ws)
            for number in range(burst):
                await ws.send(json.dumps({"type": "echo", "text": str(number)}))
            replies = [await receive(ws) for _ in range(burst)]
            await asyncio.sleep(1.5 / defaults.rate_limit)  # earn one message back
            return replies, await echo(ws, "after the burst")

    replies, after = asyncio.run(run())

    echoes = [reply for reply in replies if reply["type"] == "echo"]
    errors = [reply for reply in replies if reply["type"] == "error"]
    assert len(echoes) + len(errors) == burst
    assert defaults.rate_burst <= len(echoes) < defaults.rate_burst + defaults.rate_limit
    assert [reply["count"] for reply in echoes] == list(range(1, len(echoes) + 1))
    assert all(f"{defaults.rate_limit:g} messages per second" in str(e["detail"]) for e in errors)
    assert after["count"] == len(echoes) + 1


def test_compression_is_not_negotiated_unless_turned_on(server: ServerProcess) -> None:
    """A client that offers permessage-deflate (every browser does) gets plain frames."""

    async def extensions() -> str | None:
        async with open_client(server, compression=True) as ws:
            assert ws.response is not None
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    assert asyncio.run(extensions()) is None


def test_a_deflate_bomb_closes_with_1009_before_it_is_inflated(
    start_server_process: StartServer,
) -> None:
    """With COMPRESSION on, a frame of a few KiB that would inflate to 64 MiB closes with 1009
    as soon as it passes MAX_MESSAGE_SIZE: the process never holds the inflated text."""
    server = start_server_process({"COMPRESSION": "true"})
    inflated = 64 * 1024 * 1024
    max_message_size = Settings().max_message_size

    async def run() -> tuple[int | None, int]:
        async with open_client(server, compression=True) as ws:
            await receive(ws)
            assert (await echo(ws, "warm up"))["type"] == "echo"  # the inflater exists now
            before = server.rss_bytes()
            assert before is not None
            await ws.send("0" * inflated)  # deflate makes it about 64 KiB on the wire
            code = await close_code_received(ws)
            after = server.rss_bytes()
            assert after is not None
        return code, after - before

    code, growth = asyncio.run(run())

    assert code == 1009
    assert growth < 16 * max_message_size, f"grew by {growth} bytes"
