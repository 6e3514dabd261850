"""Capped exponential backoff for reconnect attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays ``initial, initial*factor, ...`` never above ``cap``; jitter only ever shortens a delay."""

    initial: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap <= 0:
            raise ValueError("backoff delays must be positive")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("backoff jitter must be in [0, 1)")

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one attempt."""
        # Exponent clamped so that long outages cannot overflow the float.
        base = min(self.cap, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        if self.jitter:
            base *= 1.0 - self.jitter * self.rng.random()
        return base

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful login)."""
        self.attempts = 0
