"""What an operator sees at ``GET /metrics``: connections, handshakes, messages, topics.

Litestar's Prometheus middleware counts a WebSocket as one HTTP request that took no time, and
its logging middleware sees HTTP only, so the service counts its connections itself.

Counting costs an integer increment where it happens; the numbers become Prometheus metrics
only when ``/metrics`` is read (``MetricsCollector``). What each connection counts for itself
(frames sent, whether it was shed, its subscriptions) stays in its own state and is added up
at that moment, plus what the connections that ended left behind. No label carries a
connection id, a user or a topic: a label that grows with the users makes a metric unusable.

With several worker processes behind one port, each scrape reaches one of them: run one
process per container (or per port) to scrape them all.
"""

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:  # (which import this module)
    from .registry import ConnectionRegistry
    from .state import ConnectionState
    from .topics import Hub

HANDSHAKE_OUTCOMES = ("accepted", "origin", "capacity", "auth")
INVALID = "invalid"
"""The ``type`` label of a frame that is not a valid message."""


class Metrics:
    """The app's counters, shared by every connection on purpose (provided as ``metrics``).

    Every hook runs on the event loop, so plain integers need no lock.
    """

    def __init__(self) -> None:
        self.handshakes: Counter[str] = Counter()
        """By outcome: ``accepted``, or refused before accept for ``origin``, ``capacity``
        or ``auth``."""
        self.disconnects: Counter[int] = Counter()
        self.received: Counter[type[msgspec.Struct] | None] = Counter()
        """Valid messages by class; ``None`` counts the invalid frames."""
        self.rate_limited = 0
        self.published: Counter[str] = Counter()
        # Left behind by the connections that ended (the live ones count for themselves).
        self.ended_sent = 0
        self.ended_shed = 0

    def connection_ended(self, connection_state: "ConnectionState", close_code: int) -> None:
        self.disconnects[close_code] += 1
        self.ended_sent += connection_state.outbox.sent
        self.ended_shed += connection_state.outbox.shed


def message_type(kind: type[msgspec.Struct] | None) -> str:
    """The ``type`` a message class has on the wire; ``invalid`` for a frame that is none."""
    return INVALID if kind is None else str(kind.__struct_config__.tag)


def by_label(
    name: str, documentation: str, label: str, counts: Mapping[object, int]
) -> CounterMetricFamily:
    """A counter with one sample per value of ``label``, from a bounded set of values."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([str(value)], count)
    return family


class MetricsCollector(Collector):
    """Turns the counters and the live connections into Prometheus metrics, when scraped."""

    def __init__(self, metrics: Metrics, registry: "ConnectionRegistry", hub: "Hub") -> None:
        self._metrics = metrics
        self._registry = registry
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        live = list(self._registry)
        yield GaugeMetricFamily(
            "websocket_connections", "WebSocket connections open now", value=len(live)
        )
        yield by_label(
            "websocket_handshakes",
            "WebSocket handshakes, by outcome",
            "outcome",
            {outcome: metrics.handshakes[outcome] for outcome in HANDSHAKE_OUTCOMES},
        )
        yield by_label(
            "websocket_disconnects",
            "Ended WebSocket connections, by close code",
            "code",
            dict(sorted(metrics.disconnects.items())),
        )
        yield by_label(
            "websocket_messages_received",
            "Frames received, by message type ('invalid': not a valid message)",
            "type",
            {message_type(kind): count for kind, count in metrics.received.items()},
        )
        yield CounterMetricFamily(
            "websocket_messages_sent",
            "Frames sent to clients (replies, topic messages, broadcasts)",
            value=metrics.ended_sent + sum(state.outbox.sent for state in live),
        )
        yield CounterMetricFamily(
            "websocket_rate_limited",
            "Frames refused for going over a connection's rate limit",
            value=metrics.rate_limited,
        )
        yield CounterMetricFamily(
            "websocket_shed",
            "Connections closed with 1013 for falling too far behind",
            value=metrics.ended_shed + sum(state.outbox.shed for state in live),
        )
        yield GaugeMetricFamily(
            "websocket_topic_subscriptions",
            "Topic subscriptions of the open connections",
            value=sum(len(state.subscriptions) for state in live),
        )
        yield by_label(
            "websocket_published",
            "Topic publishes, by outcome",
            "outcome",
            {outcome: metrics.published[outcome] for outcome in ("ok", "refused")},
        )
{% if cookiecutter.broadcast == "redis" %}
        yield GaugeMetricFamily(
            "websocket_broadcast_backend_up",
            "1 while this process's subscription to Redis is up",
            value=int(self._hub.health().available),
        )
{% endif %}


def prometheus_registry(
    metrics: Metrics, registry: "ConnectionRegistry", hub: "Hub"
) -> CollectorRegistry:
    """A Prometheus registry of this app's own (not the process-wide default one, so that two
    apps in one process, as in the tests, never mix their numbers)."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(MetricsCollector(metrics, registry, hub))
    return collectors


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics_endpoint(prometheus: NamedDependency[CollectorRegistry]) -> Response[bytes]:
    """The metrics in Prometheus text format (``METRICS=false`` leaves this route out)."""
    return Response(
        generate_latest(prometheus), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
