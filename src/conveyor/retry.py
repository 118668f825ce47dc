"""Retry decisions: pure functions of the attempt number and the exception."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter and a cap.

    The delay before retry n (n >= 1) is drawn uniformly from
    ``[0, min(cap, base * factor ** (n - 1))]``: full jitter spreads a burst of
    failures (a partner API down) instead of retrying them in lockstep.
    Set ``jitter=False`` for the deterministic upper bound.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 600.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.cap < 0:
            raise ValueError("backoff needs base >= 0, factor >= 1 and cap >= 0")

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(attempt - 1, 0))
        return random.uniform(0.0, ceiling) if self.jitter else ceiling


#: One to five retries wait up to 1, 2, 4, 8, 16 s; never more than ten minutes.
DEFAULT_BACKOFF = Backoff()

#: Anything that maps a failed attempt number (1-based) to seconds.
BackoffPolicy = Backoff | Callable[[int], float] | float


def backoff_delay(policy: BackoffPolicy, attempt: int) -> float:
    if isinstance(policy, Backoff):
        return policy.delay(attempt)
    if callable(policy):
        return max(0.0, float(policy(attempt)))
    return max(0.0, float(policy))


def should_retry(
    exc: BaseException,
    retry_on: tuple[type[BaseException], ...] | None,
    no_retry_on: tuple[type[BaseException], ...],
) -> bool:
    """Whether this exception may be retried at all (attempts are checked elsewhere)."""
    if isinstance(exc, no_retry_on):
        return False
    return retry_on is None or isinstance(exc, retry_on)
