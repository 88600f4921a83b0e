"""A per-connection message budget: a token bucket, kept in the connection's own state.

Per connection by design: one client flooding spends its own budget, never another's. (A
budget per user or per address would be shared state, kept on the app or in a shared store.)
"""

from dataclasses import dataclass, field
from enum import Enum
from time import monotonic

SUSTAINED_ABUSE_SECONDS = 10.0
"""A connection that keeps going over its limit this long, without its budget ever filling up
again in between, is closed with 1008; a one-off burst only gets error frames."""


class Verdict(Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    ABUSE = "abuse"


@dataclass(slots=True)
class MessageBudget:
    """At most ``burst`` messages at once, refilled at ``per_second`` messages a second."""

    per_second: float
    burst: int
    tokens: float = field(init=False)
    refilled_at: float = field(default_factory=monotonic)
    over_limit_since: float | None = None
    """When the current run of refusals started; None while the client keeps to its limit."""

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def spend(self, now: float | None = None) -> Verdict:
        """Take one message from the budget, or say why not."""
        now = monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.per_second)
        self.refilled_at = now
        if self.tokens >= self.burst:
            self.over_limit_since = None  # back to a full budget: the client calmed down
        if self.tokens >= 1:
            self.tokens -= 1
            return Verdict.ALLOWED
        if self.over_limit_since is None:
            self.over_limit_since = now
        elif now - self.over_limit_since >= SUSTAINED_ABUSE_SECONDS:
            return Verdict.ABUSE
        return Verdict.REFUSED

    def describe(self) -> str:
        return f"at most {self.per_second:g} messages per second, in bursts of up to {self.burst}"
