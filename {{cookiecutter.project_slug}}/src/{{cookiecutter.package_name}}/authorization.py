"""Who may subscribe to and publish on which topic: the one place that decides.

``listener.reply_to`` asks these before it hands a client's ``subscribe`` or ``publish`` to the
hub; a refusal is an error frame naming the topic and the function that refused it. Server code
that publishes (``hub.publish``) is trusted and not asked.

Change them to fit your service, e.g. rooms only members may join, or topics only some users
may publish on (the README's Customize section shows one). Keep them quick and free of I/O:
they run for every subscribe and publish; look up what they need in ``on_accept`` and keep it
in the ``ConnectionState``.
"""

from .state import ConnectionState
{% if cookiecutter.auth == "jwt" %}

PRIVATE_TOPIC_PREFIX = "user:"
"""``user:alice`` is alice's own topic: only her connections may subscribe to it, and anyone
may publish on it (a direct message)."""


def may_subscribe(connection_state: ConnectionState, topic: str) -> bool:
    """Whether this connection may receive ``topic``'s messages."""
    if topic.startswith(PRIVATE_TOPIC_PREFIX):
        return topic.removeprefix(PRIVATE_TOPIC_PREFIX) == connection_state.user
    return True
{% else %}


def may_subscribe(connection_state: ConnectionState, topic: str) -> bool:
    """Whether this connection may receive ``topic``'s messages: any topic, by default.

    Without authentication nobody is known, so nothing can be private. Once connections say
    who they are (see the README's Security section), refuse here what is not theirs.
    """
    del connection_state, topic
    return True
{% endif %}


def may_publish(connection_state: ConnectionState, topic: str) -> bool:
    """Whether this connection may send a message to ``topic``'s subscribers: any topic, by
    default (it need not be subscribed to it)."""
    del connection_state, topic
    return True
