"""``/metrics`` and ``/health/ready``: each path a connection can take moves its own counter."""

import asyncio
import json
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from {{ cookiecutter.package_name }}.app import ServiceStatus, create_app

from .server import StartServer, echo, open_client, open_raw_socket, refused_status
from .server import receive as receive_from_server
from .support import (
    RECEIVE_TIMEOUT,
    TEST_SETTINGS,
    connect,
    live_connections,
    metrics_of,
    provided,
    receive,
    wait_until,
)

TOPIC = "room:metrics"


def test_each_path_of_a_connection_moves_its_counter(bus_client: TestClient[Litestar]) -> None:
    """A refused origin, an echo, a bad frame, a subscription, a publish and a refused one,
    then a close: each counter moves by exactly what happened, and the gauges come back."""
    with (
        pytest.raises(WebSocketDisconnect),
        connect(bus_client, {"Origin": "https://evil.example"}),
    ):
        pass
    with connect(bus_client) as ws:
        receive(ws)  # welcome
        ws.send_text(json.dumps({"type": "echo", "text": "hi"}))
        receive(ws)
        ws.send_text("not json")
        assert receive(ws)["type"] == "error"
        ws.send_text(json.dumps({"type": "subscribe", "topic": TOPIC}))
        assert receive(ws)["type"] == "subscribed"
        ws.send_text(json.dumps({"type": "publish", "topic": TOPIC, "text": "hello"}))
        assert receive(ws)["type"] == "message"
        ws.send_text(json.dumps({"type": "publish", "topic": "two words", "text": "x"}))
        assert receive(ws)["type"] == "error"
        while_open = metrics_of(bus_client)
    assert wait_until(lambda: live_connections(bus_client) == 0)
    ended = metrics_of(bus_client)

    assert while_open["websocket_connections"] == 1
    assert while_open["websocket_topic_subscriptions"] == 1
    assert ended["websocket_connections"] == 0
    assert ended["websocket_topic_subscriptions"] == 0
    assert ended['websocket_handshakes_total{outcome="origin"}'] == 1
    assert ended['websocket_handshakes_total{outcome="accepted"}'] == 1
    assert ended['websocket_messages_received_total{type="echo"}'] == 1
    assert ended['websocket_messages_received_total{type="invalid"}'] == 1
    assert ended['websocket_messages_received_total{type="subscribe"}'] == 1
    assert ended['websocket_messages_received_total{type="publish"}'] == 2
    assert ended['websocket_published_total{outcome="ok"}'] == 1
    assert ended['websocket_published_total{outcome="refused"}'] == 1
    # welcome, echo, error, subscribed, message, error: counted while open and after the end.
    sent_while_open, sent_in_the_end = (
        counted["websocket_messages_sent_total"] for counted in (while_open, ended)
    )
    assert sent_while_open == sent_in_the_end == 6
    assert ended['websocket_disconnects_total{code="1000"}'] == 1
    assert ended["websocket_rate_limited_total"] == ended["websocket_shed_total"] == 0


def test_labels_never_carry_ids_or_topic_names(bus_client: TestClient[Litestar]) -> None:
    """A label that grows with connections, users or topics would make the metrics unusable."""
    with connect(bus_client) as ws:
        connection_id = receive(ws)["connection_id"]
        ws.send_text(json.dumps({"type": "subscribe", "topic": TOPIC}))
        receive(ws)
        text = bus_client.get("/metrics").text

    assert connection_id not in text
    assert TOPIC not in text
    assert "# TYPE websocket_connections gauge" in text


def test_refusals_for_capacity_and_rate_limit_are_counted() -> None:
    app = create_app(replace(TEST_SETTINGS, max_connections=1, rate_limit=1.0, rate_burst=2))
    with TestClient(app) as client, connect(client) as ws:
        receive(ws)
        with pytest.raises(WebSocketDisconnect), connect(client) as refused:
            refused.receive_json(timeout=RECEIVE_TIMEOUT)
        for _ in range(4):  # two within the burst, then two over it
            ws.send_text(json.dumps({"type": "ping"}))
            receive(ws)
        counted = metrics_of(client)

    assert counted['websocket_handshakes_total{outcome="capacity"}'] == 1
    assert counted["websocket_rate_limited_total"] == 2
    assert counted['websocket_messages_received_total{type="ping"}'] == 2


def test_metrics_can_be_turned_off() -> None:
    with TestClient(create_app(replace(TEST_SETTINGS, metrics=False))) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/health").status_code == 200


def test_ready_until_the_app_shuts_down(bus_app: Litestar) -> None:
    """``/health/ready`` says 200 while the app takes connections, 503 once shutdown begins."""
    service_status = provided(bus_app, "service_status")
    assert isinstance(service_status, ServiceStatus)
    with TestClient(bus_app) as client:
        assert wait_until(lambda: client.get("/health/ready").status_code == 200)
        assert client.get("/health/ready").json() == {"ready": True, "reason": "taking connections"}
        service_status.stopping = True  # as the lifespan does when shutdown begins
        stopping = client.get("/health/ready")
        service_status.stopping = False  # so that the lifespan's own end shows below
    assert (stopping.status_code, stopping.json()) == (
        503,
        {"ready": False, "reason": "shutting down"},
    )
    assert service_status.stopping  # the lifespan ended: shutdown began


{% if cookiecutter.broadcast == "redis" %}
def test_not_ready_while_redis_is_unreachable(client: TestClient[Litestar]) -> None:
    """A load balancer should send new connections elsewhere: their broadcasts would be lost."""
    not_ready = client.get("/health/ready")

    assert not_ready.status_code == 503
    assert not_ready.json()["reason"].startswith("Redis is unreachable")
    assert metrics_of(client)["websocket_broadcast_backend_up"] == 0


{% endif %}
@pytest.mark.server
def test_metrics_under_uvicorn_follow_a_refusal_an_echo_a_bad_frame_a_close_and_a_drop(
    start_server_process: StartServer,
) -> None:
    server = start_server_process()

    async def run() -> None:
        assert await refused_status(server, origin="https://evil.example") == 403
        async with open_client(server) as ws:
            await receive_from_server(ws)
            await echo(ws, "hello")
            await ws.send("not json")
            assert (await receive_from_server(ws))["type"] == "error"
        _, writer = await open_raw_socket(server)
        writer.transport.abort()  # gone without a close frame

    asyncio.run(run())
    assert wait_until(lambda: server.metrics()["websocket_connections"] == 0)
    counted = server.metrics()

    assert counted['websocket_handshakes_total{outcome="origin"}'] == 1
    assert counted['websocket_handshakes_total{outcome="accepted"}'] == 2
    assert counted['websocket_messages_received_total{type="echo"}'] == 1
    assert counted['websocket_messages_received_total{type="invalid"}'] == 1
    assert counted['websocket_disconnects_total{code="1000"}'] == 1
    assert counted['websocket_disconnects_total{code="1005"}'] == 1  # uvicorn's code for a drop
    assert counted["websocket_messages_sent_total"] == 4  # two welcomes, the echo, the error
