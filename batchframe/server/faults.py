"""Run-time fault settings and rate limits (changeable through ``/_control/faults``)."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, Literal

from batchframe.server.config import ServerConfig

__all__ = ["Faults", "RollingLimit"]

DropWhen = Literal["before", "after"]


@dataclass
class Faults:
    """The mutable fault and limit settings a running server reads on every call.

    >>> f = Faults.from_config(ServerConfig(drop_rate=1.0, seed=1))
    >>> f.pick_drop() in ("before", "after")
    True
    """

    fail_rate: float = 0.0
    http_error_rate: float = 0.0
    drop_rate: float = 0.0
    latency: float = 0.0
    add_calls_per_30s: float | None = None
    creates_per_second: float | None = None
    max_body_mb: float = 25.0

    def __post_init__(self) -> None:
        self.rng = random.Random()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ServerConfig) -> Faults:
        faults = cls(**{f.name: getattr(config, f.name) for f in fields(cls)})
        faults.rng.seed(config.seed)
        return faults

    def update(self, values: dict[str, Any]) -> None:
        """Override settings by name; unknown names or bad values raise ``ValueError``."""
        names = {f.name for f in fields(self)}
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"unknown fault setting {name!r}")
            nullable = name in ("add_calls_per_30s", "creates_per_second")
            if value is None and nullable:
                setattr(self, name, None)
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
            if name.endswith("_rate") and value > 1:
                raise ValueError(f"{name} must be between 0 and 1")
            setattr(self, name, float(value))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def chance(self, rate: float) -> bool:
        """True with probability ``rate`` (seeded, thread-safe)."""
        if rate <= 0:
            return False
        with self._lock:
            return self.rng.random() < rate

    def pick_http_error(self) -> int | None:
        """500 or 503 for a share ``http_error_rate`` of calls, else None."""
        if not self.chance(self.http_error_rate):
            return None
        with self._lock:
            return self.rng.choice((500, 503))

    def pick_drop(self) -> DropWhen | None:
        """Whether to drop this call's connection, and whether before or after applying it."""
        if not self.chance(self.drop_rate):
            return None
        with self._lock:
            return "before" if self.rng.random() < 0.5 else "after"


class RollingLimit:
    """At most ``limit`` events per ``window`` seconds per key (a rolling window).

    >>> lim = RollingLimit()
    >>> lim.check("t", 1, 30.0, now=0.0), lim.check("t", 1, 30.0, now=1.0)
    (None, 29)
    """

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, limit: float, window: float, now: float | None = None) -> int | None:
        """Record an event; return None if allowed, else the seconds to wait (>= 1)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - window:
                events.popleft()
            if len(events) >= max(1, int(limit)):
                return max(1, math.ceil(events[0] + window - now))
            events.append(now)
            return None
