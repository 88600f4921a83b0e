"""A per-connection message budget: a token bucket, kept in the connection's own state.

Per connection by design: one client flooding spends its own budget, never another's. (A
budget per user or per address would be shared state, kept on the app or in a shared store.)
"""

from dataclasses import dataclass, field
from time import monotonic

SUSTAINED_ABUSE_SECONDS = 10.0
"""A connection that keeps going over its limit this long, without its budget ever filling up
again in between, is closed with 1008; a one-off burst only gets error frames."""


@dataclass(slots=True)
class MessageBudget:
    """At most ``burst`` messages at once, refilled at ``per_second`` messages a second."""

    per_second: float
    burst: float
    tokens: float = field(init=False)
    refilled_at: float = field(default_factory=monotonic)
    over_limit_since: float | None = None
    """When the current run of refusals started; None while the client keeps to its limit."""

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float | None = None) -> bool:
        """Spend one message from the budget; False if there is none left (runs per message).

        The budget is refilled only once it runs dry, so the common case reads no clock. That
        grants what a bucket refilled on every message grants: at most ``burst`` at once, and
        ``per_second`` on average.
        """
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        if now is None:
            now = monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.per_second)
        self.refilled_at = now
        if self.tokens >= self.burst:
            self.over_limit_since = None  # a full budget again: the client has calmed down
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def over_limit_too_long(self) -> bool:
        """After a refused ``take``: whether the client has stayed over its limit for
        ``SUSTAINED_ABUSE_SECONDS`` without its budget ever filling up again."""
        if self.over_limit_since is None:
            self.over_limit_since = self.refilled_at
        return self.refilled_at - self.over_limit_since >= SUSTAINED_ABUSE_SECONDS

    def describe(self) -> str:
        return f"at most {self.per_second:g} messages per second, in bursts of up to {self.burst:g}"
