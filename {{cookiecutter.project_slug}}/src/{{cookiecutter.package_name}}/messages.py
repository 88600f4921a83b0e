"""The wire protocol: JSON text frames, one msgspec Struct per frame type.

Every frame carries a ``type`` field, which msgspec uses as the tag of a tagged union. Decoding
into a Struct validates the frame completely, so handlers only ever see well-formed messages.
"""

import re
{% if cookiecutter.auth == "jwt" %}
from datetime import datetime
{% endif %}

import msgspec

SERVER = "server"
"""The ``from`` of a message that server code published, rather than a connection."""
TOPIC_NAME_RULE = "1 to 100 characters of A-Z a-z 0-9 _ - . : @ /"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9_\-.:@/]{1,100}")


class Echo(msgspec.Struct, tag="echo"):
    """Client asks for ``text`` to be sent back."""

    text: str


class Ping(msgspec.Struct, tag="ping"):
    """Client checks the connection is alive (browsers cannot send WebSocket ping frames)."""


class Broadcast(msgspec.Struct, tag="broadcast"):
    """Client asks for ``text`` to reach every live connection, its own included."""

    text: str


class Since(msgspec.Struct):
    """Where a client left off on a topic: the epoch and offset of the last message it has."""

    epoch: str
    offset: int


class Subscribe(msgspec.Struct, tag="subscribe"):
    """Client asks for the messages of ``topic`` (topics.py says which names are valid)."""

    topic: str
    since: Since | None = None


class Unsubscribe(msgspec.Struct, tag="unsubscribe"):
    """Client stops the messages of ``topic``; unsubscribing twice is no error."""

    topic: str


class Publish(msgspec.Struct, tag="publish"):
    """Client sends ``text`` to every subscriber of ``topic`` (it need not be one itself)."""

    topic: str
    text: str


{% if cookiecutter.auth == "jwt" %}
class Refresh(msgspec.Struct, tag="refresh"):
    """A new token for this connection's user, before the one it opened with expires."""

    token: str


{% endif %}
# Every message a client may send. To add one, define a Struct with its own ``tag`` above,
# join it here and handle it in ``listener.reply_to``; msgspec picks the type from the tag.
{% if cookiecutter.auth == "jwt" %}
ClientMessage = Echo | Ping | Broadcast | Subscribe | Unsubscribe | Publish | Refresh
{% else %}
ClientMessage = Echo | Ping | Broadcast | Subscribe | Unsubscribe | Publish
{% endif %}


class Welcome(msgspec.Struct, tag="welcome"):
    """Sent once, right after the connection is accepted."""

    connection_id: str
{% if cookiecutter.auth == "jwt" %}
    user: str
    """The subject of the token the connection was opened with."""
{% endif %}


class EchoReply(msgspec.Struct, tag="echo"):
    """Reply to ``Echo``; ``count`` is the number of valid messages on this connection so far."""

    text: str
    connection_id: str
    count: int


class Pong(msgspec.Struct, tag="pong"):
    """Reply to ``Ping``."""


class BroadcastFrame(msgspec.Struct, tag="broadcast"):
    """A ``Broadcast`` as every connection receives it, with the sender's connection id."""

    text: str
    from_: str = msgspec.field(name="from")


class Subscribed(msgspec.Struct, tag="subscribed"):
    """Reply to ``Subscribe``, and sent again whenever the topic's continuity is lost.

    ``offset`` is the last one published on the topic (0 if none): the next message is newer.
    """

    topic: str
    epoch: str
    offset: int
    recovered: bool = False


class Unsubscribed(msgspec.Struct, tag="unsubscribed"):
    """Reply to ``Unsubscribe``."""

    topic: str


class TopicMessage(msgspec.Struct, tag="message"):
    """A ``Publish`` as each subscriber receives it: ``offset`` counts the topic's messages
    from 1, with no gaps; ``from`` is the sender's connection id, or "server"."""

    topic: str
    offset: int
    text: str
    from_: str = msgspec.field(name="from")


{% if cookiecutter.auth == "jwt" %}
class Refreshed(msgspec.Struct, tag="refreshed"):
    """Reply to ``Refresh``: the connection now lives until the new token's expiry."""

    expires_at: datetime


{% endif %}
class ErrorFrame(msgspec.Struct, tag="error"):
    """Sent instead of a reply when a frame is not a valid client message, or over the limit."""

    detail: str


ServerMessage = (
    Welcome
    | EchoReply
    | Pong
    | BroadcastFrame
    | Subscribed
    | Unsubscribed
{% if cookiecutter.auth == "jwt" %}
    | Refreshed
{% endif %}
    | TopicMessage
    | ErrorFrame
)

_client_message_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
_server_message_encoder = msgspec.json.Encoder()


class ProtocolError(ValueError):
    """A frame from the client is not a valid ``ClientMessage``; ``str()`` says why."""


class Refused(Exception):  # noqa: N818 (a refusal, not an error of the service)
    """A valid request the service will not carry out; ``str()`` says which and why."""


class BadTopicName(Refused):
    """A topic name outside ``TOPIC_NAME_RULE``."""


def check_topic_name(topic: str) -> None:
    """Refuse a topic name outside ``TOPIC_NAME_RULE``."""
    if _TOPIC_NAME.fullmatch(topic) is None:
        shown = topic if len(topic) <= 100 else topic[:100] + "..."
        raise BadTopicName(f"topic {shown!r} refused: a topic name is {TOPIC_NAME_RULE}")


def decode_client_message(frame: str) -> ClientMessage:
    """Decode and validate one text frame from the client."""
    if not frame:
        # Litestar hands a binary frame to a text listener as "", like an empty text frame.
        raise ProtocolError("expected a JSON object in a text frame, got an empty or binary frame")
    try:
        return _client_message_decoder.decode(frame)
    except msgspec.DecodeError as error:
        raise ProtocolError(str(error)) from None
    except UnicodeEncodeError:
        raise ProtocolError("text frame is not valid UTF-8") from None
    except RecursionError:
        raise ProtocolError("JSON is nested too deeply") from None


def encode_server_message(message: ServerMessage) -> str:
    """The text of the frame that carries ``message`` to a client."""
    return _server_message_encoder.encode(message).decode()
