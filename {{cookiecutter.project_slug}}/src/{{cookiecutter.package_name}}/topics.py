"""Topics (rooms, channels, groups): who listens to what, and delivery to them.

ONE ``Hub`` per app, shared by every connection on purpose and provided to the hooks and HTTP
handlers as ``hub`` (app.py). What a connection is subscribed to is per-connection state: the
set ``ConnectionState.subscriptions``, which ``on_disconnect`` hands back with ``leave_all``.

Server code publishes with one call, from a hook or an HTTP handler alike::

    await hub.publish("room:42", "the meeting starts now")  # "from": "server"

The bus (broadcast.py) numbers each message (``offset`` counts a topic's messages from 1, in
the order every subscriber receives them) and carries it to every process that has subscribers
of its topic{% if cookiecutter.broadcast == "local" %} (with broadcast=local, to this process alone){% endif %}.

Topic messages and broadcasts reach connections through one path, ``Hub.fan_out``: each
connection's outbox, so a client that falls behind is shed (outbox.py) and delays no one.

No subscriber has a silent gap: it gets a topic's messages with consecutive offsets, or a
``subscribed`` frame with ``recovered: false`` that says where the topic stands now. A client
that was away resumes with ``since``: the bus keeps each topic's recent messages for it.
"""

{% if cookiecutter.broadcast == "redis" %}
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
{% else %}
from collections.abc import Iterable, Iterator
{% endif %}

{% if cookiecutter.broadcast == "redis" %}
from .broadcast import Bus, BusHealth, Joined
{% else %}
from .broadcast import Bus, BusHealth
{% endif %}
from .messages import (
    SERVER,
    BroadcastFrame,
    Refused,
    Since,
    Subscribed,
    check_topic_name,
    encode_server_message,
)
from .metrics import Metrics
from .registry import ConnectionRegistry
from .settings import Settings
from .state import ConnectionState


class _Subscribers:
    """The connections of this process subscribed to one topic."""

{% if cookiecutter.broadcast == "redis" %}
    __slots__ = ("epoch", "joining", "live", "offset", "sent_up_to")
{% else %}
    __slots__ = ("joining", "live", "sent_up_to")
{% endif %}

    def __init__(self) -> None:
        self.live: dict[str, ConnectionState] = {}
        # Connections whose ``subscribed`` reply is not sent yet, with the messages that came
        # meanwhile: those newer than the reply's offset follow it.
        self.joining: dict[str, list[tuple[int, str]]] = {}
        # Live ones that were just sent the topic up to an offset (in their reply or a catch-up)
        # that the bus may still be delivering here: those messages are not sent to them again.
        self.sent_up_to: dict[str, int] = {}
{% if cookiecutter.broadcast == "redis" %}
        # Where the live ones are, for a catch-up after an outage (``resync``): the epoch they
        # were told, the last offset delivered to them.
        self.epoch = ""
        self.offset = 0
{% endif %}

    def __bool__(self) -> bool:
        return bool(self.live or self.joining)


class Hub:
    """Subscribes connections to topics, publishes on topics, and delivers to connections."""

    def __init__(self, registry: ConnectionRegistry, settings: Settings, metrics: Metrics) -> None:
        self._registry = registry
        self._metrics = metrics
        self._max_subscriptions = settings.max_subscriptions
        self._topics: dict[str, _Subscribers] = {}
        self._bus = Bus(self, settings)

    async def subscribe(
        self, connection_state: ConnectionState, topic: str, since: Since | None = None
    ) -> None:
        """Send the connection ``subscribed``, then the topic's messages; or raise ``Refused``.

        With ``since`` (where the client left off), the reply says whether the messages after it
        could be recovered from the topic's history: if so, they come first, in offset order.
        Subscribing again to a topic only repeats the ``subscribed`` reply.
        """
        check_topic_name(topic)
        subscriptions = connection_state.subscriptions
        if topic not in subscriptions and len(subscriptions) >= self._max_subscriptions:
            raise Refused(
                f"subscribe to {topic!r} refused: this connection has {len(subscriptions)}"
                " subscriptions, the most it may have (MAX_SUBSCRIPTIONS)"
            )
        if topic in subscriptions:
            joined = await self._bus.join(topic, None)
            await self._send(connection_state, Subscribed(topic, joined.epoch, joined.offset))
            return
        subscribers = self._topics.setdefault(topic, _Subscribers())
        connection_id = connection_state.connection_id
        subscribers.joining[connection_id] = []
        subscriptions.add(topic)
        try:
            # In this order, so that nothing falls between the reply and the live messages:
            # receive the topic first (what comes meanwhile waits in ``joining``), then read
            # where it stands, reply, and send what came meanwhile that is newer.
            await self._bus.listen(topic)
            joined = await self._bus.join(topic, since)
            recovered = joined.missed is not None
            reply = Subscribed(topic, joined.epoch, joined.offset, recovered=recovered)
            await self._send(connection_state, reply)
            for frame in joined.missed or ():  # one at a time: a long catch-up is never shed
                await connection_state.outbox.send(frame)
        except BaseException:
            await self._leave(connection_state, topic)
            raise
        self._go_live(subscribers, connection_state, joined.offset)
{% if cookiecutter.broadcast == "redis" %}
        subscribers.epoch = joined.epoch
        subscribers.offset = max(subscribers.offset, joined.offset)
{% endif %}

{% if cookiecutter.broadcast == "redis" %}
    def resync(self) -> Coroutine[None, None, None]:
        """After the bus's subscription was down: catch every subscriber up on what was
        published meanwhile, from the topic's history; where that cannot be done (the history
        was lost or trimmed), tell it where the topic stands now, with a ``subscribed`` frame
        (``recovered: false``). So a subscriber either sees consecutive offsets or is told.

        Call it as the subscription is back, before any message on it is delivered: what comes
        from then on waits until the subscriber is caught up. Run what it returns as a task.
        """
        held = []
        for topic, subscribers in self._topics.items():
            rejoining = subscribers.live
            subscribers.live = {}
            for connection_id in rejoining:
                subscribers.joining[connection_id] = []
            since = Since(subscribers.epoch, subscribers.offset)  # the last they were sent
            held.append((topic, subscribers, rejoining, since))
        return self._catch_up(held)

    async def _catch_up(
        self, held: list[tuple[str, _Subscribers, dict[str, ConnectionState], Since]]
    ) -> None:
        for topic, subscribers, rejoining, since in held:
            try:
                joined, told = await self._rejoin(topic, since)
            except Refused:
                sent_up_to = 0  # down again: the next resync catches them up
            else:
                if told is not None:
                    self.fan_out(encode_server_message(told), rejoining.values())
                for frame in joined.missed or ():
                    self.fan_out(frame, rejoining.values())
                subscribers.epoch = joined.epoch
                subscribers.offset = max(subscribers.offset, joined.offset)
                sent_up_to = joined.offset
            for connection_id, connection_state in rejoining.items():
                if connection_id in subscribers.joining:  # else it left meanwhile
                    self._go_live(subscribers, connection_state, sent_up_to)

    async def _rejoin(self, topic: str, since: Since) -> tuple[Joined, Subscribed | None]:
        """Where the topic stands after ``since``, and what to tell subscribers that cannot be
        caught up (``None`` if they can)."""
        joined = await self._bus.join(topic, since)
        if joined.missed is not None:
            return joined, None
        if joined.epoch != since.epoch:
            # Redis lost the topic and it started afresh while we were away: everything in
            # its new history is news to these subscribers too.
            afresh = await self._bus.join(topic, Since(joined.epoch, 0))
            if afresh.missed is not None:
                return afresh, Subscribed(topic, afresh.epoch, 0)
        return joined, Subscribed(topic, joined.epoch, joined.offset)

{% endif %}
    async def unsubscribe(self, connection_state: ConnectionState, topic: str) -> None:
        """Stop the topic's messages to this connection; unsubscribing twice is harmless."""
        check_topic_name(topic)
        await self._leave(connection_state, topic)

    async def leave_all(self, connection_state: ConnectionState) -> None:
        """Release every subscription of a connection that ends; safe to call twice."""
        for topic in list(connection_state.subscriptions):
            await self._leave(connection_state, topic)

    async def publish(
        self, topic: str, text: str, *, from_: str = SERVER, exclude: str | None = None
    ) -> None:
        """Send ``text`` to every subscriber of ``topic`` in every process, except the
        connection whose id is ``exclude``; raise ``Refused`` if the bus cannot take it."""
        try:
            check_topic_name(topic)
            await self._bus.publish(topic, text, from_, exclude)
        except Refused:
            self._metrics.published["refused"] += 1
            raise
        self._metrics.published["ok"] += 1

    def refuse_publish(self, topic: str, why: str) -> Refused:
        """The refusal of a publish that is not even tried (``may_publish``), counted as one."""
        self._metrics.published["refused"] += 1
        return Refused(f"publish on {topic!r} refused: {why}")

    async def broadcast(self, frame: BroadcastFrame) -> None:
        """Send ``frame`` to every connection of every process; raise ``Refused`` if the bus
        cannot take it."""
        await self._bus.broadcast(encode_server_message(frame))

    def health(self) -> BusHealth:
        return self._bus.health()
{% if cookiecutter.broadcast == "redis" %}

    def running(self, *_: object) -> AbstractAsyncContextManager[None]:
        """App lifespan: the bus runs from start-up to shutdown."""
        return self._bus.running()
{% endif %}

    # What the bus delivers, in this process:

    def deliver(self, topic: str, offset: int, frame: str, exclude: str | None) -> None:
        """Queue a topic message for its subscribers here (those joining keep it for later)."""
        subscribers = self._topics.get(topic)
        if subscribers is None:
            return
{% if cookiecutter.broadcast == "redis" %}
        subscribers.offset = offset
{% endif %}
        for connection_id, waiting in subscribers.joining.items():
            if connection_id != exclude:
                waiting.append((offset, frame))
        if not subscribers.sent_up_to:
            self.fan_out(frame, subscribers.live.values(), exclude)
            return
        # Some were just sent the topic up to an offset: not this message again, if older.
        already_sent = set()
        for connection_id, sent_up_to in list(subscribers.sent_up_to.items()):
            if offset <= sent_up_to:
                already_sent.add(connection_id)
            else:
                del subscribers.sent_up_to[connection_id]  # in order from here on
        recipients = subscribers.live.values()
        self.fan_out(frame, (c for c in recipients if c.connection_id not in already_sent), exclude)

    def deliver_to_all(self, frame: str) -> None:
        """Queue a broadcast for every connection here."""
        self.fan_out(frame, self._registry)

    def fan_out(
        self, frame: str, connections: Iterable[ConnectionState], exclude: str | None = None
    ) -> None:
        """The one way out to many connections: queue ``frame`` in each outbox, waiting for
        none (a connection too far behind is shed, see outbox.py)."""
        for connection_state in connections:
            if connection_state.connection_id != exclude:
                connection_state.outbox.offer(frame)

    def topics(self) -> Iterator[str]:
        """The topics that connections of this process are subscribed to."""
        return iter(self._topics)

    def subscriber_count(self, topic: str) -> int:
        """How many connections of this process are subscribed to ``topic``."""
        subscribers = self._topics.get(topic)
        return len(subscribers.live) + len(subscribers.joining) if subscribers else 0

    async def _leave(self, connection_state: ConnectionState, topic: str) -> None:
        connection_state.subscriptions.discard(topic)
        subscribers = self._topics.get(topic)
        if subscribers is None:
            return
        subscribers.live.pop(connection_state.connection_id, None)
        subscribers.joining.pop(connection_state.connection_id, None)
        subscribers.sent_up_to.pop(connection_state.connection_id, None)
        if not subscribers:
            # Nobody here listens to it any more: nor does this process.
            del self._topics[topic]
            await self._bus.forget(topic)

    @staticmethod
    def _go_live(
        subscribers: _Subscribers, connection_state: ConnectionState, sent_up_to: int
    ) -> None:
        """A joining connection, sent the topic up to ``sent_up_to``, gets what came meanwhile
        that is newer, then every message as it comes."""
        connection_id = connection_state.connection_id
        waiting = subscribers.joining.pop(connection_id)
        for message_offset, frame in waiting:
            if message_offset > sent_up_to:
                connection_state.outbox.offer(frame)
        # The bus may yet deliver messages it has already been sent (they were on their way
        # here while it joined): those are dropped, not sent twice.
        subscribers.sent_up_to[connection_id] = sent_up_to
        subscribers.live[connection_id] = connection_state

    @staticmethod
    async def _send(connection_state: ConnectionState, reply: Subscribed) -> None:
        await connection_state.outbox.send(encode_server_message(reply))
