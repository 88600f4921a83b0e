"""A broadcast reaches every live connection, the sender's too; per-connection parts go away."""

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from .support import ABRUPT_DROP, connect, live_connections, receive, registry_of, wait_until


def test_broadcast_reaches_every_connection_sender_included(
    bus_client: TestClient[Litestar],
) -> None:
    """Every open connection gets the frame once, naming the sender; the sender counts it."""
    with connect(bus_client) as sender, connect(bus_client) as first, connect(bus_client) as second:
        sender_id = receive(sender)["connection_id"]
        receive(first)
        receive(second)

        sender.send_json({"type": "broadcast", "text": "hello, all ✓"})
        frames = [receive(sender), receive(first), receive(second)]
        sender.send_json({"type": "echo", "text": "after"})
        after = receive(sender)

    expected = {"type": "broadcast", "text": "hello, all ✓", "from": sender_id}
    assert frames == [expected] * 3
    assert after["count"] == 2


def test_broadcasts_from_one_sender_arrive_in_order(bus_client: TestClient[Litestar]) -> None:
    """A receiver sees one sender's broadcasts in the order they were sent, mixed with replies."""
    with connect(bus_client) as sender, connect(bus_client) as receiver:
        receive(sender)
        receive(receiver)
        for number in range(20):
            sender.send_json({"type": "broadcast", "text": str(number)})
            receiver.send_json({"type": "ping"})
        frames = [receive(receiver) for _ in range(40)]
        own_copies = [receive(sender)["text"] for _ in range(20)]

    texts = [frame["text"] for frame in frames if frame["type"] == "broadcast"]
    assert texts == own_copies == [str(number) for number in range(20)]
    assert [frame["type"] for frame in frames].count("pong") == 20


def test_broadcast_with_a_bad_field_gets_an_error_and_reaches_no_one(
    bus_client: TestClient[Litestar],
) -> None:
    """A malformed broadcast is answered with an error frame and sent to no connection."""
    with connect(bus_client) as sender, connect(bus_client) as receiver:
        receive(sender)
        receive(receiver)
        sender.send_json({"type": "broadcast", "text": 42})
        error = receive(sender)
        receiver.send_json({"type": "ping"})
        next_for_receiver = receive(receiver)

    assert error["type"] == "error"
    assert next_for_receiver == {"type": "pong"}


@pytest.mark.parametrize("close_code", [1000, ABRUPT_DROP], ids=["close", "abrupt drop"])
def test_per_connection_parts_are_gone_after_the_connection(
    bus_app: Litestar, bus_client: TestClient[Litestar], close_code: int
) -> None:
    """An outbox holds a sending task only while broadcasts wait, and nothing after its end."""
    registry = registry_of(bus_app)
    with connect(bus_client) as ws:
        connection_id = receive(ws)["connection_id"]
        connection_state = registry.get(connection_id)
        assert connection_state is not None
        assert connection_state.outbox.accepting
        ws.send_json({"type": "broadcast", "text": "to all, me too"})
        assert receive(ws)["type"] == "broadcast"
        # Sent: the task that sent it ends, so an idle connection holds no task.
        assert wait_until(lambda: not connection_state.outbox.sending)
        ws.close(code=close_code)

    assert wait_until(lambda: not connection_state.outbox.accepting)
    assert wait_until(lambda: live_connections(bus_client) == 0)
    connection_state.outbox.offer('{"type": "broadcast"}')  # too late: dropped, not queued
    assert connection_state.outbox.queued == 0
    assert not connection_state.outbox.sending
