"""The wire protocol: JSON text frames, one msgspec Struct per frame type.

Every frame carries a ``type`` field, which msgspec uses as the tag of a tagged union. Decoding
into a Struct validates the frame completely, so handlers only ever see well-formed messages.
"""

import msgspec


class Echo(msgspec.Struct, tag="echo"):
    """Client asks for ``text`` to be sent back."""

    text: str


class Ping(msgspec.Struct, tag="ping"):
    """Client checks the connection is alive (browsers cannot send WebSocket ping frames)."""


class Broadcast(msgspec.Struct, tag="broadcast"):
    """Client asks for ``text`` to reach every live connection, its own included."""

    text: str


# Every message a client may send. To add one, define a Struct with its own ``tag`` above,
# join it here and handle it in ``listener.reply_to``; msgspec picks the type from the tag.
ClientMessage = Echo | Ping | Broadcast


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


class ErrorFrame(msgspec.Struct, tag="error"):
    """Sent instead of a reply when a frame is not a valid client message, or over the limit."""

    detail: str


ServerMessage = Welcome | EchoReply | Pong | BroadcastFrame | ErrorFrame

_client_message_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
_server_message_encoder = msgspec.json.Encoder()


class ProtocolError(ValueError):
    """A frame from the client is not a valid ``ClientMessage``; ``str()`` says why."""


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
