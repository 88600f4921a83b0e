"""Each connection has its own message budget; going over it costs error frames, then 1008."""

from dataclasses import replace

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from {{ cookiecutter.package_name }} import ratelimit
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.ratelimit import MessageBudget

from .support import TEST_SETTINGS, connect, live_connections, receive, wait_until


def test_budget_allows_a_burst_then_refills_at_the_rate() -> None:
    """``burst`` messages pass at once; after that, ``per_second`` messages a second."""
    budget = MessageBudget(per_second=2, burst=3, refilled_at=100.0)

    assert [budget.take(now=100.0) for _ in range(4)] == [True, True, True, False]
    assert budget.take(now=100.4) is False  # 0.8 of a message earned
    assert budget.take(now=100.5) is True  # 1 earned
    assert budget.take(now=110.0) is True  # refilled, but never past the burst
    assert [budget.take(now=110.0) for _ in range(3)] == [True, True, False]


def flood(budget: MessageBudget, start: float, seconds: float) -> list[str]:
    """Four messages a second for ``seconds``, four times the tests' limit of one a second:
    what the listener makes of each, "allowed", "refused" or "abuse"."""
    verdicts = []
    for step in range(int(seconds * 4)):
        if budget.take(now=start + step / 4):
            verdicts.append("allowed")
        else:
            verdicts.append("abuse" if budget.over_limit_too_long() else "refused")
    return verdicts


def test_sustained_flood_is_abuse() -> None:
    """Over the limit for SUSTAINED_ABUSE_SECONDS, with some messages let through, is abuse."""
    limit = ratelimit.SUSTAINED_ABUSE_SECONDS
    verdicts = flood(MessageBudget(per_second=1, burst=2, refilled_at=0.0), 0.0, limit + 2)

    assert "allowed" in verdicts[8:]  # the rate still lets one a second through
    first_abuse_at = verdicts.index("abuse") / 4
    assert limit <= first_abuse_at <= limit + 1


def test_calm_spell_forgives_an_earlier_flood() -> None:
    """Once the budget has filled up again, an earlier run of refusals no longer counts."""
    limit = ratelimit.SUSTAINED_ABUSE_SECONDS
    budget = MessageBudget(per_second=1, burst=2, refilled_at=0.0)

    first = flood(budget, 0.0, limit - 1)
    second = flood(budget, limit + 2, limit - 1)  # after a quiet spell of three seconds

    assert "refused" in first
    assert "refused" in second
    assert "abuse" not in first + second


def test_messages_over_the_limit_get_an_error_and_change_nothing() -> None:
    """Past the burst, a message gets an error frame naming the limit; counts stay put."""
    settings = replace(TEST_SETTINGS, rate_limit=0.001, rate_burst=3)
    with TestClient(create_app(settings)) as client, connect(client) as ws:
        receive(ws)
        replies = []
        for number in range(6):
            ws.send_json({"type": "echo", "text": f"#{number}"})
            replies.append(receive(ws))
        ws.send_text("{not even JSON")  # bad frames spend the budget too
        refused_garbage = receive(ws)

    assert [reply["count"] for reply in replies[:3]] == [1, 2, 3]
    for refused in [*replies[3:], refused_garbage]:
        assert refused == {
            "type": "error",
            "detail": "rate limit exceeded: at most 0.001 messages per second,"
            " in bursts of up to 3; message dropped",
        }


def test_each_connection_has_its_own_budget() -> None:
    """One connection spending its whole budget leaves another's untouched."""
    settings = replace(TEST_SETTINGS, rate_limit=0.001, rate_burst=2)
    with (
        TestClient(create_app(settings)) as client,
        connect(client) as flooder,
        connect(client) as neighbour,
    ):
        receive(flooder)
        receive(neighbour)
        flood_replies = []
        for _ in range(3):
            flooder.send_json({"type": "ping"})
            flood_replies.append(receive(flooder)["type"])
        neighbour.send_json({"type": "echo", "text": "mine"})
        assert receive(neighbour)["count"] == 1

    assert flood_replies == ["pong", "pong", "error"]


def test_sustained_flood_closes_with_1008(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that stays over its limit long enough is closed with 1008, and released."""
    monkeypatch.setattr(ratelimit, "SUSTAINED_ABUSE_SECONDS", 0.2)
    settings = replace(TEST_SETTINGS, rate_limit=0.001, rate_burst=1)
    with TestClient(create_app(settings)) as client:
        with connect(client) as ws:
            receive(ws)
            frames = 0
            with pytest.raises(WebSocketDisconnect) as closed:  # noqa: PT012 (flood until closed)
                while frames < 10_000:
                    ws.send_json({"type": "ping"})
                    receive(ws)
                    frames += 1

        assert closed.value.code == 1008
        assert frames > 1
        assert wait_until(lambda: live_connections(client) == 0)
